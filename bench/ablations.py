"""What each optimization of kerasc's CPU path buys, measured by switching it off.

    bench/.venv/bin/python bench/ablations.py [--models a,b] [--runs 5] [--out FILE]

For every benchmark model it builds the program with one optimization removed at a time and runs
the program's own `bench` (the same measurement as bench/run's kerasc rows):

  baseline        kerasc compile -O3 --cpu=native (fused, AVX-512 microkernels where present,
                  all threads)
  no fusion       --no-fuse: every op its own kernel (bias add and activation are separate passes
                  over memory; in training, relu no longer folds into the matmul)
  one thread      KERASC_NUM_THREADS=1: the thread pool starts no worker
  AVX2            --cpu=x86-64-v3: the AVX2+FMA microkernels instead of AVX-512
  portable        --cpu=generic: no -march; the portable C++ microkernel (SSE2 as compiled)

and prints a Markdown table of medians with each variant's slowdown against the baseline
(> 1: the optimization pays by that factor). Written to --out too (default
bench/results/ablations.md).
"""

import argparse
import os
import sys

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)

import kerasc_runner  # noqa: E402
import models as model_table  # noqa: E402

VARIANTS = [  # (name, fuse, extra compile flags, environment)
    ("baseline", True, ["--cpu=native"], {}),
    ("no fusion", False, ["--cpu=native"], {}),
    ("one thread", True, ["--cpu=native"], {"KERASC_NUM_THREADS": "1"}),
    ("AVX2", True, ["--cpu=x86-64-v3"], {}),
    ("portable", True, ["--cpu=generic"], {}),
]
TASKS = [("infer", 1), ("infer", 32), ("infer", 256), ("train", 32), ("train", 128)]


def measure(program, task, batch, runs, env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        report = kerasc_runner.bench(program, task, batch, runs, min_time=0.3,
                                     samples=8192 if task == "train" else None)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return report["median"], report["unit"]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(model_table.MODELS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kerasc")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "ablations.md"))
    args = ap.parse_args(argv)

    repo = os.path.dirname(BENCH_DIR)
    kerasc = kerasc_runner.find_or_build_kerasc(repo, args.kerasc, log=print)
    build_root = os.path.join(BENCH_DIR, "build", "ablations")
    lines = ["# What each optimization buys (kerasc, switched off one at a time)", "",
             "Median of %d runs; in brackets the baseline's figure divided by the variant's "
             "(latency: variant / baseline), so ×2 means switching the optimization off makes "
             "that task 2× slower." % args.runs, ""]
    for name in args.models.split(","):
        model_path = os.path.join(BENCH_DIR, "build", "models", name + ".keras")
        if not os.path.exists(model_path):
            print(f"ablations: {model_path} is missing; run bench/run once first", file=sys.stderr)
            return 1
        header = "| variant | " + " | ".join(
            f"{t}_b{b} ({'us' if t == 'infer' and b == 1 else 'samples/s'})" for t, b in TASKS) + " |"
        lines += [f"## {name}", "", header, "|---|" + "---:|" * len(TASKS)]
        baseline = {}
        for variant, fuse, flags, env in VARIANTS:
            directory = os.path.join(build_root, name, variant.replace(" ", "_"))
            program = kerasc_runner.build_program(kerasc, model_path, directory, fuse, flags,
                                                  log=print)
            cells = []
            for task, batch in TASKS:
                median, unit = measure(program, task, batch, args.runs, env)
                if unit == "us" and batch > 1:  # throughput, as bench/run reports it
                    median, unit = batch / median * 1e6, "samples/s"
                key = (task, batch)
                if variant == "baseline":
                    baseline[key] = median
                    cells.append(f"{median:,.3g}" if median < 100 else f"{median:,.0f}")
                else:
                    ratio = median / baseline[key] if unit == "us" else baseline[key] / median
                    text = f"{median:,.3g}" if median < 100 else f"{median:,.0f}"
                    cells.append(f"{text} (×{ratio:.2f})")
                print(f"{name} {variant} {task}_b{batch}: {median:.4g} {unit}", flush=True)
            lines.append(f"| {variant} | " + " | ".join(cells) + " |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""bench/run: kerasc against Keras, PyTorch, ONNX Runtime and OpenBLAS, in one run.

For every model in models.MODELS and every system, in its own process each: check the
predictions against Keras's, then time inference (batch 1, 32, 256), training (one epoch of
synthetic data per run, batch 32 and 128) and the model's GEMMs. Writes OUT/latest.csv,
latest_memory.csv, latest.md, latest.json and latest.svg, and prints the Markdown report.
"""

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import kerasc_runner
import models as model_table
import peers
import processes
import report

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)

SYSTEMS = ["kerasc", "kerasc-nofuse", "keras", "pytorch", "onnxruntime", "openblas"]
KERASC_SYSTEMS = {"kerasc": True, "kerasc-nofuse": False}  # name -> fuse
INFER_BATCHES = [1, 32, 256]
TRAIN_BATCHES = [32, 128]


def infer_batches(spec):
    """A table row may measure fewer batch sizes (the CNNs: their big batches cost minutes)."""
    return list(getattr(spec, "infer_batches", None) or INFER_BATCHES)


def train_batches(spec):
    return list(getattr(spec, "train_batches", None) or TRAIN_BATCHES)
# What each peer measures and the modules it needs (checked before its worker starts).
PEER_PHASES = {"keras": ["infer", "train"], "pytorch": ["infer", "train"],
               "onnxruntime": ["infer"], "openblas": ["infer"]}
PEER_MODULES = {"keras": ["keras", "jax"], "pytorch": ["torch"],
                "onnxruntime": ["onnxruntime", "onnx"], "openblas": ["numpy"]}
VERSIONED_PACKAGES = ["numpy", "keras", "jax", "jaxlib", "torch", "onnxruntime", "onnx",
                      "matplotlib"]
WORKER_TIMEOUT_S = 900
MEASURE_ATTEMPTS = 3  # with --quiet-wait: how often a disturbed measurement is taken


class Settings:
    def __init__(self, args):
        self.quick = args.quick
        self.runs = args.runs
        self.min_time = 0.05 if args.quick else 0.3  # seconds per inference run
        self.train_divisor = 4 if args.quick else 1  # --quick: a quarter of the table's samples
        self.quiet_wait = args.quiet_wait

    def measure(self, take):
        """take() returns a report with "others_cpu_share". With --quiet-wait, waits for a quiet
        CPU first, and measures again (up to MEASURE_ATTEMPTS in all) while other processes
        disturbed the measurement, keeping the least disturbed one."""
        if self.quiet_wait <= 0:
            return take()
        attempts = []
        while True:
            processes.wait_until_quiet(self.quiet_wait, report.DISTURBED_SHARE, log=log)
            attempts.append(take())
            share = attempts[-1].get("others_cpu_share") or 0
            if share <= report.DISTURBED_SHARE or len(attempts) == MEASURE_ATTEMPTS:
                return min(attempts, key=lambda r: r.get("others_cpu_share") or 0)
            log(f"    (other processes used {share:.0%} of the CPU meanwhile: measuring again)")

    def train_samples(self, spec):
        return max(spec.train_samples // self.train_divisor, max(train_batches(spec)) * 4)


class Collected:
    """Everything one run measured; report.py renders it."""

    def __init__(self):
        self.rows = []  # model, task, system, unit, runs, median, min, max, variant
        self.variants = []  # the same, for Keras's model(x) and predict separately
        # model, system, phase, peak_rss_kb, wait4_rss_kb, arena_bytes, others_cpu_share, method
        self.memory = []
        self.verification = []  # model, system, max_abs_diff, ok
        self.missing = []  # model, system, reason
        self.threads = {}  # system -> threads used
        self.kerasc_isa = None


def log(*parts):
    print(*parts, flush=True)


def row(model, task, system, kind, batch, runs, variant="", others_cpu_share=None):
    """A result row in the task's unit: latency (us) at batch 1, samples/s otherwise.
    `others_cpu_share`: how much of the CPU other processes used while it was measured."""
    if kind == "latency_us" and task != "infer_b1":
        runs, unit = [batch * 1e6 / us for us in runs], "samples/s"
    else:
        unit = {"latency_us": "us", "samples_per_s": "samples/s", "gflops": "GFLOP/s"}[kind]
    return {"model": model, "task": task, "system": system, "unit": unit, "runs": list(runs),
            "median": float(np.median(runs)), "min": float(min(runs)), "max": float(max(runs)),
            "variant": variant, "others_cpu_share": others_cpu_share}


def max_share(shares):
    known = [s for s in shares if s is not None]
    return max(known) if known else None


def describe(rows):
    return " | ".join(f"{r['task']}{' ' + r['variant'] if r['variant'] else ''} "
                      f"{report.number(r['median'])} {r['unit']}" for r in rows)


# ------------------------------------------------------------------------------- kerasc

def measure_kerasc(system, spec, settings, kerasc, flags, data):
    model_path = model_table.paths(data.models_dir, spec.name)["keras"]
    directory = os.path.join(data.build_dir, "kerasc", spec.name, system)
    program = kerasc_runner.build_program(kerasc, model_path, directory,
                                          KERASC_SYSTEMS[system], flags, log=log)
    if not kerasc_runner.has_bench(program):
        raise kerasc_runner.KerascUnavailable(
            f"{os.path.relpath(program, REPO_ROOT)} has no `bench` subcommand (the kerasc at "
            f"{kerasc} predates it)")
    # Inference is timed on an --inference-only build, as a user shipping a predictor would
    # compile it: BatchNormalization folds into the layer before it there (a training build
    # cannot fold, its weights change).
    infer_program = kerasc_runner.build_program(kerasc, model_path, directory + "_infer",
                                                KERASC_SYSTEMS[system],
                                                flags + ["--inference-only"], log=log)
    files = model_table.paths(data.models_dir, spec.name)
    check = kerasc_runner.verify(infer_program, files["x"], np.load(files["y"]),
                                 peers.AGREEMENT_TOLERANCE)
    data.verification.append({"model": spec.name, "system": system, **check})
    rows, rss, latency_b256 = [], {"infer": [], "train": []}, None
    arena = {}
    for b in infer_batches(spec):
        r = settings.measure(lambda: kerasc_runner.bench(infer_program, "infer", b,
                                                         settings.runs,
                                                         min_time=settings.min_time))
        rows.append(row(spec.name, f"infer_b{b}", system, "latency_us", b, r["runs"],
                        others_cpu_share=r["others_cpu_share"]))
        rss["infer"].append(r)
        if b == kerasc_runner.MAX_BATCH:
            latency_b256, arena["infer"] = r, r.get("arena_bytes")
    for b in train_batches(spec):
        r = settings.measure(lambda: kerasc_runner.bench(program, "train", b, settings.runs,
                                                         samples=settings.train_samples(spec)))
        rows.append(row(spec.name, f"train_b{b}", system, "samples_per_s", b, r["runs"],
                        others_cpu_share=r["others_cpu_share"]))
        rss["train"].append(r)
        arena["train"] = r.get("arena_bytes")  # at the largest training batch
    if system == "kerasc" and latency_b256:
        # Conservative GFLOP/s: the model's GEMM FLOPs over the whole inference call.
        flops = model_table.gemm_flops(spec, peers.SGEMM_BATCH)
        rows.append(row(spec.name, "sgemm", system, "gflops", peers.SGEMM_BATCH,
                        [flops / (us * 1e-6) / 1e9 for us in latency_b256["runs"]],
                        others_cpu_share=latency_b256["others_cpu_share"]))
    for phase, reports in rss.items():
        measured = [r["measured_rss_kb"] for r in reports if r.get("measured_rss_kb")]
        data.memory.append({"model": spec.name, "system": system, "phase": phase,
                            "peak_rss_kb": max(measured) if measured else None,
                            "wait4_rss_kb": max(measured) if measured else None,
                            "self_reported_rss_kb": max(r.get("peak_rss_kb") or 0 for r in reports),
                            "arena_bytes": arena.get(phase),
                            "others_cpu_share": max_share(r.get("others_cpu_share")
                                                          for r in reports),
                            "method": reports[0]["rss_method"]})
    last = rss["infer"][-1]
    data.threads[system] = last.get("threads")
    data.kerasc_isa = last.get("isa")
    data.rows += rows
    log(f"  {system:<13} agrees with Keras: max |diff| {check['max_abs_diff']:.2g} "
        f"{'ok' if check['ok'] else 'DISAGREES'} | {describe(rows)}")


# -------------------------------------------------------------------------------- peers

def peer_env():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", PYTHONWARNINGS="ignore",
               TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = BENCH_DIR + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_worker(system, model, phase, batches, settings, data, train_samples=None):
    command = [sys.executable, os.path.join(BENCH_DIR, "peers.py"), "--system", system,
               "--model", model, "--phase", phase, "--models-dir", data.models_dir,
               "--batches", ",".join(map(str, batches)), "--runs", str(settings.runs),
               "--min-time", str(settings.min_time)]
    if train_samples:
        command += ["--train-samples", str(train_samples)]

    def take():
        run = processes.run_measured(command, timeout=WORKER_TIMEOUT_S, env=peer_env())
        if run.returncode != 0:
            tail = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise RuntimeError(f"worker exited {run.returncode}: {tail}")
        result = json.loads(run.stdout.strip().splitlines()[-1])
        result["wait4_rss_kb"], result["rss_method"] = run.max_rss_kb, run.rss_method
        result["others_cpu_share"] = run.others_cpu_share
        return result
    return settings.measure(take)


def measure_peer(system, spec, settings, data):
    rows, variants = [], []
    for phase in PEER_PHASES[system]:
        batches = infer_batches(spec) if phase == "infer" else train_batches(spec)
        if system == "openblas":
            batches = [peers.SGEMM_BATCH]
        result = run_worker(system, spec.name, phase, batches, settings, data,
                            settings.train_samples(spec) if phase == "train" else None)
        data.threads[system] = result.get("threads")
        if result.get("verify"):
            data.verification.append({"model": spec.name, "system": system, **result["verify"]})
            if result.get("verify_call"):
                data.verification.append({"model": spec.name, "system": "keras model(x)",
                                          **result["verify_call"]})
        data.memory.append({"model": spec.name, "system": system, "phase": phase,
                            "peak_rss_kb": result.get("vmhwm_kb") or result["wait4_rss_kb"],
                            "wait4_rss_kb": result["wait4_rss_kb"],
                            "self_reported_rss_kb": result.get("vmhwm_kb"),
                            "arena_bytes": None,
                            "others_cpu_share": result["others_cpu_share"],
                            "method": "VmHWM of the worker" if result.get("vmhwm_kb")
                            else result["rss_method"]})
        measured = [row(spec.name, r["task"], system, r["kind"], r["batch"], r["runs"],
                        r["variant"], result["others_cpu_share"]) for r in result["results"]]
        if system == "keras" and phase == "infer":
            # Both ways of calling Keras go to the Markdown table; the CSV keeps the faster.
            variants += measured
            for task in sorted({r["task"] for r in measured}, key=report.TASKS.index):
                candidates = [r for r in measured if r["task"] == task]
                rows.append(dict(min(candidates, key=lambda r: report.cost(r))))
        else:
            rows += measured
    data.rows += rows
    data.variants += variants
    checks = [v for v in data.verification if v["model"] == spec.name and v["system"] == system]
    agreement = (f"agrees with Keras: max |diff| {checks[0]['max_abs_diff']:.2g} "
                 f"{'ok' if checks[0]['ok'] else 'DISAGREES'} | " if checks else "")
    log(f"  {system:<13} {agreement}{describe(rows)}")


# --------------------------------------------------------------------------- machine

def cpu_description():
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(),
                                                               platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    relevant = ["avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx2", "fma",
                "amx_tile"]
    return model, [f for f in relevant if f in flags]


def command_first_line(command):
    try:
        out = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, cwd=REPO_ROOT).stdout.strip().splitlines()
        return out[0] if out else ""
    except OSError:
        return ""


def machine_info(kerasc):
    model, isa = cpu_description()
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # numpy's build information is best effort
        blas = "unknown"
    commit = command_first_line(["git", "describe", "--always", "--dirty", "--abbrev=10"])
    return {"cpu": model, "cores": os.cpu_count(), "isa": isa, "os": platform.platform(),
            "python": platform.python_version(), "versions": versions, "numpy_blas": blas,
            "keras_backend": "jax (CPU)", "kerasc": kerasc, "kerasc_commit": commit,
            "cxx": command_first_line(["c++", "--version"]),
            "kerasc_num_threads_env": os.environ.get("KERASC_NUM_THREADS"),
            "rss_method": processes.RSS_METHOD}


# ------------------------------------------------------------------------------ main

def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a few minutes: shorter timed runs and a quarter of the training samples")
    ap.add_argument("--models", default=",".join(model_table.MODELS),
                    help="comma-separated (default: all of models.MODELS)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help=f"comma-separated subset of {','.join(SYSTEMS)}")
    ap.add_argument("--out", default=os.path.join(BENCH_DIR, "results"),
                    help="where latest.{csv,md,svg,json} and latest_memory.csv go")
    ap.add_argument("--kerasc", help="the kerasc binary (default: build/tools/kerasc, built "
                                     "when missing)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs per figure (default 5)")
    ap.add_argument("--quiet-wait", type=float, default=0, metavar="SECONDS",
                    help="before each measured process, wait up to this long for other "
                         "processes to leave the CPU (< 25%% busy over 1 s), and measure "
                         "again (up to 3 times) what they disturbed, keeping the calmest "
                         "figure; default 0")
    ap.add_argument("--build-dir", default=os.path.join(BENCH_DIR, "build"),
                    help="exported models and generated programs (default bench/build)")
    args = ap.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.systems = [s for s in args.systems.split(",") if s]
    for m in args.models:
        if m not in model_table.MODELS:
            ap.error(f"unknown model {m} (known: {', '.join(model_table.MODELS)})")
    for s in args.systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s} (known: {', '.join(SYSTEMS)})")
    if args.runs < 1:
        ap.error("--runs needs at least 1")
    return args


def export_models(names, data):
    """Builds the .keras files and reference data with Keras (in a child process, so this
    driver never holds JAX)."""
    if all(model_table.is_exported(data.models_dir, n) for n in names):
        return
    if importlib.util.find_spec("keras") is None:
        sys.exit("bench/run: Keras is not installed and the models are not exported yet; run "
                 "bench/setup.sh")
    subprocess.run([sys.executable, os.path.join(BENCH_DIR, "models.py"), "--out",
                    data.models_dir, "--models", ",".join(names)], check=True, env=peer_env())


def main(argv=None):
    args = parse_args(argv)
    settings = Settings(args)
    data = Collected()
    data.build_dir = os.path.abspath(args.build_dir)
    data.models_dir = os.path.join(data.build_dir, "models")
    os.makedirs(data.models_dir, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()
    log(f"bench/run: {'quick' if args.quick else 'full'} run, {settings.runs} runs per figure, "
        f"models {', '.join(args.models)}; systems {', '.join(args.systems)}")
    export_models(args.models, data)

    peers_available = {}
    for system in args.systems:
        if system in PEER_MODULES:
            absent = [m for m in PEER_MODULES[system] if importlib.util.find_spec(m) is None]
            peers_available[system] = not absent
            if absent:
                log(f"bench/run: skipping {system}: module {', '.join(absent)} is not importable "
                    f"(bench/setup.sh installs it)")
                for m in args.models:
                    data.missing.append({"model": m, "system": system,
                                         "reason": f"{', '.join(absent)} not installed"})

    kerasc, kerasc_error, flags = None, None, []
    if any(s in KERASC_SYSTEMS for s in args.systems):
        try:
            kerasc = kerasc_runner.find_or_build_kerasc(REPO_ROOT, args.kerasc, log=log)
            flags = kerasc_runner.compile_options(kerasc)
        except kerasc_runner.KerascUnavailable as e:
            kerasc_error = str(e)
            log(f"bench/run: kerasc rows will be missing: {e}")

    for name in args.models:
        spec = model_table.MODELS[name]
        log(f"\n{name}")
        for system in args.systems:
            try:
                if system in KERASC_SYSTEMS:
                    if kerasc_error:
                        raise kerasc_runner.KerascUnavailable(kerasc_error)
                    measure_kerasc(system, spec, settings, kerasc, flags, data)
                elif peers_available.get(system):
                    measure_peer(system, spec, settings, data)
            except (kerasc_runner.KerascUnavailable, RuntimeError, NotImplementedError,
                    ValueError, OSError, subprocess.SubprocessError) as e:
                log(f"  {system:<13} MISSING: {e}")
                data.missing.append({"model": name, "system": system, "reason": str(e)})
    if peers_available.get("openblas"):
        log(f"\n{peers.SGEMM_REFERENCE} (the machine's practical sgemm peak)")
        try:
            measure_peer("openblas", _ReferenceSpec(), settings, data)
        except (RuntimeError, ValueError, OSError) as e:
            log(f"  openblas      MISSING: {e}")

    info = machine_info(kerasc)
    info.update(load_before=load_before, load_after=os.getloadavg(),
                seconds=round(time.time() - started), kerasc_flags=["-O3",
                f"--max-batch={kerasc_runner.MAX_BATCH}"] + flags,
                kerasc_isa=data.kerasc_isa, threads=data.threads,
                max_others_cpu_share=max_share(m["others_cpu_share"] for m in data.memory),
                date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                mode="quick" if args.quick else "full", runs=settings.runs,
                min_time_s=settings.min_time,
                train_samples={n: settings.train_samples(model_table.MODELS[n])
                               for n in args.models})
    markdown = report.write_all(args.out, data, info, args.models, args.systems)
    log("\n" + markdown)
    log(f"bench/run: wrote {', '.join(report.OUTPUT_FILES)} to {args.out}")
    return 0


class _ReferenceSpec:
    """Stands in for a table row in measure_peer for the 2048^3 sgemm reference."""
    name = peers.SGEMM_REFERENCE


if __name__ == "__main__":
    sys.exit(main())

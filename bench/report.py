"""Renders one benchmark run: the CSV files, the Markdown report with its TARGETS block, the
raw JSON and the speedup chart."""

import csv
import json
import os

TASKS = ["infer_b1", "infer_b32", "infer_b256", "train_b32", "train_b128", "sgemm"]
SYSTEMS = ["kerasc", "kerasc-nofuse", "keras", "pytorch", "onnxruntime", "openblas"]
PEERS = SYSTEMS[1:]  # what kerasc is compared with
CSV_HEADER = ["model", "task", "system", "unit", "median", "min", "max"]
MEMORY_HEADER = ["model", "system", "phase", "peak_rss_kb", "wait4_rss_kb", "arena_bytes",
                 "others_cpu_share", "method"]
OUTPUT_FILES = ["latest.csv", "latest_memory.csv", "latest.md", "latest.json", "latest.svg"]
TARGET_SPEEDUP = 5.0
TARGET_SGEMM_FRACTION = 0.6
BIG_MLPS = ["mlp_784_128_10", "mlp_784_512_512_10"]
# A figure measured while other processes used more than this share of the machine's CPU is
# marked DISTURBED_MARK: it is lower than the system is (and so kerasc's speedup off).
DISTURBED_SHARE = 0.25
DISTURBED_MARK = "⚠"


def number(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 1e4:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cost(r):
    """Lower is better: latency as is, throughputs negated."""
    return r["median"] if r["unit"] == "us" else -r["median"]


def speedup(kerasc_row, peer_row):
    """How many times faster kerasc is (> 1: kerasc is faster)."""
    if not kerasc_row or not peer_row or not kerasc_row["median"] or not peer_row["median"]:
        return None
    if kerasc_row["unit"] == "us":
        return peer_row["median"] / kerasc_row["median"]
    return kerasc_row["median"] / peer_row["median"]


def find(rows, model, task, system):
    for r in rows:
        if r["model"] == model and r["task"] == task and r["system"] == system:
            return r
    return None


def disturbed(r):
    return bool(r) and (r.get("others_cpu_share") or 0) > DISTURBED_SHARE


def cell(r, kerasc_row=None):
    if not r:
        return ""
    text = f"{number(r['median'])} [{number(r['min'])}–{number(r['max'])}]"
    text += f" {DISTURBED_MARK}" if disturbed(r) else ""
    s = speedup(kerasc_row, r) if kerasc_row is not None and kerasc_row is not r else None
    return text + (f" **×{s:.2f}**" if s is not None else "")


def task_header(task, rows):
    units = {r["unit"] for r in rows if r["task"] == task}
    return f"{task} ({units.pop()})" if len(units) == 1 else task


# ------------------------------------------------------------------------------ targets

def targets(rows, models):
    """[(status, text)]: PASS / FAIL, or n/a where a figure is missing from this run."""
    out = []

    def mark(r):
        return f" {DISTURBED_MARK}" if disturbed(r) else ""

    def compare(model, task, peer, threshold):
        k, p = find(rows, model, task, "kerasc"), find(rows, model, task, peer)
        s = speedup(k, p)
        if s is None:
            return None, f"{peer} {number(p['median'])} {p['unit']}" if p else f"{peer} n/a"
        return s >= threshold, (f"{peer} {number(p['median'])} {p['unit']}{mark(p)} "
                                f"→ ×{s:.2f}")

    def add(label, checks, kerasc_figures):
        if not checks or any(ok is None for ok, _ in checks):
            status = "n/a"
        else:
            status = "PASS" if all(ok for ok, _ in checks) else "FAIL"
            if DISTURBED_MARK in kerasc_figures + "".join(t for _, t in checks):
                status += DISTURBED_MARK  # decided by a figure a busy neighbour lowered
        out.append((status, f"{label}: {kerasc_figures}; " + ", ".join(t for _, t in checks)))

    def kerasc_figure(model, task):
        k = find(rows, model, task, "kerasc")
        return f"kerasc {number(k['median'])} {k['unit']}{mark(k)}" if k else "kerasc n/a"

    model = "mlp_784_128_10"
    if model in models:
        add(f"batch-1 inference on {model} >= {TARGET_SPEEDUP:g}x pytorch and onnxruntime",
            [compare(model, "infer_b1", p, TARGET_SPEEDUP) for p in ("pytorch", "onnxruntime")],
            kerasc_figure(model, "infer_b1"))
    for model in [m for m in BIG_MLPS if m in models]:
        for task in ("train_b32", "train_b128"):
            add(f"training {task} on {model} >= {TARGET_SPEEDUP:g}x pytorch and keras fit",
                [compare(model, task, p, TARGET_SPEEDUP) for p in ("pytorch", "keras")],
                kerasc_figure(model, task))
    for model in [m for m in BIG_MLPS if m in models]:
        k, o = find(rows, model, "sgemm", "kerasc"), find(rows, model, "sgemm", "openblas")
        if k and o:
            fraction = k["median"] / o["median"]
            check = (fraction >= TARGET_SGEMM_FRACTION,
                     f"openblas {number(o['median'])} GFLOP/s{mark(o)} → {fraction:.0%} of it")
        else:
            check = (None, "openblas n/a")
        add(f"GEMM at batch 256 on {model} >= {TARGET_SGEMM_FRACTION:.0%} of openblas",
            [check], kerasc_figure(model, "sgemm"))
    for model in models:
        checks = []
        for task in TASKS[:-1]:
            k, n = find(rows, model, task, "kerasc"), find(rows, model, task, "kerasc-nofuse")
            s = speedup(k, n)
            checks.append((None, f"{task} n/a") if s is None else
                          (s > 1.0, f"{task} ×{s:.3f}{mark(k) or mark(n)}"))
        add(f"fused beats unfused on {model} (fused speedup per task)", checks, "kerasc vs "
            "kerasc-nofuse")
    return out


# ----------------------------------------------------------------------------- markdown

def machine_block(info):
    v = info["versions"]
    lines = [f"- CPU: {info['cpu']}, {info['cores']} cores; ISA: {', '.join(info['isa'])}",
             f"- OS: {info['os']}; Python {info['python']}",
             f"- Load average (1, 5, 15 min) before: "
             f"{', '.join(f'{x:.2f}' for x in info['load_before'])}; after: "
             f"{', '.join(f'{x:.2f}' for x in info['load_after'])}"]
    busiest = info.get("max_others_cpu_share")
    if busiest is not None and busiest > 0.1:
        lines.append(f"- **WARNING: other processes used up to {busiest:.0%} of the CPU while "
                     f"systems were measured (see Memory and contention); figures taken then "
                     f"are low, multi-threaded ones (PyTorch's, OpenBLAS's) most.**")
    threads = info.get("threads", {})
    lines += [
        f"- kerasc: `{info['kerasc'] or 'n/a'}` at commit {info['kerasc_commit'] or '?'}, "
        f"compiled `{' '.join(info['kerasc_flags'])}` (kerasc-nofuse adds `--no-fuse`); "
        f"GEMM ISA {info.get('kerasc_isa') or 'n/a'}, threads {threads.get('kerasc', 'n/a')}"
        + (f" (KERASC_NUM_THREADS={info['kerasc_num_threads_env']})"
           if info.get("kerasc_num_threads_env") else "") + f"; {info['cxx']}",
        f"- Keras {v.get('keras')} on backend {info['keras_backend']}: jax {v.get('jax')}, "
        f"jaxlib {v.get('jaxlib')}; inference as `model(x, training=False)` and "
        f"`model.predict(x, batch_size=B)` (the faster is `keras` in the CSV), training "
        f"`model.fit(x, y, batch_size=B, epochs=1)`",
        f"- PyTorch {v.get('torch')}: eager, `torch.no_grad()` inference, a hand-written "
        f"training loop (Adam, eps=1e-7); threads {threads.get('pytorch', 'n/a')}",
        f"- ONNX Runtime {v.get('onnxruntime')} (onnx {v.get('onnx')}): graph built with "
        f"onnx.helper (MatMul, Add, Relu, Softmax; CNNs: Transpose, Conv, MaxPool, "
        f"BatchNormalization, GlobalAveragePool, Flatten), CPUExecutionProvider, default session "
        f"options",
        f"- OpenBLAS: numpy {v.get('numpy')} with {info['numpy_blas']}, float32 `np.matmul`",
        f"- Peak RSS: Python workers report their own VmHWM; kerasc programs are measured by "
        f"{info['rss_method']}",
    ]
    return "\n".join(lines)


def markdown(data, info, models, systems):
    rows = data.rows
    parts = [f"# kerasc benchmark ({info['mode']} run, {info['date']})", "",
             f"Every figure is the median of {info['runs']} runs with [min–max]. Inference: each "
             f"run is the mean over as many calls as fit in {info['min_time_s']} s, after "
             f"warm-up calls; batch 1 is latency (us per call), batch 32 and 256 are "
             f"throughput. Training: each run is one epoch (shuffled) over synthetic data "
             f"after a warm-up epoch; samples per epoch: "
             + ", ".join(f"{m} {n}" for m, n in info["train_samples"].items()) +
             f". sgemm: GFLOP/s of the model's matrix products at batch 256 (kerasc: its "
             f"whole infer_b256 call, activations included). Each system runs in its own "
             f"process. The run took {info['seconds']} s.", "",
             "## Machine", "", machine_block(info), "",
             "## Agreement with Keras", "",
             f"Max |difference| from Keras's `predict` on 64 reference samples (tolerance 1e-4):",
             ""]
    checked = ["kerasc", "kerasc-nofuse", "keras model(x)", "pytorch", "onnxruntime", "openblas"]
    parts += ["| model | " + " | ".join(checked) + " |", "|---" * (len(checked) + 1) + "|"]
    for model in models:
        cells = []
        for system in checked:
            v = [x for x in data.verification if x["model"] == model and x["system"] == system]
            cells.append("" if not v else f"{v[0]['max_abs_diff']:.1e} "
                         + ("ok" if v[0]["ok"] else "**DISAGREES**"))
        parts.append(f"| {model} | " + " | ".join(cells) + " |")

    parts += ["", "## Results", "",
              "Cells: median [min–max]; **×r** is kerasc's speedup over that system (r > 1: "
              "kerasc is faster; for `us`, lower is better, for the others higher is better). "
              f"{DISTURBED_MARK}: other processes used more than {DISTURBED_SHARE:.0%} of the "
              "CPU while that figure was measured, so it is lower than the system is.", ""]
    for model in models:
        model_rows = [r for r in rows + data.variants if r["model"] == model]
        tasks = [t for t in TASKS if any(r["task"] == t for r in model_rows)]
        parts += [f"### {model}", ""]
        if not tasks:
            parts += ["No figures.", ""]
        else:
            parts += ["| system | " + " | ".join(task_header(t, model_rows) for t in tasks) + " |",
                      "|---" * (len(tasks) + 1) + "|"]
            table = [(s, s, "") for s in systems]
            if "keras" in systems:
                at = systems.index("keras") + 1
                table[at:at] = [("keras", "↳ keras model(x)", "model(x)"),
                                ("keras", "↳ keras predict", "predict")]
            for system, label, variant in table:
                source = data.variants if variant else rows
                cells = []
                for t in tasks:
                    r = next((x for x in source if x["model"] == model and x["task"] == t
                              and x["system"] == system and (not variant or
                                                             x["variant"] == variant)), None)
                    cells.append(cell(r, find(rows, model, t, "kerasc")))
                if any(cells) or not variant:
                    parts.append(f"| {label} | " + " | ".join(cells) + " |")
            parts.append("")
        for m in data.missing:
            if m["model"] == model:
                parts.append(f"- {m['system']} missing: {m['reason']}")
        parts.append("")
    peak = find(rows, "sgemm_2048", "sgemm", "openblas")
    if peak:
        parts += [f"**Machine's practical sgemm peak** (OpenBLAS, 2048×2048×2048 float32): "
                  f"{cell(peak)} GFLOP/s.", ""]

    parts += ["## Memory and contention", "",
              "Peak resident set per process (MiB) and, for kerasc, the planned arena "
              "(inference at batch 256, training at batch 128). Python figures include the "
              "interpreter and the framework. *Others* is the largest share of the machine's "
              "CPU that other processes used while that system was measured (inference / "
              "training): figures taken beside a busy neighbour are slower than the system is.",
              "",
              "| model | system | peak RSS inference | peak RSS training | arena inference | "
              "arena training | others |", "|---|---|---:|---:|---:|---:|---:|"]
    for model in models:
        for system in systems:
            entries = {m["phase"]: m for m in data.memory
                       if m["model"] == model and m["system"] == system}
            if not entries:
                continue
            def mib(phase):
                kb = entries.get(phase, {}).get("peak_rss_kb")
                return f"{kb / 1024:.1f}" if kb else ""
            def arena(phase):
                b = entries.get(phase, {}).get("arena_bytes")
                return f"{b:,} B" if b else ""
            def others(phase):
                share = entries.get(phase, {}).get("others_cpu_share")
                return "" if share is None else f"{share:.0%}"
            contention = " / ".join(x for x in (others("infer"), others("train")) if x)
            parts.append(f"| {model} | {system} | {mib('infer')} | {mib('train')} | "
                         f"{arena('infer')} | {arena('train')} | {contention} |")
    parts += ["", "## TARGETS", "", "```"]
    parts += [f"{status:<5} {text}" for status, text in targets(rows, models)]
    parts += ["```", ""]
    if any(disturbed(r) for r in rows):
        parts += [f"{DISTURBED_MARK}: measured while other processes used more than "
                  f"{DISTURBED_SHARE:.0%} of the CPU; that figure is low and its ratio off.", ""]
    return "\n".join(parts)


# --------------------------------------------------------------------------------- files

def write_csv(path, rows):
    ordered = sorted(rows, key=lambda r: (r["model"], TASKS.index(r["task"]),
                                          SYSTEMS.index(r["system"])))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_HEADER)
        for r in ordered:
            w.writerow([r["model"], r["task"], r["system"], r["unit"]] +
                       [f"{r[k]:.6g}" for k in ("median", "min", "max")])


def write_memory_csv(path, memory):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MEMORY_HEADER)
        for m in memory:
            w.writerow(["" if m.get(k) is None else m[k] for k in MEMORY_HEADER])


def chart(path, rows, models):
    """Speedup of kerasc over each peer per model and task, log scale, lines at 1x and 5x.
    Returns None, or why no chart was drawn."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: a small, greppable SVG
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed"
    panels = []
    for model in models:
        bars = {p: [speedup(find(rows, model, t, "kerasc"), find(rows, model, t, p))
                    for t in TASKS] for p in PEERS}
        if any(v for values in bars.values() for v in values):
            panels.append((model, bars))
    if not panels:
        return "no kerasc figures to compare"
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    values = [v for _, bars in panels for vs in bars.values() for v in vs if v]
    low, high = min(min(values) / 1.6, 0.5), max(max(values) * 1.8, TARGET_SPEEDUP * 2)
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 0.6 + 3.2 * len(panels)),
                             squeeze=False)
    width = 0.8 / len(PEERS)
    for ax, (model, bars) in zip(axes[:, 0], panels):
        for i, peer in enumerate(PEERS):
            xs = [t + (i - (len(PEERS) - 1) / 2) * width for t in range(len(TASKS))]
            shaken = [disturbed(find(rows, model, t, peer)) or
                      disturbed(find(rows, model, t, "kerasc")) for t in TASKS]
            drawn = ax.bar([x for x, v in zip(xs, bars[peer]) if v],
                           [v for v in bars[peer] if v], width, label=peer, color=f"C{i}")
            for patch, flag in zip(drawn, [f for f, v in zip(shaken, bars[peer]) if v]):
                if flag:
                    patch.set_hatch("///")
                    patch.set_edgecolor("white")
            for x, v in zip(xs, bars[peer]):
                if v:
                    ax.text(x, v * 1.05, f"{v:.0f}" if v >= 10 else f"{v:.2g}", ha="center",
                            va="bottom", fontsize=6.5)
        ax.set_yscale("log")
        ax.set_ylim(low, high)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.axhline(1.0, color="black", linewidth=0.9)
        ax.axhline(TARGET_SPEEDUP, color="tab:red", linestyle="--", linewidth=0.9)
        ax.text(len(TASKS) - 0.55, TARGET_SPEEDUP * 1.05, f"{TARGET_SPEEDUP:g}× target",
                color="tab:red", fontsize=7, ha="right", va="bottom")
        sgemm = TASKS.index("sgemm")
        ax.hlines(TARGET_SGEMM_FRACTION, sgemm - 0.4, sgemm + 0.4, color="tab:red",
                  linestyle=":", linewidth=0.9)
        ax.text(sgemm + 0.4, TARGET_SGEMM_FRACTION * 1.05, f"{TARGET_SGEMM_FRACTION:.0%} target",
                color="tab:red", fontsize=7, ha="right", va="bottom")
        ax.set_xticks(range(len(TASKS)))
        ax.set_xticklabels(TASKS)
        ax.set_ylabel("kerasc speedup")
        ax.set_title(model, fontsize=10)
        ax.grid(axis="y", alpha=0.25)
    from matplotlib.patches import Patch
    handles = [Patch(color=f"C{i}", label=peer) for i, peer in enumerate(PEERS)]
    fig.legend(handles=handles, loc="upper center", ncol=len(PEERS), fontsize=8,
               title="kerasc speedup over (> 1×: kerasc is faster; sgemm: share of OpenBLAS; "
                     "hatched: taken beside a busy neighbour)",
               title_fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (0.6 + 3.2 * len(panels))))
    fig.savefig(path)
    plt.close(fig)
    return None


def write_all(out_dir, data, info, models, systems):
    """Writes every output file; returns the Markdown text."""
    os.makedirs(out_dir, exist_ok=True)
    write_csv(os.path.join(out_dir, "latest.csv"), data.rows)
    write_memory_csv(os.path.join(out_dir, "latest_memory.csv"), data.memory)
    text = markdown(data, info, models, systems)
    svg = os.path.join(out_dir, "latest.svg")
    why_not = chart(svg, data.rows, models)
    if why_not:
        text += f"\nNo chart: {why_not}.\n"
        if os.path.exists(svg):
            os.remove(svg)  # an older run's chart would not match these figures
    else:
        text += "\n![kerasc speedup over each peer](latest.svg)\n"
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump({"machine": info, "rows": data.rows, "keras_variants": data.variants,
                   "memory": data.memory, "verification": data.verification,
                   "missing": data.missing}, f, indent=1)
    return text

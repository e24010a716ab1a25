"""The kerasc side of the benchmark: find or build the compiler, compile a model into a program,
build it, check it against Keras and run its own `bench` subcommand.

Every failure is a KerascUnavailable with a one-line reason, so the driver reports the kerasc rows
as missing instead of stopping.
"""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

import processes

MAX_BATCH = 256  # the largest batch any task runs (infer_b256); predict loops above it


class KerascUnavailable(Exception):
    pass


def find_or_build_kerasc(repo_root, override=None, log=print):
    """The kerasc binary: `override` if given, else REPO/build/tools/kerasc, configured and
    built (the kerasc target only) when it is missing."""
    if override:
        if not os.access(override, os.X_OK):
            raise KerascUnavailable(f"--kerasc {override} is not an executable")
        return os.path.abspath(override)
    binary = os.path.join(repo_root, "build", "tools", "kerasc")
    if os.access(binary, os.X_OK):
        return binary
    build = os.path.join(repo_root, "build")
    log(f"kerasc: {binary} is missing; building it (cmake + ninja, target kerasc)")
    for command in (["cmake", "-S", repo_root, "-B", build, "-G", "Ninja",
                     "-DCMAKE_BUILD_TYPE=Release"],
                    ["ninja", "-C", build, "kerasc"]):
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        if result.returncode != 0:
            tail = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
            raise KerascUnavailable(f"building kerasc failed ({' '.join(command[:2])}): "
                                    f"{tail[0]}")
    return binary


def compile_options(kerasc):
    """The flags `kerasc compile` understands that the benchmark wants: --cpu=native only
    where this kerasc has it."""
    help_text = subprocess.run([kerasc, "compile", "--help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True).stdout
    return ["--cpu=native"] if "--cpu" in help_text else []


def _tree_digest(directory):
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d != "build")
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(os.path.relpath(path, directory).encode() + b"\0")
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _program_in(directory):
    """DIR/build/<OUTPUT_NAME> (the name from DIR/CMakeLists.txt)."""
    with open(os.path.join(directory, "CMakeLists.txt")) as f:
        for line in f:
            if "OUTPUT_NAME" in line:
                name = line.split("OUTPUT_NAME", 1)[1].split(")")[0].strip()
                return os.path.join(directory, "build", name)
    raise KerascUnavailable(f"{directory}/CMakeLists.txt names no OUTPUT_NAME")


def build_program(kerasc, model_path, directory, fuse, extra_flags, log=print):
    """Compiles the model into `directory` and builds it; returns the program's path.
    The sources are compiled into a staging directory first: when they equal what is already
    built there, the existing build is reused (the C++ build is most of the time)."""
    staging = directory + ".new"
    shutil.rmtree(staging, ignore_errors=True)
    flags = ["-O3", f"--max-batch={MAX_BATCH}"] + ([] if fuse else ["--no-fuse"]) + extra_flags
    result = subprocess.run([kerasc, "compile", model_path, "-o", staging] + flags,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        raise KerascUnavailable(f"kerasc compile {' '.join(flags)} failed: "
                                f"{result.stdout.strip()[-300:]}")
    digest = _tree_digest(staging)
    stamp = os.path.join(directory, ".bench-sources")
    program = _program_in(staging).replace(staging, directory, 1)
    if os.path.exists(stamp) and open(stamp).read() == digest and os.access(program, os.X_OK):
        shutil.rmtree(staging)
        return program
    shutil.rmtree(directory, ignore_errors=True)
    os.rename(staging, directory)
    log(f"kerasc: building {os.path.relpath(directory)} ({' '.join(flags)})")
    for command in (["cmake", "-S", directory, "-B", os.path.join(directory, "build"),
                     "-DCMAKE_BUILD_TYPE=Release"],
                    ["cmake", "--build", os.path.join(directory, "build"), "-j2"]):
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        if result.returncode != 0:
            raise KerascUnavailable(f"building the generated program failed: "
                                    f"{first_error(result.stdout)}")
    if not os.access(program, os.X_OK):
        raise KerascUnavailable(f"the build made no {program}")
    with open(stamp, "w") as f:
        f.write(digest)
    return program


def first_error(output):
    """The compiler's first error line (paths shortened), else the output's last line."""
    lines = output.strip().splitlines() or ["(no output)"]
    line = next((l for l in lines if "error" in l.lower()), lines[-1])
    return line.replace(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/", "")


def has_bench(program):
    result = subprocess.run([program, "bench", "--help"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return result.returncode == 0 and "--task" in result.stdout


def verify(program, x_path, y_ref, tolerance):
    """Max abs difference of `program predict` from Keras's predictions on the reference input."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "y.npy")
        result = subprocess.run([program, "predict", "--input", x_path, "--output", out],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0 or not os.path.exists(out):
            raise KerascUnavailable(f"{os.path.basename(program)} predict failed: "
                                    f"{result.stdout.strip()[-200:]}")
        diff = float(np.max(np.abs(np.load(out).astype(np.float32) - y_ref)))
    return {"max_abs_diff": diff, "ok": bool(diff <= tolerance)}


def bench(program, task, batch, runs, min_time=None, samples=None, seed=0, timeout=600):
    """Runs `program bench` in its own process; returns its JSON report plus the process's
    peak resident set as measured from outside (`measured_rss_kb`, `rss_method`)."""
    command = [program, "bench", "--task", task, "--batch", str(batch), "--runs", str(runs),
               "--seed", str(seed)]
    if min_time is not None:
        command += ["--min-time", str(min_time)]
    if samples is not None:
        command += ["--samples", str(samples)]
    run = processes.run_measured(command, timeout=timeout)
    if run.returncode != 0:
        raise KerascUnavailable(f"{' '.join(command[1:])} exited {run.returncode}: "
                                f"{run.stderr.strip()[-200:]}")
    try:
        report = json.loads(run.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise KerascUnavailable(f"{' '.join(command[1:])} printed no JSON line: "
                                f"{run.stdout.strip()[-200:]}")
    report["measured_rss_kb"] = run.max_rss_kb
    report["rss_method"] = run.rss_method
    report["others_cpu_share"] = run.others_cpu_share
    return report

"""Running one measured process: its output, exit status and peak resident set.

Linux charges a child with the peak resident set of the process that forked it (the forked copy
of the parent's address space counts until exec replaces it), so os.wait4 on a child started
straight from this driver reports at least the driver's own peak. GNU time forks the command
from a ~1 MB process and reports the wait4 figure of that grandchild, so where /usr/bin/time
exists it launches every measured command; elsewhere the child's wait4 figure is used and
marked as an upper bound.
"""

import collections
import os
import subprocess
import tempfile
import threading
import time

GNU_TIME = "/usr/bin/time"

Measured = collections.namedtuple(
    "Measured", "returncode stdout stderr max_rss_kb rss_method others_cpu_share")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_jiffies():
    """(busy, total) CPU time of the whole machine so far, in clock ticks, or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def others_share(before, after, own_cpu_s):
    """Share of the machine's CPU capacity that other processes used between two
    cpu_jiffies() snapshots, given the CPU seconds our own child used meanwhile."""
    if not before or not after or after[1] <= before[1]:
        return None
    busy = (after[0] - before[0]) / CLOCK_TICKS
    capacity = (after[1] - before[1]) / CLOCK_TICKS
    return round(max(0.0, busy - own_cpu_s) / capacity, 3)


def wait_until_quiet(max_wait_s, threshold=0.25, log=print):
    """Waits (up to max_wait_s) until other processes use less than `threshold` of the CPU
    over one second, so timings are not taken while a compiler runs beside them. Returns the
    share seen last."""
    deadline, share, told = time.time() + max_wait_s, None, False
    while True:
        before = cpu_jiffies()
        time.sleep(1.0)
        share = others_share(before, cpu_jiffies(), 0.0)
        if share is None or share < threshold or time.time() >= deadline:
            return share
        if not told:
            log(f"    (waiting up to {max_wait_s:.0f} s: other processes use {share:.0%} "
                f"of the CPU)")
            told = True


def _gnu_time_works():
    try:
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run([GNU_TIME, "-o", out.name, "-f", "%M", "true"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return out.read().strip().isdigit()
    except (OSError, subprocess.CalledProcessError):
        return False


USE_GNU_TIME = _gnu_time_works()
RSS_METHOD = ("wait4 via /usr/bin/time" if USE_GNU_TIME else
              "wait4 of the child (upper bound: includes the driver's own peak)")


def run_measured(command, timeout=600, env=None, cwd=None):
    """Runs `command`, returns Measured. A command still running after `timeout` seconds is
    killed and reported with return code -9."""
    with tempfile.TemporaryDirectory() as tmp:
        rss_file = os.path.join(tmp, "rss")
        out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        full = ([GNU_TIME, "-q", "-o", rss_file, "-f", "%M"] if USE_GNU_TIME else []) + command
        with open(out_path, "w") as out, open(err_path, "w") as err:
            child = subprocess.Popen(full, stdout=out, stderr=err, env=env, cwd=cwd)
            timer = threading.Timer(timeout, child.kill)
            timer.start()
            before = cpu_jiffies()
            try:
                _, status, usage = os.wait4(child.pid, 0)
            finally:
                timer.cancel()
            share = others_share(before, cpu_jiffies(), usage.ru_utime + usage.ru_stime)
            child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        with open(out_path) as f:
            stdout = f.read()
        with open(err_path) as f:
            stderr = f.read()
        max_rss = usage.ru_maxrss
        if USE_GNU_TIME:
            try:
                with open(rss_file) as f:
                    max_rss = int(f.read().strip().splitlines()[-1])
            except (OSError, ValueError, IndexError):
                max_rss = None
        return Measured(child.returncode, stdout, stderr, max_rss, RSS_METHOD, share)


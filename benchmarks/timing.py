"""Timing and memory readings shared by the benchmark scripts (no heavy imports, so a torch-only worker can use it)."""

import statistics
import time


def timed(fn, repeats, warmup=2):
    """(median, min, max) wall seconds of `fn()` over `repeats` runs after `warmup` untimed runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def proc_status_mib(key):
    """A size from this process's /proc/self/status in MiB: "VmRSS" (resident now) or "VmHWM" (its peak; getrusage's
    ru_maxrss would carry the parent's peak over fork and exec); NaN where the file lacks it."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")

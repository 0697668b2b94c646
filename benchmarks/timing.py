"""Timing shared by the benchmark scripts (no heavy imports, so a torch-only worker can use it)."""

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

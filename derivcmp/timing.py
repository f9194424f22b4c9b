"""Honest timing: setup once, evaluation by autorange, median and spread.

Like ``timeit``: garbage collection is off while timing, the loop count is
raised until one batch takes at least ``min_batch_s``, then several batches
are run and the per-call median and interquartile range are reported.
Nothing here decides what is fast enough; that is for ``benchmarks/``.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from .problem import Timing


def measure(fn: Callable[[], object], setup_s: float, *, repeats: int = 7,
            min_batch_s: float = 0.0025, max_number: int = 1_000_000) -> Timing:
    number = 1
    enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            t = _batch(fn, number)
            if t >= min_batch_s or number >= max_number:
                break
            # jump straight to the count that should fill a batch
            guess = int(number * min_batch_s / max(t, 1e-9) * 1.2) + 1
            number = min(max_number, max(number * 2, guess))
        per_call = sorted(_batch(fn, number) / number for _ in range(repeats))
    finally:
        if enabled:
            gc.enable()
    q = statistics.quantiles(per_call, n=4) if len(per_call) > 1 else [per_call[0]] * 3
    return Timing(setup_s=setup_s, eval_s=statistics.median(per_call),
                  eval_spread_s=q[2] - q[0], repeats=repeats, number=number)


def _batch(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start

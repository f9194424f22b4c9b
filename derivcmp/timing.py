"""Honest timing: setup once, evaluation by autorange, statistics over runs.

Like ``timeit``: garbage collection is off while timing, the loop count is
raised until one batch takes at least ``min_batch_s``; then ``warmup``
batches are run and thrown away, and ``runs`` batches are measured.  Like
hyperfine, each run's per-call time feeds mean ± standard deviation, min and
max; median ± interquartile range are kept beside them.  Nothing here decides
what is fast enough; that is for ``benchmarks/``.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .problem import Timing

DEFAULT_RUNS = 7
DEFAULT_WARMUP = 1
MAX_RUNS = 1000

#: what ``measure`` uses when not told: ``settings`` changes it for a block (a
#: forked deadline child inherits it, so the backends need not pass it along)
_SETTINGS = {"runs": DEFAULT_RUNS, "warmup": DEFAULT_WARMUP}


def configure(runs: int | None = None, warmup: int | None = None) -> None:
    """Measure with ``runs`` batches after ``warmup`` discarded ones from now on
    (None leaves a setting as it is): a batch worker process sets it once."""
    if runs is not None:
        _SETTINGS["runs"] = runs
    if warmup is not None:
        _SETTINGS["warmup"] = warmup


@contextmanager
def settings(runs: int | None = None, warmup: int | None = None) -> Iterator[None]:
    """Measure with ``runs`` batches after ``warmup`` discarded ones inside this block."""
    saved = dict(_SETTINGS)
    configure(runs, warmup)
    try:
        yield
    finally:
        _SETTINGS.update(saved)


def measure(fn: Callable[[], object], setup_s: float, *, repeats: int | None = None,
            warmup: int | None = None, min_batch_s: float = 0.0025, max_number: int = 1_000_000) -> Timing:
    runs = _SETTINGS["runs"] if repeats is None else repeats
    warmup = _SETTINGS["warmup"] if warmup is None else warmup
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
        for _ in range(warmup):
            _batch(fn, number)
        per_call = sorted(_batch(fn, number) / number for _ in range(runs))
    finally:
        if enabled:
            gc.enable()
    q = statistics.quantiles(per_call, n=4) if len(per_call) > 1 else [per_call[0]] * 3
    return Timing(setup_s=setup_s, eval_s=statistics.median(per_call),
                  eval_spread_s=q[2] - q[0], repeats=runs, number=number,
                  mean_s=statistics.fmean(per_call),
                  std_s=statistics.stdev(per_call) if len(per_call) > 1 else 0.0,
                  min_s=per_call[0], max_s=per_call[-1], warmup=warmup)


def _batch(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start

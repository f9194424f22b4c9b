"""Run many cases: the worker pool, the typed results, per-method summaries.

``run_cases`` runs each ``suite.Case`` through ``compare.compare`` — in this
process for ``jobs=1`` without a timeout, otherwise in a pool of worker
processes whose deadlines the parent watches — and returns a ``BatchRun``
with one ``CaseResult`` per case in input order, whatever order they finish
in.  A ``CaseResult`` holds the same ``Comparison`` that ``eval`` computes,
the check of the case's ``expected`` value and the case's own status.
Nothing a case does can stop the batch: an exception, a timeout or a worker
that dies becomes an ``error`` (or ``timeout``) case whose every method is an
error.  Ctrl-C ends the run early and keeps the finished cases.

The CI verdicts and baselines are in ``checks.py`` (re-exported here); the
JSON, JUnit, Markdown and CSV in ``report/``.  This module never prints and
never formats.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import platform
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from . import __version__, deadline
from . import timing as _timing
from .checks import (  # noqa: F401 - the verdicts were defined here before checks.py
    BASELINE_SCHEMA,
    ERROR_FLOOR,
    MARK_BETTER,
    MARK_FIXED,
    MARK_NEW_FAILURE,
    MARK_WORSE,
    CheckReport,
    ExpectedCheck,
    Verdict,
    baseline_document,
    baseline_json,
    check,
    check_expected,
    finite,
    load_baseline,
    save_baseline,
)
from .compare import compare, resolve_methods
from .errors import DerivcmpError  # noqa: F401 - part of this module's interface
from .grading import most_accurate
from .problem import (
    ERROR,
    NOT_APPLICABLE,
    NOT_DIFFERENTIABLE,
    OK,
    TIMEOUT,
    UNDEFINED,
    Comparison,
    Graded,
    Outcome,
    Reference,
)
from .suite import Case

#: what became of a case as a whole (its methods have their own statuses)
FINISHED, CRASHED, TIMED_OUT = "finished", ERROR, TIMEOUT


@dataclass(frozen=True, eq=False)
class CaseResult:
    """One case of a batch: the case, its ``Comparison`` and its own checks.

    ``status`` is ``finished`` when the case ran to the end (its methods may
    still have failed or timed out each), ``error`` when it crashed and
    ``timeout`` when it was stopped as a whole; then ``crashed`` says why and
    every method of ``comparison`` is an error carrying that message.
    ``document`` is its ``derivcmp/2`` JSON object (with ``id`` and ``file``).
    """

    case: Case
    comparison: Comparison
    expected: ExpectedCheck | None = None     # the check of the case's `expected`
    crashed: str | None = None                # why the case produced no comparison
    seconds: float = 0.0                      # wall time of the case in its worker
    timing: bool = True                       # whether the methods were timed
    status: str = FINISHED

    def graded(self, name: str) -> Graded | None:
        """The graded outcome of one method, or None when the case did not run it."""
        return next((g for g in self.comparison.results if g.name == name), None)

    def eval_s(self, g: Graded) -> float | None:
        """The median evaluation time of one of its methods (None without timing)."""
        t = g.outcome.timing if self.timing else None
        return None if t is None else t.eval_s

    @property
    def reference_status(self) -> str:
        return self.comparison.reference.status

    @cached_property
    def document(self) -> dict[str, Any]:
        """The ``derivcmp/2`` document with ``id`` and ``file`` (``report.batch.case_document``)."""
        from .report.batch import case_document
        return case_document(self)

    def method(self, name: str) -> dict[str, Any] | None:
        """One method's object of ``document``, or None when the case did not run it."""
        return next((m for m in self.document["methods"] if m["name"] == name), None)



@dataclass
class BatchRun:
    results: list[CaseResult]
    total: int                               # cases asked for
    interrupted: bool = False
    elapsed_s: float = 0.0
    timing: bool = True
    jobs: int = 1

    @property
    def methods(self) -> list[str]:
        seen: dict[str, None] = {}
        for r in self.results:
            for g in r.comparison.results:
                seen.setdefault(g.name, None)
        return list(seen)


# --- running one case ----------------------------------------------------------

def run_case(case: Case, methods: Sequence[str] | None = None, timing: bool = True,
             timeout: float | None = None) -> CaseResult:
    """Compare one case; a ``CaseResult`` (it pickles), never an exception.

    ``timeout`` is per method and for the reference, as in ``compare`` (each
    then runs in a forked child).  The pool passes ``None`` and watches the
    whole case from outside instead, which costs nothing (see ``_pool_pass``).
    """
    start = time.perf_counter()
    try:
        names = list(methods or case.methods or []) or None
        problem, warnings = case.problem()
        comparison = compare(problem, names, timing, warnings, timeout=timeout)
        expected = check_expected(case, comparison, timeout) if case.expected is not None else None
        return CaseResult(case, comparison, expected, None, time.perf_counter() - start, timing)
    except Exception as err:  # noqa: BLE001 - one case must never stop the batch
        return crashed_result(case, methods, f"{type(err).__name__}: {err}".splitlines()[0][:300],
                              timing, time.perf_counter() - start)


def crashed_result(case: Case, methods, message: str, timing: bool, seconds: float = 0.0,
                   status: str = CRASHED) -> CaseResult:
    """A case that produced no comparison: the reference and every method are ``error``."""
    problem, _ = case.problem()
    names = resolve_methods(list(methods or case.methods or []) or None)
    c = Comparison(problem, Reference(ERROR, message=message),
                   tuple(Graded(Outcome(m, ERROR, message=message)) for m in names))
    return CaseResult(case, c, None, message, seconds, timing, status)


def _result(case: Case, raw: Any, methods, timing: bool) -> CaseResult:
    """The one place a worker's answer becomes the case's result: a ``CaseResult``
    as it is, a crash (``{"crash": why}``, from the parent) as an error case."""
    if isinstance(raw, CaseResult):
        return raw
    return crashed_result(case, methods, raw["crash"], timing, raw.get("seconds", 0.0),
                          raw.get("status", CRASHED))


# --- the pool ------------------------------------------------------------------

_STARTS = None       # in a worker: shared array, when each case started (time.monotonic)


def _init_worker(starts=None, runs: int | None = None, warmup: int | None = None) -> None:
    global _STARTS
    _STARTS = starts
    # --runs / --warmup hold for the whole life of the worker (and the deadline
    # children it forks), as ``timing.settings`` does for a block in this process
    _timing.configure(runs, warmup)
    # Ctrl-C reaches the whole process group; the parent alone decides what
    # to do, so a worker never dies with a KeyboardInterrupt traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the same address-space cap as a deadline child: a runaway expansion
    # fails with MemoryError in its case instead of taking the machine down
    deadline.cap_memory()


def _started(worker, index: int, case: Case, methods, timing: bool) -> CaseResult:
    """In a worker: note when the case starts (the parent's deadline counts from it), run it."""
    if _STARTS is not None:
        _STARTS[index] = time.monotonic()     # system-wide clock: comparable across processes
    return worker(case, methods, timing, None)


def _context():
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        # workers fork from a server that has imported sympy once: cheap, and
        # safe although the parent runs threads (rich's progress refresh).
        # The backends import sympy only when they run, so name it here.
        ctx = multiprocessing.get_context("forkserver")
        from .backends.base import builtin_modules
        ctx.set_forkserver_preload(["derivcmp.batch", "derivcmp.report", "derivcmp.reference",
                                    "derivcmp.sympy_bridge", *builtin_modules()])
        return ctx
    return multiprocessing.get_context("spawn")


def default_jobs() -> int:
    """The cores this process may use (fewer than the machine's under a CPU affinity mask)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def run_cases(cases: Sequence[Case], methods: Sequence[str] | None = None, timing: bool = True,
              jobs: int | None = None, timeout: float | None = None,
              on_result: Callable[[int, CaseResult], None] | None = None,
              worker: Callable[..., CaseResult] = run_case, runs: int | None = None,
              warmup: int | None = None) -> BatchRun:
    """Run every case; results in input order.  Ctrl-C keeps what finished.

    ``methods`` (e.g. from ``--methods``) overrides each case's own list.
    ``timeout`` is per method, as in ``eval``.  ``jobs=1`` without a timeout
    runs in this process; otherwise a pool of worker processes runs the cases.
    ``runs`` / ``warmup``: timed and discarded runs per method, as ``eval
    --runs/--warmup`` (None: the defaults of ``timing``).
    ``worker`` is replaceable for tests; it must be a module-level function.
    """
    jobs = max(1, jobs or default_jobs())
    jobs = min(jobs, max(1, len(cases)))
    results: dict[int, CaseResult] = {}
    start = time.perf_counter()

    def done(i: int, raw: CaseResult | dict[str, Any]) -> None:
        results[i] = _result(cases[i], raw, methods, timing)
        if on_result:
            on_result(i, results[i])

    interrupted = False
    try:
        if jobs == 1 and not timeout:
            with _timing.settings(runs, warmup):
                for i, case in enumerate(cases):
                    try:
                        raw = worker(case, methods, timing, None)
                    except Exception as err:  # noqa: BLE001 - run_case never raises; a test worker might
                        raw = {"crash": f"{type(err).__name__}: {err}"}
                    done(i, raw)
        else:
            _run_pool(cases, methods, timing, timeout, jobs, worker, done, (runs, warmup))
    except KeyboardInterrupt:
        interrupted = True
    ordered = [results[i] for i in sorted(results)]
    return BatchRun(ordered, len(cases), interrupted, time.perf_counter() - start, timing, jobs)


def _run_pool(cases, methods, timing, timeout, jobs, worker, done, timing_runs=(None, None)) -> None:
    ctx = _context()
    pending = list(range(len(cases)))[::-1]          # a stack: pop() gives the next index
    while pending:
        suspects = _pool_pass(ctx, cases, methods, timing, timeout, jobs, worker, done, pending,
                              timing_runs)
        # a worker died, or a case overran its deadline and the pool was killed:
        # run each case that was in flight alone, with a deadline per method, so
        # the culprit is found and named and the others still get their result
        for i in suspects:
            done(i, _isolated(ctx, worker, cases[i], methods, timing, timeout, timing_runs))


#: how long a worker may take to pick up a case it was sent (starting up: fork server, imports)
STARTUP_GRACE_S = 30.0


def _budget(case: Case, methods, timeout: float | None) -> float:
    """How long a whole case may take: ``timeout`` for the reference and each method."""
    if not timeout:
        return math.inf
    stages = len(resolve_methods(list(methods or case.methods or []) or None)) + 1
    return timeout * (stages + (case.expected is not None))    # expected has its own deadline


def _pool_pass(ctx, cases, methods, timing, timeout, jobs, worker, done, pending,
               timing_runs=(None, None)) -> list[int]:
    """Run from ``pending`` until it is empty or the pool breaks; return the suspects.

    A forked child per method (what ``compare`` does with a timeout) costs more
    than most cases take, so workers run cases without one and this loop
    watches the clock instead: each worker notes in shared memory when it
    starts a case, and a case that overruns its whole budget (the reference
    and every method may each take ``timeout``) gets the pool killed.
    """
    starts = ctx.Array("d", len(cases), lock=False)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(starts, *timing_runs))
    in_flight: dict[Future, tuple[int, float]] = {}      # future -> (case index, submitted at)
    try:
        while pending or in_flight:
            while pending and len(in_flight) < jobs:
                i = pending.pop()
                starts[i] = 0.0
                with _spawning():
                    fut = pool.submit(_started, worker, i, cases[i], methods, timing)
                in_flight[fut] = (i, time.monotonic())

            def due(i: int, submitted: float) -> float:
                # from when the worker started the case; until then it may be booting
                begun = starts[i]
                return (begun or submitted + STARTUP_GRACE_S) + _budget(cases[i], methods, timeout)

            first_due = min(due(i, t) for i, t in in_flight.values())
            wait_s = None if math.isinf(first_due) else max(0.0, min(first_due - time.monotonic(), 0.5))
            finished, _ = wait(list(in_flight), timeout=wait_s, return_when=FIRST_COMPLETED)
            broken: list[int] = []
            for fut in finished:
                i, _ = in_flight.pop(fut)
                try:
                    done(i, fut.result())
                except BrokenProcessPool:
                    broken.append(i)
                except Exception as err:  # noqa: BLE001 - e.g. a result that would not pickle
                    done(i, {"crash": f"worker failed: {type(err).__name__}: {err}"})
            overdue = any(due(i, t) <= time.monotonic() for i, t in in_flight.values())
            if broken or overdue:
                if overdue:
                    _kill(pool)
                suspects = sorted(broken + [i for i, _ in in_flight.values()])
                in_flight.clear()
                return suspects
        return []
    except BaseException:
        _kill(pool)
        raise
    finally:
        pool.shutdown(wait=not in_flight, cancel_futures=True)


_SPAWNING = [0]                  # > 0 while ``submit`` may be starting a worker process
_STOP_DEFERRED: list[int] = []    # a stop asked for meanwhile


@contextmanager
def _spawning():
    """Hold a stop (``stop_requested``) until the pool has registered the worker
    it may be starting: stopped halfway, a worker is not yet the pool's to kill,
    outlives the run and dies on the pool's semaphores with a traceback on our
    stderr, or hangs with our pipes open."""
    _SPAWNING[0] += 1
    try:
        yield
    finally:
        _SPAWNING[0] -= 1
    if not _SPAWNING[0] and _STOP_DEFERRED:
        _STOP_DEFERRED.clear()
        raise KeyboardInterrupt


def stop_requested() -> None:
    """Stop the run now (``KeyboardInterrupt``), or as soon as a worker being
    started is registered: what a signal handler around ``run_cases`` calls."""
    if _SPAWNING[0]:
        _STOP_DEFERRED.append(1)
        return
    raise KeyboardInterrupt


def _kill(pool: ProcessPoolExecutor) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, AttributeError):  # pragma: no cover - already gone
            pass


def _isolated(ctx, worker, case, methods, timing, timeout, timing_runs=(None, None)) -> CaseResult | dict:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker,
                               initargs=(None, *timing_runs))
    # the per-method deadlines bound the case; this is only a backstop
    limit = 2 * _budget(case, methods, timeout) + 2
    try:
        with _spawning():
            fut = pool.submit(worker, case, methods, timing, timeout)
        return fut.result(
            timeout=None if math.isinf(limit) else limit)
    except BrokenProcessPool:
        return {"crash": "the worker process running this case died (crashed or was killed)"}
    except FutureTimeout:
        _kill(pool)
        return {"crash": f"the case did not finish within {limit:g} s and was stopped", "status": TIMED_OUT}
    except BaseException:
        _kill(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_batch(paths: Sequence[str | os.PathLike] | str | os.PathLike, methods: str | Sequence[str] | None = None, timing: bool = True,
              jobs: int | None = 1, timeout: float | None = None, tags: Sequence[str] = (),
              runs: int | None = None, warmup: int | None = None) -> BatchRun:
    """Load the suites under ``paths`` and run every case: what ``derivcmp batch`` does.

    ``methods`` overrides each case's own list (names, families or ``"all"``);
    ``jobs``: worker processes (1, the default here, runs in this process;
    ``None`` for every core); ``timeout``: seconds per method and for the
    reference (``None``: no limit; with ``jobs=1`` a limit makes each method
    run in a forked child); ``runs`` / ``warmup``: timed and discarded runs
    per method, as ``eval --runs/--warmup``.  Mistakes in the files raise ``DerivcmpError``
    listing them.  Returns a ``BatchRun``; ``summarize(run)`` gives the
    per-method summary and ``check(run)`` the CI verdicts.
    """
    from .suite import load
    loaded = load([paths] if isinstance(paths, (str, os.PathLike)) else paths, tags=tags)
    if loaded.errors:
        raise DerivcmpError("\n".join(str(d) for d in loaded.errors))
    names = resolve_methods(methods) if methods else None
    return run_cases(loaded.cases, names, timing=timing, jobs=jobs, timeout=timeout, runs=runs,
                     warmup=warmup)


# --- summaries -----------------------------------------------------------------

def summarize(run: BatchRun) -> dict[str, dict[str, Any]]:
    """Per method: cases ok / not ok, median and worst error, median time, wins."""
    out: dict[str, dict[str, Any]] = {}
    winners = [most_accurate(r.comparison.results) for r in run.results]
    for name in run.methods:
        errs: list[tuple[float, str]] = []
        times: list[float] = []
        ok = not_ok = not_applicable = no_derivative = wins = 0
        for r, best in zip(run.results, winners):
            g = r.graded(name)
            if g is None:
                continue
            status = g.outcome.status
            if status == OK:
                ok += 1
            elif status == NOT_APPLICABLE:
                not_applicable += 1
            elif status in (UNDEFINED, NOT_DIFFERENTIABLE):
                no_derivative += 1      # nothing to grade: the derivative does not exist there
            else:
                not_ok += 1
            err = finite(g.rel_error)
            if status == OK and err is not None:
                errs.append((err, r.case.id))
            t = r.eval_s(g)
            if t is not None:
                times.append(t)
            wins += name in best
        worst = max(errs, default=None)
        cases = len(run.results)
        out[name] = {
            # every case asked for every method of the run; one the case did not run is skipped
            "cases": cases, "ok": ok, "not_ok": not_ok,
            "not_applicable": not_applicable, "no_derivative": no_derivative,
            "skipped": cases - (ok + not_ok + not_applicable + no_derivative),
            "median_rel_error": statistics.median(e for e, _ in errs) if errs else None,
            "worst_rel_error": worst[0] if worst else None,
            "worst_case": worst[1] if worst else None,
            "median_eval_s": statistics.median(times) if times else None,
            "most_accurate": wins,
        }
    return out


def environment() -> dict[str, Any]:
    import mpmath
    import numpy
    import sympy
    return {"derivcmp": __version__, "python": platform.python_version(),
            "numpy": numpy.__version__, "sympy": sympy.__version__, "mpmath": mpmath.__version__,
            "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor() or None, "cpu_count": os.cpu_count()}


def git_commit(cwd: str | None = None) -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                           capture_output=True, text=True, timeout=5).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


__all__ = [
    "BatchRun",
    "CaseResult",
    "crashed_result",
    "default_jobs",
    "environment",
    "git_commit",
    "run_batch",
    "run_case",
    "run_cases",
    "summarize",
]

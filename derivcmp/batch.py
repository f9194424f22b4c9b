"""Run many cases: the worker pool, per-method summaries, the CI verdicts.

``run_cases`` runs each ``suite.Case`` through ``compare.compare`` — in this
process for ``jobs=1`` without a timeout, otherwise in a pool of worker
processes whose deadlines the parent watches — and returns
one ``CaseResult`` per case in input order, whatever order they finish in.
Nothing a case does can stop the batch: an exception, a timeout or a worker
that dies becomes an ``error`` case.  Ctrl-C ends the run early and keeps the
finished cases.

Every result carries its ``derivcmp/1`` document (with ``id`` and ``file``);
summaries, verdicts and baselines are computed from those documents only, so
a baseline written by one run can be compared with another run directly.
This module never prints and never formats; ``report/batch.py`` does.
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
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from . import __version__, deadline
from . import baseline_schema as _baseline_schema
from .compare import compare, errors, resolve_methods
from .errors import DerivcmpError  # noqa: F401 - part of this module's interface
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
from .report import most_accurate
from .suite import Case

BASELINE_SCHEMA = _baseline_schema.SCHEMA
#: errors below this are rounding noise: 1e-17 growing to 1e-16 is no regression
ERROR_FLOOR = 1e-15


@dataclass(frozen=True)
class CaseResult:
    case: Case
    document: dict[str, Any]                 # derivcmp/1 + "id" and "file"
    expected: dict[str, Any] | None = None   # the check of the case's `expected`
    crashed: str | None = None               # why the case produced no comparison
    seconds: float = 0.0                     # wall time of the case in its worker

    def method(self, name: str) -> dict[str, Any] | None:
        return next((m for m in self.document["methods"] if m["name"] == name), None)

    @property
    def reference_status(self) -> str:
        return self.document["reference"]["status"]


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
            for m in r.document["methods"]:
                seen.setdefault(m["name"], None)
        return list(seen)


# --- running one case ----------------------------------------------------------

def run_case(case: Case, methods: Sequence[str] | None = None, timing: bool = True,
             timeout: float | None = None) -> dict[str, Any]:
    """Compare one case; a plain dict (cheap to pickle), never an exception.

    ``timeout`` is per method and for the reference, as in ``compare`` (each
    then runs in a forked child).  The pool passes ``None`` and watches the
    whole case from outside instead, which costs nothing (see ``_pool_pass``).
    """
    start = time.perf_counter()
    try:
        names = list(methods or case.methods or []) or None
        return {**_evaluate(case, names, timing, timeout), "seconds": time.perf_counter() - start}
    except Exception as err:  # noqa: BLE001 - one case must never stop the batch
        return {"crash": f"{type(err).__name__}: {err}".splitlines()[0][:300],
                "seconds": time.perf_counter() - start}


def _evaluate(case: Case, names: list[str] | None, timing: bool, timeout: float | None) -> dict[str, Any]:
    from .report import document
    problem, warnings = case.problem()
    comparison = compare(problem, names, timing, warnings, timeout=timeout)
    expected = check_expected(case, comparison, timeout) if case.expected is not None else None
    return {"document": document(comparison, timing), "expected": expected}


def _result(case: Case, raw: Mapping[str, Any], methods, timing: bool) -> CaseResult:
    if "crash" in raw:
        doc = failed_document(case, methods, raw["crash"], timing)
        return CaseResult(case, doc, None, raw["crash"], raw.get("seconds", 0.0))
    doc = {**raw["document"], "id": case.id, "file": case.file}
    return CaseResult(case, doc, raw.get("expected"), None, raw.get("seconds", 0.0))


def failed_document(case: Case, methods, message: str, timing: bool) -> dict[str, Any]:
    """A derivcmp/1 document for a case that crashed: every status is ``error``."""
    from .report import document
    problem, _ = case.problem()
    names = resolve_methods(list(methods or case.methods or []) or None)
    c = Comparison(problem, Reference(ERROR, message=message),
                   tuple(Graded(Outcome(m, ERROR, message=message)) for m in names))
    return {**document(c, timing), "id": case.id, "file": case.file}


def check_expected(case: Case, c: Comparison, timeout: float | None = None) -> dict[str, Any]:
    """Compare the case's hand-written ``expected`` with the 50-digit reference.

    Expression strings are built from our AST into sympy and evaluated at the
    exact binary point, like the reference itself (never ``sympify``), under
    their own deadline: an expected formula that runs away is reported as
    such, and the reference and methods that finished keep their results.
    """
    tol = case.expected_tolerance
    out: dict[str, Any] = {"expected": case.expected, "tolerance": tol, "value": None,
                           "rel_error": None, "ok": False, "message": None}
    ref = c.reference
    if ref.status != OK:
        out["message"] = f"cannot check expected: the reference is {ref.status}"
        return out
    try:
        value = deadline.call(lambda: _expected_value(case.expected, c.problem.point), timeout)
    except ValueError as err:
        out["message"] = f"expected: {err}"
        return out
    if isinstance(value, deadline.Timeout):
        out.update(status=TIMEOUT, message=f"expected: its value took more than {value.seconds:g} s "
                   "(its own deadline; raise --timeout to wait longer)")
        return out
    if isinstance(value, deadline.Crashed):
        out.update(status=ERROR, message=f"expected: {value.message}")
        return out
    _, rel_err = errors(value, ref.exact)
    out.update(value=value, rel_error=rel_err, ok=bool(rel_err <= tol))
    if not out["ok"]:
        out["message"] = (f"expected {_short(value)} but the reference is {_short(ref.value)} "
                          f"(rel error {rel_err:.2e} > {tol:g})")
    return out


def _expected_value(v: Any, point: Mapping[str, float]) -> Any:
    if isinstance(v, list):
        return [_expected_value(x, point) for x in v]
    if not isinstance(v, str):
        return float(v)
    from .expr import parse
    from .reference import value_at
    try:
        return float(value_at(parse(v), point))
    except ValueError as err:
        raise ValueError(f"{v!r} cannot be evaluated here: {err}") from None


def _short(v: Any) -> str:
    from .report import fmt_value
    return fmt_value(v)


# --- the pool ------------------------------------------------------------------

_STARTS = None       # in a worker: shared array, when each case started (time.monotonic)


def _init_worker(starts=None) -> None:
    global _STARTS
    _STARTS = starts
    # Ctrl-C reaches the whole process group; the parent alone decides what
    # to do, so a worker never dies with a KeyboardInterrupt traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # the same address-space cap as a deadline child: a runaway expansion
    # fails with MemoryError in its case instead of taking the machine down
    try:
        import resource
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = deadline.MEMORY_LIMIT_BYTES
        resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(hard, cap),
                                                hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass


def _started(worker, index: int, case: Case, methods, timing: bool) -> Mapping[str, Any]:
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
              worker: Callable[..., Mapping[str, Any]] = run_case) -> BatchRun:
    """Run every case; results in input order.  Ctrl-C keeps what finished.

    ``methods`` (e.g. from ``--methods``) overrides each case's own list.
    ``timeout`` is per method, as in ``eval``.  ``jobs=1`` without a timeout
    runs in this process; otherwise a pool of worker processes runs the cases.
    ``worker`` is replaceable for tests; it must be a module-level function.
    """
    jobs = max(1, jobs or default_jobs())
    jobs = min(jobs, max(1, len(cases)))
    results: dict[int, CaseResult] = {}
    start = time.perf_counter()

    def done(i: int, raw: Mapping[str, Any]) -> None:
        results[i] = _result(cases[i], raw, methods, timing)
        if on_result:
            on_result(i, results[i])

    interrupted = False
    try:
        if jobs == 1 and not timeout:
            for i, case in enumerate(cases):
                try:
                    raw = worker(case, methods, timing, None)
                except Exception as err:  # noqa: BLE001 - run_case never raises; a test worker might
                    raw = {"crash": f"{type(err).__name__}: {err}"}
                done(i, raw)
        else:
            _run_pool(cases, methods, timing, timeout, jobs, worker, done)
    except KeyboardInterrupt:
        interrupted = True
    ordered = [results[i] for i in sorted(results)]
    return BatchRun(ordered, len(cases), interrupted, time.perf_counter() - start, timing, jobs)


def _run_pool(cases, methods, timing, timeout, jobs, worker, done) -> None:
    ctx = _context()
    pending = list(range(len(cases)))[::-1]          # a stack: pop() gives the next index
    while pending:
        suspects = _pool_pass(ctx, cases, methods, timing, timeout, jobs, worker, done, pending)
        # a worker died, or a case overran its deadline and the pool was killed:
        # run each case that was in flight alone, with a deadline per method, so
        # the culprit is found and named and the others still get their result
        for i in suspects:
            done(i, _isolated(ctx, worker, cases[i], methods, timing, timeout))


#: how long a worker may take to pick up a case it was sent (starting up: fork server, imports)
STARTUP_GRACE_S = 30.0


def _budget(case: Case, methods, timeout: float | None) -> float:
    """How long a whole case may take: ``timeout`` for the reference and each method."""
    if not timeout:
        return math.inf
    stages = len(resolve_methods(list(methods or case.methods or []) or None)) + 1
    return timeout * (stages + (case.expected is not None))    # expected has its own deadline


def _pool_pass(ctx, cases, methods, timing, timeout, jobs, worker, done, pending) -> list[int]:
    """Run from ``pending`` until it is empty or the pool breaks; return the suspects.

    A forked child per method (what ``compare`` does with a timeout) costs more
    than most cases take, so workers run cases without one and this loop
    watches the clock instead: each worker notes in shared memory when it
    starts a case, and a case that overruns its whole budget (the reference
    and every method may each take ``timeout``) gets the pool killed.
    """
    starts = ctx.Array("d", len(cases), lock=False)
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                               initargs=(starts,))
    in_flight: dict[Future, tuple[int, float]] = {}      # future -> (case index, submitted at)
    try:
        while pending or in_flight:
            while pending and len(in_flight) < jobs:
                i = pending.pop()
                starts[i] = 0.0
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


def _kill(pool: ProcessPoolExecutor) -> None:
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()
        except (OSError, AttributeError):  # pragma: no cover - already gone
            pass


def _isolated(ctx, worker, case, methods, timing, timeout) -> Mapping[str, Any]:
    pool = ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=_init_worker)
    # the per-method deadlines bound the case; this is only a backstop
    limit = 2 * _budget(case, methods, timeout) + 2
    try:
        return pool.submit(worker, case, methods, timing, timeout).result(
            timeout=None if math.isinf(limit) else limit)
    except BrokenProcessPool:
        return {"crash": "the worker process running this case died (crashed or was killed)"}
    except FutureTimeout:
        _kill(pool)
        return {"crash": f"the case did not finish within {limit:g} s and was stopped"}
    except BaseException:
        _kill(pool)
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def run_batch(paths: Sequence[str | os.PathLike] | str | os.PathLike, methods: str | Sequence[str] | None = None, timing: bool = True,
              jobs: int | None = 1, timeout: float | None = None, tags: Sequence[str] = ()) -> BatchRun:
    """Load the suites under ``paths`` and run every case: what ``derivcmp batch`` does.

    ``methods`` overrides each case's own list (names, families or ``"all"``);
    ``jobs``: worker processes (1, the default here, runs in this process;
    ``None`` for every core); ``timeout``: seconds per method and for the
    reference (``None``: no limit; with ``jobs=1`` a limit makes each method
    run in a forked child).  Mistakes in the files raise ``DerivcmpError``
    listing them.  Returns a ``BatchRun``; ``summarize(run)`` gives the
    per-method summary and ``check(run)`` the CI verdicts.
    """
    from .suite import load
    loaded = load([paths] if isinstance(paths, (str, os.PathLike)) else paths, tags=tags)
    if loaded.errors:
        raise DerivcmpError("\n".join(str(d) for d in loaded.errors))
    names = resolve_methods(methods) if methods else None
    return run_cases(loaded.cases, names, timing=timing, jobs=jobs, timeout=timeout)


# --- summaries -----------------------------------------------------------------

def summarize(run: BatchRun) -> dict[str, dict[str, Any]]:
    """Per method: cases ok / not ok, median and worst error, median time, wins."""
    out: dict[str, dict[str, Any]] = {}
    winners = [most_accurate(r.document) for r in run.results]
    for name in run.methods:
        errs: list[tuple[float, str]] = []
        times: list[float] = []
        ok = not_ok = not_applicable = no_derivative = wins = 0
        for r, best in zip(run.results, winners):
            m = r.method(name)
            if m is None:
                continue
            if m["status"] == OK:
                ok += 1
            elif m["status"] == NOT_APPLICABLE:
                not_applicable += 1
            elif m["status"] in (UNDEFINED, NOT_DIFFERENTIABLE):
                no_derivative += 1      # nothing to grade: the derivative does not exist there
            else:
                not_ok += 1
            if m["status"] == OK and m["rel_error"] is not None:
                errs.append((m["rel_error"], r.case.id))
            if m["time"] and m["time"].get("eval_s") is not None:
                times.append(m["time"]["eval_s"])
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


# --- checks: tolerances, expected values, baselines ------------------------------

MARK_WORSE, MARK_BETTER, MARK_NEW_FAILURE, MARK_FIXED = "+", "-", "!", "*"


@dataclass(frozen=True)
class Verdict:
    """One line of a check: a case × method (or the case's reference / expected)."""

    case: CaseResult
    name: str                         # a method, or "reference" / "expected"
    passed: bool
    message: str = ""                 # why it failed, or a note
    mark: str = ""                    # "+", "-", "!", "*" against the baseline
    rel_error: float | None = None
    tolerance: float | None = None
    skipped: bool = False             # not checked (not applicable, no reference)
    baseline_rel_error: float | None = None
    time_ratio: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.case.case.file, self.case.case.id, self.name)


@dataclass
class CheckReport:
    verdicts: list[Verdict]
    factor: float
    baseline_path: str | None = None
    baseline_env: dict[str, Any] | None = None
    missing: list[tuple[str, str]] = field(default_factory=list)   # in the baseline, not run
    time_ratios: dict[str, float] = field(default_factory=dict)    # per method, median of ratios
    slowdown_factor: float | None = None
    slow_methods: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]

    @property
    def passed(self) -> bool:
        return not self.failures and not self.slow_methods

    def __post_init__(self) -> None:
        self._by_case: dict[int, list[Verdict]] = {}
        for v in self.verdicts:
            self._by_case.setdefault(id(v.case), []).append(v)

    def for_case(self, r: CaseResult) -> list[Verdict]:
        return self._by_case.get(id(r), [])


def _method_verdict(r: CaseResult, m: Mapping[str, Any]) -> Verdict:
    name, case = m["name"], r.case
    tol = case.tolerance_for(name)
    ref_status = r.reference_status
    if r.crashed:
        return Verdict(r, name, False, r.crashed, tolerance=tol)
    if ref_status != OK:
        # no reference value: nothing to grade (the reference verdict covers it)
        return Verdict(r, name, True, f"reference is {ref_status}", tolerance=tol, skipped=True)
    if m["status"] == NOT_APPLICABLE:
        return Verdict(r, name, True, m["message"] or "not applicable", tolerance=tol, skipped=True)
    err = m["rel_error"]
    if tol is None:
        return Verdict(r, name, True, "no tolerance" if m["status"] == OK else (m["message"] or m["status"]),
                       rel_error=err)
    if m["status"] != OK or err is None:
        return Verdict(r, name, False, f"{m['status']}: {m['message'] or 'no value'}", rel_error=err,
                       tolerance=tol)
    # tolerances apply component-wise: a bad small component fails the case
    comp = m.get("component_rel_error")
    if comp is not None and comp > tol >= err:
        return Verdict(r, name, False, f"rel error {comp:.2e} (worst component) > tolerance {tol:.0e}",
                       rel_error=err, tolerance=tol)
    if err > tol:
        return Verdict(r, name, False, f"rel error {err:.2e} > tolerance {tol:.0e}", rel_error=err,
                       tolerance=tol)
    return Verdict(r, name, True, rel_error=err, tolerance=tol)


def _case_verdicts(r: CaseResult) -> list[Verdict]:
    out = []
    ref = r.document["reference"]
    if r.crashed or ref["status"] != r.case.expect or r.case.expect != OK:
        passed = not r.crashed and ref["status"] == r.case.expect
        msg = (r.crashed or f"reference is {ref['status']}, expected {r.case.expect}"
               + (f" ({ref['message']})" if ref.get("message") else ""))
        out.append(Verdict(r, "reference", passed, "" if passed else msg))
    if r.case.expected is not None and not r.crashed:
        e = r.expected or {}
        out.append(Verdict(r, "expected", bool(e.get("ok")), e.get("message") or "",
                           rel_error=e.get("rel_error"), tolerance=r.case.expected_tolerance))
    return out


def check(run: BatchRun, baseline: Mapping[str, Any] | None = None, factor: float = 10.0,
          fail_on_slowdown: float | None = None, baseline_path: str | None = None) -> CheckReport:
    """Every verdict of ``derivcmp check`` on a finished run.

    Tolerances, ``expected`` values and ``expect`` statuses come from the
    cases; ``baseline`` is a document from ``load_baseline`` (errors that grew
    past ``factor`` × the baseline fail; ``fail_on_slowdown`` likewise for
    median evaluation time).  ``report.passed``, ``report.failures`` and
    ``report.verdicts`` (one per case × method, plus reference/expected
    checks) say what happened.
    """
    index = _baseline_index(baseline) if baseline else None
    verdicts: list[Verdict] = []
    ratios: dict[str, list[float]] = {}
    for r in run.results:
        verdicts.extend(_case_verdicts(r))
        for m in r.document["methods"]:
            v = _method_verdict(r, m)
            if index is not None:
                v = _against_baseline(v, m, index.get((r.case.file, r.case.id)) or
                                      index.get((os.path.basename(r.case.file), r.case.id)), factor)
                if v.time_ratio is not None:
                    ratios.setdefault(v.name, []).append(v.time_ratio)
            verdicts.append(v)
    report = CheckReport(verdicts, factor, baseline_path, (baseline or {}).get("environment"))
    if index is not None:
        ran = {(r.case.file, r.case.id) for r in run.results} | {
            (os.path.basename(r.case.file), r.case.id) for r in run.results}
        report.missing = [(c["file"], c["id"]) for c in baseline.get("cases", [])
                          if (c["file"], c["id"]) not in ran
                          and (os.path.basename(c["file"]), c["id"]) not in ran]
        report.time_ratios = {k: statistics.median(v) for k, v in ratios.items()}
        if not run.timing or not baseline.get("timing"):
            report.notes.append("timing not compared (run or baseline without timing)")
        report.slowdown_factor = fail_on_slowdown
        if fail_on_slowdown:
            report.slow_methods = [k for k, q in report.time_ratios.items() if q > fail_on_slowdown]
    return report


def _against_baseline(v: Verdict, m: Mapping[str, Any], base_case, factor: float) -> Verdict:
    from dataclasses import replace
    if base_case is None:
        return replace(v, message=v.message or "new (not in the baseline)")
    b = base_case["methods"].get(v.name)
    if b is None:
        return v
    was_ok = b.get("passed", True)
    mark, passed, message = "", v.passed, v.message
    base_err, err = b.get("rel_error"), v.rel_error
    if was_ok and not v.passed:
        mark = MARK_NEW_FAILURE
    elif not was_ok and v.passed and not v.skipped:
        mark = MARK_FIXED
        message = message or "fixed (failed in the baseline)"
    elif base_err is not None and not v.skipped:
        if err is None:
            mark, passed = MARK_WORSE, False
            message = f"{m['status']}: no error now (baseline rel error {base_err:.2e})"
        else:
            ratio = max(err, ERROR_FLOOR) / max(base_err, ERROR_FLOOR)
            if ratio > factor:
                mark, passed = MARK_WORSE, False
                message = (f"rel error {err:.2e} is {ratio:.3g}× the baseline {base_err:.2e} "
                           f"(limit {factor:g}×)")
            elif ratio < 1 / factor:
                mark = MARK_BETTER
                message = message or f"rel error {err:.2e}, baseline {base_err:.2e} ({1 / ratio:.3g}× better)"
    time_ratio = None
    t, bt = (m.get("time") or {}).get("eval_s"), b.get("eval_s")
    if t and bt and m["status"] == OK:
        time_ratio = t / bt
    return replace(v, passed=passed, mark=mark, message=message, baseline_rel_error=base_err,
                   time_ratio=time_ratio)


def _baseline_index(baseline: Mapping[str, Any]) -> dict[tuple[str, str], Mapping[str, Any]]:
    """By (file, id), and by (file name, id) where that is unambiguous."""
    index: dict[tuple[str, str], Mapping[str, Any]] = {}
    by_name: dict[tuple[str, str], list] = {}
    for c in baseline.get("cases", []):
        index[(c["file"], c["id"])] = c
        by_name.setdefault((os.path.basename(c["file"]), c["id"]), []).append(c)
    for k, v in by_name.items():
        if len(v) == 1:
            index.setdefault(k, v[0])
    return index


def baseline_document(run: BatchRun, report: CheckReport | None = None) -> dict[str, Any]:
    """What ``--save-baseline`` writes: per case × method error, time and verdict."""
    verdict = {v.key: v for v in (report.verdicts if report else [])}
    cases = []
    for r in run.results:
        methods = {}
        for m in r.document["methods"]:
            v = verdict.get((r.case.file, r.case.id, m["name"]))
            methods[m["name"]] = {"status": m["status"], "rel_error": m["rel_error"],
                                  "eval_s": (m["time"] or {}).get("eval_s"),
                                  "passed": True if v is None else v.passed}
        cases.append({"file": r.case.file, "id": r.case.id, "reference_status": r.reference_status,
                      "methods": methods})
    env = environment()
    env["git_commit"] = git_commit()
    env["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"schema": BASELINE_SCHEMA, "timing": run.timing, "environment": env, "cases": cases}


def baseline_json(doc: Mapping[str, Any]) -> str:
    """The baseline as text: one line per case, so a change shows as a small diff."""
    import json
    head = {k: v for k, v in doc.items() if k != "cases"}
    lines = json.dumps(head, indent=1, allow_nan=False)[:-2].rstrip()
    cases = ",\n".join("  " + json.dumps(c, allow_nan=False) for c in doc["cases"])
    return f'{lines},\n "cases": [\n{cases}\n ]\n}}\n'


def load_baseline(path: str) -> dict[str, Any]:
    """The baseline at ``path``, validated against its schema (``baseline_schema``)."""
    from . import baseline_schema
    return baseline_schema.load(path)


__all__ = [
    "BatchRun",
    "CaseResult",
    "CheckReport",
    "Verdict",
    "baseline_document",
    "check",
    "default_jobs",
    "environment",
    "load_baseline",
    "most_accurate",
    "run_batch",
    "run_case",
    "run_cases",
    "summarize",
]

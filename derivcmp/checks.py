"""The CI verdicts of a batch run: tolerances, expected values, baselines.

Everything here reads the typed results of ``batch.run_cases`` (a
``BatchRun`` of ``CaseResult``, each holding the ``Comparison`` that ``eval``
computes) and decides; nothing is formatted for output here (``report/``
does that).  Tolerances are per method (the registry's defaults, or the
case's own) and apply component-wise.  A baseline is loaded with its schema
validated (``baseline_schema``), compared case by case, and saved atomically.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import baseline_schema as _baseline_schema
from . import deadline
from .compare import errors
from .problem import ERROR, NOT_APPLICABLE, OK, TIMEOUT, Comparison, Graded

if TYPE_CHECKING:
    from .batch import BatchRun, CaseResult
    from .suite import Case

BASELINE_SCHEMA = _baseline_schema.SCHEMA
#: errors below this are rounding noise: 1e-17 growing to 1e-16 is no regression
ERROR_FLOOR = 1e-15

MARK_WORSE, MARK_BETTER, MARK_NEW_FAILURE, MARK_FIXED = "+", "-", "!", "*"


def finite(x: float | None) -> float | None:
    """A float error as the results report it: None where there is no finite number."""
    return None if x is None or not math.isfinite(x) else float(x)


# --- a case's hand-written expected value ------------------------------------------

@dataclass(frozen=True)
class ExpectedCheck:
    """The check of a case's ``expected`` value against the 50-digit reference.

    ``status`` is None when the expected value was computed, ``timeout`` or
    ``error`` when computing it failed.  Fields read as ``check["ok"]`` too,
    as the dict this was before.
    """

    expected: Any
    tolerance: float
    value: Any = None
    rel_error: float | None = None
    ok: bool = False
    message: str | None = None
    status: str | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)


def check_expected(case: Case, c: Comparison, timeout: float | None = None) -> ExpectedCheck:
    """Compare the case's hand-written ``expected`` with the 50-digit reference.

    Expression strings are built from our AST into sympy and evaluated at the
    exact binary point, like the reference itself (never ``sympify``), under
    their own deadline: an expected formula that runs away is reported as
    such, and the reference and methods that finished keep their results.
    """
    out = ExpectedCheck(case.expected, case.expected_tolerance)
    ref = c.reference
    if ref.status != OK:
        return replace(out, message=f"cannot check expected: the reference is {ref.status}")
    try:
        value = deadline.call(lambda: _expected_value(case.expected, c.problem.point), timeout)
    except ValueError as err:
        return replace(out, message=f"expected: {err}")
    if isinstance(value, deadline.Timeout):
        return replace(out, status=TIMEOUT, message=f"expected: its value took more than {value.seconds:g} s "
                       "(its own deadline; raise --timeout to wait longer)")
    if isinstance(value, deadline.Crashed):
        return replace(out, status=ERROR, message=f"expected: {value.message}")
    _, rel_err = errors(value, ref.exact)
    out = replace(out, value=value, rel_error=rel_err, ok=bool(rel_err <= out.tolerance))
    if not out.ok:
        from .report import fmt_value
        out = replace(out, message=f"expected {fmt_value(value)} but the reference is {fmt_value(ref.value)} "
                      f"(rel error {rel_err:.2e} > {out.tolerance:g})")
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


# --- verdicts --------------------------------------------------------------------

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

    def verdict(self, r: CaseResult, name: str) -> Verdict | None:
        """The verdict on one method (or ``reference`` / ``expected``) of a case."""
        return next((v for v in self.for_case(r) if v.name == name), None)


def method_verdict(r: CaseResult, g: Graded) -> Verdict:
    """Tolerance verdict of one method of a case (component-wise)."""
    name, case = g.name, r.case
    status = g.outcome.status
    tol = case.tolerance_for(name)
    ref_status = r.reference_status
    if r.crashed:
        return Verdict(r, name, False, r.crashed, tolerance=tol)
    if ref_status != OK:
        # no reference value: nothing to grade (the reference verdict covers it)
        return Verdict(r, name, True, f"reference is {ref_status}", tolerance=tol, skipped=True)
    if status == NOT_APPLICABLE:
        return Verdict(r, name, True, g.message or "not applicable", tolerance=tol, skipped=True)
    err = finite(g.rel_error)
    if tol is None:
        return Verdict(r, name, True, "no tolerance" if status == OK else (g.message or status),
                       rel_error=err)
    if status != OK or err is None:
        return Verdict(r, name, False, f"{status}: {g.message or 'no value'}", rel_error=err,
                       tolerance=tol)
    # tolerances apply component-wise: a bad small component fails the case
    comp = finite(g.component_rel_error)
    if comp is not None and comp > tol >= err:
        return Verdict(r, name, False, f"rel error {comp:.2e} (worst component) > tolerance {tol:.0e}",
                       rel_error=err, tolerance=tol)
    if err > tol:
        return Verdict(r, name, False, f"rel error {err:.2e} > tolerance {tol:.0e}", rel_error=err,
                       tolerance=tol)
    return Verdict(r, name, True, rel_error=err, tolerance=tol)


def case_verdicts(r: CaseResult) -> list[Verdict]:
    """The case's own checks: its reference status (``expect``) and ``expected`` value."""
    out = []
    ref = r.comparison.reference
    if r.crashed or ref.status != r.case.expect or r.case.expect != OK:
        passed = not r.crashed and ref.status == r.case.expect
        msg = (r.crashed or f"reference is {ref.status}, expected {r.case.expect}"
               + (f" ({ref.message})" if ref.message else ""))
        out.append(Verdict(r, "reference", passed, "" if passed else msg))
    if r.case.expected is not None and not r.crashed:
        e = r.expected
        out.append(Verdict(r, "expected", bool(e and e.ok), (e and e.message) or "",
                           rel_error=e and e.rel_error, tolerance=r.case.expected_tolerance))
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
        verdicts.extend(case_verdicts(r))
        for g in r.comparison.results:
            v = method_verdict(r, g)
            if index is not None:
                v = _against_baseline(v, r, g, index.get((r.case.file, r.case.id)) or
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


def _against_baseline(v: Verdict, r: CaseResult, g: Graded, base_case, factor: float) -> Verdict:
    if base_case is None:
        return replace(v, message=v.message or "new (not in the baseline)")
    b = base_case["methods"].get(v.name)
    if b is None:
        return v
    status = g.outcome.status
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
            message = f"{status}: no error now (baseline rel error {base_err:.2e})"
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
    t, bt = r.eval_s(g), b.get("eval_s")
    if t and bt and status == OK:
        time_ratio = t / bt
    return replace(v, passed=passed, mark=mark, message=message, baseline_rel_error=base_err,
                   time_ratio=time_ratio)


# --- baselines -------------------------------------------------------------------

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
    from .batch import environment, git_commit
    verdict = {v.key: v for v in (report.verdicts if report else [])}
    cases = []
    for r in run.results:
        methods = {}
        for g in r.comparison.results:
            v = verdict.get((r.case.file, r.case.id, g.name))
            methods[g.name] = {"status": g.outcome.status, "rel_error": finite(g.rel_error),
                               "eval_s": r.eval_s(g), "passed": True if v is None else v.passed}
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
    return _baseline_schema.load(path)


def save_baseline(path: str, run: BatchRun, report: CheckReport | None = None) -> None:
    """Write the run's baseline to ``path`` atomically (a reader never sees half a file)."""
    from .files import write_atomic
    write_atomic(path, baseline_json(baseline_document(run, report)))


__all__ = [
    "BASELINE_SCHEMA",
    "ERROR_FLOOR",
    "CheckReport",
    "ExpectedCheck",
    "Verdict",
    "baseline_document",
    "baseline_json",
    "case_verdicts",
    "check",
    "check_expected",
    "load_baseline",
    "method_verdict",
    "save_baseline",
]

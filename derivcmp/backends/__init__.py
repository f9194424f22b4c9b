"""Backends: one small interface, one registry, one harness that runs them.

A backend has a ``name`` (a stable method identifier), a one-line
``description``, ``supports(problem)`` returning a reason when it cannot
handle a problem, and ``prepare(problem)`` doing all setup work (differentiate,
compile, choose steps) and returning a ``Prepared`` whose ``evaluate(point)``
computes the derivative.  ``run`` times the two phases apart and turns every
failure into an ``Outcome`` status; backends never grade themselves and know
nothing of reporting.  What else a method declares (family, convention,
tolerances, requirements) and how methods are found (the modules of this
package, and plug-ins) is in ``base``: adding a method is adding a module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ..problem import ERROR, NOT_APPLICABLE, OK, TIMEOUT, UNRESOLVED, GridOutcome, Outcome, Problem, Timing
from ..timing import measure
from . import _jacobian
from ._fp import fp_events


@dataclass
class Prepared:
    evaluate: Callable[[Mapping[str, float]], Any]
    details: dict[str, Any] = field(default_factory=dict)
    #: why a non-finite value came out, e.g. "overflow in exp at column 3"
    explain: Callable[[Mapping[str, float]], str | None] | None = None
    #: a status other than ``ok`` for a finite value, with its reason, decided by
    #: the method from its last evaluation (``unresolved`` for a difference lost
    #: in rounding); None or returning None: ``ok``
    verdict: Callable[[], tuple[str, str] | None] | None = None
    #: more details, computed after the setup was timed (not part of its cost)
    extra: Callable[[], Mapping[str, Any]] | None = None
    #: the derivative as text in a ``SHOW_FORMS`` form (``--show``)
    show: Callable[[str], str] | None = None
    #: optional: the derivative at every point of a grid at once, each variable a
    #: 1-D float64 array, one value per point (nan or inf where a point has none,
    #: never a value poisoned by another point); equal to ``evaluate`` point by
    #: point.  It returns the values, or a ``GridValues`` where some points have a
    #: status other than ``ok`` (what ``verdict`` says at one point, e.g.
    #: ``unresolved``) or took the scalar path.  None: ``run_grid`` loops over the
    #: points with ``evaluate``
    evaluate_grid: Callable[[Mapping[str, np.ndarray]], Any] | None = None


@dataclass
class GridValues:
    """What an ``evaluate_grid`` returns when the values alone do not say all:
    ``values`` (one per point), ``statuses`` (an object array of ``ok``,
    ``unresolved``, ``error`` ... per point, as ``verdict`` or a failed
    evaluation would give at that point; None: ``ok`` wherever the value is
    finite) and ``messages`` (point index -> why, for the points that are not
    ``ok``).  A non-finite value with status ``ok`` is made an ``error`` with its
    explanation by ``run_grid``, as for plain values."""
    values: np.ndarray
    statuses: np.ndarray | None = None
    messages: dict[int, str] = field(default_factory=dict)


#: what ``--show`` prints: sympy's pretty printer, LaTeX, or the code that is evaluated
SHOW_FORMS = ("pretty", "latex", "code")
#: a shown text longer than this is cut, with its full size stated
SHOW_MAX_LINES = 60
SHOW_MAX_CHARS = 6000


#: details key: the setup's phases in seconds, e.g. ``{"differentiate": 0.1, "codegen": 0.02}``
#: (dropped without timing, like every other time)
SETUP_SPLIT = "setup_split_s"


class MethodTimeout(Exception):
    """Raised by ``prepare`` when a step under the method's own deadline gave up."""


class Backend(Protocol):
    name: str
    description: str

    def supports(self, problem: Problem) -> str | None: ...

    def prepare(self, problem: Problem) -> Prepared: ...


def registry() -> dict[str, Backend]:
    """Every method that can run in this installation, by name (see ``base``)."""
    from .base import entries
    return {n: e.backend for n, e in entries().items() if e.available}


def available() -> list[str]:
    return list(registry())


def run(backend: Backend, problem: Problem, timing: bool = True, show: str | None = None) -> Outcome:
    """Run one backend on one problem; never raises for a numeric failure.

    With ``show`` (one of ``SHOW_FORMS``) the details get ``show``: the
    derivative in that form, cut to a readable length (``shown_text``)."""
    prepared, setup_s, failed = _prepare(backend, problem)
    if failed:
        return Outcome(backend.name, failed[0], message=failed[1],
                       timing=None if setup_s is None else Timing(setup_s=setup_s))
    outcome = _evaluate(backend, problem, prepared, setup_s, timing)
    details = dict(outcome.details)
    if not timing:
        # the setup's phases in seconds (``setup_split_s``) are timings too
        details.pop(SETUP_SPLIT, None)
    try:
        if prepared.extra is not None:
            details.update(prepared.extra())
        if show:
            text = prepared.show(show) if prepared.show else details.get("code") if show == "code" else None
            if isinstance(text, str):
                details["show"] = shown_text(show, text)
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as err:
        details["details_error"] = _brief(err)
    return replace(outcome, details=details)


def _prepare(backend: Backend, problem: Problem) -> tuple[Prepared | None, float | None, tuple[str, str] | None]:
    """The method's setup, timed: (prepared, seconds, None), or the (status, message) it
    failed with; a problem it does not support has no setup time."""
    reason = backend.supports(problem)
    if not reason and problem.vector and _jacobian.how(backend) not in ("native", "rows"):
        reason = _jacobian.NOT_VECTOR
    if reason:
        return None, None, (NOT_APPLICABLE, reason)
    start = time.perf_counter()
    try:
        if problem.vector and _jacobian.how(backend) == "rows":
            prepared = _jacobian.rows_prepared(backend, problem)
        else:
            prepared = backend.prepare(problem)
    except MethodTimeout as err:
        return None, time.perf_counter() - start, (TIMEOUT, str(err))
    except RecursionError:
        return None, time.perf_counter() - start, (ERROR, "limit: the expression is nested too deeply for this method")
    except (ArithmeticError, ValueError, TypeError, MemoryError) as err:
        return None, time.perf_counter() - start, (ERROR, f"setup failed: {_brief(err)}")
    return prepared, time.perf_counter() - start, None


def shown_text(form: str, text: str) -> dict[str, Any]:
    """``{"form", "text", "lines", "chars", "truncated"}``: the text cut to
    ``SHOW_MAX_LINES`` lines and ``SHOW_MAX_CHARS`` characters; its full size kept."""
    lines = text.splitlines()
    cut = "\n".join(lines[:SHOW_MAX_LINES])[:SHOW_MAX_CHARS]
    return {"form": form, "text": cut, "lines": len(lines), "chars": len(text), "truncated": cut != text}


def _real(raw) -> np.ndarray:
    """A method's value as float64; a complex value (a library that went complex
    outside the real domain) is nan where its imaginary part is not 0: no real
    derivative there, explained as any other nan (no ComplexWarning on stderr)."""
    value = np.asarray(raw)
    if np.iscomplexobj(value):
        value = np.where(value.imag == 0, value.real, np.nan)
    return np.asarray(value, dtype=float)


def _evaluate(backend: Backend, problem: Problem, prepared: Prepared, setup_s: float, timing: bool) -> Outcome:
    point = problem.point
    try:
        with np.errstate(all="ignore"):
            value = _real(prepared.evaluate(point))
    except (ArithmeticError, ValueError, TypeError, RecursionError) as err:
        return Outcome(backend.name, ERROR, message=f"evaluation failed: {_brief(err)}",
                       timing=Timing(setup_s=setup_s), details=dict(prepared.details))
    if value.shape != problem.shape:
        return Outcome(backend.name, ERROR, message=f"wrong shape {value.shape}, expected {problem.shape}",
                       timing=Timing(setup_s=setup_s), details=dict(prepared.details))
    status, message = OK, None
    bad_rows = _jacobian.nonfinite_rows(problem, value) if problem.vector else []
    if bad_rows and len(bad_rows) < value.shape[0]:
        # some outputs have no derivative here: the others' rows stand (graded row by row)
        message = "; ".join(f"output {j + 1}: {why}" for j, why in bad_rows)
    elif not np.all(np.isfinite(value)):
        status = ERROR
        why = _explain(prepared, point)
        kind = "nan" if np.any(np.isnan(value)) else "inf"
        message = f"value is {kind}: {why}" if why else f"value is {kind}"
    elif prepared.verdict is not None and (said := prepared.verdict()) is not None:
        status, message = said
    elif not bad_rows:
        # a finite value that went through inf or nan on the way (1/(1+exp(800))
        # is 0 only because exp overflowed), or that underflowed to 0 or a
        # subnormal: say where, so it is not silent
        tiny = bool(np.any(np.abs(value) < np.finfo(float).tiny))
        events = fp_events(prepared.evaluate, point, underflow=tiny)
        if events:
            why = _explain(prepared, point) if set(events) - {"underflow"} else None
            where = f": {why}" if why and not why.startswith("floating-point") else ""
            message = (f"warning: floating-point {', '.join(events)} in an intermediate{where}; "
                       "the value may be inaccurate")
    t = Timing(setup_s=setup_s)
    if timing and status in (OK, UNRESOLVED):
        with np.errstate(all="ignore"):
            t = measure(lambda: prepared.evaluate(point), setup_s)
    return Outcome(backend.name, status, value, message, t, dict(prepared.details))


#: per-point messages kept for a grid run (the first ones: a grid may have millions of points)
GRID_MESSAGES = 1000
#: more timed runs of a vectorised grid evaluation that took under a second
GRID_RETIMES = 2
#: points whose non-finite value is explained (``explain`` costs a full diagnosis each)
GRID_EXPLAINED = 20


def run_grid(backend: Backend, problem: Problem, columns: Mapping[str, np.ndarray]) -> GridOutcome:
    """Run one backend at every point of a grid; never raises for a numeric failure.

    ``problem`` is the grid's first point (setup is done once, there: no built-in
    method's setup depends on the point); ``columns`` every variable as a flat
    array.  The method's ``evaluate_grid`` runs the grid at once where it has
    one; otherwise each point is evaluated in turn, as ``run`` would (the
    details say ``"grid": "loop"``).  A point whose value is not finite is an
    ``error`` at that point only.  The evaluation is timed over the whole grid:
    a loop once, a vectorised evaluation up to three times (the best kept).
    """
    prepared, setup_s, failed = _prepare(backend, problem)
    if failed:
        return GridOutcome(backend.name, failed[0], message=failed[1], setup_s=setup_s)
    size = len(next(iter(columns.values()))) if columns else 1
    names = list(columns)
    messages: dict[int, str] = {}
    statuses = np.full(size, OK, dtype=object)
    if prepared.evaluate_grid is not None:
        t0 = time.perf_counter()
        try:
            with np.errstate(all="ignore"):
                got = prepared.evaluate_grid(columns)
            if isinstance(got, GridValues):
                if got.statuses is not None:
                    statuses = np.asarray(got.statuses, dtype=object).copy()
                messages = {int(i): m for i, m in sorted(got.messages.items())[:GRID_MESSAGES]}
                got = got.values
            values = np.asarray(got, dtype=float)
        except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as err:
            return GridOutcome(backend.name, ERROR, message=f"evaluation failed: {_brief(err)}", setup_s=setup_s)
        eval_s = time.perf_counter() - t0
        # a quick grid is timed twice more, the best kept: the first run also
        # pays first-use costs (memory pages, code generated on first use)
        for _ in range(GRID_RETIMES if eval_s < 1.0 else 0):
            t0 = time.perf_counter()
            with np.errstate(all="ignore"):
                prepared.evaluate_grid(columns)
            eval_s = min(eval_s, time.perf_counter() - t0)
        values = np.broadcast_to(values, (size,)).copy() if values.ndim == 0 else values
        if values.shape != (size,):
            return GridOutcome(backend.name, ERROR, setup_s=setup_s,
                               message=f"wrong shape {values.shape} over the grid, expected ({size},)")
        mode = "vectorised"
    else:
        t0 = time.perf_counter()
        try:
            values, statuses, messages = loop_points(prepared.evaluate, prepared.verdict, columns,
                                                     range(size))
        except _WrongShape as err:
            return GridOutcome(backend.name, ERROR, setup_s=setup_s,
                               message=f"wrong shape {err.args[0]}, expected a scalar at every point")
        eval_s = time.perf_counter() - t0
        mode = "loop"
    bad = np.flatnonzero(~np.isfinite(values) & (statuses == OK))
    statuses[bad] = ERROR
    for k, i in enumerate(bad[:GRID_MESSAGES]):
        i = int(i)
        kind = "nan" if np.isnan(values[i]) else "inf"
        why = _explain(prepared, {n: float(columns[n][i]) for n in names}) if k < GRID_EXPLAINED else None
        messages.setdefault(i, f"value is {kind}: {why}" if why else f"value is {kind}")
    details = {k: v for k, v in prepared.details.items() if k not in (SETUP_SPLIT,)}
    details["grid"] = mode
    return GridOutcome(backend.name, OK, values, statuses, messages, None, setup_s, eval_s,
                       mode == "vectorised", details)


class _WrongShape(Exception):
    """A point's value is not a scalar (``loop_points``)."""


def loop_points(evaluate: Callable, verdict: Callable | None, columns: Mapping[str, np.ndarray],
                indices) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """``evaluate`` at each of the grid points ``indices`` in turn, as ``run`` would:
    (values over the whole grid, nan elsewhere; statuses, ``ok`` elsewhere; messages
    for at most ``GRID_MESSAGES`` points).  A failed evaluation is an ``error`` at
    its point; a finite value gets the status ``verdict`` says.  The loop of
    ``run_grid``, and the scalar path of a vectorised method for the points it
    cannot do at once."""
    size = len(next(iter(columns.values()))) if columns else 1
    names = list(columns)
    values = np.full(size, np.nan)
    statuses = np.full(size, OK, dtype=object)
    messages: dict[int, str] = {}
    for i in indices:
        i = int(i)
        point = {n: float(columns[n][i]) for n in names}
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(evaluate(point), dtype=float)
        except (ArithmeticError, ValueError, TypeError, RecursionError) as err:
            statuses[i] = ERROR
            if len(messages) < GRID_MESSAGES:
                messages[i] = f"evaluation failed: {_brief(err)}"
            continue
        if v.shape != ():
            raise _WrongShape(v.shape)
        values[i] = v
        if np.isfinite(v) and verdict is not None and (said := verdict()) is not None:
            statuses[i] = said[0]
            if len(messages) < GRID_MESSAGES:
                messages[i] = said[1]
    return values, statuses, messages


def time_function_grid(problem: Problem, columns: Mapping[str, np.ndarray]) -> float:
    """Seconds for one evaluation of f itself over the whole grid (the compiled
    program on NumPy arrays): the baseline of a method's time per point."""
    from ..program import compile_program
    program = compile_program(problem.expr)
    names = list(program.names)
    f = program.function(names)
    xs = [np.asarray(columns[n], dtype=float) for n in names]
    with np.errstate(all="ignore"):
        f(*xs)
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            f(*xs)
            best = min(best, time.perf_counter() - t0)
    return best


def time_function(problem: Problem) -> Timing:
    """One evaluation of f itself at the problem's point, the way every method's
    function evaluations run (the program compiled once), timed like a method."""
    from ..program import compile_program
    start = time.perf_counter()
    program = compile_program(problem.expr)
    names = list(program.names)
    f = program.function(names)
    xs = [problem.point[n] for n in names]
    setup_s = time.perf_counter() - start
    with np.errstate(all="ignore"):
        return measure(lambda: f(*xs), setup_s)


def _explain(prepared: Prepared, point) -> str | None:
    if prepared.explain is None:
        return None
    with np.errstate(all="ignore"):
        try:
            return prepared.explain(point)
        except (ArithmeticError, ValueError, TypeError):
            return None


def _brief(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:200]

"""Every method over a grid of points, graded point by point against the reference.

``compare_grid(problem, grid, methods)`` is what ``derivcmp eval --at x=a:b:n``
does minus the printing: each method runs over the whole grid once
(``backends.run_grid``: vectorised where the method has ``evaluate_grid``,
else a loop), the 50-digit reference is computed at every point up to
``REFERENCE_POINTS`` points (beyond, at that many evenly spaced points, and the
result says so), and each referenced point is graded by ``compare.grade`` --
the same statuses, errors and thresholds as a single point.  Nothing here prints.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import backends, deadline
from .errors import DerivcmpError
from .grading import GRADES
from .grid import Axis, Grid, sample_indices, split_at
from .problem import ERROR, OK, TIMEOUT, UNRESOLVED, GridOutcome, Outcome, Problem, Reference

#: the reference is computed at every point of a grid up to this many points; a
#: larger grid is graded on this many evenly spaced points
REFERENCE_POINTS = 20_000
#: seconds the reference (in all) and each method (over the whole grid) may take,
#: as a multiple of ``--timeout``
GRID_TIMEOUT_FACTOR = 10


@dataclass(frozen=True)
class Summary:
    """One method over the grid, in numbers."""

    median_rel_error: float | None
    worst_rel_error: float | None
    worst_index: int | None          # flat index of the worst graded point
    counts: Mapping[str, int]        # grade words and point statuses -> number of points
    graded: int                      # points with a grade
    time_per_point_s: float | None


@dataclass(frozen=True)
class GridResult:
    """One method's values and per-point grading over a grid."""

    outcome: GridOutcome
    #: per point: the final status (``ok``, ``undefined``, ``not-differentiable``, ``error``,
    #: ``unresolved``), the grade word or None, abs and rel error (nan where not graded)
    statuses: np.ndarray | None
    grades: np.ndarray | None
    abs_errors: np.ndarray | None
    rel_errors: np.ndarray | None
    messages: Mapping[int, str]
    summary: Summary

    @property
    def name(self) -> str:
        return self.outcome.method


@dataclass(frozen=True)
class GridReference:
    """The reference at the sampled points (``indices`` into the grid)."""

    indices: np.ndarray
    statuses: np.ndarray             # per sampled point
    values: np.ndarray               # float64 rounding, nan where none
    exact: tuple[Any, ...]           # the digits as strings, None where none
    messages: Mapping[int, str]      # sampled position -> message, where not ok
    digits: int
    time_s: float
    sampled: bool                    # True when fewer points than the grid

    def at(self, k: int) -> Reference:
        """The reference at the ``k``-th sampled point, as ``compare.grade`` reads it."""
        return self._refs[k]

    _refs: tuple[Reference, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class GridComparison:
    """The reference and every method over a grid, per point and summarised.

    ``to_dict()`` is the ``derivcmp-grid/1`` JSON document; ``problem`` is the
    grid's first point (its expression, ``wrt`` and order are the grid's).
    """

    problem: Problem
    grid: Grid
    reference: GridReference
    results: tuple[GridResult, ...]
    warnings: tuple[str, ...] = ()
    f_time_per_point_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        from .report.grid import document
        return document(self)

    @property
    def notes(self) -> list[str]:
        """What the reader must know to read the numbers (sampling, loops)."""
        out = []
        r = self.reference
        if r.sampled:
            out.append(f"the reference was computed at {len(r.indices):,} evenly spaced points of "
                       f"{self.grid.size:,}; errors and counts are over those points, times over the whole grid")
        missing = int(np.sum(r.statuses == TIMEOUT))
        if missing:
            out.append(f"the reference ran out of time at {missing:,} points: those are ungraded "
                       "(raise --timeout to wait longer)")
        return out


def make_grid_problem(text: str, wrt: str | Sequence[str] | None, at: str | Mapping, order: int = 1,
                      step: float | None = None) -> tuple[Problem, Grid, list[str]]:
    """Like ``compare.make_problem`` for an ``--at`` with ranges: the problem at
    the grid's first point, the grid, and the warnings."""
    from .compare import make_problem
    fixed, axes = split_at(at)
    first = {**fixed, **{a.name: float(a.values[0]) for a in axes}}
    problem, warnings = make_problem(text, wrt, first, order, step=step)
    if problem.vector:
        raise DerivcmpError("a range of points needs a scalar expression: a list [e1, ..., em] "
                            "(a Jacobian) is evaluated at one point")
    if problem.shape != ():
        raise DerivcmpError("a range of points needs a scalar derivative: one --wrt variable "
                            f"(got {', '.join(problem.wrt)}); gradients and Hessians over a grid are not supported")
    fixed = {k: v for k, v in problem.point.items() if k not in {a.name for a in axes}}
    return problem, Grid(tuple(axes), fixed), warnings


def compare_grid(problem: Problem, grid: Grid, methods: str | Sequence[str] | None = None,
                 timing: bool = True, timeout: float | None = 10.0, warnings: Sequence[str] = (),
                 reference_points: int = REFERENCE_POINTS) -> GridComparison:
    """Run every method over the grid, compute the reference at (a sample of)
    its points and grade each referenced point.  ``timeout``: seconds as for
    one point; the reference in all and each method over the whole grid get
    ``GRID_TIMEOUT_FACTOR`` times as long (None or 0: no limit)."""
    from .compare import resolve_methods
    names = resolve_methods(methods)
    budget = timeout * GRID_TIMEOUT_FACTOR if timeout else None
    columns = grid.columns(tuple(problem.point))
    indices = sample_indices(grid.size, reference_points)
    reference = grid_reference(problem, grid, indices, budget)
    reg = backends.registry()
    results = []
    for m in names:
        outcome = _run(reg[m], problem, columns, budget)
        results.append(grade_grid(problem, grid, reference, outcome))
    f_time = None
    if timing:
        got = deadline.call(lambda: backends.time_function_grid(problem, columns), budget)
        f_time = got / grid.size if isinstance(got, float) else None
    if not timing:
        results = [replace(r, summary=replace(r.summary, time_per_point_s=None)) for r in results]
    return GridComparison(problem, grid, reference, tuple(results), tuple(warnings), f_time)


def _run(backend, problem: Problem, columns, budget: float | None) -> GridOutcome:
    from .compare import call_method
    got, failed = call_method(backend, lambda: backends.run_grid(backend, problem, columns), budget)
    return GridOutcome(backend.name, failed[0], message=failed[1]) if failed else got


#: reference points a worker computes before sending them back
_CHUNK = 32


def _workers(points: int) -> int:
    """Forked reference workers: one per core (at most 4), none idle for want of chunks."""
    return max(1, min(os.cpu_count() or 1, 4, -(-points // _CHUNK)))


def grid_reference(problem: Problem, grid: Grid, indices: np.ndarray, budget: float | None) -> GridReference:
    """The 50-digit reference at each of ``indices``, in a forked child (a deadline
    for the whole sample); points it did not reach are ``timeout``."""
    from .compare import compute_reference
    start = time.perf_counter()

    def produce(worker: int, workers: int):
        for start in range(worker * _CHUNK, len(indices), workers * _CHUNK):
            yield [(k, compute_reference(replace(problem, point=grid.point(int(indices[k])))))
                   for k in range(start, min(start + _CHUNK, len(indices)))]

    refs: list[Reference | None] = [None] * len(indices)
    failure = None
    # one forked child per core, each on every n-th chunk, read in turn: while
    # this process waits for one, the others go on filling their pipes
    n = _workers(len(indices)) if budget else 1
    streams = [deadline.stream(lambda w=w: produce(w, n), budget) for w in range(n)]
    while streams:
        for s in list(streams):
            item = next(s, None)
            if item is None:
                streams.remove(s)
                continue
            if isinstance(item, (deadline.Timeout, deadline.Crashed)):
                failure = failure or item
                streams.remove(s)
                continue
            for k, ref in item:
                refs[k] = ref
    elapsed = time.perf_counter() - start
    if isinstance(failure, deadline.Timeout):
        gone = Reference(TIMEOUT, message=f"the reference over the grid gave up after {failure.seconds:g} s")
    else:
        gone = Reference(ERROR, message=f"the reference failed: {getattr(failure, 'message', 'no result')}")
    refs = [r if r is not None else gone for r in refs]
    statuses = np.array([r.status for r in refs], dtype=object)
    values = np.array([float(r.value) if r.status == OK and r.value is not None else np.nan for r in refs])
    exact = tuple(r.exact if r.status == OK else None for r in refs)
    messages = {k: r.message for k, r in enumerate(refs) if r.status != OK and r.message}
    return GridReference(np.asarray(indices), statuses, values, exact, messages, refs[0].digits if refs else 50,
                         elapsed, len(indices) < grid.size, tuple(refs))


#: the per-point statuses a summary counts beside the grades
POINT_STATUSES = ("undefined", "not-differentiable", UNRESOLVED, ERROR, "ungraded")


def grade_grid(problem: Problem, grid: Grid, reference: GridReference, outcome: GridOutcome) -> GridResult:
    """Grade each referenced point with ``compare.grade``: one definition of the grades."""
    from .compare import grade
    if outcome.status != OK:
        return GridResult(outcome, None, None, None, None, {}, Summary(None, None, None, {}, 0, None))
    size = grid.size
    statuses = outcome.statuses.copy()
    grades = np.full(size, None, dtype=object)
    abs_e = np.full(size, np.nan)
    rel_e = np.full(size, np.nan)
    messages = dict(outcome.messages)
    for k, i in enumerate(reference.indices):
        i = int(i)
        o = Outcome(outcome.method, statuses[i], np.asarray(outcome.values[i]), messages.get(i))
        g = grade(reference.at(k), o, problem)
        statuses[i] = g.outcome.status
        grades[i] = g.grade
        if g.rel_error is not None:
            abs_e[i], rel_e[i] = g.abs_error, g.rel_error
        if g.outcome.message and (i in messages or len(messages) < backends.GRID_MESSAGES):
            messages[i] = g.outcome.message
    counts = Counter()
    sample = reference.indices
    for i in sample:
        word = grades[i] if statuses[i] == OK else None     # an unresolved value is no derivative
        counts[word if word is not None else statuses[i] if statuses[i] in POINT_STATUSES else "ungraded"] += 1
    graded_rel = rel_e[sample]
    ok = np.isfinite(graded_rel) & (statuses[sample] == OK)
    median = worst = worst_at = None
    if ok.any():
        median = float(np.median(graded_rel[ok]))
        j = int(np.nanargmax(np.where(ok, graded_rel, -np.inf)))
        worst, worst_at = float(graded_rel[j]), int(sample[j])
    per_point = outcome.eval_s / size if outcome.eval_s is not None else None
    summary = Summary(median, worst, worst_at, {k: counts.get(k, 0) for k in (*GRADES, *POINT_STATUSES)},
                      int(ok.sum()), per_point)
    return GridResult(outcome, statuses, grades, abs_e, rel_e, messages, summary)


__all__ = ["REFERENCE_POINTS", "Axis", "GridComparison", "GridResult", "Summary", "compare_grid",
           "make_grid_problem"]

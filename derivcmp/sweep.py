"""Error against step size: each finite-difference method over a log grid of steps.

``run_sweep(problem, methods, steps)`` runs every method once with its own
step rule (the *default* step) and once per grid step (``Problem.step``),
and grades each value against the one 50-digit reference -- here, never in a
backend.  The result shows the V of finite differences: truncation error
falling with h on the right, rounding error rising as h shrinks on the left.
Nothing here prints; ``report/sweep.py`` draws and formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from . import backends
from .backends import base
from .compare import grade, reference_with_deadline
from .errors import DerivcmpError
from .problem import OK, Problem, Reference

DEFAULT_STEPS = "1e-1:1e-16:61"
MAX_POINTS = 1000


def parse_steps(text: str) -> np.ndarray:
    """``START:STOP:COUNT`` -> COUNT steps spaced evenly in log10 from START to STOP."""
    parts = text.split(":")
    if len(parts) != 3:
        raise DerivcmpError(f"--steps: expected START:STOP:COUNT (e.g. {DEFAULT_STEPS}), got {text!r}")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError:
        raise DerivcmpError(f"--steps: START and STOP must be numbers, got {text!r}") from None
    try:
        count = int(parts[2])
    except ValueError:
        raise DerivcmpError(f"--steps: COUNT must be a whole number, got {parts[2]!r}") from None
    for name, v in (("START", start), ("STOP", stop)):
        if not math.isfinite(v) or v <= 0:
            raise DerivcmpError(f"--steps: {name} must be a positive finite step, got {v!r}")
    if not 2 <= count <= MAX_POINTS:
        raise DerivcmpError(f"--steps: COUNT must be between 2 and {MAX_POINTS}, got {count}")
    if start == stop:
        raise DerivcmpError("--steps: START and STOP are the same step")
    return np.logspace(math.log10(start), math.log10(stop), count)


@dataclass(frozen=True)
class Point:
    step: float
    value: float | None
    abs_error: float | None
    rel_error: float | None
    status: str


@dataclass(frozen=True)
class Curve:
    method: str
    points: tuple[Point, ...]
    default: Point                   # the method's own step rule
    estimate: float | None           # its own error estimate at the default step

    @property
    def best(self) -> Point | None:
        graded = [p for p in self.points if p.rel_error is not None]
        return min(graded, key=lambda p: p.rel_error) if graded else None


@dataclass(frozen=True)
class Sweep:
    problem: Problem
    reference: Reference
    steps: np.ndarray
    curves: tuple[Curve, ...]


def stencil_methods(names: list[str] | None) -> list[str]:
    """The finite-difference methods among ``names`` (all of them for None)."""
    reg = base.entries()
    names = names or [n for n, e in reg.items() if e.family == "finite-difference" and e.available]
    fd = [n for n in names if reg[n].family == "finite-difference"]
    if not fd:
        raise DerivcmpError("sweep: --methods names no finite-difference method "
                            f"(they are: {', '.join(n for n, e in reg.items() if e.family == 'finite-difference')})")
    return fd


def run_sweep(problem: Problem, methods: list[str] | None, steps: np.ndarray,
              timeout: float | None = None) -> Sweep:
    if len(problem.wrt) != 1:
        raise DerivcmpError("sweep: give exactly one --wrt variable (the step is along one axis)")
    names = stencil_methods(methods)
    reference = reference_with_deadline(problem, timeout)
    reg = backends.registry()
    curves = []
    for name in names:
        backend = reg[name]
        own = grade(reference, backends.run(backend, problem, timing=False), problem)
        own_step = (own.outcome.details or {}).get("steps", {}).get(problem.wrt[0])
        default = _point(own, own_step)
        estimate = (own.outcome.details or {}).get("error_estimate")
        pts = tuple(_point(grade(reference, backends.run(backend, replace(problem, step=float(h)), timing=False),
                                 problem), float(h)) for h in steps)
        curves.append(Curve(name, pts, default, estimate))
    return Sweep(problem, reference, steps, tuple(curves))


def _point(g, step) -> Point:
    o = g.outcome
    value = None if o.value is None else float(np.ravel(np.asarray(o.value, dtype=float))[0])
    if value is not None and not math.isfinite(value):
        value = None
    return Point(float(step) if step is not None else float("nan"), value, g.abs_error, g.rel_error, o.status)


def graded(reference: Reference) -> bool:
    return reference.status == OK

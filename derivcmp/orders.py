"""The orders study: each method's error and cost against the derivative order.

For orders 1..N of one variable, the reference and every selected method run
as in ``eval`` (each in a child process under its own deadline).  A method
that overruns its deadline, or whose ``max_order`` is passed, is not asked
again at higher orders, and the study records where and why it stopped; the
same for the reference (the methods are then shown ungraded).

Nothing here prints: ``report.orders`` renders a ``Study``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from . import backends
from .compare import (
    grade,
    make_problem,
    reference_with_deadline,
    resolve_methods,
    run_with_deadline,
    scalar_only,
)
from .errors import DerivcmpError
from .problem import MAX_ORDER, NOT_APPLICABLE, OK, TIMEOUT, Problem, Reference

SCHEMA = "derivcmp-orders/1"


def default_methods() -> list[str]:
    """The default selection of ``eval`` plus every AD method (the study is about AD)."""
    from .backends.base import select
    return list(dict.fromkeys([*select(None).names, *select("automatic").names]))


@dataclass(frozen=True)
class Point:
    """One method at one order."""

    method: str
    order: int
    status: str
    rel_error: float | None = None
    eval_s: float | None = None
    setup_s: float | None = None
    size: int | None = None          # symbolic: the derivative's operation count
    message: str | None = None


@dataclass
class Study:
    problem: Problem                   # at order 1
    methods: tuple[str, ...]
    max_order: int
    references: dict[int, Reference] = field(default_factory=dict)
    points: list[Point] = field(default_factory=list)
    gave_up: dict[str, str] = field(default_factory=dict)   # method (or "reference") -> why, where
    warnings: tuple[str, ...] = ()

    def by_method(self, name: str) -> list[Point]:
        return [p for p in self.points if p.method == name]


def run(expression: str, wrt: str | None, at, max_order: int, methods: str | Sequence[str] | None = None,
        timing: bool = True, timeout: float | None = None,
        progress: Callable[[int], None] | None = None) -> Study:
    if not isinstance(max_order, int) or not 1 <= max_order <= MAX_ORDER:
        raise DerivcmpError(f"--max-order must be between 1 and {MAX_ORDER}, got {max_order!r}")
    problem, warnings = make_problem(expression, wrt, at, 1)
    scalar_only(problem, "orders")
    if len(problem.wrt) != 1:
        raise DerivcmpError("orders needs a single --wrt variable (derivatives of order N of one variable)")
    names = resolve_methods(methods) if methods is not None else default_methods()
    reg = backends.registry()
    study = Study(problem, tuple(names), max_order, warnings=tuple(warnings))
    alive = list(names)
    reference_alive = True
    for order in range(1, max_order + 1):
        p, _ = make_problem(problem.expr, problem.wrt, problem.point, order)
        if reference_alive:
            ref = reference_with_deadline(p, timeout)
            if ref.status == TIMEOUT:
                reference_alive = False
                study.gave_up["reference"] = f"timed out at order {order} (after {timeout:g} s)"
        else:
            ref = Reference(TIMEOUT, message="the reference gave up at a lower order")
        study.references[order] = ref
        for name in list(alive):
            backend = reg[name]
            out = run_with_deadline(backend, p, timing, timeout)
            g = grade(ref, out, p)
            o = g.outcome
            size = (o.details or {}).get("expression_size")
            study.points.append(Point(name, order, o.status, g.rel_error,
                                      o.timing.eval_s if o.timing else None,
                                      o.timing.setup_s if o.timing else None, size, o.message))
            if o.status == TIMEOUT:
                alive.remove(name)
                study.gave_up[name] = f"timed out at order {order} (after {timeout:g} s)"
            elif o.status == NOT_APPLICABLE:
                alive.remove(name)
                study.gave_up[name] = f"not applicable from order {order}: {o.message}"
        if progress:
            progress(order)
    for name in alive:
        last = [pt for pt in study.by_method(name) if pt.status == OK]
        if not last:
            study.gave_up.setdefault(name, "no order succeeded")
    return study


def document(study: Study) -> dict:
    """The ``derivcmp-orders/1`` JSON document."""
    def num(x):
        return float(x) if x is not None and math.isfinite(x) else None
    refs = {}
    for k, r in study.references.items():
        refs[str(k)] = {"status": r.status, "exact": r.exact if r.status == OK else None,
                        "time_s": num(r.time_s), "message": r.message}
    return {
        "schema": SCHEMA,
        "expression": study.problem.text,
        "wrt": list(study.problem.wrt),
        "at": {k: float(v) for k, v in study.problem.point.items()},
        "max_order": study.max_order,
        "methods": list(study.methods),
        "reference": refs,
        "points": [{"method": p.method, "order": p.order, "status": p.status, "rel_error": num(p.rel_error),
                    "eval_s": num(p.eval_s), "setup_s": num(p.setup_s), "expression_size": p.size,
                    "message": p.message} for p in study.points],
        "gave_up": dict(study.gave_up),
    }

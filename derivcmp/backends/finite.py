"""Finite differences over the float64 program.

``fd-central`` uses central stencils: for the first derivative the step is
``h = eps^(1/3) * max(1, |x|)`` (balancing O(h^2) truncation against
O(eps/h) rounding), for second and mixed derivatives ``eps^(1/4)``, and in
general ``eps^(1/(n+2))`` for the n-th derivative.  Each step is rounded so
that ``x + h`` and ``x - h`` are exactly ``h`` away from ``x``.  The steps
and the number of function evaluations are reported in ``details``.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..problem import MAX_ORDER, Problem
from ..program import compile_program, diagnose
from . import Prepared
from .base import Method

EPS = float(np.finfo(float).eps)


def step(x: float, order: int) -> float:
    """The central-difference step for the ``order``-th derivative at ``x``."""
    h = EPS ** (1.0 / (order + 2)) * max(1.0, abs(x))
    return (x + h) - x     # exactly representable distance


@cache
def central_weights(order: int) -> tuple[tuple[int, float], ...]:
    """(offset, weight) pairs of the narrowest central stencil for ``order``."""
    import sympy  # here, not at module level: listing the methods must not import sympy
    p = (order + 1) // 2
    offsets = list(range(-p, p + 1))
    weights = sympy.finite_diff_weights(order, offsets, 0)[order][-1]
    return tuple((k, float(w)) for k, w in zip(offsets, weights) if w != 0)


class CentralDifference(Method):
    name = "fd-central"
    family = "finite-difference"
    default = True
    tolerances = {1: 1e-5, 0: 1e-3}
    max_order = MAX_ORDER
    description = "central finite differences, h = eps^(1/3)*max(1,|x|) (eps^(1/4) for 2nd order)"
    convention = ("(f(x+h) - f(x-h))/2h straddles the point: the mean of the one-sided slopes at a "
                  "kink, about jump/2h across a jump")

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        names = list(program.names)
        f = program.function(names).fn
        wrt = problem.wrt
        pos = {n: names.index(n) if n in names else None for n in wrt}
        details: dict = {}
        order = problem.order

        def at(point, shifts):
            xs = [point[n] for n in names]
            for name, delta in shifts:
                if pos[name] is not None:
                    xs[pos[name]] = xs[pos[name]] + delta
            return f(*xs)

        def evaluate(point):
            steps = {n: step(float(point[n]), 1 if order == 1 else order) for n in wrt}
            evals = 0
            if order == 1 or len(wrt) == 1:
                out = []
                for n in wrt:
                    h = steps[n]
                    acc = 0.0
                    for k, w in central_weights(order):
                        acc += w * at(point, [(n, k * h)])
                        evals += 1
                    out.append(acc / h ** order)
                value = out[0] if len(wrt) == 1 else np.array(out)
            else:
                m = len(wrt)
                value = np.empty((m, m))
                f0 = at(point, [])
                evals += 1
                for i, a in enumerate(wrt):
                    ha = steps[a]
                    value[i, i] = (at(point, [(a, ha)]) - 2.0 * f0 + at(point, [(a, -ha)])) / (ha * ha)
                    evals += 2
                    for j in range(i):
                        b = wrt[j]
                        hb = steps[b]
                        mixed = (at(point, [(a, ha), (b, hb)]) - at(point, [(a, ha), (b, -hb)])
                                 - at(point, [(a, -ha), (b, hb)]) + at(point, [(a, -ha), (b, -hb)]))
                        value[i, j] = value[j, i] = mixed / (4.0 * ha * hb)
                        evals += 4
            details["steps"] = {n: steps[n] for n in wrt}
            details["function_evaluations"] = evals
            return value

        def explain(point):
            values = program.evaluate_all(point)
            why = diagnose(program, values)
            if why:
                return f"the function itself: {why}"
            return "at a shifted point x ± h (outside the domain, or an overflow there)"
        return Prepared(evaluate, details, explain)


METHODS = (CentralDifference,)

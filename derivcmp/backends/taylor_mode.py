"""``ad-taylor``: Taylor-mode AD, truncated Taylor polynomials through the program.

One sweep of ``program.sweep`` with ``taylor.TaylorOps(N)`` seeds the variable
as ``x + t`` and carries N+1 Taylor coefficients through every primitive with
its recurrence from ``derivcmp.taylor``; the N-th derivative is N! times the
last coefficient.  Cost grows like N^2 (each recurrence is a convolution), not
like the 2^N of nested duals or the swell of symbolic derivatives.

Several variables: a gradient is n degree-1 sweeps; a Hessian is
Taylor-over-reverse, the adjoint sweep of ``ad.adjoints`` run on degree-1
polynomials (the same construction as ad-forward's forward-over-reverse).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..ad import hessian_over_reverse, prepared
from ..problem import MAX_ORDER, Problem
from ..program import OP, compile_program, sweep
from ..taylor import TaylorOps, coefficients, missing
from . import Prepared
from .base import Method
from .forward import SUBGRADIENTS


@functools.cache
def _ops(degree: int) -> TaylorOps:
    # one namespace per degree: it caches its lifted primitives on first use
    return TaylorOps(degree)


@functools.cache
def _factorials(degree: int) -> np.ndarray:
    return np.array([float(math.factorial(k)) for k in range(degree + 1)])


def derivatives(program, point, name: str, degree: int) -> np.ndarray:
    """f, f', ..., f^(degree) along ``name`` from one Taylor sweep."""
    ops = _ops(degree)
    inputs = {n: ops.seed(point[n]) if n == name else np.float64(point[n]) for n in program.names}
    c = coefficients(sweep(program, ops, inputs)[program.output], degree)
    return c * _factorials(degree)


def _hessian(program, point, wrt) -> tuple[Any, np.ndarray]:
    ops = _ops(1)
    return hessian_over_reverse(program, point, wrt, ops, ops.seed, lambda v: coefficients(v, 1)[0],
                                lambda a: coefficients(a, 1)[1])


class TaylorMode(Method):
    name = "ad-taylor"
    #: a Jacobian row by row: each output's gradient, one Taylor sweep per variable
    jacobian = "rows"
    family = "automatic"
    default = False
    tolerances = {0: 1e-10}
    max_order = MAX_ORDER
    description = ("Taylor-mode AD: truncated Taylor polynomials, one sweep for the N-th derivative "
                   "(cost ~N^2); Taylor-over-reverse for a Hessian")
    convention = SUBGRADIENTS

    def supports(self, problem: Problem) -> str | None:
        why = super().supports(problem)
        if why:
            return why
        program = compile_program(problem.expr)
        return missing({s.prim.name for s in program.slots if s.kind == OP})

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        wrt, order = problem.wrt, problem.order
        present = [w for w in wrt if w in program.names]
        if len(wrt) == 1:
            mode, sweeps = f"Taylor polynomials of degree {order}", 1
        elif order == 1:
            mode, sweeps = "Taylor polynomials of degree 1", len(present)
        else:
            mode, sweeps = "Taylor-over-reverse (degree 1)", len(present)
        details: dict[str, Any] = {"program_length": len(program), "sweeps": sweeps, "mode": mode}

        def compute(point):
            if len(wrt) == 1:
                if wrt[0] in program.names:
                    d = derivatives(program, point, wrt[0], order)
                    f, value = d[0], d[order]
                else:
                    f, value = derivatives(program, point, program.names[0], 0)[0] if program.names \
                        else program.evaluate({}), 0.0
            elif order == 1:
                rows = [derivatives(program, point, w, 1) if w in program.names else None for w in wrt]
                f = next((r[0] for r in rows if r is not None), None)
                if f is None:
                    f = program.evaluate(point)
                value = np.array([0.0 if r is None else r[1] for r in rows])
            else:
                f, value = _hessian(program, point, wrt)
            return f, value
        return prepared(program, problem.shape, compute, details)


METHODS = (TaylorMode,)

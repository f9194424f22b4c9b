"""``symbolic``: sympy differentiates our tree; lambdify evaluates it in float64.

The sympy tree is built from the AST (never from text); lambdify generates
code from that tree with dummy argument names, so no variable name can clash
with Python keywords or NumPy functions.  The derivative is evaluated as
sympy wrote it, unsimplified: its expression swell and its floating-point
behaviour are part of what this method is being compared on.
"""

from __future__ import annotations

import sympy

from .. import sympy_bridge
from ..expr import variables
from ..primitives import BY_NAME
from ..problem import Problem
from . import Prepared
from ._fp import explain_fp

# sympy functions NumPy lacks, mapped to the primitive table's implementations
_MODULES = [{"erf": BY_NAME["erf"].np, "erfc": BY_NAME["erfc"].np}, "numpy"]


class Symbolic:
    name = "symbolic"
    description = "sympy.diff of the expression tree, evaluated in float64 via lambdify"
    convention = "sympy's formula evaluated at the point: sign(0) = 0, Heaviside(0) = 1/2"

    def supports(self, problem: Problem) -> str | None:
        return None

    def prepare(self, problem: Problem) -> Prepared:
        # the reference may have differentiated the same tree in this process:
        # start from a cold cache so the setup time is this method's own
        sympy.core.cache.clear_cache()
        sym = sympy_bridge.to_sympy(problem.expr)
        deriv = sympy_bridge.derivative(sym, problem.wrt, problem.order)
        names = variables(problem.expr)
        args = [sympy_bridge.symbol(n) for n in names]
        fn = sympy.lambdify(args, deriv, modules=_MODULES, dummify=True)
        flat = deriv if not isinstance(deriv, list) else sympy.Matrix(deriv)
        text = str(deriv)

        def evaluate(point):
            return fn(*[point[n] for n in names])

        details = {"expression_size": int(sympy.count_ops(flat)),
                   "derivative": text if len(text) <= 300 else text[:297] + "..."}
        return Prepared(evaluate, details, explain=lambda point: explain_fp(evaluate, point))

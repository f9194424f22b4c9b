"""``symbolic``: sympy differentiates our tree; lambdify evaluates it in float64.

The sympy tree is built from the AST (never from text); lambdify generates
code from that tree with dummy argument names, so no variable name can clash
with Python keywords or NumPy functions.  The derivative is evaluated as
sympy wrote it, unsimplified: its expression swell and its floating-point
behaviour are part of what this method is being compared on.
"""

from __future__ import annotations

import numpy as np

from ..expr import variables
from ..primitives import BY_NAME
from ..problem import MAX_ORDER, Problem
from . import Prepared
from ._fp import explain_fp
from .base import Method

# sympy functions NumPy lacks, mapped to the primitive table's implementations
_MODULES = [{"erf": BY_NAME["erf"].np, "erfc": BY_NAME["erfc"].np}, "numpy"]


class Symbolic(Method):
    name = "symbolic"
    family = "symbolic"
    default = True
    tolerances = {0: 1e-10}
    max_order = MAX_ORDER
    description = "sympy.diff of the expression tree, evaluated in float64 via lambdify"
    convention = "sympy's formula evaluated at the point: sign(0) = 0, Heaviside(0) = 1/2"
    #: the clauses of ``convention`` per function, so a note names only what the expression uses
    conventions = (("abs", "sign(0) = 0"), ("relu", "Heaviside(0) = 1/2"), ("max", "Heaviside(0) = 1/2"),
                   ("min", "Heaviside(0) = 1/2"))

    def prepare(self, problem: Problem) -> Prepared:
        import sympy  # here, not at module level: listing the methods must not import sympy

        from .. import sympy_bridge
        # the reference may have differentiated the same tree in this process:
        # start from a cold cache so the setup time is this method's own
        sympy.core.cache.clear_cache()
        # symbols named _x0, _x1, ... rather than lambdify(dummify=True): the
        # generated code then holds no user text, and dummify's substitution
        # is exponential in the nesting depth (19 s for 9 nested tanh)
        names = variables(problem.expr)
        safe = sympy_bridge.safe_names(names + [w for w in problem.wrt if w not in names])
        sym = sympy_bridge.to_sympy(problem.expr, rename=safe)
        deriv = sympy_bridge.derivative(sym, tuple(safe[w] for w in problem.wrt), problem.order)
        args = [sympy_bridge.symbol(safe[n]) for n in names]
        fn = sympy.lambdify(args, deriv, modules=_MODULES)
        flat = deriv if not isinstance(deriv, list) else sympy.Matrix(deriv)
        text = sympy_bridge.restore_names(str(deriv), safe)

        def evaluate(point):
            # NumPy scalars, not Python floats: the generated code then follows IEEE
            # rules like the other methods (x**2 overflows to inf, 1/0. is inf)
            # instead of raising OverflowError / ZeroDivisionError or, for a
            # negative base to a fractional power, returning a complex number
            return fn(*[np.float64(point[n]) for n in names])

        def explain(point):
            where = _first_bad_node(deriv, args, [point[n] for n in names])
            where = sympy_bridge.restore_names(where, safe) if where else where
            flags = explain_fp(evaluate, point)
            return f"{where} ({flags})" if where and flags else where or flags

        details = {"expression_size": int(sympy.count_ops(flat)),
                   "derivative": text if len(text) <= 300 else text[:297] + "..."}
        return Prepared(evaluate, details, explain=explain)


def _first_bad_node(deriv, args, values, limit: int = 300) -> str | None:
    """The innermost subexpression of the derivative that goes non-finite.

    Only called after a failure: each distinct subexpression is lambdified and
    evaluated bottom-up, so the reason can say ``overflow in exp(1000*x)``
    rather than only which floating-point flag was raised.
    """
    import sympy
    seen: dict = {a: complex(float(v)) for a, v in zip(args, values)}
    for top in (deriv if isinstance(deriv, list) else [deriv]):
        for row in (top if isinstance(top, list) else [top]):
            for node in sympy.postorder_traversal(row):
                if node in seen or node.is_Atom:
                    continue
                if len(seen) >= limit:
                    return None
                try:
                    with np.errstate(all="ignore"):
                        v = complex(sympy.lambdify(args, node, modules=_MODULES)(
                            *[np.float64(x) for x in values]))
                except (ArithmeticError, ValueError, TypeError):
                    v = complex(np.nan)
                seen[node] = v
                if np.isfinite(v) and v.imag == 0:
                    continue
                kids = [seen[a] if a in seen else complex(a) if a.is_number else complex(np.nan)
                        for a in node.args]
                if all(np.isfinite(k) and k.imag == 0 for k in kids):
                    text = sympy.sstr(node)
                    text = text if len(text) <= 60 else text[:57] + "..."
                    pole = node.is_Pow and kids[0] == 0 and kids[1].real < 0
                    kind = ("invalid operation (nan)" if np.isnan(v) else
                            "not a real number" if np.isfinite(v) else
                            "division by zero" if pole else "overflow")
                    return f"{kind} in {text}"
    return None


METHODS = (Symbolic,)

"""Our AST to sympy trees, built node by node from the primitive table.

sympy never sees user text: every sympy object here is constructed from an
AST node (``sympy.Symbol(name, real=True)``, ``sympy.Rational(literal)``, the
table's sympy counterpart).  Variables are real, so ``diff(Abs(x))`` is
``sign(x)`` and the real semantics of DESIGN.md hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction

import sympy

from .expr import Apply, Const, Expr, Num, Var, walk
from .primitives import BY_NAME, CONSTANTS


def symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def to_sympy(expr: Expr, rename: Mapping[str, str] | None = None) -> sympy.Expr:
    """Convert without recursion; identical subtrees are converted once.

    ``rename`` maps variable names to the symbol names to use (the symbolic
    backend uses ``_x0, _x1, ...`` so generated code never contains user text).
    """
    done: dict[Expr, sympy.Expr] = {}
    for node in walk(expr):
        if node in done:
            continue
        if isinstance(node, Num):
            # the exact decimal the user wrote, not its nearest double (via
            # Fraction, so no string ever reaches sympy)
            frac = Fraction(node.text)
            done[node] = sympy.Rational(frac.numerator, frac.denominator)
        elif isinstance(node, Const):
            done[node] = CONSTANTS[node.name][2]()
        elif isinstance(node, Var):
            done[node] = symbol(rename[node.name] if rename else node.name)
        else:
            assert isinstance(node, Apply)
            done[node] = BY_NAME[node.op].sp(*[done[a] for a in node.args])
    return done[expr]


def without_dirac(expr: sympy.Expr) -> sympy.Expr:
    """Drop DiracDelta terms (from differentiating sign/Heaviside), evaluated or not.

    They vanish wherever the derivative exists; the points where they do not
    are kinks, which the reference detects from the AST and reports itself.
    """
    if expr.has(sympy.DiracDelta):
        expr = expr.replace(sympy.DiracDelta, lambda *args: sympy.S.Zero)
    if expr.has(sympy.Derivative):
        # d sign(u)/dx stays unevaluated when sympy cannot tell that u is real
        # (cbrt(acos(...)) is sign(u)*|u|^(1/3)); it is the same DiracDelta term,
        # 0 wherever u != 0, and u = 0 is a kink the reference reports itself.
        # Left in, it breaks lambdify and evaluation at a point.
        expr = expr.replace(
            lambda e: isinstance(e, sympy.Derivative) and isinstance(e.expr, (sympy.sign, sympy.Heaviside)),
            lambda e: sympy.S.Zero)
    return expr


def derivative(expr: sympy.Expr, wrt: tuple[str, ...], order: int):
    """Scalar, list (gradient) or list of lists (Hessian) of sympy derivatives."""
    syms = [symbol(n) for n in wrt]
    if len(syms) == 1:
        return without_dirac(sympy.diff(expr, syms[0], order))
    if order == 1:
        return [without_dirac(sympy.diff(expr, s)) for s in syms]
    grads = [sympy.diff(expr, s) for s in syms]
    return [[without_dirac(sympy.diff(g, s)) for s in syms] for g in grads]


def safe_names(names) -> dict[str, str]:
    """``{user name: _x<i>}``: symbol names that cannot clash with anything."""
    return {n: f"_x{i}" for i, n in enumerate(names)}


def restore_names(text: str, safe: Mapping[str, str]) -> str:
    """Put the user's names back into printed text that uses ``safe_names``."""
    back = {v: k for k, v in safe.items()}
    return re.sub(r"\b_x\d+\b", lambda m: back.get(m.group(), m.group()), text)

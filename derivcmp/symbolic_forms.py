"""The forms of a symbolic derivative and their sizes: raw, cse'd, simplified.

* ``derivative`` differentiates a sympy tree the way a gradient scales: each
  variable only where it occurs.  The terms of an n-ary sum are indexed by
  the symbols they contain, so d/dx_i of ``sum_k t_k`` differentiates only the
  few terms with ``x_i`` in them instead of the whole sum (one ``sympy.diff``
  per variable over everything is quadratic in n).
* ``size`` counts a sympy tree as it is written, every occurrence counted:
  ``ops`` is the arithmetic a straight evaluation performs (an n-ary ``Add``
  or ``Mul`` is n-1 operations, a power or function call is one; atoms none),
  ``depth`` the longest path from the root to an atom (an atom is 0).  It is
  memoised on distinct subtrees, so swollen trees cost their distinct size.
* ``cse`` and ``simplify`` give the other two forms; simplification can run
  for minutes, so callers give it a deadline (``deadline.call``).

sympy is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: the keys of a ``sizes`` entry in a method's details (see README, JSON output)
SIZE_KEYS = ("ops", "depth")


def flatten(deriv: Any) -> list:
    """Scalar, gradient (list) or Hessian (list of lists) as a flat list of entries."""
    if not isinstance(deriv, list):
        return [deriv]
    return [e for row in deriv for e in (row if isinstance(row, list) else [row])]


def derivative(expr, syms: Sequence, order: int):
    """Scalar (one symbol), list (gradient) or list of lists (Hessian) of derivatives.

    The same values as ``sympy.diff`` symbol by symbol, with DiracDelta terms
    dropped (see ``sympy_bridge.without_dirac``).
    """
    import sympy

    from .sympy_bridge import without_dirac
    if len(syms) == 1:
        return without_dirac(sympy.diff(expr, syms[0], order))
    grads = _gradient(expr, syms)
    if order == 1:
        return [without_dirac(g) for g in grads]
    return [[without_dirac(h) for h in _gradient(g, syms)] for g in grads]


def _gradient(expr, syms: Sequence) -> list:
    import sympy
    terms = sympy.Add.make_args(expr)
    wanted = set(syms)
    where: dict[Any, list] = {s: [] for s in syms}
    for t in terms:
        for s in t.free_symbols & wanted:
            where[s].append(t)
    return [sympy.Add(*[sympy.diff(t, s) for t in where[s]]) for s in syms]


def size(exprs: Any) -> dict[str, int]:
    """``{"ops": ..., "depth": ...}`` of one tree or of all entries of a list (ops summed)."""
    import sympy
    ops: dict = {}
    depth: dict = {}
    total_ops, max_depth = 0, 0
    for top in flatten(exprs):
        top = sympy.Integer(top) if isinstance(top, int) else top
        # iterative post-order over distinct subtrees (no recursion, no revisits)
        stack = [(top, False)]
        while stack:
            node, expanded = stack.pop()
            if node in ops:
                continue
            args = node.args
            if not args:
                ops[node], depth[node] = 0, 0
            elif expanded:
                own = len(args) - 1 if isinstance(node, (sympy.Add, sympy.Mul)) else 1
                ops[node] = own + sum(ops[a] for a in args)
                depth[node] = 1 + max(depth[a] for a in args)
            else:
                stack.append((node, True))
                stack.extend((a, False) for a in args if a not in ops)
        total_ops += ops[top]
        max_depth = max(max_depth, depth[top])
    return {"ops": total_ops, "depth": max_depth}


def cse(entries: list) -> tuple[list, list]:
    """``sympy.cse`` of a flat list: (replacements, reduced entries)."""
    import sympy
    reps, reduced = sympy.cse(entries, list=True)
    return list(reps), list(reduced)


def cse_size(reps: list, reduced: list) -> dict[str, int]:
    """Sizes of a cse'd form: every assignment and every reduced entry counted once."""
    parts = [size([r for _, r in reps]), size(reduced)] if reps else [size(reduced)]
    return {"ops": sum(p["ops"] for p in parts), "depth": max(p["depth"] for p in parts)}


def simplify_all(entries: list) -> list:
    """``sympy.simplify`` of each entry (run it under ``deadline.call``: it may never finish)."""
    import sympy
    return [sympy.simplify(e) for e in entries]

"""Our AST to sympy trees, built node by node from the primitive table.

sympy never sees user text: every sympy object here is constructed from an
AST node (``sympy.Symbol(name, real=True)``, ``sympy.Rational(literal)``, the
table's sympy counterpart).  Variables are real, so ``diff(Abs(x))`` is
``sign(x)`` and the real semantics of DESIGN.md hold.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Mapping
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
    A chain of ``+``/``-`` (of ``*``/``/``) becomes one n-ary ``Add`` (``Mul``):
    built pairwise, a left-deep sum of n terms re-flattens every partial sum,
    O(n^2); sympy flattens and sorts the n-ary form once, O(n log n).
    """
    done: dict[Expr, sympy.Expr] = {}
    heads = _chain_heads(expr)
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
        elif node.op in _CHAIN:
            if id(node) in heads:
                done[node] = _chain(node, done)
            # else: an inner link of a chain, converted with its head
        else:
            assert isinstance(node, Apply)
            done[node] = BY_NAME[node.op].sp(*[done[a] for a in node.args])
    return done[expr]


#: chain operators: op -> (the chain it belongs to, whether its right operand is inverted)
_CHAIN = {"add": ("add", False), "sub": ("add", True), "mul": ("mul", False), "div": ("mul", True)}


def _kind(node: Expr) -> str | None:
    link = _CHAIN.get(node.op) if isinstance(node, Apply) else None
    return link[0] if link else None


def _chain_heads(expr: Expr) -> set[int]:
    """The chain nodes whose parent is not a link of the same chain (by ``id``)."""
    heads = {id(expr)} if _kind(expr) else set()
    for node in walk(expr):
        if isinstance(node, Apply):
            kind = _kind(node)
            heads.update(id(a) for a in node.args if _kind(a) and _kind(a) != kind)
    return heads


def _chain(top: Apply, done: dict) -> sympy.Expr:
    """``a - b + c`` as ``Add(a, -b, c)``, ``a/b*c`` as ``Mul(a, 1/b, c)``; no recursion.

    The operands are converted already (``walk`` visits children first); the
    inner links are walked through here, unless an equal one was converted."""
    kind = _kind(top)
    items: list[sympy.Expr] = []
    stack: list[tuple[Expr, bool]] = [(top, False)]
    while stack:
        node, inverted = stack.pop()
        if _kind(node) == kind and (node is top or node not in done):
            link = _CHAIN[node.op]
            left, right = node.args
            stack.append((right, inverted != link[1]))
            stack.append((left, inverted))
            continue
        value = done[node]
        items.append((-value if kind == "add" else sympy.Pow(value, -1)) if inverted else value)
    return sympy.Add(*items) if kind == "add" else sympy.Mul(*items)


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


#: room for sympy's recursion on the deepest expression the parser accepts
#: (``expr.MAX_DEPTH`` levels: ~100 nested calls, each many sympy frames deep)
DEEP_RECURSION_LIMIT = 60_000
DEEP_STACK_BYTES = 512 * 1024 * 1024


def deep(fn: Callable[[], object]):
    """``fn()`` in a thread with a large stack and a high recursion limit.

    sympy's ``diff``, ``subs`` and ``evalf`` recurse once per level of the
    tree, a few dozen frames each: 30 nested sigmoids overflow Python's
    default limit of 1000.  The main thread's C stack (8 MiB) cannot take a
    higher limit safely; a thread given ``DEEP_STACK_BYTES`` can.  Exceptions
    of ``fn`` (``RecursionError`` included, past even this limit) propagate.
    """
    if threading.current_thread().name == "derivcmp-deep":
        return fn()         # already deep
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = fn()
        except BaseException as err:  # noqa: BLE001 - re-raised in the caller
            out["error"] = err

    old_limit, old_size = sys.getrecursionlimit(), threading.stack_size()
    try:
        threading.stack_size(DEEP_STACK_BYTES)
        worker = threading.Thread(target=run, name="derivcmp-deep", daemon=True)
        sys.setrecursionlimit(max(old_limit, DEEP_RECURSION_LIMIT))
        try:
            worker.start()
            worker.join()
        finally:
            sys.setrecursionlimit(old_limit)
    except (RuntimeError, ValueError, MemoryError):
        if "value" in out or "error" in out:
            raise
        return fn()         # no thread with a big stack here: the default limit stands
    finally:
        threading.stack_size(old_size)
    if "error" in out:
        raise out["error"]  # type: ignore[misc]
    return out["value"]


def derivative(expr: sympy.Expr, wrt: tuple[str, ...], order: int):
    """Scalar, list (gradient) or list of lists (Hessian) of sympy derivatives
    (computed with room to recurse: ``deep``)."""
    return deep(lambda: _derivative(expr, wrt, order))


def _derivative(expr: sympy.Expr, wrt: tuple[str, ...], order: int):
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

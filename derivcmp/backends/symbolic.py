"""The symbolic family: sympy differentiates our tree; lambdify evaluates it in float64.

Three methods evaluate three forms of the same derivative: ``symbolic`` as
``sympy.diff`` writes it, ``symbolic-cse`` after common-subexpression
elimination, ``symbolic-simplified`` after ``sympy.simplify`` (under its own
deadline, in a forked child: past it the method reports ``timeout``).  Each
reports in ``details`` the sizes of the forms (``sizes``: ``f``, ``raw``,
``cse`` and, for the simplified one, ``simplified``; each ``{"ops", "depth"}``
as ``symbolic_forms.size`` counts them) and its setup split in phases
(``setup_split_s``: ``differentiate``, ``cse`` or ``simplify``, ``codegen``).

The sympy tree is built from the AST (never from text); lambdify generates
code from that tree with dummy argument names, so no variable name can clash
with Python keywords or NumPy functions.  The derivative is evaluated as
sympy wrote it, unsimplified: its expression swell and its floating-point
behaviour are part of what this method is being compared on.  sympy is
imported inside functions, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import deadline, symbolic_forms
from ..deadline import Timeout
from ..expr import variables
from ..primitives import BY_NAME
from ..problem import MAX_ORDER, Problem
from . import MethodTimeout, Prepared
from ._fp import explain_fp
from .base import Method

#: pretty and LaTeX forms of larger derivatives are not printed (sympy's
#: printers take minutes on them); the generated code always is
SHOW_MAX_OPS = 20_000


def _modules():
    # sympy functions NumPy lacks, mapped to the primitive table's implementations
    return [{"erf": BY_NAME["erf"].np, "erfc": BY_NAME["erfc"].np}, "numpy"]


class Symbolic(Method):
    name = "symbolic"
    #: a Jacobian row by row: each output differentiated by each variable (m·n derivatives)
    jacobian = "rows"
    family = "symbolic"
    default = True
    tolerances = {0: 1e-10}
    max_order = MAX_ORDER
    description = "sympy.diff of the expression tree, evaluated in float64 via lambdify"
    convention = "sympy's formula evaluated at the point: sign(0) = 0, Heaviside(0) = 1/2"
    #: the clauses of ``convention`` per function, so a note names only what the expression uses
    conventions = (("abs", "sign(0) = 0"), ("relu", "Heaviside(0) = 1/2"), ("max", "Heaviside(0) = 1/2"),
                   ("min", "Heaviside(0) = 1/2"))
    #: which form of the derivative is evaluated: raw, cse or simplified
    form = "raw"

    def prepare(self, problem: Problem) -> Prepared:
        from .. import sympy_bridge

        # sympy's diff and lambdify's printer recurse once per level of the tree
        # (30 nested sigmoids overflow Python's default limit): room to recurse
        return sympy_bridge.deep(lambda: _prepare(self, problem))


class SymbolicCSE(Symbolic):
    name = "symbolic-cse"
    default = False
    description = "sympy.diff, then common subexpressions eliminated (sympy.cse), evaluated via lambdify"
    form = "cse"


class SymbolicSimplified(Symbolic):
    name = "symbolic-simplified"
    default = False
    description = "sympy.diff, then sympy.simplify under its own 5 s deadline, evaluated via lambdify"
    form = "simplified"
    #: seconds simplification may take; past it the method reports timeout
    simplify_timeout = 5.0


def _prepare(method: Symbolic, problem: Problem) -> Prepared:
    import sympy

    from .. import sympy_bridge

    # the reference may have differentiated the same tree in this process:
    # start from a cold cache so the setup time is this method's own
    sympy.core.cache.clear_cache()
    split: dict[str, float] = {}
    t0 = time.perf_counter()
    # symbols named _x0, _x1, ... rather than lambdify(dummify=True): the
    # generated code then holds no user text, and dummify's substitution
    # is exponential in the nesting depth (19 s for 9 nested tanh)
    names = variables(problem.expr)
    safe = sympy_bridge.safe_names(names + [w for w in problem.wrt if w not in names])
    sym = sympy_bridge.to_sympy(problem.expr, rename=safe)
    deriv = symbolic_forms.derivative(sym, [sympy_bridge.symbol(safe[w]) for w in problem.wrt], problem.order)
    raw = symbolic_forms.flatten(deriv)
    split["differentiate"] = time.perf_counter() - t0
    sizes: dict[str, Any] = {"f": symbolic_forms.size(sym), "raw": symbolic_forms.size(raw)}
    entries, reps = raw, []
    if method.form == "simplified":
        t = time.perf_counter()
        limit = method.simplify_timeout
        got = deadline.call(lambda: symbolic_forms.simplify_all(raw), limit, reraise=False)
        if isinstance(got, Timeout):
            raise MethodTimeout(f"simplification gave up after {limit:g} s (the method's own deadline; "
                                f"the raw derivative has {sizes['raw']['ops']} operations)")
        if not isinstance(got, list):
            raise ValueError(f"simplification failed: {getattr(got, 'message', got)}")
        entries = got
        split["simplify"] = time.perf_counter() - t
        sizes["simplified"] = symbolic_forms.size(entries)
    elif method.form == "cse":
        t = time.perf_counter()
        reps, entries = symbolic_forms.cse(raw)
        split["cse"] = time.perf_counter() - t
        sizes["cse"] = symbolic_forms.cse_size(reps, entries)
    t = time.perf_counter()
    args = [sympy_bridge.symbol(safe[n]) for n in names]
    single = len(entries) == 1
    target = entries[0] if single else entries
    cse_arg = (lambda _e: (reps, target)) if reps else False
    try:
        # (docstring_limit: the docstring would print the whole derivative once more)
        fn = sympy.lambdify(args, target, modules=_modules(), cse=cse_arg, docstring_limit=50)
    except NotImplementedError as err:
        # simplify may write what NumPy's printer cannot (a Piecewise of a Piecewise)
        raise ValueError(f"no NumPy code for this form of the derivative ({type(err).__name__})") from None
    split["codegen"] = time.perf_counter() - t
    shape = problem.shape

    def evaluate(point):
        # NumPy scalars, not Python floats: the generated code then follows IEEE
        # rules like the other methods (x**2 overflows to inf, 1/0. is inf)
        # instead of raising OverflowError / ZeroDivisionError or, for a
        # negative base to a fractional power, returning a complex number
        value = fn(*[np.float64(point[n]) for n in names])
        return value if single else np.asarray(value, dtype=float).reshape(shape)

    def evaluate_grid(columns):
        # lambdify's NumPy code over arrays: the same operations elementwise
        return fn(*[np.asarray(columns[n], dtype=float) for n in names]) if single else None

    def explain(point):
        where = _first_bad_node(entries, args, [point[n] for n in names])
        where = sympy_bridge.restore_names(where, safe) if where else where
        flags = explain_fp(evaluate, point)
        return f"{where} ({flags})" if where and flags else where or flags

    def extra() -> dict[str, Any]:
        # the sizes of forms this method does not evaluate, measured after its
        # setup was timed (simplification only by symbolic-simplified: it may
        # never finish)
        if "cse" not in sizes:
            sizes["cse"] = symbolic_forms.cse_size(*symbolic_forms.cse(raw))
        return {"sizes": sizes}

    def show(form: str) -> str:
        return _render(form, fn, entries, reps, problem, safe, sizes)

    text = sympy_bridge.restore_names(_brief_text(entries if method.form == "simplified" else raw, shape), safe)
    details = {"expression_size": sizes.get(method.form, sizes["raw"])["ops"],
               "symbolic_derivatives": len(raw),
               "derivative": text,
               "sizes": sizes, "setup_split_s": split}
    return Prepared(evaluate, details, explain=explain, extra=extra, show=show,
                    evaluate_grid=evaluate_grid if single else None)


def _brief_text(entries: list, shape: tuple[int, ...], limit: int = 300) -> str:
    """The derivative as sympy's str prints it, cut at ``limit`` characters
    (only the entries needed are printed: a gradient may have 10,000)."""
    if not shape:
        text = str(entries[0])
    else:
        n = shape[0]
        parts, used = [], 0
        for i, e in enumerate(entries):
            if used > limit:
                break
            parts.append(str(e))
            used += len(parts[-1]) + 2
        rows = [parts[i * n:(i + 1) * n] for i in range(n)] if len(shape) == 2 else [parts]
        inner = ["[" + ", ".join(r) + "]" for r in rows if r]
        text = ("[" + ", ".join(inner) + "]") if len(shape) == 2 else inner[0]
        if len(parts) < len(entries):
            text = text[:limit + 1]
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _render(form: str, fn, entries: list, reps: list, problem: Problem, safe: dict[str, str], sizes) -> str:
    """The derivative as sympy prints it (``pretty``, ``latex``) or the code lambdify generated."""
    import inspect

    import sympy

    from .. import sympy_bridge
    if form == "code":
        mapping = ", ".join(f"{v} = {k}" for k, v in safe.items())
        return f"# arguments: {mapping}\n" + inspect.getsource(fn).rstrip("\n")
    ops = sizes.get("simplified", sizes["raw"])["ops"]
    if ops > SHOW_MAX_OPS:
        return (f"(not printed: {ops} operations is too large for sympy's {form} printer; "
                "--show code prints the generated code)")
    back = {sympy_bridge.symbol(v): sympy_bridge.symbol(k) for k, v in safe.items()}
    printer = sympy.latex if form == "latex" else (lambda e: sympy.pretty(e, use_unicode=True))
    wrt, order = problem.wrt, problem.order
    if len(wrt) == 1:
        labels = [f"d{order if order > 1 else ''}/d{wrt[0]}{'^' + str(order) if order > 1 else ''}"]
    elif order == 1:
        labels = [f"d/d{w}" for w in wrt]
    else:
        labels = [f"d2/d{a} d{b}" for a in wrt for b in wrt]
    shared = [printer(sympy.Eq(v, r.xreplace(back), evaluate=False)) for v, r in reps]
    blocks = [printer(e.xreplace(back)) for e in entries]
    head = "where\n" + "\n".join(shared) + "\n" if shared else ""
    if len(blocks) == 1:
        return (head + "derivative:\n" if head else "") + blocks[0]
    return head + "\n".join(f"{label}:\n{block}" for label, block in zip(labels, blocks))


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
                if node in seen or node.is_Atom or not isinstance(node, sympy.Expr):
                    continue        # (a Piecewise's (expr, cond) pairs are not expressions)
                if len(seen) >= limit:
                    return None
                try:
                    with np.errstate(all="ignore"):
                        v = complex(sympy.lambdify(args, node, modules=_modules())(
                            *[np.float64(x) for x in values]))
                except (ArithmeticError, ValueError, TypeError, NotImplementedError):
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


METHODS = (Symbolic, SymbolicCSE, SymbolicSimplified)

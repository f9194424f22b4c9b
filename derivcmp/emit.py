"""Code emission: an ops namespace whose values are code, and the program compiler.

``Emitter`` is an ops namespace (see ``primitives``): ``em.exp(x)`` does not
compute anything, it appends the statement ``t7 = exp(t3)`` and returns a
``Code`` handle for ``t7``; ``Code`` overloads ``+ - * / ** -`` the same way,
so the primitive table's derivative rules run against it unchanged.  Emission
value-numbers what it emits (the same primitive of the same operands is one
local), folds constants (with the NumPy implementation, where the result is
finite) and the identities ``x*1``, ``x+0``, ``x-0``, ``x/1``, ``x^1``,
``x^0``, ``-(-x)``; with ``strong_zero`` set (adjoint code) also ``0*x``
and ``0/x``, the zero adjoints a tape skips at run time.

An ``Emitter`` is also a tape: every node records its primitive, argument
nodes and whether it depends on a differentiation variable, in the same
lists ``backends.reverse.Tape`` has, so the one backward loop
(``backends.reverse.backward``) runs over emitted code too -- reverse over
reverse is emission over emission.

``compile_function`` is the program compiler; ``compile_bound`` compiles f
together with its running rounding-error bound (``primitives.RoundingOps``
swept over the emitter), which the finite-difference methods read.
``assemble`` turns emitted statements into the fast-path function with its
IEEE fallback (``scalar``) through ``codegen.build``, the only door to
``compile``.  Code is built as an
``ast`` tree from our own slots: parameters ``v0, v1, ...``, locals ``t0, t1,
...``, the primitive table's names and numbers -- never a user's text.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import codegen
from .primitives import BY_NAME, PRIMITIVES
from .scalar import FALLBACK, IEEE_MODE, SCALAR

_BINOP = {"add": ast.Add, "sub": ast.Sub, "mul": ast.Mult, "div": ast.Div}


class Code:
    """A value in emitted code: a local, a parameter, or a literal number."""

    __slots__ = ("const", "em", "i")

    def __init__(self, em: Emitter, i: int, const: float | None = None):
        self.em = em
        self.i = i              # its node in the emitter
        self.const = const      # the number, for a literal

    def __add__(self, o):
        return self.em.apply("add", (self, o))

    def __radd__(self, o):
        return self.em.apply("add", (o, self))

    def __sub__(self, o):
        return self.em.apply("sub", (self, o))

    def __rsub__(self, o):
        return self.em.apply("sub", (o, self))

    def __mul__(self, o):
        return self.em.apply("mul", (self, o))

    def __rmul__(self, o):
        return self.em.apply("mul", (o, self))

    def __truediv__(self, o):
        return self.em.apply("div", (self, o))

    def __rtruediv__(self, o):
        return self.em.apply("div", (o, self))

    def __neg__(self):
        return self.em.apply("neg", (self,))

    def __pow__(self, o):
        # as on the tape: a constant integer exponent keeps the integer power,
        # defined for a negative base
        e = self.em.lift(o)
        c = e.const
        if c is not None and math.isfinite(c) and c == int(c):
            return self.em.apply("powi", (self, e))
        return self.em.apply("pow", (self, e))


class Emitter:
    """Ops namespace and tape of emitted code (see the module docstring)."""

    def __init__(self) -> None:
        self.prims: list[Any] = []          # Primitive, or None for parameters and literals
        self.args: list[tuple[int, ...]] = []
        self.active: list[bool] = []
        self.handles: list[Code] = []
        self.exprs: list[ast.expr | None] = []      # the right-hand side of each local
        self.memo: dict[tuple, Code] = {}
        self.params: dict[int, int] = {}            # node -> parameter position
        self.strong_zero = False

    def __len__(self) -> int:
        return len(self.prims)

    def _node(self, prim, args, active, expr, const=None) -> Code:
        code = Code(self, len(self.prims), const)
        self.prims.append(prim)
        self.args.append(args)
        self.active.append(active)
        self.handles.append(code)
        self.exprs.append(expr)
        return code

    # --- leaves -----------------------------------------------------------------------
    def parameter(self, k: int, active: bool) -> Code:
        code = self._node(None, (), active, None)
        self.params[code.i] = k
        return code

    def number(self, value: float) -> Code:
        value = float(value)
        key = ("#", value, math.copysign(1.0, value))
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = self._node(None, (), False, None, value)
        return hit

    def lift(self, v: Any) -> Code:
        return v if isinstance(v, Code) else self.number(v)

    # --- the ops-namespace protocol ---------------------------------------------------
    @staticmethod
    def value(v):
        if isinstance(v, Code):
            if v.const is None:
                raise ValueError("a rule needs the value of a computed quantity")
            return v.const
        return v

    def constant(self, slot) -> Code:
        return self.number(slot.value)

    def is_zero(self, v: Code) -> bool:
        return v.const == 0.0

    def __getattr__(self, name: str):
        if name not in BY_NAME:
            raise AttributeError(name)

        def op(*args):
            return self.apply(name, args)
        setattr(self, name, op)
        return op

    # --- emission ---------------------------------------------------------------------
    def apply(self, name: str, operands: Sequence[Any]) -> Code:
        args = tuple(self.lift(a) for a in operands)
        consts = [a.const for a in args]
        if None not in consts:
            with np.errstate(all="ignore"):
                v = BY_NAME[name].np(*[np.float64(c) for c in consts])
            if np.isfinite(v):
                return self.number(float(v))
        folded = self._identity(name, args, consts)
        if folded is not None:
            return folded
        key = (name, *(a.i for a in args))
        hit = self.memo.get(key)
        if hit is not None:
            return hit
        if name in _BINOP and None in consts:
            expr: ast.expr = ast.BinOp(self.ref(args[0]), _BINOP[name](), self.ref(args[1]))
        elif name == "neg" and consts[0] is None:
            expr = ast.UnaryOp(ast.USub(), self.ref(args[0]))
        elif name == "powi" and consts[1] == 2.0:
            expr = ast.BinOp(self.ref(args[0]), ast.Mult(), self.ref(args[0]))   # as np.power does
        else:
            expr = codegen.call(name, *[self.ref(a) for a in args])
        code = self._node(BY_NAME[name], tuple(a.i for a in args), any(self.active[a.i] for a in args), expr)
        self.memo[key] = code
        return code

    def _identity(self, name: str, args: tuple[Code, ...], consts: list) -> Code | None:
        a = args[0]
        b = args[1] if len(args) > 1 else None
        ca = consts[0]
        cb = consts[1] if len(consts) > 1 else None
        zero = self.strong_zero
        if name == "add":
            return b if ca == 0.0 else a if cb == 0.0 else None
        if name == "sub":
            return a if cb == 0.0 else self.apply("neg", (b,)) if ca == 0.0 and zero else None
        if name == "mul":
            if zero and (ca == 0.0 or cb == 0.0):
                return self.number(0.0)
            if ca == 1.0 or cb == 1.0:
                return b if ca == 1.0 else a
            if ca == -1.0 or cb == -1.0:
                return self.apply("neg", (b if ca == -1.0 else a,))
            if (ca is None) != (cb is None):
                return self._scale(ca if ca is not None else cb, b if ca is not None else a)
            return None
        if name == "div":
            return a if cb == 1.0 else self.number(0.0) if zero and ca == 0.0 else None
        if name == "neg":
            p = self.prims[a.i]
            if p is not None and p.name == "neg":
                return self.handles[self.args[a.i][0]]
            inner = self._scaled(a)
            return self.apply("mul", (-inner[0], inner[1])) if inner else None
        if name in ("powi", "pow"):
            return a if cb == 1.0 else self.number(1.0) if cb == 0.0 else None
        return None

    def _scaled(self, x: Code) -> tuple[float, Code] | None:
        """(c, y) if ``x`` is the plain product ``c * y`` of a literal and a value."""
        if self.exprs[x.i].__class__ is not ast.BinOp or self.prims[x.i].name != "mul":
            return None
        u, v = (self.handles[j] for j in self.args[x.i])
        if (u.const is None) == (v.const is None):
            return None
        return (u.const, v) if u.const is not None else (v.const, u)

    def _scale(self, c: float, x: Code) -> Code | None:
        """``c * x`` with the sign or a power-of-two factor moved into the literal
        where that is exact: ``c * -y = -c * y``; ``c * (d * y) = (c d) * y`` if c
        or d is a power of two (adjoint code only: ``d * y`` may overflow where
        ``(c d) * y`` does not)."""
        p = self.prims[x.i]
        if p is not None and p.name == "neg":
            return self.apply("mul", (-c, self.handles[self.args[x.i][0]]))
        inner = self._scaled(x) if self.strong_zero else None
        if inner is not None and (abs(math.frexp(c)[0]) == 0.5 or abs(math.frexp(inner[0])[0]) == 0.5) \
                and math.isfinite(c * inner[0]) and c * inner[0] != 0.0:
            return self.apply("mul", (c * inner[0], inner[1]))
        return None

    def chain(self, a: Code, p: Code) -> Code:
        """The chain-rule product ``a * p`` as the tape forms it: where the adjoint
        ``a`` is 0 at run time the tape skips the node, so ``0 * inf`` (a
        partial at an infinite slope) contributes 0, not nan."""
        a, p = self.lift(a), self.lift(p)
        if a.const is not None or p.const is not None:
            return self.apply("mul", (a, p))        # decided now: folded or plain
        key = ("chain", a.i, p.i)
        hit = self.memo.get(key)
        if hit is None:
            expr = ast.IfExp(test=self.ref(a), body=ast.BinOp(self.ref(a), ast.Mult(), self.ref(p)),
                             orelse=codegen.number(0.0))
            hit = self.memo[key] = self._node(BY_NAME["mul"], (a.i, p.i), self.active[a.i] or self.active[p.i],
                                              expr)
        return hit

    def guarded_mul(self, e: Any, p: Any) -> Code:
        """``e * p``, but 0 where ``e`` is 0 at run time, on floats and arrays alike
        (``RoundingOps``: an exact zero through an infinite slope adds no error)."""
        e, p = self.lift(e), self.lift(p)
        if (e.const is not None and e.const != 0.0) or (p.const is not None and math.isfinite(p.const)):
            return self.apply("mul", (e, p))        # 0 * finite is 0 anyway
        key = ("guarded", e.i, p.i)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = self._node(BY_NAME["mul"], (e.i, p.i), self.active[e.i] or self.active[p.i],
                                              codegen.call("_gmul", self.ref(e), self.ref(p)))
        return hit

    def ref(self, v: Code) -> ast.expr:
        if v.const is not None:
            return codegen.number(v.const)
        return codegen.name(self.local(v))

    def local(self, v: Code) -> str:
        return f"v{self.params[v.i]}" if v.i in self.params else f"t{v.i}"

    def statements(self, roots: Sequence[Code], start: int = 0, stop: int | None = None) -> list[ast.stmt]:
        """The assignments ``roots`` need, in order, for the nodes in [start, stop)."""
        stop = len(self.prims) if stop is None else stop
        needed = [False] * len(self.prims)
        for r in roots:
            needed[r.i] = True
        for i in range(len(self.prims) - 1, -1, -1):
            if needed[i]:
                for j in self.args[i]:
                    needed[j] = True
        return [codegen.assign(f"t{i}", self.exprs[i]) for i in range(start, stop)
                if needed[i] and self.exprs[i] is not None]


def _all_finite(v) -> bool:
    return bool(np.all(np.isfinite(v)))


def _gmul_fast(e: float, p: float) -> float:
    return e * p if e else 0.0


def _gmul_ieee(e, p):
    return np.where(e == 0, 0.0, e * p)


#: names emitted code may call, per path: the fast one on Python floats, and
#: the primitive table's NumPy implementations
FAST_NAMESPACE: dict[str, Any] = {**SCALAR, "isfinite": math.isfinite, "_gmul": _gmul_fast}
IEEE_NAMESPACE: dict[str, Any] = {**{p.name: p.np for p in PRIMITIVES}, "isfinite": _all_finite,
                                  "_f64": np.float64, "_gmul": _gmul_ieee}


def assemble(fname: str, nparams: int, body: list[ast.stmt], extra: dict[str, Any] | None = None
             ) -> codegen.Generated:
    """Compile ``body`` twice: the IEEE path (inputs as float64, NumPy
    functions), and the fast path on Python floats that starts again on the
    IEEE path when a step raises (``scalar.FALLBACK``) or when the fast path
    is switched off (``scalar.ieee_only``).  Returns the fast one; the IEEE
    one is its ``_ieee``."""
    params = [f"v{k}" for k in range(nparams)]
    prologue = [codegen.assign(p, codegen.call("_f64", codegen.name(p))) for p in params]
    ieee = codegen.build(codegen.function(f"{fname}ieee", params, prologue + body),
                         {**IEEE_NAMESPACE, **(extra or {})})
    again = ast.Return(codegen.call("_ieee", *[codegen.name(p) for p in params]))
    fast_body = [
        ast.If(test=codegen.name("_ieee_mode"), body=[again], orelse=[]),
        ast.Try(body=body, handlers=[ast.ExceptHandler(type=codegen.name("_fallback"), name=None, body=[again])],
                orelse=[], finalbody=[]),
    ]
    return codegen.build(codegen.function(fname, params, fast_body),
                         {**FAST_NAMESPACE, **(extra or {}), "_ieee": ieee.fn, "_ieee_mode": IEEE_MODE,
                          "_fallback": FALLBACK})


def compile_function(program, order: Sequence[str]) -> codegen.Generated:
    """The program as a Python function ``f(*values)`` of the variables in ``order``:
    one local per distinct slot, straight-line, compiled once.  A vector
    program's function returns the tuple of its outputs."""
    from .program import sweep
    em = Emitter()
    inputs = {n: em.parameter(k, False) for k, n in enumerate(order)}
    vals = sweep(program, em, inputs)
    if program.vector:
        # every output from one straight-line body: a shared subexpression is one local
        outs = [vals[o] for o in program.outputs]
        result: ast.expr = ast.Tuple([em.ref(o) for o in outs], ast.Load())
        return assemble("f", len(order), em.statements(outs) + [ast.Return(result)])
    out = vals[program.output]
    body = em.statements([out]) + [ast.Return(em.ref(out))]
    return assemble("f", len(order), body)


def compile_bound(program, order: Sequence[str]) -> codegen.Generated:
    """``fb(*values) -> (f, bound)``: the program's value and a first-order bound on
    its float64 rounding error (``primitives.RoundingOps`` swept over the
    emitter), compiled like ``compile_function``: one call gives both, on
    Python floats or on arrays of points.  A vector program's ``fb`` returns
    the tuple of its outputs and the tuple of their bounds."""
    from .primitives import RoundingOps
    from .program import sweep
    em = Emitter()
    inputs = {n: (em.parameter(k, False), None) for k, n in enumerate(order)}
    swept = sweep(program, RoundingOps(em), inputs)
    if program.vector:
        # every output's value and bound from one body: ``fb -> ((f1, ..., fm), (b1, ..., bm))``
        pairs = [swept[o] for o in program.outputs]
        values = [v for v, _ in pairs]
        errs = [em.lift(0.0 if e is None else e) for _, e in pairs]
        tup = [ast.Tuple([em.ref(v) for v in vs], ast.Load()) for vs in (values, errs)]
        body = em.statements(values + errs) + [ast.Return(ast.Tuple(tup, ast.Load()))]
        return assemble("fb", len(order), body)
    value, err = swept[program.output]
    err = em.lift(0.0 if err is None else err)
    body = em.statements([value, err]) + [ast.Return(ast.Tuple([em.ref(value), em.ref(err)], ast.Load()))]
    return assemble("fb", len(order), body)

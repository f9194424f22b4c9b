"""Lifted arithmetic for forward and Taylor mode, and one adjoint sweep for any ops.

A forward or Taylor-mode evaluation is ``program.sweep`` with an ops
namespace whose values carry more than a float: a dual number (value and
tangent) or a truncated Taylor polynomial.  ``LiftedOps`` is what those
namespaces share: ``ops.<primitive>(*args)`` falls through to the namespace
below (plain floats, or the inner level of a nested dual) when no argument
is lifted at this level, and otherwise applies the level's own rule.
``Lifted`` gives the values Python operators, so the derivative rules of the
primitive table (``b * a ** (b - 1.0)``) run on them unchanged.

``adjoints`` is a reverse sweep over the program slots in any ops namespace:
with float ops it is plain reverse mode; with dual or degree-1 Taylor ops it
is forward-over-reverse (a Hessian column per sweep).  Everything iterates
over slots in order; nothing recurses, so a 100,000-slot program is fine.

This module never times, grades or reports.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .primitives import BY_NAME, FLOAT_OPS
from .program import OP, Program, sweep


class Lifted:
    """A value of some lifted domain; arithmetic goes through its ops namespace."""

    __slots__ = ("ops",)
    # NumPy scalars then defer to our reflected operators (np.float64(2) * dual)
    __array_ufunc__ = None

    def __add__(self, o):
        return self.ops.add(self, o)

    def __radd__(self, o):
        return self.ops.add(o, self)

    def __sub__(self, o):
        return self.ops.sub(self, o)

    def __rsub__(self, o):
        return self.ops.sub(o, self)

    def __mul__(self, o):
        return self.ops.mul(self, o)

    def __rmul__(self, o):
        return self.ops.mul(o, self)

    def __truediv__(self, o):
        return self.ops.div(self, o)

    def __rtruediv__(self, o):
        return self.ops.div(o, self)

    def __neg__(self):
        return self.ops.neg(self)

    def __pow__(self, o):
        # a constant integer exponent keeps the integer power (defined for a
        # negative base), as the tape does
        if not isinstance(o, Lifted) and np.ndim(o) == 0 and np.isfinite(o) and float(o) == int(o):
            return self.ops.powi(self, o)
        return self.ops.pow(self, o)

    def __rpow__(self, o):
        return self.ops.pow(o, self)


class LiftedOps:
    """An ops namespace one level above ``inner`` (see the module docstring).

    Subclasses set ``kind`` (their ``Lifted`` class) and implement
    ``lift(prim, inner_fn)`` returning the function applied when some argument
    is lifted at this level.
    """

    kind: type = Lifted

    def __init__(self, inner: Any = FLOAT_OPS):
        self.inner = inner

    def mine(self, v: Any) -> bool:
        return type(v) is self.kind and v.ops is self

    def value(self, v):
        return self.inner.value(self.primal(v) if self.mine(v) else v)

    def primal(self, v):  # pragma: no cover - each subclass defines it
        raise NotImplementedError

    @staticmethod
    def constant(slot):
        return np.float64(slot.value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            prim = BY_NAME[name]
        except KeyError:
            raise AttributeError(f"no primitive named {name!r}") from None
        inner_fn = getattr(self.inner, name)
        lifted = self.lift(prim, inner_fn)
        mine = self.mine

        def fn(*args):
            for a in args:
                if mine(a):
                    return lifted(*args)
            return inner_fn(*args)
        setattr(self, name, fn)
        return fn

    def lift(self, prim, inner_fn):  # pragma: no cover - each subclass defines it
        raise NotImplementedError


def adjoints(program: Program, ops: Any, values: Sequence[Any], active: Sequence[bool]) -> list[Any]:
    """d(output)/d(slot) for every slot, computed in ``ops``'s value domain.

    ``values`` are the slots' values from ``sweep(program, ops, ...)``;
    ``active`` says which slots depend on a variable of interest (only those
    carry adjoints).  A slot that receives no adjoint is None.
    """
    slots = program.slots
    adj: list[Any] = [None] * len(slots)
    out = program.output
    adj[out] = 1.0
    for i in range(out, -1, -1):
        a = adj[i]
        s = slots[i]
        if a is None or s.kind != OP or not active[i]:
            continue
        parts = s.prim.partials(ops, *[values[j] for j in s.args], values[i])
        for j, p in zip(s.args, parts):
            if p is None or not active[j]:
                continue
            term = a * p
            adj[j] = term if adj[j] is None else adj[j] + term
    return adj


def finite(v: Any) -> bool:
    """Whether a float (or NumPy array) value is finite everywhere."""
    return bool(np.all(np.isfinite(v)))


def hessian_over_reverse(program: Program, point: Mapping[str, Any], wrt: Sequence[str], ops: Any,
                         seed: Callable[[float], Any], primal: Callable[[Any], Any],
                         tangent: Callable[[Any], Any]) -> tuple[Any, np.ndarray]:
    """The value and the Hessian by a lifted sweep then a lifted adjoint sweep per
    variable: forward-over-reverse with duals, Taylor-over-reverse with degree-1
    polynomials.  ``seed(x)`` lifts a variable with unit tangent; ``primal`` and
    ``tangent`` read a lifted value (or a plain one) back."""
    inputs = program.input_slots()
    active = program.active(wrt)
    n = len(wrt)
    h = np.zeros((n, n))
    value = None
    for j, w in enumerate(wrt):
        if w not in inputs:
            continue
        vals = sweep(program, ops, {v: seed(np.float64(point[v])) if v == w else np.float64(point[v])
                                    for v in program.names})
        value = primal(vals[program.output])
        adj = adjoints(program, ops, vals, active)
        for i, v in enumerate(wrt):
            a = adj[inputs[v]] if v in inputs else None
            h[i, j] = tangent(a) if a is not None else 0.0
    if value is None:
        value = sweep(program, FLOAT_OPS, {v: np.float64(point[v]) for v in program.names})[program.output]
    return value, h


def prepared(program: Program, shape: tuple[int, ...],
             compute: Callable[[Mapping[str, Any]], tuple[Any, Any]], details: dict[str, Any]):
    """A backend's ``Prepared`` around ``compute(point) -> (function value, derivative)``.

    Where the function itself is undefined (nan) or overflows (inf) there is no
    derivative, though the chain rule may still produce a finite number
    (d log(x) = 1/x at x = -1): the value is then nan or inf, and ``explain``
    names the slot and column.
    """
    from .backends import Prepared
    from .program import diagnose

    def evaluate(point):
        f, value = compute(point)
        if not finite(f):
            return np.full(shape, np.nan if np.any(np.isnan(f)) else np.inf)[()]
        return value

    def explain(point):
        with np.errstate(all="ignore"):
            return diagnose(program, program.evaluate_all(point))
    return Prepared(evaluate, details, explain)

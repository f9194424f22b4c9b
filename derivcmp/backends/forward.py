"""``ad-forward``: forward accumulation with dual numbers over the same program.

A dual number ``v + t·ε`` carries a value and its tangent along one input
direction; ``DualOps`` is the ops namespace for ``program.sweep`` whose rule
for a primitive is its JVP, ``Σ partial_k · tangent_k``, with the partials
read from the primitive table and evaluated one level down.  So a gradient of
n variables costs n sweeps (``details["sweeps"]``), where ad-reverse needs one
forward and one backward sweep.

Higher orders: for one variable, duals of duals (forward-over-forward, the
k-th derivative from k nested levels, 2^k terms per value); for a Hessian,
forward-over-reverse: one dual sweep per variable, then the adjoint sweep of
``ad.adjoints`` run on the duals, whose tangents are a Hessian column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..ad import Lifted, LiftedOps, hessian_over_reverse, prepared
from ..primitives import FLOAT_OPS
from ..problem import Problem
from ..program import Program, compile_program, sweep
from . import Prepared
from .base import Method

SUBGRADIENTS = "AD picks a subgradient: abs'(0) = relu'(0) = 0, max' at a tie = 1/2"


class Dual(Lifted):
    __slots__ = ("t", "v")

    def __init__(self, v: Any, t: Any, ops: DualOps):
        self.v = v
        self.t = t
        self.ops = ops

    def __repr__(self) -> str:
        return f"Dual({self.v!r}, {self.t!r})"


class DualOps(LiftedOps):
    """Dual numbers over ``inner`` (floats, or the duals of the level below)."""

    kind = Dual

    def primal(self, v):
        return v.v

    def lift(self, prim, inner_fn):
        inner, partials, mine = self.inner, prim.partials, self.mine

        def jvp(*args):
            xs = [a.v if mine(a) else a for a in args]
            ans = inner_fn(*xs)
            t = None
            for a, p in zip(args, partials(inner, *xs, ans)):
                if p is None or not mine(a):
                    continue
                term = a.t if _is_one(p) else p * a.t
                t = term if t is None else t + term
            return Dual(ans, 0.0 if t is None else t, self)
        return jvp


#: first-order duals over floats (reused: a namespace caches its lifted primitives)
DUAL_OPS = DualOps()


def _is_one(p) -> bool:
    return not isinstance(p, Lifted) and np.ndim(p) == 0 and p == 1.0


def tangent(v: Any) -> Any:
    """The tangent of a sweep's value (0 for a value that does not depend on the seed)."""
    return v.t if isinstance(v, Dual) else 0.0


def jvp_sweep(program: Program, point: Mapping[str, Any], seed: Mapping[str, float],
              ops: DualOps | None = None) -> list[Any]:
    """One forward sweep: every slot as a dual along the direction ``seed``."""
    ops = ops or DUAL_OPS
    inputs = {n: Dual(np.float64(point[n]), np.float64(seed[n]), ops) if seed.get(n) else np.float64(point[n])
              for n in program.names}
    return sweep(program, ops, inputs)


def gradient(program: Program, point: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, list[Any]]:
    """The function's value and its gradient by n forward sweeps, one per variable
    (a variable not in the expression costs no sweep: its derivative is 0)."""
    ops = DUAL_OPS
    value, grad = None, []
    for w in wrt:
        if w not in program.names:
            grad.append(0.0)
            continue
        out = jvp_sweep(program, point, {w: 1.0}, ops)[program.output]
        value = _plain(out)
        grad.append(tangent(out))
    if value is None:
        value = plain_value(program, point)
    return value, grad


def tangents(plan, vals: Sequence[Any], seed: int, ops: Any) -> list[Any]:
    """One forward sweep over a recorded tape (``reverse._Plan``): the tangent of
    every node along the input leaf ``seed``, by the primitive table's partials.

    The mirror image of ``reverse.backward``: it starts at the seed (nothing
    recorded before an input depends on it) where the backward sweep starts at
    its output, and a node whose arguments carry no tangent is skipped, as the
    backward sweep skips a node without an adjoint (a strong zero)."""
    tape = plan.tape
    prims, args, active = tape.prims, tape.args, tape.active
    t: list[Any] = [0.0] * len(vals)
    t[seed] = 1.0
    for i in range(seed + 1, len(vals)):
        prim = prims[i]
        if prim is None or not active[i]:
            continue
        idx = args[i]
        if len(idx) == 1:
            tj = t[idx[0]]
            if tj == 0.0:
                continue
            p = prim.partials(ops, vals[idx[0]], vals[i])[0]
            if p is not None:
                t[i] = tj * p
            continue
        j, k = idx
        tj, tk = t[j], t[k]
        if tj == 0.0 and tk == 0.0:
            continue
        p, q = prim.partials(ops, vals[j], vals[k], vals[i])
        acc = 0.0
        if tj != 0.0 and p is not None:
            acc = tj * p
        if tk != 0.0 and q is not None:
            acc = acc + tk * q
        t[i] = acc
    return t


def jacobian_evaluate(plan, n: int):
    """The (m, n) Jacobian of a vector program: its tape replayed once for the values,
    then one forward tangent sweep per input, each giving a column for every output.
    An output that is nan or inf at the point has no derivative: its row is nan or inf."""
    from ..scalar import FALLBACK, IEEE_MODE, SCALAR_OPS

    def columns(vals, ops):
        m = len(plan.targets)
        jac = np.zeros((m, n))
        for k, leaf in enumerate(plan.leaves):
            if leaf is None:
                continue        # a variable no output uses: its column is 0
            t = tangents(plan, vals, leaf, ops)
            for j, out in enumerate(plan.targets):
                jac[j, k] = t[out]
        for j, out in enumerate(plan.targets):
            f = vals[out]
            if not np.isfinite(f):
                jac[j] = np.nan if np.isnan(f) else np.inf
        return jac

    def evaluate(point):
        if not IEEE_MODE:
            try:
                return columns(plan.replay_floats(point), SCALAR_OPS)
            except FALLBACK:
                pass
        return columns(plan.replay(point).vals, FLOAT_OPS)
    return evaluate


def _diagnose(program: Program, point: Mapping[str, Any]) -> str | None:
    from ..program import diagnose
    with np.errstate(all="ignore"):
        return diagnose(program, program.evaluate_all(point))


def plain_value(program: Program, point: Mapping[str, Any]) -> Any:
    return sweep(program, FLOAT_OPS, {n: np.float64(point[n]) for n in program.names})[program.output]


def nested_derivative(program: Program, point: Mapping[str, Any], name: str, order: int) -> tuple[Any, Any]:
    """The value and d^order/d name^order by ``order`` nested levels of duals
    (forward-over-forward)."""
    if name not in program.names:
        return plain_value(program, point), 0.0
    levels = [DualOps()]
    for _ in range(order - 1):
        levels.append(DualOps(levels[-1]))
    x: Any = np.float64(point[name])
    for ops in levels:
        # lift the variable one level: its tangent is 1 at this level, 0 below
        x = Dual(x, _one_like(x), ops)
    inputs = {n: x if n == name else np.float64(point[n]) for n in program.names}
    out = sweep(program, levels[-1], inputs)[program.output]
    value = _plain(out)
    for _ in range(order):
        out = tangent(out)
    return value, _plain(out)


def _one_like(x: Any) -> Any:
    # 1 at the lowest level, with zero tangents above it
    return Dual(_one_like(x.v), 0.0, x.ops) if isinstance(x, Dual) else np.float64(1.0)


def _plain(v: Any) -> Any:
    while isinstance(v, Dual):
        v = v.v
    return v


def hessian(program: Program, point: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Any, np.ndarray]:
    """The value and the Hessian by forward-over-reverse: per variable, a dual
    sweep then a dual adjoint sweep."""
    ops = DUAL_OPS
    return hessian_over_reverse(program, point, wrt, ops, lambda x: Dual(x, np.float64(1.0), ops),
                                _plain, tangent)


class ForwardMode(Method):
    name = "ad-forward"
    family = "automatic"
    default = False
    tolerances = {0: 1e-10}
    max_order = 4
    description = ("forward-mode AD with dual numbers: n sweeps for a gradient "
                   "(forward-over-forward for one variable, forward-over-reverse for a Hessian)")
    convention = SUBGRADIENTS

    #: a Jacobian natively: one forward sweep per input gives a column for every output
    jacobian = "native"

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        wrt, order = problem.wrt, problem.order
        if program.vector:
            from .reverse import _plan
            plan = _plan(program, problem)
            sweeps = sum(leaf is not None for leaf in plan.leaves)
            details = {"program_length": len(program), "tape_length": len(plan.tape), "forward_sweeps": sweeps,
                       "mode": "forward: one tangent sweep per input over the recorded tape"}
            return Prepared(jacobian_evaluate(plan, len(wrt)), details, lambda point: _diagnose(program, point))
        present = [w for w in wrt if w in program.names]
        if order == 1:
            mode, sweeps = "forward", len(present)
        elif len(wrt) == 1:
            mode, sweeps = f"forward-over-forward ({order} nested levels of duals)", 1
        else:
            mode, sweeps = "forward-over-reverse", len(present)
        details: dict[str, Any] = {"program_length": len(program), "sweeps": sweeps, "mode": mode}

        def compute(point):
            if order == 1:
                f, g = gradient(program, point, wrt)
                return f, g[0] if len(wrt) == 1 else np.array(g, dtype=float)
            if len(wrt) == 1:
                return nested_derivative(program, point, wrt[0], order)
            return hessian(program, point, wrt)
        return prepared(program, problem.shape, compute, details)


METHODS = (ForwardMode,)

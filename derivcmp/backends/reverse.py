"""``ad-reverse``: our own tape-based reverse-mode automatic differentiation.

The forward sweep records every primitive application on a ``Tape`` (value,
primitive, argument nodes, whether it depends on a ``wrt`` variable).  The
backward sweep walks the tape in reverse, accumulating adjoints with the
partial-derivative rules of the primitive table.

Higher derivatives come from *reverse-over-reverse*: the backward sweep is
run with taped values (``TapeOps``), so the gradient itself is a set of
nodes on the tape, and a second plain backward sweep from each gradient
entry gives a row of the Hessian.  The rules are the same ones; no third
party AD library is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..expr import Var
from ..primitives import BY_NAME, FLOAT_OPS
from ..problem import Problem
from ..program import CONST, INPUT, Program, compile_program, describe, diagnose
from . import Prepared
from .base import Method


class Tape:
    """Values and the primitive applications that produced them."""

    __slots__ = ("active", "args", "origin", "prims", "vals")

    def __init__(self) -> None:
        self.vals: list[Any] = []
        self.prims: list[Any] = []            # Primitive, or None for leaves
        self.args: list[tuple[int, ...]] = []
        self.active: list[bool] = []
        self.origin: list[Any] = []           # AST node for forward-sweep entries

    def __len__(self) -> int:
        return len(self.vals)

    def leaf(self, value: Any, active: bool, origin: Any = None) -> TVal:
        self.vals.append(value)
        self.prims.append(None)
        self.args.append(())
        self.active.append(active)
        self.origin.append(origin)
        return TVal(self, len(self.vals) - 1)

    def apply(self, name: str, args: Sequence[Any], origin: Any = None) -> TVal:
        prim = BY_NAME[name]
        idx = tuple(self._node(a) for a in args)
        self.vals.append(prim.np(*[self.vals[i] for i in idx]))
        self.prims.append(prim)
        self.args.append(idx)
        self.active.append(any(self.active[i] for i in idx))
        self.origin.append(origin)
        return TVal(self, len(self.vals) - 1)

    def _node(self, a: Any) -> int:
        if isinstance(a, TVal):
            return a.i
        return self.leaf(np.float64(a), False).i

    def backward(self, out: int, first_bad: list | None = None) -> list[Any]:
        """Plain float adjoints of every node with respect to node ``out``."""
        vals, prims, args, active = self.vals, self.prims, self.args, self.active
        track = first_bad is not None
        adj: list[Any] = [0.0] * (out + 1)
        adj[out] = 1.0
        for i in range(out, -1, -1):
            a = adj[i]
            prim = prims[i]
            if prim is None or not active[i] or (not a.any() if isinstance(a, np.ndarray) else a == 0.0):
                continue
            idx = args[i]
            parts = prim.partials(FLOAT_OPS, *[vals[j] for j in idx], vals[i])
            for j, p in zip(idx, parts):
                if p is not None and active[j]:
                    adj[j] = adj[j] + a * p
                    if track and not first_bad and not np.all(np.isfinite(p)):
                        first_bad.append(i)
        return adj

    def gradient(self, out: int, leaves: Sequence[int | None]) -> list[Any]:
        """d(node ``out``)/d(each leaf), 0 for a leaf that is None (not in the expression)."""
        adj = self.backward(out)
        return [adj[i] if i is not None and i < len(adj) else 0.0 for i in leaves]

    def backward_taped(self, out: TVal) -> list[TVal | None]:
        """Adjoints recorded on this tape, so they can be differentiated again."""
        n = out.i + 1
        ops = TapeOps(self)
        adj: list[TVal | None] = [None] * n
        adj[out.i] = self.leaf(np.float64(1.0), False)
        for i in range(n - 1, -1, -1):
            a = adj[i]
            prim = self.prims[i]
            if a is None or prim is None or not self.active[i]:
                continue
            idx = self.args[i]
            parts = prim.partials(ops, *[TVal(self, j) for j in idx], TVal(self, i))
            for j, p in zip(idx, parts):
                if p is None or not self.active[j]:
                    continue
                term = a * p
                adj[j] = term if adj[j] is None else adj[j] + term
        return adj


class TVal:
    """A value on a tape; arithmetic records new tape entries."""

    __slots__ = ("i", "tape")

    def __init__(self, tape: Tape, i: int):
        self.tape = tape
        self.i = i

    def _op(self, name, *args):
        return self.tape.apply(name, args)

    def __add__(self, o):
        return self if _is(o, 0.0) else self._op("add", self, o)

    def __radd__(self, o):
        return self if _is(o, 0.0) else self._op("add", o, self)

    def __sub__(self, o):
        return self._op("sub", self, o)

    def __rsub__(self, o):
        return self._op("neg", self) if _is(o, 0.0) else self._op("sub", o, self)

    def __mul__(self, o):
        return self if _is(o, 1.0) else self._op("neg", self) if _is(o, -1.0) else self._op("mul", self, o)

    def __rmul__(self, o):
        return self.__mul__(o) if not isinstance(o, TVal) else self._op("mul", o, self)

    def __truediv__(self, o):
        return self if _is(o, 1.0) else self._op("div", self, o)

    def __rtruediv__(self, o):
        return self._op("div", o, self)

    def __pow__(self, o):
        # an exponent that is constant and integer keeps the integer power, which
        # (unlike pow) is defined for a negative base
        v = o.tape.vals[o.i] if isinstance(o, TVal) else o
        constant = not isinstance(o, TVal) or not o.tape.active[o.i]
        if constant and np.ndim(v) == 0 and np.isfinite(v) and float(v) == int(v):
            return self._op("powi", self, o)
        return self._op("pow", self, o)

    def __neg__(self):
        return self._op("neg", self)


def _is(o: Any, c: float) -> bool:
    return not isinstance(o, TVal) and np.ndim(o) == 0 and o == c


class TapeOps:
    """The ops namespace whose ``o.cos(x)`` records ``cos`` on the tape."""

    def __init__(self, tape: Tape):
        self._tape = tape

    def value(self, v):
        return self._tape.vals[v.i] if isinstance(v, TVal) else v

    def __getattr__(self, name: str):
        tape = self._tape
        return lambda *args: tape.apply(name, args)


def record(program: Program, point: Mapping[str, Any], wrt: Sequence[str]) -> tuple[Tape, list[TVal]]:
    """The forward sweep: interpret the program, recording each slot."""
    tape = Tape()
    wanted = set(wrt)
    nodes: list[TVal] = []
    for s in program.slots:
        if s.kind == INPUT:
            nodes.append(tape.leaf(np.float64(point[s.name]), s.name in wanted, s.node))
        elif s.kind == CONST:
            nodes.append(tape.leaf(np.float64(s.value), False, s.node))
        else:
            nodes.append(tape.apply(s.prim.name, [nodes[a] for a in s.args], s.node))
    return tape, nodes


class _Plan:
    """A tape recorded once (with, for higher orders, the taped backward sweeps
    in it) to replay at any point.

    Which entries the tape holds does not depend on the point: rules branch
    only on constants (an integer exponent, a literal 1.0), so setup records
    the forward sweep and the taped backward sweep(s) once, and each
    evaluation recomputes the values of that straight-line program and runs
    plain float backward sweeps over it.
    """

    def __init__(self, tape: Tape, output: int, leaves: list[int | None], targets: list[int | None]):
        self.tape = tape
        self.output = output
        self.leaves = leaves
        self.targets = targets      # per row: the node whose float gradient is the answer
        # what replay recomputes: every primitive application and every input
        # leaf (constants keep their recorded values)
        self._steps = [(i, p.np if p is not None else None, o.name if p is None else None)
                       for i, (p, o) in enumerate(zip(tape.prims, tape.origin))
                       if p is not None or isinstance(o, Var)]

    def replay(self, point: Mapping[str, Any]) -> Tape:
        tape = self.tape
        vals, args = tape.vals, tape.args
        for i, fn, name in self._steps:
            vals[i] = fn(*[vals[j] for j in args[i]]) if fn is not None else np.float64(point[name])
        return tape


def _plan(program: Program, problem: Problem) -> _Plan:
    """Record at the problem's point; the targets are the nodes whose gradient is
    the answer: the output itself for order 1, the (order-1)-th derivative for one
    variable, each gradient entry (a Hessian row) for several."""
    wrt, order = problem.wrt, problem.order
    inputs = program.input_slots()
    with np.errstate(all="ignore"):
        tape, nodes = record(program, problem.point, wrt)
        leaves = [nodes[inputs[n]].i if n in inputs else None for n in wrt]
        out = nodes[program.output]
        if order == 1:
            targets = [out.i]
        elif len(wrt) == 1:
            node: TVal | None = out if leaves[0] is not None else None
            for _ in range(order - 1):
                if node is None:
                    break
                node = tape.backward_taped(node)[leaves[0]]
            targets = [None if node is None else node.i]
        else:
            grads = tape.backward_taped(out)
            targets = [grads[leaf].i if leaf is not None and leaf < len(grads) and grads[leaf] is not None
                       else None for leaf in leaves]
    return _Plan(tape, out.i, leaves, targets)


class ReverseMode(Method):
    name = "ad-reverse"
    family = "automatic"
    default = True
    tolerances = {0: 1e-10}
    description = "tape-based reverse-mode AD (reverse-over-reverse for 2nd order)"
    convention = "AD picks a subgradient: abs'(0) = relu'(0) = 0, max' at a tie = 1/2"
    #: the clauses of ``convention`` per function, so a note names only what the expression uses
    conventions = (("abs", "abs'(0) = 0"), ("relu", "relu'(0) = 0"), ("max", "max' at a tie = 1/2"),
                   ("min", "min' at a tie = 1/2"))

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        plan = _plan(program, problem)
        wrt, order, shape = problem.wrt, problem.order, problem.shape
        details: dict[str, Any] = {"program_length": len(program), "tape_length": len(plan.tape)}

        def evaluate(point):
            tape = plan.replay(point)
            f = tape.vals[plan.output]
            finite = np.isfinite(f)     # (np.all on a scalar costs more than a sweep step)
            if not (finite if isinstance(finite, np.bool_) else finite.all()):
                # the function itself is undefined (nan) or overflows (inf) here, so
                # it has no derivative; the chain rule may still produce a finite
                # number (d log(x) = 1/x at x = -1), which must not be reported as
                # one.  A non-finite value lets the harness ask ``explain`` for the
                # slot and column.
                return np.full(shape, np.nan if np.any(np.isnan(f)) else np.inf)[()]
            rows = [[0.0] * len(wrt) if t is None else tape.gradient(t, plan.leaves) for t in plan.targets]
            if len(wrt) == 1:
                return rows[0][0]
            return np.array(rows[0] if order == 1 else rows, dtype=float)

        def explain(point):
            with np.errstate(all="ignore"):
                values = program.evaluate_all(point)
            why = diagnose(program, values)
            if why:
                return why
            bad: list[int] = []
            with np.errstate(all="ignore"):
                tape = plan.replay(point)
                tape.backward(plan.output, bad)
            if bad and tape.origin[bad[0]] is not None:
                return f"non-finite partial derivative of {describe(tape.origin[bad[0]])}"
            return None
        return Prepared(evaluate, details, explain)


METHODS = (ReverseMode,)

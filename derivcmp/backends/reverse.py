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
from ..program import CONST, INPUT, OP, Program, compile_program, describe, diagnose
from . import Prepared, order_limit


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
        adj: list[Any] = [0.0] * (out + 1)
        adj[out] = 1.0
        for i in range(out, -1, -1):
            a = adj[i]
            prim = prims[i]
            if prim is None or not active[i] or (np.ndim(a) == 0 and a == 0.0):
                continue
            idx = args[i]
            parts = prim.partials(FLOAT_OPS, *[vals[j] for j in idx], vals[i])
            for j, p in zip(idx, parts):
                if p is not None and active[j]:
                    adj[j] = adj[j] + a * p
                    if first_bad is not None and not first_bad and not np.all(np.isfinite(p)):
                        first_bad.append(i)
        return adj

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
    """A tape recorded once, with the taped backward sweeps in it, to replay.

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
        self.inputs = [o.name if isinstance(o, Var) and tape.prims[i] is None else None
                       for i, o in enumerate(tape.origin)]

    def replay(self, point: Mapping[str, Any]) -> Tape:
        tape = self.tape
        vals, prims, args, names = tape.vals, tape.prims, tape.args, self.inputs
        for i in range(len(vals)):
            prim = prims[i]
            if prim is not None:
                vals[i] = prim.np(*[vals[j] for j in args[i]])
            elif names[i] is not None:
                vals[i] = np.float64(point[names[i]])
        return tape


def _higher_order_plan(program: Program, problem: Problem) -> _Plan:
    wrt, order = problem.wrt, problem.order
    inputs = program.input_slots()
    with np.errstate(all="ignore"):
        tape, nodes = record(program, problem.point, wrt)
        leaves = [nodes[inputs[n]].i if n in inputs else None for n in wrt]
        out = nodes[program.output]
        if len(wrt) == 1:
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


class ReverseMode:
    name = "ad-reverse"
    description = "tape-based reverse-mode AD (reverse-over-reverse for 2nd order)"
    convention = "AD picks a subgradient: abs'(0) = relu'(0) = 0, max' at a tie = 1/2"

    def supports(self, problem: Problem) -> str | None:
        return order_limit(problem)

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        inputs = program.input_slots()
        wrt = problem.wrt
        order = problem.order
        details: dict[str, Any] = {"program_length": len(program)}

        def gradient_of(tape: Tape, out: int, leaves: list[int | None]) -> list[Any]:
            adj = tape.backward(out)
            return [adj[i] if i is not None and i < len(adj) else 0.0 for i in leaves]

        # the first-order sweep, straight over the program's slots: the same tape
        # (slot values) and the same rules, without TVal objects
        n_slots = len(program.slots)
        kinds = [s.kind for s in program.slots]
        fns = [s.prim.np if s.prim else None for s in program.slots]
        rules = [s.prim.partials if s.prim else None for s in program.slots]
        slot_args = [s.args for s in program.slots]
        names_at = [s.name for s in program.slots]
        consts = [np.float64(s.value) if s.kind == CONST else None for s in program.slots]
        act = program.active(wrt)
        out_slot = program.output
        leaf_slots = [inputs.get(n) for n in wrt]
        details["tape_length"] = n_slots

        def first_order(point):
            vals: list[Any] = [None] * n_slots
            for i in range(n_slots):
                k = kinds[i]
                if k == OP:
                    vals[i] = fns[i](*[vals[j] for j in slot_args[i]])
                elif k == INPUT:
                    vals[i] = np.float64(point[names_at[i]])
                else:
                    vals[i] = consts[i]
            f = vals[out_slot]
            if not np.isfinite(f):
                return np.full(problem.shape, np.nan if np.isnan(f) else np.inf)[()]
            adj: list[Any] = [0.0] * n_slots
            adj[out_slot] = 1.0
            for i in range(out_slot, -1, -1):
                a = adj[i]
                if kinds[i] != OP or not act[i] or a == 0.0:
                    continue
                idx = slot_args[i]
                parts = rules[i](FLOAT_OPS, *[vals[j] for j in idx], vals[i])
                for j, p in zip(idx, parts):
                    if p is not None and act[j]:
                        adj[j] = adj[j] + a * p
            g = [adj[j] if j is not None else 0.0 for j in leaf_slots]
            return g[0] if len(wrt) == 1 else np.array(g, dtype=float)

        plan = _higher_order_plan(program, problem) if order > 1 else None
        if plan is not None:
            details["tape_length"] = len(plan.tape)

        def evaluate(point):
            if order == 1:
                return first_order(point)
            tape = plan.replay(point)
            f = tape.vals[plan.output]
            if not np.all(np.isfinite(f)):
                # the function itself is undefined (nan) or overflows (inf) here, so
                # it has no derivative; the chain rule may still produce a finite
                # number (d log(x) = 1/x at x = -1), which must not be reported as
                # one.  A non-finite value lets the harness ask ``explain`` for the
                # slot and column.
                return np.full(problem.shape, np.nan if np.any(np.isnan(f)) else np.inf)[()]
            if len(wrt) == 1:
                target = plan.targets[0]
                return 0.0 if target is None else gradient_of(tape, target, plan.leaves)[0]
            hess = np.zeros((len(wrt), len(wrt)))
            for r, target in enumerate(plan.targets):
                if target is not None:
                    hess[r] = gradient_of(tape, target, plan.leaves)
            return hess

        def explain(point):
            with np.errstate(all="ignore"):
                values = program.evaluate_all(point)
            why = diagnose(program, values)
            if why:
                return why
            tape, nodes = record(program, point, wrt)
            bad: list[int] = []
            with np.errstate(all="ignore"):
                tape.backward(nodes[program.output].i, bad)
            if bad and tape.origin[bad[0]] is not None:
                return f"non-finite partial derivative of {describe(tape.origin[bad[0]])}"
            return None
        return Prepared(evaluate, details, explain)

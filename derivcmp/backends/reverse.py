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

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from ..expr import Var
from ..primitives import BY_NAME, FLOAT_OPS
from ..problem import Problem
from ..program import CONST, INPUT, Program, compile_program, describe, diagnose
from ..scalar import FALLBACK, IEEE_MODE, SCALAR, SCALAR_OPS
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

    def backward(self, out: int, first_bad: list | None = None, values: Sequence[Any] | None = None,
                 ops: Any = FLOAT_OPS) -> list[Any]:
        """Plain float adjoints of every node with respect to node ``out`` (0.0
        where there is no path), from the tape's values or from ``values``
        computed by ``ops`` (the scalar fast path)."""
        adj = backward(self.prims, self.args, self.active, self.vals if values is None else values, out, 1.0,
                       ops, _float_zero, first_bad)
        return [0.0 if a is None else a for a in adj]

    def gradient(self, out: int, leaves: Sequence[int | None], values: Sequence[Any] | None = None,
                 ops: Any = FLOAT_OPS) -> list[Any]:
        """d(node ``out``)/d(each leaf), 0 for a leaf that is None (not in the expression)."""
        adj = backward(self.prims, self.args, self.active, self.vals if values is None else values, out, 1.0,
                       ops, _float_zero)
        return [adj[i] if i is not None and i < len(adj) and adj[i] is not None else 0.0 for i in leaves]

    def backward_taped(self, out: TVal) -> list[TVal | None]:
        """Adjoints recorded on this tape, so they can be differentiated again."""
        n = out.i + 1
        handles = [TVal(self, j) for j in range(n)]
        return backward(self.prims, self.args, self.active, handles, out.i, self.leaf(np.float64(1.0), False),
                        TapeOps(self))


def _float_zero(a: Any) -> bool:
    return not a.any() if isinstance(a, np.ndarray) else a == 0.0


def backward(prims: Sequence[Any], args: Sequence[tuple[int, ...]], active: Sequence[bool],
             handles: Sequence[Any], out: int, seed: Any, ops: Any, zero=None,
             first_bad: list | None = None, times=None, local: Mapping[int, tuple] | None = None) -> list[Any]:
    """The one backward sweep: adjoints of every node of a tape with respect to node
    ``out`` (None where there is no path), by the primitive table's rules.

    The same loop runs on floats (``ops`` evaluates: the tape's answer), on
    taped values (``TapeOps``: reverse over reverse) and on emitted code
    (``emit.Emitter``: ``ad-codegen``'s adjoint code); ``handles[i]`` is node
    ``i``'s value in that domain.  ``zero(a)`` says an adjoint contributes
    nothing (skipped, as a strong zero); ``first_bad`` collects the first node
    with a non-finite partial (diagnostics only); ``times(a, p)``, if given,
    forms the chain-rule product (emitted code skips a zero adjoint there, as
    this loop does at ``zero``).  ``local``, if given, holds node ``i``'s partials
    already computed with its value (the table's ``np_fused``), used instead of the rule.
    """
    adj: list[Any] = [None] * (out + 1)
    adj[out] = seed
    track = first_bad is not None
    for i in range(out, -1, -1):
        a = adj[i]
        if a is None or not active[i]:
            continue
        prim = prims[i]
        if prim is None:
            continue
        if a.__class__ is float:            # the fast path, without a call per node
            if a == 0.0:
                continue
        elif zero is not None and zero(a):
            continue
        idx = args[i]
        given = local.get(i) if local is not None else None
        if len(idx) == 1:
            j, k = idx[0], -1
            p = (given or prim.partials(ops, handles[j], handles[i]))[0]
        else:
            j, k = idx                      # every primitive takes one or two arguments
            p, q = given or prim.partials(ops, handles[j], handles[k], handles[i])
        if p is not None and active[j]:
            t = a * p if times is None else times(a, p)
            adj[j] = t if adj[j] is None else adj[j] + t
            if track and not first_bad and not np.all(np.isfinite(p)):
                first_bad.append(i)
        if k >= 0 and q is not None and active[k]:
            t = a * q if times is None else times(a, q)
            adj[k] = t if adj[k] is None else adj[k] + t
            if track and not first_bad and not np.all(np.isfinite(q)):
                first_bad.append(i)
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

        # the scalar fast path: the same steps on Python floats (``scalar``),
        # constants kept, one preallocated value list, no argument lists
        self._fvals = [float(v) if np.ndim(v) == 0 else None for v in tape.vals]
        self._finputs = [(i, name) for i, fn, name in self._steps if fn is None]
        self._fsteps = [(i, SCALAR[p.name], a[0], a[1] if len(a) > 1 else -1)
                        for i, (p, a) in enumerate(zip(tape.prims, tape.args)) if p is not None]

    def replay_floats(self, point: Mapping[str, Any]) -> list[float]:
        """Every tape value at ``point`` on Python floats; raises ``TypeError``
        for a non-float input, and what ``scalar`` raises instead of inf/nan."""
        vals = self._fvals
        for i, name in self._finputs:
            v = point[name]
            if type(v) is not float:
                if not isinstance(v, float):
                    raise TypeError("not a scalar")
                v = float(v)
            vals[i] = v
        for i, fn, j, k in self._fsteps:
            vals[i] = fn(vals[j]) if k < 0 else fn(vals[j], vals[k])
        return vals

    def replay_arrays(self, columns: Mapping[str, np.ndarray]) -> tuple[Tape, dict[int, tuple]]:
        """Every tape value over a grid (each input a 1-D array, each step
        elementwise), and the partials of the active nodes whose primitive
        computes them with its value (``np_fused``)."""
        tape = self.tape
        vals, args, prims, active = tape.vals, tape.args, tape.prims, tape.active
        local: dict[int, tuple] = {}
        for i, fn, name in self._steps:
            if fn is None:
                vals[i] = np.asarray(columns[name], dtype=float)
            elif active[i] and prims[i].np_fused is not None:
                vals[i], local[i] = prims[i].np_fused(*[vals[j] for j in args[i]])
            else:
                vals[i] = fn(*[vals[j] for j in args[i]])
        return tape, local

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
        if program.vector:
            # a Jacobian: one backward sweep from each output over the one tape
            targets = [nodes[o].i for o in program.outputs]
        elif order == 1:
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
    tolerances: ClassVar[Mapping[int, float]] = {0: 1e-10}
    description = "tape-based reverse-mode AD (reverse-over-reverse for 2nd order)"
    convention = "AD picks a subgradient: abs'(0) = relu'(0) = 0, max' at a tie = 1/2"
    #: the clauses of ``convention`` per function, so a note names only what the expression uses
    conventions = (("abs", "abs'(0) = 0"), ("relu", "relu'(0) = 0"), ("max", "max' at a tie = 1/2"),
                   ("min", "min' at a tie = 1/2"))

    #: a Jacobian natively: one tape of every output, one backward sweep per output
    jacobian = "native"

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        plan = _plan(program, problem)
        wrt, order, shape = problem.wrt, problem.order, problem.shape
        details: dict[str, Any] = {"program_length": len(program), "tape_length": len(plan.tape)}
        if program.vector:
            details.update(forward_sweeps=1, reverse_sweeps=len(plan.targets))
            return Prepared(_jacobian_evaluate(plan, len(wrt)), details, _explain(program, plan))

        def fast(point):
            vals = plan.replay_floats(point)
            if not math.isfinite(vals[plan.output]):
                return None     # the NumPy path says nan or inf, and warns
            rows = [[0.0] * len(wrt) if t is None else plan.tape.gradient(t, plan.leaves, vals, SCALAR_OPS)
                    for t in plan.targets]
            if len(wrt) == 1:
                return rows[0][0]
            return np.array(rows[0] if order == 1 else rows, dtype=float)

        def evaluate(point):
            if not IEEE_MODE:
                try:
                    value = fast(point)
                    if value is not None:
                        return value
                except FALLBACK:
                    pass
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

        def evaluate_grid(columns):
            # the same tape over arrays; the sweep per point as at one point: an
            # adjoint that is 0 at a point contributes nothing there (a strong
            # zero, as the scalar sweep skips it), and a point where f is nan or
            # infinite gets nan or inf, that point only
            tape, local = plan.replay_arrays(columns)
            f = tape.vals[plan.output]
            (t,) = plan.targets
            if t is None:
                d = np.zeros_like(f)
            else:
                # a node's partials are its own whatever is differentiated: the fused
                # ones serve every sweep (the taped ones of a higher order too)
                # the input columns are finite (--at): a partial that is one needs no mask
                finite = {id(columns[name]) for name in columns}
                adj = backward(tape.prims, tape.args, tape.active, tape.vals, t, 1.0, FLOAT_OPS, _scalar_zero,
                               times=lambda a, p: _strong_times(a, p, finite), local=local)
                leaf = plan.leaves[0]
                d = adj[leaf] if leaf is not None and leaf < len(adj) and adj[leaf] is not None else 0.0
            d = np.asarray(d, dtype=float)
            if d.shape != np.shape(f) or any(d is v for v in tape.vals):
                d = np.array(np.broadcast_to(d, np.shape(f)))      # never hand out a tape value
            if not np.isfinite(f).all():
                d[np.isinf(f)] = np.inf
                d[np.isnan(f)] = np.nan
            return d

        return Prepared(evaluate, details, _explain(program, plan),
                        evaluate_grid=evaluate_grid if len(wrt) == 1 else None)


def _explain(program: Program, plan: _Plan):
    def explain(point):
        with np.errstate(all="ignore"):
            values = program.evaluate_all(point)
        why = diagnose(program, values)
        if why:
            return why
        bad: list[int] = []
        with np.errstate(all="ignore"):
            tape = plan.replay(point)
            for t in plan.targets:
                if t is not None and not bad:
                    tape.backward(t, bad)
        if bad and tape.origin[bad[0]] is not None:
            return f"non-finite partial derivative of {describe(tape.origin[bad[0]])}"
        return None
    return explain


def _jacobian_evaluate(plan: _Plan, n: int):
    """The (m, n) Jacobian: the tape replayed once, then one backward sweep per output.
    An output that is nan or inf at the point has no derivative: its row is nan or inf."""
    def rows(vals, ops):
        out = []
        for t in plan.targets:
            f = vals[t]
            if not np.isfinite(f):
                out.append([np.nan if np.isnan(f) else np.inf] * n)
            else:
                out.append(plan.tape.gradient(t, plan.leaves, vals, ops))
        return np.array(out, dtype=float).reshape(len(plan.targets), n)

    def evaluate(point):
        if not IEEE_MODE:
            try:
                return rows(plan.replay_floats(point), SCALAR_OPS)
            except FALLBACK:
                pass
        tape = plan.replay(point)
        return rows(tape.vals, FLOAT_OPS)
    return evaluate


def _scalar_zero(a: Any) -> bool:
    """A zero adjoint to skip, over arrays: only a scalar 0 (no scan of an array;
    the strong zero per point is ``_strong_times``'s)."""
    return not isinstance(a, np.ndarray) and a == 0.0


def _strong_times(a: Any, p: Any, finite: set[int] = frozenset()) -> Any:
    """The chain-rule product over arrays with the scalar sweep's strong zero:
    0 where the adjoint is 0, whatever the partial (inf or nan) is there.  Where
    the partial is finite everywhere (or known to be: its id in ``finite``),
    0 * p is 0 already (no mask is made)."""
    if not isinstance(a, np.ndarray):
        if a == 1.0:
            return p
        if a == 0.0:
            return np.zeros_like(p)
        return a * p
    t = a * p
    if id(p) not in finite and not np.isfinite(p).all():
        t[a == 0] = 0.0
    return t


METHODS = (ReverseMode,)

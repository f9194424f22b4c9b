"""Straight-line programs: an AST flattened into slots, shared subtrees once.

``Program`` is what the numeric backends interpret: slot ``i`` is an input,
a constant, or a primitive applied to earlier slots.  Identical subtrees
share one slot (the AST nodes are hashable values), so ``exp(x)*exp(x)``
evaluates ``exp(x)`` once; building a program is linear in the tree's size.

``sweep`` is the one interpreter: it evaluates a program in whatever value
domain its ops namespace gives (``primitives.FLOAT_OPS``, ``COMPLEX_OPS``,
mpmath, taped values, emitted code).  ``Program.evaluate_all`` is the float64
sweep, ``Program.active`` a sweep over "depends on a wrt variable".  When a
value goes non-finite, ``diagnose`` names the first slot where it happened,
the primitive and the column, so a status can say ``overflow in exp at
column 3`` instead of a bare ``inf``.

Nothing here times, grades or reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .expr import Apply, Const, Expr, Num, Var, to_text
from .primitives import BY_NAME, CONSTANTS, FLOAT_OPS, Primitive

INPUT, CONST, OP = 0, 1, 2


@dataclass(frozen=True)
class Slot:
    kind: int                   # INPUT, CONST or OP
    node: Expr
    prim: Primitive | None = None
    args: tuple[int, ...] = ()
    name: str | None = None     # INPUT: the variable
    value: float | None = None  # CONST: its float64 value


@dataclass(frozen=True)
class Program:
    expr: Expr
    names: tuple[str, ...]      # every variable of the expression
    slots: tuple[Slot, ...]
    output: int

    def __len__(self) -> int:
        return len(self.slots)

    def input_slots(self) -> dict[str, int]:
        return {s.name: i for i, s in enumerate(self.slots) if s.kind == INPUT}

    def active(self, wrt: Sequence[str]) -> list[bool]:
        """Which slots depend on any of the ``wrt`` variables."""
        wanted = set(wrt)
        return sweep(self, _ACTIVITY, {n: n in wanted for n in self.names})

    def evaluate_all(self, point: Mapping[str, Any]) -> list[Any]:
        """Every slot's value at ``point`` (scalars become ``np.float64``, arrays
        float arrays), in order.

        Floating-point events follow the caller's ``np.errstate``."""
        return sweep(self, FLOAT_OPS, {n: _as_float64(point[n]) for n in self.names})

    def evaluate(self, point: Mapping[str, Any]) -> Any:
        return self.evaluate_all(point)[self.output]

    def function(self, order: Sequence[str]):
        """The compiled program: a plain callable ``f(*values)`` of the variables in
        ``order`` (``emit.compile_function``: straight-line code, a fast path on
        Python floats, the NumPy path otherwise).  Its ``source`` is the code."""
        from .emit import compile_function
        return compile_function(self, order)

    def bounded_function(self, order: Sequence[str]):
        """The compiled ``fb(*values) -> (f, bound)``: f and a first-order bound on its
        float64 rounding error (``emit.compile_bound``), in one call."""
        from .emit import compile_bound
        return compile_bound(self, order)


def sweep(program: Program, ops: Any, inputs: Mapping[str, Any]) -> list[Any]:
    """The one program evaluator: every slot's value, in order.

    ``ops`` is an ops namespace (see ``primitives``): ``ops.<primitive name>``
    applies a primitive in its value domain -- float64 NumPy, complex, mpmath,
    taped values, emitted code -- and ``ops.constant(slot)`` makes a constant
    slot's value there.  ``inputs`` maps each variable to its value in that
    domain.  Interpreters differ only in the ops they pass.
    """
    fns = [getattr(ops, s.prim.name) if s.kind == OP else None for s in program.slots]
    vals: list[Any] = [None] * len(program.slots)
    for i, s in enumerate(program.slots):
        if s.kind == OP:
            vals[i] = fns[i](*[vals[a] for a in s.args])
        elif s.kind == INPUT:
            vals[i] = inputs[s.name]
        else:
            vals[i] = ops.constant(s)
    return vals


def _as_float64(v: Any) -> Any:
    return np.float64(v) if np.ndim(v) == 0 else np.asarray(v, dtype=float)


class _Activity:
    """The ops namespace of ``Program.active``: a value is "depends on a wrt variable"."""

    @staticmethod
    def constant(slot: Slot) -> bool:
        return False

    @staticmethod
    def _any(*args: bool) -> bool:
        return any(args)

    def __getattr__(self, name: str):
        return self._any


_ACTIVITY = _Activity()


def compile_program(expr: Expr) -> Program:
    """Flatten ``expr`` into slots, equal subtrees once; linear in its size.

    A subtree equal to one already placed is looked up once, at its root,
    and not walked again, so repeated subtrees cost one comparison each.
    """
    index: dict[Expr, int] = {}
    slots: list[Slot] = []
    names: dict[str, None] = {}
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            if node in index:
                continue
            if isinstance(node, Apply):
                stack.append((node, True))
                stack.extend((a, False) for a in reversed(node.args))
                continue
        if isinstance(node, Var):
            slot = Slot(INPUT, node, name=node.name)
            names[node.name] = None
        elif isinstance(node, Num):
            slot = Slot(CONST, node, value=node.value)
        elif isinstance(node, Const):
            slot = Slot(CONST, node, value=CONSTANTS[node.name][0])
        else:
            slot = Slot(OP, node, BY_NAME[node.op], tuple(index[a] for a in node.args))
        index[node] = len(slots)
        slots.append(slot)
    return Program(expr, tuple(names), tuple(slots), index[expr])


def describe(node: Expr, limit: int = 40) -> str:
    """``exp at column 3`` style location for a node."""
    text = to_text(node)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    col = node.span[0] + 1
    what = node.primitive.syntax or node.primitive.infix or node.op if isinstance(node, Apply) else text
    return f"{what} at column {col} ({text})"


def diagnose(program: Program, values: Sequence[Any]) -> str | None:
    """Why the program's value is not finite: the first slot that went bad."""
    for i, s in enumerate(program.slots):
        v = values[i]
        if s.kind != OP or np.all(np.isfinite(v)):
            continue
        args = [values[a] for a in s.args]
        if not all(np.all(np.isfinite(a)) for a in args):
            continue
        where = describe(s.node)
        if s.prim.domain is not None and np.ndim(v) == 0:
            reason = s.prim.domain(*args)
            if reason:
                return f"{reason}: {where}"
        if np.any(np.isnan(v)):
            return f"invalid operation (nan) in {where}"
        return f"overflow in {where}"
    return None


def domain_problem(program: Program, values: Sequence[Any]) -> str | None:
    """The first slot whose arguments lie outside the primitive's real domain."""
    for s in program.slots:
        if s.kind == OP and s.prim.domain is not None:
            reason = s.prim.domain(*[values[a] for a in s.args])
            if reason:
                return f"{reason}: {describe(s.node)}"
    return None

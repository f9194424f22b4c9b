"""Straight-line programs: an AST flattened into slots, shared subtrees once.

``Program`` is what the numeric backends interpret: slot ``i`` is an input,
a constant, or a primitive applied to earlier slots.  Identical subtrees
share one slot (the AST nodes are hashable values), so ``exp(x)*exp(x)``
evaluates ``exp(x)`` once.  When a value goes non-finite, ``diagnose`` names
the first slot where it happened, the primitive and the column, so a status
can say ``overflow in exp at column 3`` instead of a bare ``inf``.

Nothing here times, grades or reports.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .expr import Apply, Const, Expr, Num, Var, to_text, variables, walk
from .primitives import BY_NAME, CONSTANTS, Primitive

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
        act: list[bool] = []
        for s in self.slots:
            if s.kind == INPUT:
                act.append(s.name in wanted)
            elif s.kind == CONST:
                act.append(False)
            else:
                act.append(any(act[a] for a in s.args))
        return act

    def evaluate_all(self, point: Mapping[str, Any]) -> list[Any]:
        """Every slot's value at ``point`` (floats or arrays), in order.

        Floating-point events follow the caller's ``np.errstate``."""
        vals: list[Any] = [None] * len(self.slots)
        for i, s in enumerate(self.slots):
            if s.kind == OP:
                vals[i] = s.prim.np(*[vals[a] for a in s.args])
            elif s.kind == INPUT:
                vals[i] = np.float64(point[s.name]) if np.ndim(point[s.name]) == 0 \
                    else np.asarray(point[s.name], dtype=float)
            else:
                vals[i] = np.float64(s.value)
        return vals

    def evaluate(self, point: Mapping[str, Any]) -> Any:
        return self.evaluate_all(point)[self.output]

    def function(self, order: Sequence[str]):
        """The compiled program: a plain callable ``f(*values)`` of the variables in
        ``order`` (``emit.compile_function``: straight-line code, a fast path on
        Python floats, the NumPy path otherwise).  Its ``source`` is the code."""
        from .emit import compile_function
        return compile_function(self, order)


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


def compile_program(expr: Expr) -> Program:
    index: dict[Expr, int] = {}
    slots: list[Slot] = []
    for node in walk(expr):
        if node in index:
            continue
        if isinstance(node, Var):
            slot = Slot(INPUT, node, name=node.name)
        elif isinstance(node, Num):
            slot = Slot(CONST, node, value=node.value)
        elif isinstance(node, Const):
            slot = Slot(CONST, node, value=CONSTANTS[node.name][0])
        else:
            slot = Slot(OP, node, BY_NAME[node.op], tuple(index[a] for a in node.args))
        index[node] = len(slots)
        slots.append(slot)
    return Program(expr, tuple(variables(expr)), tuple(slots), index[expr])


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

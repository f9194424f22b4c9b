"""The evaluation trace (Wengert list) of a program, forward or reverse.

Each operation slot becomes a row ``v3 = exp(v2)`` with its value, its local
partial derivatives (the primitive table's rule, the one every AD method
calls), and either the tangent of each forward sweep (``ad-forward``'s
``jvp_sweep``, one column per input) or the adjoint of the one reverse sweep
(``ad-reverse``'s ``record`` and ``Tape.backward``).  The numbers are those
engines' own, not a reimplementation; this module only lays them out.

Nothing here prints: ``report.trace`` renders the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .backends.forward import jvp_sweep, tangent
from .backends.reverse import record
from .expr import Const, Num
from .primitives import FLOAT_OPS
from .program import CONST, INPUT, OP, Program, compile_program

MODES = ("forward", "reverse")


@dataclass(frozen=True)
class Row:
    name: str                    # v1, v2, ... (a variable keeps its own name)
    definition: str              # "exp(v2)", "w * x", or "input"
    value: float
    partials: tuple[float | None, ...] = ()   # d row / d each variable argument (None: identically 0)
    args: tuple[str, ...] = ()                # those arguments (constants have no partial to show)
    tangents: dict[str, float] = field(default_factory=dict)   # forward: per seeded input
    adjoint: float | None = None                                # reverse


@dataclass(frozen=True)
class Trace:
    mode: str
    wrt: tuple[str, ...]
    rows: tuple[Row, ...]
    derivative: dict[str, float]
    sweeps: int
    #: why the derivative row is not a derivative here (f undefined, a kink), or None
    caveat: str | None = None
    #: the row that is the function's value (None when the expression is a constant)
    output: str | None = None


def _names(program: Program) -> list[str]:
    names, k = [], 0
    for s in program.slots:
        if s.kind == INPUT:
            names.append(s.name)
        elif s.kind == CONST:
            node = s.node
            names.append(node.text if isinstance(node, Num) else node.name if isinstance(node, Const)
                         else repr(s.value))
        else:
            k += 1
            names.append(f"v{k}")
    return names


def _definition(slot, args: Sequence[str]) -> str:
    prim = slot.prim
    if prim.name == "neg":
        return f"-{args[0]}"
    if prim.infix and len(args) == 2:
        return f"{args[0]} {prim.infix} {args[1]}"
    return f"{prim.syntax or prim.name}({', '.join(args)})"


def build(expr, point: Mapping[str, float], wrt: Sequence[str], mode: str = "reverse") -> Trace:
    """The trace of ``expr`` at ``point``: forward (one sweep per ``wrt``) or reverse (one sweep)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    program = compile_program(expr)
    names = _names(program)
    seeded = [w for w in wrt if w in program.names]
    with np.errstate(all="ignore"):
        if mode == "forward":
            sweeps = [jvp_sweep(program, point, {w: 1.0}) for w in seeded]
            values = [float(_plain(v)) for v in (sweeps[0] if sweeps else _float_sweep(program, point))]
            columns = {w: [float(tangent(v)) for v in vals] for w, vals in zip(seeded, sweeps)}
            adjoint = None
            derivative = {w: columns[w][program.output] if w in columns else 0.0 for w in wrt}
        else:
            tape, nodes = record(program, point, wrt)
            values = [float(tape.vals[n.i]) for n in nodes]
            adj = tape.backward(nodes[program.output].i)
            # a slot that no wrt variable reaches carries no adjoint (ad-reverse skips it)
            adjoint = [float(adj[n.i]) if n.i < len(adj) and tape.active[n.i] else None for n in nodes]
            columns = {}
            inputs = program.input_slots()
            derivative = {w: adjoint[inputs[w]] if w in inputs and adjoint[inputs[w]] is not None else 0.0
                          for w in wrt}
        rows = []
        for i, s in enumerate(program.slots):
            if s.kind == CONST:
                continue
            tang = {w: col[i] for w, col in columns.items()}
            adj_i = adjoint[i] if adjoint is not None else None
            if s.kind == INPUT:
                rows.append(Row(names[i], "input", values[i], tangents=tang, adjoint=adj_i))
                continue
            arg_names = tuple(names[a] for a in s.args)
            args = [np.float64(values[a]) for a in s.args]
            parts = s.prim.partials(FLOAT_OPS, *args, np.float64(values[i]))
            shown = [(names[a], None if p is None else float(p)) for a, p in zip(s.args, parts)
                     if program.slots[a].kind != CONST]
            rows.append(Row(names[i], _definition(s, arg_names), values[i],
                            tuple(p for _, p in shown), tuple(a for a, _ in shown), tang, adj_i))
    out = program.output
    return Trace(mode, tuple(wrt), tuple(rows), derivative, len(seeded) if mode == "forward" else 1,
                 _caveat(program, values, wrt),
                 names[out] if program.slots[out].kind != CONST else None)


def _caveat(program: Program, values: Sequence[float], wrt: Sequence[str]) -> str | None:
    """Why the chain rule's number is no derivative at this point: the function is
    undefined or overflows (``program.diagnose``, ``domain_problem``), or an active
    slot sits on a kink of its primitive (the table's ``kink`` predicate)."""
    from .program import describe, diagnose, domain_problem
    why = domain_problem(program, values) or diagnose(program, values)
    if why:
        return f"the function is undefined or overflows here ({why})"
    active = program.active(wrt)
    for i, s in enumerate(program.slots):
        if s.kind == OP and active[i] and s.prim.kink is not None:
            reason = s.prim.kink(*[values[a] for a in s.args])
            if reason:
                return f"a kink: {reason} ({describe(s.node)}); the number is AD's convention"
    return None


def _float_sweep(program: Program, point):
    from .program import sweep
    return sweep(program, FLOAT_OPS, {n: np.float64(point[n]) for n in program.names})


def _plain(v: Any) -> Any:
    while hasattr(v, "v"):
        v = v.v
    return v


def document(trace: Trace, expression: str, point: Mapping[str, float]) -> dict[str, Any]:
    """The ``derivcmp-trace/1`` JSON document (non-finite numbers as null)."""
    def num(x):
        return float(x) if x is not None and np.isfinite(x) else None
    rows = []
    for r in trace.rows:
        row: dict[str, Any] = {"name": r.name, "definition": r.definition, "value": num(r.value),
                               "partials": [{"arg": a, "partial": num(p) if p is not None else 0.0}
                                            for a, p in zip(r.args, r.partials)]}
        if trace.mode == "forward":
            row["tangent"] = {w: num(t) for w, t in r.tangents.items()}
        else:
            row["adjoint"] = num(r.adjoint)
        rows.append(row)
    return {"schema": "derivcmp-trace/1", "expression": expression, "mode": trace.mode,
            "wrt": list(trace.wrt), "at": {k: float(v) for k, v in point.items()},
            "sweeps": trace.sweeps, "rows": rows,
            "derivative": {w: num(v) for w, v in trace.derivative.items()}, "caveat": trace.caveat}


__all__ = ["MODES", "OP", "Row", "Trace", "build", "document"]

"""The terminal table of an evaluation trace (``derivcmp trace``)."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..trace import Trace


def number(x) -> str:
    """How a trace number is shown (the table and the graph alike)."""
    return "-" if x is None else f"{x:.10g}"


def render(trace: Trace, heading: str, console: Console) -> None:
    console.print(Text(heading, style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("slot", style="bold")
    table.add_column("definition")
    table.add_column("value", justify="right")
    table.add_column("local partials")
    if trace.mode == "forward":
        seeded = [w for w in trace.wrt if any(w in r.tangents for r in trace.rows)]
        for w in seeded:
            table.add_column(f"tangent d/d{w}", justify="right")
    else:
        seeded = []
        table.add_column("adjoint", justify="right")
    for r in trace.rows:
        partials = ", ".join(f"∂/∂{a} = {number(p) if p is not None else '0'}"
                             for a, p in zip(r.args, r.partials))
        cells = [r.name, r.definition, number(r.value), partials]
        if trace.mode == "forward":
            cells += [number(r.tangents.get(w)) for w in seeded]
        else:
            cells.append(number(r.adjoint))
        table.add_row(*[Text(c) for c in cells])
    console.print(table)
    console.print(Text(summary(trace)))
    if trace.caveat:
        console.print(Text(f"not a derivative: {trace.caveat}", style="yellow"))


def summary(trace: Trace) -> str:
    """The derivative line under the trace: each derivative and what it cost."""
    result = ", ".join(f"d/d{w} = {v!r}" for w, v in trace.derivative.items())
    how = (f"{trace.sweeps} forward sweep{'s' if trace.sweeps != 1 else ''} (one per input)"
           if trace.mode == "forward" else "1 forward + 1 reverse sweep (all inputs at once)")
    return f"{result}   [{how}]"

"""The rich table for terminals (plain text when piped or NO_COLOR is set)."""

from __future__ import annotations

import math
import os
import sys

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..problem import Comparison
from . import document, fmt_exact, heading, most_accurate, rows

_STATUS_STYLE = {"ok": "green", "undefined": "yellow", "not-differentiable": "yellow", "unresolved": "red",
                 "not-applicable": "dim", "timeout": "red", "error": "red"}


def stdout_console(file=None) -> Console:
    file = file or sys.stdout
    is_tty = hasattr(file, "isatty") and file.isatty()
    return Console(file=file, width=None if is_tty else 200, soft_wrap=False,
                   no_color="NO_COLOR" in os.environ or not is_tty, highlight=False,
                   emoji=False)


def render(c: Comparison, console: Console, timing: bool = True) -> None:
    ref = c.reference
    console.print(Text(heading(c), style="bold"))
    if ref.status == "ok":
        note = ref.details.get("note") if ref.details else None
        console.print(Text(f"reference ({ref.digits} digits): {fmt_exact(ref.exact)}"
                           + (f"  [{note}]" if note else "")))
    else:
        console.print(Text(f"reference: {ref.status} — {ref.message}", style="yellow"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("method", style="bold")
    table.add_column("value", overflow="fold")
    table.add_column("abs error", justify="right")
    estimates = any(r["estimate"] != "-" for r in rows(c, False))
    if estimates:
        table.add_column("own estimate", justify="right")
    table.add_column("rel error", justify="right")
    table.add_column("digits", justify="right")
    if timing:
        table.add_column("setup", justify="right")
        table.add_column("eval (median ± IQR)", justify="right")
    table.add_column("status / notes", overflow="fold")
    for r in rows(c, timing):
        status = Text(r["status"], style=_STATUS_STYLE.get(r["status"], ""))
        if r["message"]:
            status.append(": " + r["message"], style="")
        value = r["value"].replace("], [", "],\n [") if r["value"].startswith("[[") else r["value"]
        cells = [r["method"], value, r["abs_error"]] + ([r["estimate"]] if estimates else []) + \
            [r["rel_error"], r["digits"]]
        if timing:
            cells += [r["setup"], r["eval"]]
        # Text, not str: a value like "[inf, inf]" must not be read as rich markup
        table.add_row(*[Text(c) for c in cells], status)
    console.print(table)
    summary = _summary(c, timing)
    if summary:
        console.print(Text(summary, style="dim"))


def _summary(c: Comparison, timing: bool) -> str:
    parts = []
    best = most_accurate(document(c, timing=False))
    if best:
        graded = sum(g.rel_error is not None for g in c.results)
        parts.append("equally accurate: all methods" if len(best) == graded else
                     f"most accurate: {', '.join(best)}")
    timed = [g for g in c.results if g.outcome.status == "ok" and g.outcome.timing
             and g.outcome.timing.eval_s]
    if timing and len(timed) > 1:
        timed.sort(key=lambda g: g.outcome.timing.eval_s)
        fast, slow = timed[0], timed[-1]
        ratio = slow.outcome.timing.eval_s / fast.outcome.timing.eval_s
        if math.isfinite(ratio):
            parts.append(f"fastest evaluation: {fast.name} ({ratio:.1f}× faster than {slow.name})")
    return "; ".join(parts)

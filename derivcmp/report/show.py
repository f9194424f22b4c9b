"""``--show``: each method's derivative as text, after the table.

Reads only ``details["show"]`` (``backends.shown_text``: the text, cut to a
readable length, and its full size), and ``details["setup_split_s"]`` for the
one-line setup breakdown; it never computes anything.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from ..problem import Comparison
from . import fmt_time


def render_shown(c: Comparison, console: Console, form: str) -> None:
    without = []
    for g in c.results:
        shown = (g.outcome.details or {}).get("show")
        if not shown:
            without.append(g.name)
            continue
        console.print()
        console.print(Text(f"{g.name}: {_what(form)} ({_size(shown)})", style="bold"))
        console.print(Text(shown["text"]))
        if shown["truncated"]:
            console.print(Text(f"... truncated: {_size(shown)} in full; --format json has the same cut, "
                               "the full text is not kept", style="dim"))
    if without:
        console.print(Text(f"\nno {form} form from: {', '.join(without)}", style="dim"))


def _what(form: str) -> str:
    return {"pretty": "derivative", "latex": "derivative as LaTeX", "code": "the code that is evaluated"}[form]


def _size(shown) -> str:
    lines = shown["lines"]
    return f"{lines} line{'s' if lines != 1 else ''}, {shown['chars']:,} characters"


def setup_split_line(c: Comparison) -> str | None:
    """``setup split:`` then a line per method: ``m: differentiate 12 ms + codegen 3 ms, then 1.5 µs
    per evaluation``."""
    parts = []
    for g in c.results:
        split = (g.outcome.details or {}).get("setup_split_s")
        if not split:
            continue
        t = g.outcome.timing
        each = f", then {fmt_time(t.eval_s)} per evaluation" if t and t.eval_s is not None else ""
        parts.append(f"{g.name}: " + " + ".join(f"{k} {fmt_time(v)}" for k, v in split.items()) + each)
    return "setup split:\n" + "\n".join("  " + p for p in parts) if parts else None

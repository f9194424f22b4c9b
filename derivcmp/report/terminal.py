"""The table for terminals: fits the width it is given, never cuts a number.

Columns are chosen by width: the absolute error, the digit count and the
setup time make way first (json and csv keep every one of them at full
precision); a gradient or Hessian wraps between its entries, never inside a
number; notes go on their own lines under their row.  Plain text (no escape
codes at all) when not on a terminal or when ``NO_COLOR`` is set; no line
ends in spaces.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from dataclasses import dataclass

import numpy as np
from rich.console import Console
from rich.text import Text

from ..grading import graded, most_accurate
from ..problem import Comparison
from . import f_multiple, fmt_exact, fmt_time, fmt_value, heading, rows

_STYLE = {"exact": "green", "accurate": "green", "inaccurate": "yellow", "wrong": "bold red",
          "ok": "green", "undefined": "yellow", "not-differentiable": "yellow", "unresolved": "red",
          "not-applicable": "dim", "timeout": "red", "error": "red"}

GAP = "  "
#: the optional columns, in the order they give way to a narrow terminal
DROP_ORDER = ("abs_error", "digits", "setup", "estimate")


def no_color() -> bool:
    return bool(os.environ.get("NO_COLOR"))


def stdout_console(file=None, fit: bool = False) -> Console:
    """A console for data on stdout; no escape codes at all when piped or with
    ``NO_COLOR`` (rich's own ``no_color`` would still send bold and dim).

    ``fit``: the terminal's width (``COLUMNS`` when set, 80 when piped), for
    reports that lay themselves out to fit; otherwise 200 columns when piped.
    """
    file = file or sys.stdout
    is_tty = hasattr(file, "isatty") and file.isatty()
    plain = no_color() or not is_tty
    return Console(file=file, width=None if is_tty or fit else 200, soft_wrap=fit,
                   color_system=None if plain else "auto", no_color=plain, highlight=False, emoji=False)


@dataclass
class Column:
    key: str
    header: tuple[str, ...]
    right: bool = False
    width: int = 0


def _columns(timing: bool) -> list[Column]:
    cols = [Column("method", ("method",)), Column("value", ("value",)),
            Column("abs_error", ("abs error",), True), Column("rel_error", ("rel error",), True),
            Column("estimate", ("own", "estimate"), True),
            Column("digits", ("digits",), True), Column("verdict", ("verdict",))]
    if timing:
        cols += [Column("setup", ("setup",), True), Column("eval", ("eval", "mean ± σ"), True)]
    return cols


def wrap_entries(text: str, width: int) -> list[str]:
    """Break a value's text between its entries (after ``, ``) to fit ``width``;
    a single number is never broken.  Hessian rows start on their own line."""
    lines: list[str] = []
    for row in text.replace("], [", "],\n [").split("\n"):
        indent = " " * (len(row) - len(row.lstrip(" [")))
        cur = ""
        for i, part in enumerate(row.split(", ")):
            piece = part if i == 0 else ", " + part
            if cur and len(cur) + len(piece.rstrip()) > width:
                lines.append(cur.rstrip() + ",")
                cur = indent + part
            else:
                cur += piece
        lines.append(cur)
    return lines


def layout(cells: list[dict[str, str]], timing: bool, width: int) -> tuple[list[Column], int]:
    """Which columns to show and the width of the value column."""
    cols = [c for c in _columns(timing)
            if c.key != "estimate" or any(r["estimate"] != "-" for r in cells)]   # FD methods only
    for col in cols:
        col.width = max([len(h) for h in col.header] +
                        [len(line) for r in cells for line in wrap_entries(r[col.key], 10**6)
                         if col.key == "value"] +
                        [len(r[col.key]) for r in cells if col.key != "value"])

    def total(cs):
        return sum(c.width for c in cs) + len(GAP) * (len(cs) - 1)

    for key in DROP_ORDER:
        if total(cols) <= width:
            break
        cols = [c for c in cols if c.key != key]
    value = next(c for c in cols if c.key == "value")
    if total(cols) > width:
        longest_number = max([len(tok.strip("[], ")) + 3 for r in cells for tok in r["value"].split(", ")],
                             default=5)
        value.width = max(longest_number, len("value"), width - (total(cols) - value.width))
        value.width = max(len(line) for r in cells for line in wrap_entries(r["value"], value.width))
    return cols, value.width


def render(c: Comparison, console: Console, timing: bool = True) -> None:
    width = console.width
    ref = c.reference
    styled = not no_color() and console.is_terminal

    def say(text: str, style: str = "") -> None:
        for para in text.split("\n"):        # each line of a summary wraps on its own
            for line in textwrap.wrap(para, width, break_long_words=False, break_on_hyphens=False) or [""]:
                console.print(Text(line, style=style if styled else ""))

    say(heading(c), "bold")
    jacobian = c.problem.vector
    if jacobian and ref.status == "ok":
        say(f"reference ({ref.digits} digits), one row per output:")
        missing = {r["output"] - 1: r for r in (ref.details or {}).get("undefined_rows", ())}
        for j, row in enumerate(ref.exact):
            text = fmt_exact(row) if j not in missing else \
                f"no derivative ({missing[j]['status']}): {missing[j]['message']}"
            _matrix_row(console, f"{j + 1}: ", text, 2, width, styled and j in missing)
    elif ref.status == "ok":
        note = ref.details.get("note") if ref.details else None
        say(f"reference ({ref.digits} digits): {fmt_exact(ref.exact)}" + (f"  [{note}]" if note else ""))
    else:
        say(f"reference: {ref.status} — {ref.message}", "yellow")
    cells = rows(c, timing)
    if jacobian:
        # the matrix goes under its method's row, one line per output; the column says its shape
        m, n = c.problem.shape
        for r, g in zip(cells, c.results):
            r["matrix"] = g.outcome.value if g.outcome.value is not None else None
            r["value"] = f"{m}×{n} below" if r["matrix"] is not None else "-"
    cols, value_width = layout(cells, timing, width)

    def line(parts: list[tuple[str, str]]) -> Text:
        text = Text()
        for i, (s, style) in enumerate(parts):
            if i:
                text.append(GAP)
            text.append(s, style=style if styled else "")
        text.rstrip()
        return text

    nheader = max(len(col.header) for col in cols)
    for k in range(nheader):
        parts = []
        for col in cols:
            h = col.header[k - (nheader - len(col.header))] if k >= nheader - len(col.header) else ""
            parts.append((h.rjust(col.width) if col.right else h.ljust(col.width), "bold"))
        console.print(line(parts))
    console.print(Text("─" * min(width, sum(c.width for c in cols) + len(GAP) * (len(cols) - 1))))
    indent = cols[0].width + len(GAP)
    for r in cells:
        value_lines = wrap_entries(r["value"], value_width)
        for k, vline in enumerate(value_lines):
            parts = []
            for col in cols:
                s = vline if col.key == "value" else (r[col.key] if k == 0 else "")
                style = {"method": "bold", "verdict": _STYLE.get(r["verdict"], "")}.get(col.key, "") if k == 0 else ""
                parts.append((s.rjust(col.width) if col.right else s.ljust(col.width), style))
            console.print(line(parts))
        if r.get("matrix") is not None:
            for j, row in enumerate(r["matrix"]):
                text = fmt_value(row) if np.any(np.isfinite(row)) else "no derivative"
                _matrix_row(console, f"{j + 1}: ", text, indent, width, False)
        if r["message"]:
            for note in textwrap.wrap(r["message"], max(20, width - indent), break_long_words=False,
                                      break_on_hyphens=False):
                console.print(Text(" " * indent + note, style="dim" if styled else ""))
    summary = _summary(c, timing)
    if summary:
        say(summary, "dim")


def _matrix_row(console: Console, label: str, text: str, indent: int, width: int, dim: bool) -> None:
    """One row of a Jacobian, ``label`` then its entries, wrapped between entries."""
    body = max(20, width - indent - len(label))
    lines = wrap_entries(text, body) if text.startswith("[") else \
        textwrap.wrap(text, body, break_long_words=False, break_on_hyphens=False) or [""]
    for k, line in enumerate(lines):
        lead = " " * indent + (label if k == 0 else " " * len(label))
        console.print(Text((lead + line.lstrip() if k else lead + line).rstrip(), style="dim" if dim else ""))


def _summary(c: Comparison, timing: bool) -> str:
    parts = []
    pool = graded(c.results)
    best = most_accurate(c.results)
    left_out = [g.name for g in c.results if g not in pool]
    if best:
        if len(best) == len(pool):
            parts.append("equally accurate: " + ("all methods" if not left_out else
                                                 f"{', '.join(best)} (the graded methods)"))
        else:
            parts.append(f"most accurate: {', '.join(best)}")
        if left_out:
            parts.append(f"not graded: {', '.join(left_out)}")
    timed = [g for g in c.results if g.outcome.status == "ok" and g.outcome.timing
             and g.outcome.timing.mean_s]
    if timing and len(timed) > 1:
        timed.sort(key=lambda g: g.outcome.timing.mean_s)
        fast, slow = timed[0], timed[-1]
        ratio, spread = speed_ratio(fast.outcome.timing, slow.outcome.timing)
        if math.isfinite(ratio):
            parts.append(f"fastest evaluation: {fast.name} ({ratio:.2g} ± {spread:.2g}× faster than "
                         f"{slow.name})")
    line = "; ".join(parts)
    if timing and c.f_time is not None and c.f_time.eval_s:
        multiples = [(g.name, f_multiple(g.outcome.timing, c.f_time)) for g in timed]
        cost = ", ".join(f"{name} {m:.2g}" for name, m in multiples if m is not None)
        line += (("\n" if line else "") + f"f itself: {fmt_time(c.f_time.eval_s)}"
                 + (f"; evaluation cost in evaluations of f: {cost}" if cost else ""))
    if timing:
        from .show import setup_split_line
        split = setup_split_line(c)
        line += ("\n" if line and split else "") + (split or "")
    return line


def speed_ratio(fast, slow) -> tuple[float, float]:
    """mean(slow) / mean(fast) and its standard deviation by error propagation
    (as hyperfine: relative deviations add in quadrature)."""
    ratio = slow.mean_s / fast.mean_s
    rel = math.hypot((fast.std_s or 0.0) / fast.mean_s, (slow.std_s or 0.0) / slow.mean_s)
    return ratio, ratio * rel


def renderable(c: Comparison, timing: bool = True) -> _Rendered:
    """The table as a rich renderable (``Comparison.__rich__``), laid out to the console's width."""
    return _Rendered(c, timing)


class _Rendered:
    def __init__(self, c: Comparison, timing: bool) -> None:
        self.c, self.timing = c, timing

    def __rich_console__(self, console, options):
        import io
        buf = io.StringIO()
        render(self.c, Console(file=buf, width=options.max_width, soft_wrap=True, color_system=None),
               self.timing)
        for line in buf.getvalue().splitlines():
            yield Text(line)

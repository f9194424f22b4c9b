"""The ``derivcmp swell`` table, CSV and terminal chart of a ``swell.Swell``."""

from __future__ import annotations

from typing import Any

from ..swell import Row, Swell


def columns(s: Swell) -> list[tuple[str, list[Any]]]:
    """(header, values) per column: the table, the CSV and the chart share them."""
    rows = s.rows

    def simp(r: Row, key: str):
        return r.simplified if isinstance(r.simplified, str) else r.simplified[key]
    cols: list[tuple[str, list[Any]]] = [
        ("order", [r.order for r in rows]),
        ("raw ops", [r.raw["ops"] for r in rows]), ("raw depth", [r.raw["depth"] for r in rows]),
        ("cse ops", [r.cse["ops"] for r in rows]), ("cse depth", [r.cse["depth"] for r in rows]),
        ("simplified ops", [simp(r, "ops") for r in rows]),
        ("simplified depth", [simp(r, "depth") for r in rows]),
    ]
    methods = list(dict.fromkeys(m for r in rows for m in r.ad))
    for m in methods:
        for key, label in (("tape_length", "tape"), ("code_lines", "code lines")):
            values = [r.ad.get(m, {}).get(key) for r in rows]
            if any(v is not None for v in values):
                cols.append((f"{m} {label}", values))
    cols.append(("diff time", [r.differentiate_s for r in rows]))
    return cols


def to_csv(s: Swell) -> str:
    import csv
    import io
    cols = columns(s)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([h.replace(" ", "_") for h, _ in cols])
    for i in range(len(s.rows)):
        w.writerow(["" if v[i] is None else v[i] for _, v in cols])
    return buf.getvalue()


def chart(s: Swell, width: int = 72, height: int = 18, color: bool = False) -> str:
    """A terminal chart (plotext) of operation counts against order, log scale."""
    import plotext as plt
    plt.clear_figure()
    plt.plotsize(width, height)
    if not color:
        plt.theme("clear")
    cols = columns(s)
    series = [(h, v) for h, v in cols
              if h in ("raw ops", "cse ops", "simplified ops") or h.endswith((" tape", " code lines"))]
    # one letter per series, so the lines stay apart without colour
    for (header, values), marker in zip(series, "rcsabdefg"):
        pts = [(o, v) for o, v in zip(cols[0][1], values) if isinstance(v, int) and v > 0]
        if pts:
            plt.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{marker}: {header}", marker=marker)
    plt.yscale("log")
    plt.xlabel("derivative order")
    plt.title("size of the n-th derivative (operations, log scale)")
    plt.xticks([r.order for r in s.rows])
    return plt.build()


def render(s: Swell, console, chart_too: bool = True) -> str | None:
    """The table (and, with ``chart_too``, the chart) on ``console``; returns a
    note for stderr when the chart cannot be drawn."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from . import fmt_time
    console.print(Text(f"size of the n-th derivative of {s.expression} by {s.wrt} "
                       "(ops: operations as written, every occurrence counted)", style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    cols = columns(s)
    for header, _ in cols:
        table.add_column(header, justify="right")
    for i in range(len(s.rows)):
        table.add_row(*[Text("-" if v[i] is None else fmt_time(v[i]) if isinstance(v[i], float) else str(v[i]))
                        for _, v in cols])
    console.print(table)
    if not chart_too or len(s.rows) < 2:
        return None
    try:
        drawn = chart(s, color=console.is_terminal and not console.no_color)
    except ImportError:
        return "note: no chart: plotext is not installed (pip install 'plotext>=5.2,<6')"
    console.print(Text.from_ansi(drawn))
    return None

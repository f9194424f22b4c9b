"""Report a step sweep: a log-log terminal chart (plotext), a table, CSV, JSON, a figure.

The chart and the figure draw each method's relative error against the step,
with the method's own default step marked ``o`` and the grid's best step ``*``.
Errors of exactly 0 are drawn at 1e-17 (below float64's resolution).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re

from ..sweep import Curve, Sweep
from . import fmt_error, heading_for, reference_document

FLOOR = 1e-17
SCHEMA = "derivcmp-sweep/1"


def _err(p) -> float | None:
    if p.rel_error is None:
        return None
    return max(p.rel_error, FLOOR)


def chart(s: Sweep, width: int = 100, height: int = 28) -> str:
    """The terminal chart as plain text: log10 of error against log10 of the step."""
    import plotext as plt
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    markers = "+x#@%&$=~^"
    lo = hi = None
    for i, c in enumerate(s.curves):
        pts = [(math.log10(p.step), math.log10(_err(p))) for p in c.points if _err(p) is not None]
        if pts:
            plt.plot([x for x, _ in pts], [y for _, y in pts], label=c.method, marker=markers[i % len(markers)])
            ys = [y for _, y in pts]
            lo, hi = min(ys + ([lo] if lo is not None else [])), max(ys + ([hi] if hi is not None else []))
        for p, mark in ((c.default, "o"), (c.best, "*")):
            if p is not None and _err(p) is not None and math.isfinite(p.step) and p.step > 0:
                plt.scatter([math.log10(p.step)], [math.log10(_err(p))], marker=mark)
    xs = [math.log10(h) for h in s.steps]
    xt = list(range(math.ceil(min(xs)), math.floor(max(xs)) + 1, 3))
    plt.xticks(xt, [f"1e{t}" for t in xt])
    if lo is not None:
        yt = list(range(math.floor(lo), math.ceil(hi) + 1, 2))
        plt.yticks(yt, [f"1e{t}" for t in yt])
    plt.xlabel("step h   (o: the method's default step, *: the best step of the grid)")
    plt.title("relative error against step: " + heading_for(s.problem))
    out = plt.build()
    plt.clear_figure()
    return _ANSI.sub("", out)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def summary_rows(s: Sweep) -> list[dict[str, str]]:
    rows = []
    for c in s.curves:
        d, b = c.default, c.best
        rows.append({
            "method": c.method,
            "default step": "-" if not math.isfinite(d.step) else f"{d.step:.3g}",
            "rel error there": fmt_error(d.rel_error) if d.rel_error is not None else d.status,
            "own estimate": "-" if c.estimate is None else fmt_error(c.estimate),
            "best step": "-" if b is None else f"{b.step:.3g}",
            "best rel error": "-" if b is None else fmt_error(b.rel_error),
        })
    return rows


def render(s: Sweep, console, draw: bool = True) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text
    if draw and s.reference.status == "ok":
        console.print(Text(chart(s)))
    elif s.reference.status != "ok":
        console.print(Text(f"reference: {s.reference.status} — {s.reference.message}; nothing to grade",
                           style="yellow"))
    rows = summary_rows(s)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in rows[0]:
        table.add_column(col, justify="left" if col == "method" else "right")
    for r in rows:
        table.add_row(*[Text(v) for v in r.values()])
    console.print(table)


def to_csv(s: Sweep) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "step", "value", "abs_error", "rel_error", "status", "default"])
    for c in s.curves:
        w.writerow(_csv_row(c, c.default, True))
        for p in c.points:
            w.writerow(_csv_row(c, p, False))
    return buf.getvalue()


def _csv_row(c: Curve, p, default: bool) -> list[str]:
    def num(x):
        return "" if x is None or not math.isfinite(x) else repr(float(x))
    return [c.method, num(p.step), num(p.value), num(p.abs_error), num(p.rel_error), p.status,
            "yes" if default else ""]


def document(s: Sweep) -> dict:
    p = s.problem

    def point(x):
        def num(v):
            return None if v is None or not math.isfinite(v) else float(v)
        return {"step": num(x.step), "value": num(x.value), "abs_error": num(x.abs_error),
                "rel_error": num(x.rel_error), "status": x.status}

    return {"schema": SCHEMA, "expression": p.text, "wrt": list(p.wrt), "order": p.order,
            "at": {k: float(v) for k, v in p.point.items()},
            "reference": reference_document(s.reference),
            "steps": [float(h) for h in s.steps],
            "methods": [{"name": c.method, "default": point(c.default),
                         "error_estimate": c.estimate,
                         "best": None if c.best is None else point(c.best),
                         "points": [point(x) for x in c.points]} for c in s.curves]}


def to_json(s: Sweep) -> str:
    return json.dumps(document(s), indent=2, allow_nan=False)


def figure(s: Sweep, path: str) -> None:
    """The same chart with matplotlib (extra ``plot``), to PNG or SVG by the file's suffix."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    for c in s.curves:
        xs = [p.step for p in c.points if _err(p) is not None]
        ys = [_err(p) for p in c.points if _err(p) is not None]
        (line,) = ax.loglog(xs, ys, label=c.method, lw=1.4)
        d, b = c.default, c.best
        if _err(d) is not None and math.isfinite(d.step):
            ax.loglog([d.step], [_err(d)], "o", color=line.get_color(), ms=7, mfc="none", mew=1.6)
        if b is not None:
            ax.loglog([b.step], [_err(b)], "*", color=line.get_color(), ms=11)
    ax.set_xlabel("step h")
    ax.set_ylabel("relative error")
    ax.set_title(heading_for(s.problem) + "\n○ default step   ★ best step of the grid", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

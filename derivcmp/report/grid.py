"""Report a grid comparison: a table per method, a terminal chart, CSV, JSON, a figure.

The chart and the figure draw each method's relative error against the first
ranged variable on a log scale; errors of exactly 0 are drawn at 1e-17 (below
float64's resolution), points without a derivative are marked.  Over a 2-D
(or larger) grid each x shows the worst error over the other ranged variables,
and the title says so.  This module never computes a value.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import numpy as np

from ..grading import GRADES
from . import fmt_time, heading_for
from .sweep import _ANSI, FLOOR

SCHEMA = "derivcmp-grid/1"
#: the statuses a point can have where no grade is given, in the order shown
UNGRADED = ("undefined", "not-differentiable", "unresolved", "error", "ungraded")


def heading(c) -> str:
    """``d/dx of EXPR over x=-30:30:10001`` (and the fixed variables)."""
    from dataclasses import replace
    p = c.problem
    text = heading_for(replace(p, point={}))      # the derivative, without a point
    over = ", ".join(f"{a.name}={a.spec}" for a in c.grid.axes)
    fixed = ", ".join(f"{k}={v!r}" for k, v in c.grid.fixed.items() if k in _used(p))
    return f"{text} over {over}" + (f" at {fixed}" if fixed else "")


def _used(p) -> set[str]:
    from ..expr import variables
    return set(variables(p.expr))


def _curve(c, r) -> tuple[np.ndarray, np.ndarray]:
    """x (the first ranged variable) and the error to draw there (the worst over
    the other ranged variables; nan where nothing was graded)."""
    axis = c.grid.axes[0]
    rel = np.full(c.grid.size, np.nan) if r.rel_errors is None else np.maximum(r.rel_errors, FLOOR)
    rel = rel.reshape(c.grid.shape)
    if rel.ndim > 1:
        flat = rel.reshape(rel.shape[0], -1)
        has = np.isfinite(flat).any(axis=1)
        worst = np.full(rel.shape[0], np.nan)
        worst[has] = np.nanmax(flat[has], axis=1)
        rel = worst
    return axis.values, rel


def _bad_x(c, r) -> np.ndarray:
    """x values where the method's point has no derivative (undefined, not differentiable, error)."""
    if r.statuses is None:
        return np.array([])
    bad = np.isin(r.statuses, ("undefined", "not-differentiable", "error")).reshape(c.grid.shape)
    if bad.ndim > 1:
        bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    return c.grid.axes[0].values[bad]


def _what(c) -> str:
    if len(c.grid.axes) == 1:
        return ""
    others = ", ".join(a.name for a in c.grid.axes[1:])
    return f" (the worst over {others} at each {c.grid.axes[0].name})"


def chart(c, width: int = 80, height: int = 20) -> str:
    """The terminal chart as plain text: log10 of the relative error against x."""
    import plotext as plt
    plt.clear_figure()
    plt.plotsize(width, height)
    plt.theme("clear")
    markers = "+x#@%&$=~^"
    axis = c.grid.axes[0]
    lo = hi = None
    for i, r in enumerate(c.results):
        xs, rel = _curve(c, r)
        ok = np.isfinite(rel)
        if not ok.any():
            continue
        xv = np.log10(np.abs(xs[ok])) if axis.log else xs[ok]
        ys = np.log10(rel[ok])
        plt.scatter(list(map(float, xv)), list(map(float, ys)), label=r.name, marker=markers[i % len(markers)])
        lo = float(ys.min()) if lo is None else min(lo, float(ys.min()))
        hi = float(ys.max()) if hi is None else max(hi, float(ys.max()))
    if lo is None:
        return "(no point was graded: nothing to chart)"
    yt = list(range(math.floor(lo), math.ceil(hi) + 1, max(1, (math.ceil(hi) - math.floor(lo)) // 6 or 1)))
    plt.yticks(yt, [f"1e{t}" for t in yt])
    plt.xlabel(f"{'log10 |' + axis.name + '|' if axis.log else axis.name}{_what(c)}")
    plt.title("relative error (log) against " + axis.name)
    out = plt.build()
    plt.clear_figure()
    return _ANSI.sub("", out)


def _short(x: float | None) -> str:
    return "-" if x is None else "0" if x == 0 else f"{x:.1e}"


def summary_rows(c) -> list[dict[str, str]]:
    """One row of strings per method: the errors over the graded points, where the
    worst is, how many points got each grade or had no derivative, the time per point."""
    rows = []
    for r in c.results:
        s, o = r.summary, r.outcome
        row = {"method": r.name, "median": "-", "worst": "-", "worst at": "-"}
        row.update({k: "-" for k in GRADES})
        row.update({"no deriv": "-", "time/pt": "-"})
        if o.status == "ok":
            n = s.counts
            row.update({"median": _short(s.median_rel_error), "worst": _short(s.worst_rel_error),
                        "worst at": "-" if s.worst_index is None else ",".join(
                            f"{v:.4g}" for v in c.grid.coordinates(s.worst_index).values())})
            row.update({k: str(n.get(k, 0)) for k in GRADES})
            row["no deriv"] = str(n.get("undefined", 0) + n.get("not-differentiable", 0))
            row["time/pt"] = fmt_time(s.time_per_point_s) + ("" if o.vectorised else "*") \
                if s.time_per_point_s is not None else "-"
        rows.append(row)
    return rows


_HEADS = {"median": "median\nrel err", "worst": "worst\nrel err", "exact": "\nexact", "accurate": "\nacc",
          "inaccurate": "\ninacc", "wrong": "\nwrong", "no deriv": "no\nder.",
          "time/pt": "time/\npoint", "method": "\nmethod"}


def render(c, console, draw: bool = True) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text
    console.print(Text(heading(c), style="bold"))
    g = c.grid
    console.print(Text(f"{g.size:,} points; reference: {_ref_line(c)}"))
    if draw:
        console.print(Text(chart(c, width=min(console.width, 100))))
    rows = summary_rows(c)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    heads = dict(_HEADS, **{"worst at": f"worst\nat {','.join(g.names)}"})
    for col in rows[0]:
        table.add_column(heads.get(col, col), justify="left" if col == "method" else "right", overflow="fold",
                         no_wrap=col not in ("worst at", "method"), min_width=6 if col == "worst at" else None)
    for row in rows:
        table.add_row(*[Text(v) for v in row.values()])
    console.print(table)
    for r in c.results:
        if r.outcome.status != "ok":
            console.print(Text(f"{r.name}: {r.outcome.status}: {r.outcome.message or ''}", style="yellow"))
        elif (other := {k: r.summary.counts.get(k, 0) for k in UNGRADED[2:] if r.summary.counts.get(k, 0)}):
            console.print(Text(f"{r.name}: " + ", ".join(f"{v:,} points {k}" for k, v in other.items()),
                               style="yellow"))
    console.print(Text("points graded exact, accurate, inaccurate, wrong; no deriv: no derivative there\n"
                       "(undefined or not differentiable)"))
    if any(r.outcome.status == "ok" and not r.outcome.vectorised and r.summary.time_per_point_s is not None
           for r in c.results):
        console.print(Text("*: the method looped over the points (it has no vectorised form)"))
    if c.f_time_per_point_s is not None:
        console.print(Text(f"f itself: {fmt_time(c.f_time_per_point_s)} per point (NumPy over the grid)"))
    for note in c.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def _ref_line(c) -> str:
    r = c.reference
    n = len(r.indices)
    from collections import Counter
    counts = Counter(r.statuses)
    said = ", ".join(f"{v:,} {k}" for k, v in counts.items())
    return f"{r.digits} digits at {n:,} points ({said}) in {r.time_s:.1f} s"


CSV_FIELDS = ("method", "index", "value", "reference", "abs_error", "rel_error", "status", "grade")


def to_csv(c) -> str:
    """One row per point and method; the ranged variables after ``index``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(c.grid.names)
    w.writerow([*CSV_FIELDS[:2], *names, *CSV_FIELDS[2:]])
    cols = c.grid.columns(tuple(names))
    ref = np.full(c.grid.size, np.nan)
    ref[c.reference.indices] = c.reference.values
    for r in c.results:
        if r.outcome.status != "ok":
            w.writerow([r.name, "", *([""] * len(names)), "", "", "", "", r.outcome.status, ""])
            continue
        for i in range(c.grid.size):
            w.writerow([r.name, i, *[repr(float(cols[n][i])) for n in names], _num(r.outcome.values[i]),
                        _num(ref[i]), _num(r.abs_errors[i]), _num(r.rel_errors[i]), r.statuses[i],
                        r.grades[i] or ""])
    return buf.getvalue()


def _num(x) -> str:
    return repr(float(x)) if x is not None and math.isfinite(x) else ""


def _list(a) -> list:
    return [float(v) if math.isfinite(v) else None for v in np.asarray(a, dtype=float)]


def document(c) -> dict[str, Any]:
    """The ``derivcmp-grid/1`` document: per-point columns per method, and summaries."""
    p, g, r = c.problem, c.grid, c.reference
    return {
        "schema": SCHEMA, "expression": p.text, "wrt": list(p.wrt), "order": p.order,
        "fixed": {k: float(v) for k, v in g.fixed.items() if k in _used(p)},
        "ranges": [{"name": a.name, "spec": a.spec, "count": len(a.values), "log": a.log,
                    "values": _list(a.values)} for a in g.axes],
        "points": g.size,
        "reference": {"digits": r.digits, "points": len(r.indices), "sampled": r.sampled, "time_s": r.time_s,
                      "index": [int(i) for i in r.indices], "status": list(r.statuses),
                      "value": _list(r.values), "exact": list(r.exact),
                      "message": {str(int(r.indices[k])): m for k, m in r.messages.items()}},
        "f": None if c.f_time_per_point_s is None else {"time_per_point_s": c.f_time_per_point_s},
        "notes": c.notes,
        "methods": [_method(c, res) for res in c.results],
    }


def _method(c, r) -> dict[str, Any]:
    o, s = r.outcome, r.summary
    out = {"name": r.name, "status": o.status, "message": o.message, "vectorised": o.vectorised,
           "setup_s": o.setup_s, "time_per_point_s": s.time_per_point_s}
    if o.status != "ok":
        return out
    out["summary"] = {"median_rel_error": s.median_rel_error, "worst_rel_error": s.worst_rel_error,
                      "worst_at": None if s.worst_index is None else c.grid.coordinates(s.worst_index),
                      "graded": s.graded, "counts": dict(s.counts)}
    out["points"] = {"value": _list(o.values), "status": list(r.statuses), "grade": list(r.grades),
                     "abs_error": _list(r.abs_errors), "rel_error": _list(r.rel_errors),
                     "message": {str(i): m for i, m in r.messages.items()}}
    return out


def to_json(c) -> str:
    return json.dumps(document(c), indent=2, allow_nan=False)


def figure(c, path: str) -> None:
    """Relative error against x for every method (matplotlib, extra ``plot``), PNG or SVG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.transforms import blended_transform_factory
    axis = c.grid.axes[0]
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    marked = False
    for k, r in enumerate(c.results):
        xs, rel = _curve(c, r)
        (line,) = ax.plot(xs, rel, ".-" if c.grid.shape[0] <= 60 else "-", label=r.name, lw=1.2, ms=4)
        bad = _bad_x(c, r)
        if bad.size:
            tr = blended_transform_factory(ax.transData, ax.transAxes)
            ax.plot(bad, np.full(bad.size, 0.97 - 0.03 * k), "x", color=line.get_color(), ms=6,
                    transform=tr, clip_on=False)
            marked = True
    ax.set_yscale("log")
    if axis.log:
        ax.set_xscale("symlog" if axis.values[0] < 0 else "log")
    ax.set_xlabel(axis.name + _what(c))
    ax.set_ylabel("relative error (0 drawn at 1e-17)")
    sub = "× at the top: points without a derivative (undefined or not differentiable)" if marked else ""
    ax.set_title(heading(c) + ("\n" + sub if sub else ""), fontsize=9)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

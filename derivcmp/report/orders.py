"""Reports of the orders study: table, CSV, terminal chart (plotext), figure (matplotlib)."""

from __future__ import annotations

import csv
import io
import math

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..orders import Study
from . import fmt_error, fmt_time

#: relative errors below this are drawn at it (an exact 0 has no logarithm)
FLOOR = 1e-18
_MARKERS = ("o", "x", "+", "*", "#", "@", "%")
_SHORT = {"not-applicable": "n/a", "not-differentiable": "not-diff"}


def _cell(p, timing: bool) -> str:
    if p is None:
        return ""
    if p.status != "ok":
        return _SHORT.get(p.status, p.status)
    err = fmt_error(p.rel_error) if p.rel_error is not None else "ungraded"
    return f"{err}  {fmt_time(p.eval_s)}" if timing and p.eval_s is not None else err


def heading(study: Study, timing: bool) -> str:
    at = ", ".join(f"{k}={v!r}" for k, v in study.problem.point.items())
    what = "relative error and time per call" if timing else "relative error"
    return f"orders 1..{study.max_order} of d/d{study.problem.wrt[0]} {study.problem.text} at {at}: {what}"


def render(study: Study, console: Console, timing: bool = True, chart: bool = True) -> None:
    console.print(Text(heading(study, timing), style="bold"))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("order", justify="right")
    table.add_column("reference")
    for m in study.methods:
        table.add_column(m, justify="right")
    sizes = any(p.size is not None for p in study.points)
    if sizes:
        table.add_column("symbolic size", justify="right")
    for k in range(1, study.max_order + 1):
        ref = study.references.get(k)
        if ref is None:
            continue
        cells = [str(k), _SHORT.get(ref.status, ref.status)]
        at_k = {p.method: p for p in study.points if p.order == k}
        cells += [_cell(at_k.get(m), timing) for m in study.methods]
        if sizes:
            size = next((p.size for p in at_k.values() if p.size is not None), None)
            cells.append("" if size is None else str(size))
        table.add_row(*[Text(c) for c in cells])
    console.print(table)
    for who, why in study.gave_up.items():
        console.print(Text(f"{who}: {why}"))
    if chart:
        text = terminal_chart(study, timing, width=min(console.width or 100, 120))
        if text:
            console.print(Text.from_ansi(text))


def _series(study: Study, what: str):
    for m in study.methods:
        pts = [p for p in study.by_method(m) if p.status == "ok"]
        if what == "error":
            xy = [(p.order, max(p.rel_error, FLOOR)) for p in pts if p.rel_error is not None]
        else:
            xy = [(p.order, p.eval_s) for p in pts if p.eval_s]
        if xy:
            yield m, [x for x, _ in xy], [y for _, y in xy]


def terminal_chart(study: Study, timing: bool = True, width: int = 100) -> str:
    """log10 relative error (and log10 seconds per call) against the order, as text."""
    try:
        import plotext as plt
    except ImportError:  # pragma: no cover - plotext is a dependency
        return ""
    panels = [("error", "log10 relative error")] + ([("time", "log10 seconds per call")] if timing else [])
    plt.clear_figure()
    plt.subplots(1, len(panels))
    plt.plot_size(width, 22)
    drew = False
    for i, (what, title) in enumerate(panels, start=1):
        plt.subplot(1, i)
        plt.title(title)
        plt.xlabel("order")
        for k, (m, xs, ys) in enumerate(_series(study, what)):
            # a marker of its own per method: the series stay apart without colour
            plt.plot(xs, [math.log10(y) for y in ys], label=m, marker=_MARKERS[k % len(_MARKERS)])
            drew = True
    if not drew:
        return ""
    plt.theme("clear")
    return plt.build()


def to_csv(study: Study) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["order", "method", "status", "rel_error", "eval_s", "setup_s", "expression_size",
                "reference_status", "message"])
    for p in study.points:
        ref = study.references[p.order]
        w.writerow([p.order, p.method, p.status, "" if p.rel_error is None else repr(p.rel_error),
                    "" if p.eval_s is None else repr(p.eval_s), "" if p.setup_s is None else repr(p.setup_s),
                    "" if p.size is None else p.size, ref.status, p.message or ""])
    return buf.getvalue()


def save_plot(study: Study, path: str, timing: bool = True) -> None:
    """Log error (and log cost) against the order, with matplotlib (extra ``plot``)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [("error", "relative error")] + ([("time", "seconds per call")] if timing else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for ax, (what, label) in zip(axes[0], panels):
        for m, xs, ys in _series(study, what):
            ax.semilogy(xs, ys, marker="o", label=m)
        ax.set_xlabel("derivative order")
        ax.set_ylabel(label)
        ax.grid(True, which="major", alpha=0.3)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"d^n/d{study.problem.wrt[0]}^n {study.problem.text}", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

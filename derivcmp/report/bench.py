"""Reports of ``derivcmp bench``: table, JSON, CSV, Markdown, a log-log figure, a terminal chart.

Nothing here runs a method; it reads ``bench.BenchResult``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..bench import FAMILIES, JACOBIAN_FAMILIES, SCHEMA, BenchResult, Row, environment
from . import csv_number, finite_or_none, fmt_error, fmt_time

COLUMNS = ("family", "n", "method", "status", "f_s", "grad_s", "grad_spread_s", "ratio", "setup_s",
           "cost", "max_rel_error", "error_against", "message")


def _row_dict(r: Row) -> dict[str, Any]:
    shape = {"n": r.n, "m": r.outputs} if r.outputs is not None else {"n": r.n}
    return {"family": r.family, **shape, "method": r.method, "method_family": r.method_family,
            "status": r.status, "message": r.message,
            "f_s": finite_or_none(r.f_s), "grad_s": finite_or_none(r.grad_s),
            "grad_spread_s": finite_or_none(r.grad_spread_s), "ratio": finite_or_none(r.ratio),
            "setup_s": finite_or_none(r.setup_s), "cost": r.cost,
            "max_rel_error": finite_or_none(r.max_rel_error), "error_against": r.error_against,
            "details": {k: v for k, v in r.details.items() if k != "derivative"}}


def to_json(result: BenchResult) -> str:
    doc = {"schema": SCHEMA,
           "families": {f: formula(f) for f in result.families},
           "sizes": list(result.sizes), "methods": list(result.methods),
           "timeout_s": result.timeout,
           "ratio": "gradient time / time of one evaluation of f by derivcmp's compiled program",
           "rows": [_row_dict(r) for r in result.rows],
           "elapsed_s": result.elapsed_s,
           "environment": environment(result)}
    return json.dumps(doc, indent=2, allow_nan=False, default=str) + "\n"


def to_csv(result: BenchResult) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # the vector-valued families have a column for m, the number of outputs, after n
    cols = COLUMNS if result.families[0] not in JACOBIAN_FAMILIES else (*COLUMNS[:2], "m", *COLUMNS[2:])
    w.writerow(cols)
    for r in result.rows:
        d = _row_dict(r)
        w.writerow([csv_number(d[c]) if isinstance(d[c], float) else ("" if d[c] is None else d[c])
                    for c in cols])
    return buf.getvalue()


def formula(family: str) -> str:
    return JACOBIAN_FAMILIES[family] if family in JACOBIAN_FAMILIES else FAMILIES[family].formula


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _cells(r: Row) -> list[str]:
    status = r.status if r.status == "ok" else f"{r.status}: {r.message or ''}".strip(": ")
    shape = [str(r.n)] + ([str(r.outputs)] if r.family in JACOBIAN_FAMILIES else [])
    return [*shape, r.method, fmt_time(r.f_s), fmt_time(r.grad_s), _ratio(r.ratio), fmt_time(r.setup_s),
            r.cost or "-", fmt_error(r.max_rel_error), status]


HEADERS = ("n", "method", "f", "gradient", "grad/f", "setup", "cost", "max rel error", "status")
#: the jacobian family's: n inputs, m outputs, the Jacobian's time
JACOBIAN_HEADERS = ("n", "m", "method", "f", "jacobian", "jac/f", "setup", "cost", "max rel error", "status")
_RIGHT = ("n", "m", "f", "gradient", "grad/f", "jacobian", "jac/f", "setup")


def headers(family: str) -> tuple[str, ...]:
    return JACOBIAN_HEADERS if family in JACOBIAN_FAMILIES else HEADERS


def to_markdown(result: BenchResult) -> str:
    out = []
    for fam in result.families:
        out.append(f"**{fam}**: f = {formula(fam)}\n")
        out.append("| " + " | ".join(headers(fam)) + " |")
        out.append("|" + "|".join("---:" if h in _RIGHT else "---" for h in headers(fam)) + "|")
        for r in result.rows:
            if r.family == fam:
                out.append("| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |")
        out.append("")
    out.append(_footnote(result))
    return "\n".join(out) + "\n"


def _footnote(result: BenchResult) -> str:
    against = sorted({r.error_against for r in result.rows if r.error_against})
    what = ("jac/f: the Jacobian's" if result.families[0] in JACOBIAN_FAMILIES else "grad/f: the gradient's")
    return (f"{what} per-call time over one evaluation of f by derivcmp's compiled program "
            "(the same baseline for every method). Errors against: " + "; ".join(against or ["-"]) +
            f". {result.elapsed_s:.0f} s in all.")


def render(result: BenchResult, console: Console) -> None:
    for fam in result.families:
        console.print(Text(f"{fam}: f = {formula(fam)}", style="bold"))
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for h in headers(fam):
            table.add_column(h, justify="right" if h in _RIGHT else "left", overflow="fold")
        for r in result.rows:
            if r.family == fam:
                table.add_row(*[Text(c) for c in _cells(r)])
        console.print(table)
    console.print(_footnote(result), highlight=False)


def _series(result: BenchResult, family: str, key: str) -> dict[str, tuple[list[float], list[float]]]:
    """Per method: x (n; for the jacobian family m/n) and the time or the ratio to f."""
    lines: dict[str, tuple[list[float], list[float]]] = {}
    for r in result.rows:
        v = r.grad_s if key == "grad" else r.ratio
        if r.family == family and v is not None and math.isfinite(v) and v > 0:
            xs, ys = lines.setdefault(r.method, ([], []))
            xs.append(r.outputs / r.n if family in JACOBIAN_FAMILIES and r.outputs else r.n)
            ys.append(v)
    return lines


def _x_label(result: BenchResult, family: str) -> str:
    if family not in JACOBIAN_FAMILIES:
        return "n (variables)"
    ns = sorted({r.n for r in result.rows})
    ms = sorted({r.outputs for r in result.rows})
    fixed = f"n = {ns[0]} inputs" if len(ns) == 1 else f"m = {ms[0]} outputs"
    return f"m/n (outputs / inputs; {fixed})"


def plot(result: BenchResult, path: str) -> None:
    """A log-log figure: gradient time and gradient/f ratio against n, one line per method."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fams = result.families
    fig, axes = plt.subplots(len(fams), 2, figsize=(11, 4 * len(fams)), squeeze=False)
    for row, fam in enumerate(fams):
        what = "Jacobian" if fam in JACOBIAN_FAMILIES else "gradient"
        for col, (key, label) in enumerate((("grad", f"{what} time per call (s)"),
                                            ("ratio", f"{what} time / f time"))):
            ax = axes[row][col]
            for method, (xs, ys) in _series(result, fam, key).items():
                ax.loglog(xs, ys, marker="o", label=method)
            if fam in JACOBIAN_FAMILIES:
                ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
            ax.set_xlabel(_x_label(result, fam))
            ax.set_ylabel(label)
            ax.set_title(f"{fam}: {formula(fam)}", fontsize=9)
            ax.grid(True, which="both", alpha=0.3)
        axes[row][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def terminal_chart(result: BenchResult, width: int = 100, height: int = 22) -> str:
    """The gradient/f ratio against n on log-log axes, as text (plotext 5's API)."""
    import plotext as plt
    charts = []
    for fam in result.families:
        jac = fam in JACOBIAN_FAMILIES
        lines = _series(result, fam, "grad" if jac else "ratio")
        if not lines:
            continue
        plt.clf()
        plt.plotsize(width, height)
        plt.xscale("log")
        plt.yscale("log")
        plt.theme("clear")
        for method, (xs, ys) in lines.items():
            plt.plot(xs, ys, label=method, marker="dot")
        plt.title(f"{fam}: Jacobian time (s) against m/n (log-log)" if jac else
                  f"{fam}: gradient time / f time against n (log-log)")
        plt.xlabel(_x_label(result, fam) if jac else "n")
        charts.append(plt.build())
    return "\n".join(charts)

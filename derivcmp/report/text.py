"""CSV and Markdown: the same rows as the terminal table."""

from __future__ import annotations

import csv
import io

from ..problem import Comparison
from . import correct_digits, csv_json, csv_number, finite_or_none, fmt_exact, heading, message, rows

CSV_FIELDS = ["method", "status", "grade", "value", "abs_error", "rel_error", "correct_digits",
              "setup_s", "eval_s", "eval_spread_s", "reference", "message"]


def to_csv(c: Comparison, timing: bool = True) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    ref = csv_json(c.reference.exact)
    for g in c.results:
        o = g.outcome
        t = o.timing if timing else None
        value = finite_or_none(o.value)
        digits = correct_digits(g.rel_error)
        w.writerow({
            "method": o.method, "status": o.status, "grade": g.grade or "",
            "value": csv_json(value),
            "abs_error": csv_number(g.abs_error), "rel_error": csv_number(g.rel_error),
            "correct_digits": "" if digits is None else f"{digits:.2f}",
            "setup_s": csv_number(t.setup_s if t else None), "eval_s": csv_number(t.eval_s if t else None),
            "eval_spread_s": csv_number(t.eval_spread_s if t else None),
            "reference": ref, "message": message(g) or "",
        })
    return buf.getvalue()


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def to_markdown(c: Comparison, timing: bool = True) -> str:
    ref = c.reference
    lines = [f"**{_md(heading(c))}**", ""]
    if ref.status == "ok":
        lines.append(f"Reference ({ref.digits} digits): `{fmt_exact(ref.exact)}`")
    else:
        lines.append(f"Reference: **{ref.status}** — {_md(ref.message or '')}")
    lines.append("")
    cols = ["method", "status", "value", "abs error", "rel error", "digits"]
    if timing:
        cols += ["setup", "eval"]
    cols.append("notes")
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join(":---" if i < 3 else "---:" for i in range(len(cols))) + "|")
    for r in rows(c, timing):
        cells = [r["method"], r["status"], f"`{r['value']}`", r["abs_error"], r["rel_error"], r["digits"]]
        if timing:
            cells += [r["setup"], r["eval"]]
        cells.append(r["message"])
        lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"

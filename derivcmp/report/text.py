"""CSV and Markdown: the same rows as the terminal table."""

from __future__ import annotations

import csv
import io

from ..problem import Comparison
from . import correct_digits, csv_json, csv_number, finite_or_none, fmt_exact, heading, method_document, rows

CSV_FIELDS = ["method", "status", "grade", "value", "abs_error", "rel_error", "correct_digits",
              "setup_s", "eval_s", "eval_spread_s", "reference", "message"]


def csv_method_row(m: dict, reference_exact) -> dict[str, str]:
    """One CSV row (``CSV_FIELDS``) from a method of a ``derivcmp/2`` document;
    the batch CSV writes the same columns, in the same order, after its own."""
    t = m["time"] or {}
    digits = correct_digits(m["rel_error"])
    return {"method": m["name"], "status": m["status"], "grade": m.get("grade") or "",
            "value": csv_json(finite_or_none(m["value"])),
            "abs_error": csv_number(m["abs_error"]), "rel_error": csv_number(m["rel_error"]),
            "correct_digits": "" if digits is None else f"{digits:.2f}",
            "setup_s": csv_number(t.get("setup_s")), "eval_s": csv_number(t.get("eval_s")),
            "eval_spread_s": csv_number(t.get("eval_spread_s")),
            "reference": csv_json(reference_exact), "message": m["message"] or ""}


def to_csv(c: Comparison, timing: bool = True) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for g in c.results:
        w.writerow(csv_method_row(method_document(g, timing), c.reference.exact))
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


def frame_rows(c: Comparison, timing: bool = True) -> list[dict]:
    """The CSV rows with numbers as numbers (for pandas): value a float or nested list."""
    out = []
    for g in c.results:
        m = method_document(g, timing)
        t = m["time"] or {}
        digits = correct_digits(m["rel_error"])
        out.append({"method": m["name"], "status": m["status"], "grade": m["grade"], "value": m["value"],
                    "abs_error": m["abs_error"], "rel_error": m["rel_error"], "correct_digits": digits,
                    "setup_s": t.get("setup_s"), "eval_s": t.get("eval_s"),
                    "eval_spread_s": t.get("eval_spread_s"), "reference": c.reference.exact,
                    "message": m["message"]})
    return out


def to_html(c: Comparison, timing: bool = True) -> str:
    """An HTML table for Jupyter (every text escaped)."""
    from html import escape
    ref = c.reference
    head = (f"reference ({ref.digits} digits): <code>{escape(fmt_exact(ref.exact))}</code>"
            if ref.status == "ok" else f"reference: <b>{escape(ref.status)}</b> — {escape(ref.message or '')}")
    cols = ["method", "value", "abs error", "rel error", "digits", "verdict"] + (["eval (mean ± σ)"] if timing else [])
    keys = ["method", "value", "abs_error", "rel_error", "digits", "verdict"] + (["eval"] if timing else [])
    body = []
    for r in rows(c, timing):
        cells = "".join(f"<td>{escape(r[k])}</td>" for k in keys)
        note = f"<br><small>{escape(r['message'])}</small>" if r["message"] else ""
        body.append(f"<tr>{cells[:-5]}{note}</td></tr>" if note else f"<tr>{cells}</tr>")
    return (f"<div><p><b>{escape(heading(c))}</b><br>{head}</p><table><thead><tr>"
            + "".join(f"<th>{escape(h)}</th>" for h in cols) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")

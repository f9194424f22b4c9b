"""Reports of a batch: the JSON document, the terminal tables, CSV and Markdown.

Everything here reads the typed results (``batch.BatchRun`` of
``batch.CaseResult``, ``checks.CheckReport``) and formats them; nothing is
computed here but layout.  The ``derivcmp-batch/2`` document is made only
here, of one ``derivcmp/2`` document per case (``case_document``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..grading import most_accurate
from ..problem import Graded
from . import document, finite_or_none, fmt_error, fmt_time
from .escape import markdown, markdown_code, visible
from .text import CSV_FIELDS as EVAL_CSV_FIELDS
from .text import csv_method_row

SCHEMA = "derivcmp-batch/2"

_SHORT_STATUS = {"not-differentiable": "not-diff", "not-applicable": "n/a", "undefined": "undefined",
                 "timeout": "timeout", "error": "error"}


def case_document(r) -> dict[str, Any]:
    """One case's ``derivcmp/2`` document, with its ``id`` and ``file``."""
    return {**document(r.comparison, r.timing), "id": r.case.id, "file": r.case.file}


def batch_document(run, summary: Mapping[str, Any], environment: Mapping[str, Any]) -> dict[str, Any]:
    """The ``derivcmp-batch/2`` object (DESIGN.md, "Batch JSON (spec)")."""
    return {"schema": SCHEMA, "cases": [case_document(r) for r in run.results], "summary": dict(summary),
            "environment": dict(environment), "interrupted": run.interrupted}


def to_json(run, summary, environment) -> str:
    return json.dumps(batch_document(run, summary, environment), indent=2, allow_nan=False) + "\n"


@contextmanager
def progress(total: int, console: Console | None = None) -> Iterator:
    """A transient progress bar on stderr; hidden when stderr is not a terminal.

    Yields the ``on_result(index, result)`` callback for ``batch.run_cases``.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    console = console or Console(stderr=True, no_color="NO_COLOR" in os.environ)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TextColumn("{task.fields[last]}", style="dim", markup=False),
                   console=console,
                   transient=True, disable=not console.is_terminal)
    with bar:
        task = bar.add_task("cases", total=total, last="")

        def advance(_index: int, result) -> None:
            bar.update(task, advance=1, last=visible(result.case.id))

        yield advance


# --- cells shared by every text format ------------------------------------------

def method_cell(g: Graded) -> str:
    """The relative error when graded, otherwise the (short) status."""
    status, err = g.outcome.status, finite_or_none(g.rel_error)
    if status == "ok" and err is not None:
        return fmt_error(err)
    return _SHORT_STATUS.get(status, status)


def _files_differ(run) -> bool:
    return len({r.case.file for r in run.results}) > 1


def case_label(r, with_file: bool) -> str:
    label = f"{os.path.basename(r.case.file)}:{r.case.id}" if with_file and not r.case.id.startswith(
        os.path.basename(r.case.file) + ":") else r.case.id
    return visible(label)       # a control character in an id is shown, not obeyed


def _case_check(report, r) -> tuple[bool, str, str]:
    """(passed, short text, change marks) for the check column of one case."""
    vs = report.for_case(r)
    failed = [v.name for v in vs if not v.passed]
    marks = "".join(sorted({v.mark for v in vs if v.mark}))
    return (not failed), (f"FAIL {','.join(failed)}" if failed else "ok"), marks


def _cell_with_mark(report, r, g: Graded) -> tuple[str, str, bool]:
    """(change mark, cell text, passed) for one case × method."""
    text = method_cell(g)
    v = None if report is None else report.verdict(r, g.name)
    if v is None:
        return "", text, True
    return v.mark, text, v.passed


def case_rows(run, report=None):
    """Per case: label, reference status, (mark, text, passed) per method, most accurate, verdict."""
    with_file = _files_differ(run)
    for r in run.results:
        cells = []
        for name in run.methods:
            g = r.graded(name)
            cells.append(("", "", True) if g is None else _cell_with_mark(report, r, g))
        verdict = _case_check(report, r) if report is not None else None
        yield (case_label(r, with_file), r.reference_status, cells,
               ", ".join(most_accurate(r.comparison.results)) or "-", verdict)


def footer(run, report=None) -> list[str]:
    lines = []
    n = len(run.results)
    workers = f"{run.jobs} worker{'s' if run.jobs > 1 else ''}"
    lines.append(f"{n} case{'s' if n != 1 else ''} in {run.elapsed_s:.1f} s ({workers})")
    if run.interrupted:
        lines.append(f"interrupted: {n} of {run.total} cases finished; this report covers only those")
    if report is not None:
        lines.extend(check_lines(report))
    return lines


def check_lines(report) -> list[str]:
    out = []
    # every verdict is a check (and a JUnit testcase): skipped ones too, counted apart
    skipped = sum(v.skipped for v in report.verdicts)
    count = f"{len(report.verdicts)} checks, {skipped} skipped"
    fails = report.failures
    if report.passed:
        out.append(f"check: PASS ({count})")
    else:
        parts = [f"{len(fails)} failing check{'s' if len(fails) != 1 else ''}"] if fails else []
        if report.slow_methods:
            parts.append(f"slower than {report.slowdown_factor:g}×: {', '.join(report.slow_methods)}")
        out.append(f"check: FAIL ({'; '.join(parts)}; {count})")
    if report.baseline_path:
        count = {mk: sum(v.mark == mk for v in report.verdicts) for mk in "+-!*"}
        env = report.baseline_env or {}
        what = ", ".join(x for x in (env.get("git_commit") and f"commit {env['git_commit'][:12]}",
                                     env.get("created")) if x)
        out.append(f"baseline {report.baseline_path}{f' ({what})' if what else ''}: "
                   f"{count['+']} worse (+), {count['-']} better (-), {count['!']} newly failing (!), "
                   f"{count['*']} fixed (*); error limit {report.factor:g}× the baseline")
        if report.missing:
            out.append(f"{len(report.missing)} baseline case(s) not run: "
                       + ", ".join(f"{f}:{i}" for f, i in report.missing[:5])
                       + (" …" if len(report.missing) > 5 else ""))
        if report.time_ratios:
            ratios = ", ".join(f"{k} {q:.2f}×" for k, q in report.time_ratios.items())
            rule = (f"fails above {report.slowdown_factor:g}×" if report.slowdown_factor
                    else "reported only; --fail-on-slowdown FACTOR makes it fail")
            out.append(f"eval time vs baseline, median of per-case ratios: {ratios} "
                       f"(timings are noisy: {rule})")
        out.extend(report.notes)
    return out


def failure_lines(report, with_file: bool = True) -> list[str]:
    return [f"{v.mark or ' '} {case_label(v.case, with_file)} [{v.name}]: {v.message}"
            for v in report.failures]


# --- terminal --------------------------------------------------------------------

def render(run, summary, console: Console, report=None) -> None:
    """The batch report; piped, without the spaces rich pads its table lines with."""
    if console.is_terminal:
        _render(run, summary, console, report)
        return
    with console.capture() as captured:
        _render(run, summary, console, report)
    console.file.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


def _render(run, summary, console: Console, report=None) -> None:
    methods = run.methods
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left",
                  title="relative error per case" + (" (marks vs baseline: + worse, - better, "
                                                     "! newly failing, * fixed)" if report and
                                                     report.baseline_path else ""))
    table.add_column("case", overflow="fold")
    table.add_column("reference")
    for name in methods:
        table.add_column(name, justify="right")
    table.add_column("most accurate")
    if report is not None:
        table.add_column("check")
    for label, ref, cells, best, verdict in case_rows(run, report):
        row: list[Any] = [Text(label), Text(_SHORT_STATUS.get(ref, ref), style="" if ref == "ok" else "yellow")]
        row += [Text(mark + text, style="" if passed else "bold red") for mark, text, passed in cells]
        row.append(Text(best))
        if verdict is not None:
            passed, text, marks = verdict
            row.append(Text(f"{text} {marks}".strip(), style="green" if passed else "bold red"))
        table.add_row(*row)
    console.print(table)
    console.print()
    console.print(summary_table(summary, run.timing))
    if report is not None and report.failures:
        console.print()
        console.print(Text("failures:", style="bold red"))
        for line in failure_lines(report, True):
            console.print(Text(visible(line)), soft_wrap=True)
    console.print()
    for line in footer(run, report):
        style = "bold red" if line.startswith(("check: FAIL", "interrupted")) else (
            "bold green" if line.startswith("check: PASS") else "dim")
        console.print(Text(visible(line), style=style), soft_wrap=True)


SUMMARY_COLUMNS = ("method", "cases", "ok", "not ok", "no deriv.", "n/a", "skipped", "median rel error",
                   "worst rel error", "worst case", "median eval", "most accurate")


def summary_rows(summary: Mapping[str, Any], timing: bool) -> list[list[str]]:
    rows = []
    for name, s in summary.items():
        rows.append([name, str(s["cases"]), str(s["ok"]), str(s["not_ok"]), str(s["no_derivative"]),
                     str(s["not_applicable"]), str(s["skipped"]),
                     fmt_error(s["median_rel_error"]), fmt_error(s["worst_rel_error"]),
                     s["worst_case"] or "-", fmt_time(s["median_eval_s"]) if timing else "-",
                     str(s["most_accurate"])])
    return rows


def summary_table(summary, timing: bool) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title="per method",
                  title_justify="left")
    for i, col in enumerate(SUMMARY_COLUMNS):
        table.add_column(col, justify="left" if i in (0, 9) else "right", overflow="fold")
    for row in summary_rows(summary, timing):
        table.add_row(*[Text(visible(c)) for c in row])     # ids are user text: not markup, no controls
    return table


# --- CSV -------------------------------------------------------------------------

CASE_FIELDS = ["file", "id", "expression", "wrt", "order", "reference_status"]
#: the case's columns, then exactly the columns of ``derivcmp eval --format csv``
CSV_FIELDS = CASE_FIELDS + EVAL_CSV_FIELDS


def to_csv(run, report=None) -> str:
    buf = io.StringIO()
    fields = CSV_FIELDS + (["check", "mark"] if report is not None else [])
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    verdicts = {v.key: v for v in report.verdicts} if report is not None else {}
    for r in run.results:
        d = case_document(r)
        ref = d["reference"]
        for m in d["methods"]:
            row = {"file": r.case.file, "id": r.case.id, "expression": d["expression"],
                   "wrt": ",".join(d["wrt"]), "order": d["order"], "reference_status": ref["status"],
                   **csv_method_row(m, ref["exact"])}
            if report is not None:
                v = verdicts.get((r.case.file, r.case.id, m["name"]))
                row["check"] = "" if v is None else ("skip" if v.skipped else "pass" if v.passed else "fail")
                row["mark"] = "" if v is None else v.mark
            w.writerow(row)
    return buf.getvalue()


# --- Markdown (GitHub-flavoured: CI step summaries, pull-request comments) ---------

def _md(s: str) -> str:
    return markdown(s)


def _md_mark(text: str) -> str:
    """Change marks are Markdown syntax (``*``, ``+``, ``-``, ``!``): escape them."""
    return "".join("\\" + ch if ch in "*+-!" else ch for ch in text)


def _md_table(header: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "|".join("---:" if i in right else ":---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def to_markdown(run, summary, report=None) -> str:
    with_file = _files_differ(run)
    out: list[str] = []
    if report is not None:
        icon = "✅" if report.passed and not run.interrupted else "❌"
        verdict = "pass" if report.passed else "FAIL"
        if run.interrupted:
            verdict += f" (interrupted after {len(run.results)} of {run.total} cases)"
        out += [f"### {icon} derivcmp check: {verdict}", ""]
        if report.failures:
            rows = [[_md_mark(v.mark), case_label(v.case, with_file), v.name, fmt_error(v.rel_error),
                     "-" if v.tolerance is None else f"{v.tolerance:.0e}", v.message]
                    for v in report.failures]
            out += ["**Failures**", ""]
            out += _md_table(["", "case", "method", "rel error", "tolerance", "why"], rows, {3, 4})
            out.append("")
    out += ["**Per method**", ""]
    out += _md_table(list(SUMMARY_COLUMNS), summary_rows(summary, run.timing), {1, 2, 3, 4, 5, 6, 7, 8, 10, 11})
    out.append("")
    methods = run.methods
    header = ["case", "reference"] + methods + ["most accurate"] + (["check"] if report else [])
    rows = []
    for label, ref, cells, best, verdict in case_rows(run, report):
        row = [markdown_code(label), ref]
        for mark, text, passed in cells:
            text = _md_mark(mark) + text
            row.append(text if passed else f"**{text}** ❌")
        row.append(best)
        if verdict is not None:
            _, text, marks = verdict
            row.append(f"{text} {_md_mark(marks)}".strip())
        rows.append(row)
    table = _md_table(header, rows, set(range(2, 2 + len(methods))))
    if report is not None and len(rows) > 20:
        out += ["<details><summary>Relative error per case "
                f"({len(rows)} cases)</summary>", ""] + table + ["", "</details>"]
    else:
        out += ["**Relative error per case**", ""] + table
    out.append("")
    out += [f"_{_md(line)}_  " for line in footer(run, report)]
    return "\n".join(out).rstrip() + "\n"


__all__ = [
    "batch_document",
    "method_cell",
    "progress",
    "render",
    "summary_table",
    "to_csv",
    "to_json",
    "to_markdown",
]

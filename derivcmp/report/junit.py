"""JUnit XML for CI dashboards: one testcase per case × method.

``classname`` is the suite file and ``name`` is ``id[method]``; a case that
checks its reference status or an ``expected`` value gets one more testcase,
``id[reference]`` / ``id[expected]``.  Input errors in a file become
``<error>`` testcases so a dashboard shows them too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from . import fmt_error
from .escape import xml_safe


def to_junit(report, diagnostics: Iterable = (), elapsed_s: float = 0.0) -> str:
    suites: dict[str, list[ET.Element]] = {}
    counts: dict[str, dict[str, int]] = {}

    def add(file: str, name: str, seconds: float = 0.0) -> ET.Element:
        tc = ET.Element("testcase", classname=file, name=name, time=f"{seconds:.3f}")
        suites.setdefault(file, []).append(tc)
        counts.setdefault(file, {"tests": 0, "failures": 0, "errors": 0, "skipped": 0})["tests"] += 1
        return tc

    for v in report.verdicts:
        r = v.case
        names = [g.name for g in r.comparison.results]
        share = r.seconds / max(1, len(names)) if v.name in names else 0.0
        tc = add(r.case.file, f"{r.case.id}[{v.name}]", share)
        c = counts[r.case.file]
        if r.crashed:
            ET.SubElement(tc, "error", message=r.crashed, type="crash").text = r.crashed
            c["errors"] += 1
        elif not v.passed:
            f = ET.SubElement(tc, "failure", message=v.message, type=_kind(v))
            f.text = _detail(v)
            c["failures"] += 1
        elif v.skipped:
            ET.SubElement(tc, "skipped", message=v.message)
            c["skipped"] += 1
        else:
            detail = _detail(v)
            if detail:
                ET.SubElement(tc, "system-out").text = detail
    for d in diagnostics:
        if d.severity != "error":
            continue
        tc = add(d.file, f"line {d.line}" if d.line else "file")
        ET.SubElement(tc, "error", message=str(d).splitlines()[0], type="input").text = str(d)
        counts[d.file]["errors"] += 1
    root = ET.Element("testsuites", name="derivcmp check", time=f"{elapsed_s:.3f}")
    for k in ("tests", "failures", "errors", "skipped"):
        root.set(k, str(sum(c[k] for c in counts.values())))
    for file, cases in suites.items():
        suite = ET.SubElement(root, "testsuite", name=file,
                              **{k: str(v) for k, v in counts[file].items()})
        suite.extend(cases)
    ET.indent(root)
    # ids and messages are user text: characters XML forbids are shown, not written
    return '<?xml version="1.0" encoding="utf-8"?>\n' + xml_safe(ET.tostring(root, encoding="unicode")) + "\n"


def _kind(v) -> str:
    if v.mark == "+":
        return "regression"
    if v.name == "expected":
        return "expected"
    if v.name == "reference":
        return "status"
    return "tolerance"


def _detail(v) -> str:
    parts = []
    if v.rel_error is not None:
        parts.append(f"rel error {fmt_error(v.rel_error)}")
    if v.tolerance is not None:
        parts.append(f"tolerance {v.tolerance:.0e}")
    if v.baseline_rel_error is not None:
        parts.append(f"baseline {fmt_error(v.baseline_rel_error)}")
    if v.mark:
        parts.append(f"mark {v.mark}")
    text = "; ".join(parts)
    expr = v.case.comparison.problem.text
    return f"{v.message}\n{expr}\n{text}".strip() if not v.passed else text

"""The batch/check outputs of one small suite, pinned against closed forms (issue 9, item 9).

The runner returns typed results and only ``report/`` serializes them; this
pins what the JSON, CSV, JUnit and Markdown say for a suite whose every number
is known independently: d/dx x^2 at 3 is 6, the gradient of x*y at (2, 5) is
(5, 2), d/dx exp(x) at 1 is e (its float64 error computed here with mpmath),
and d/dx x^3 at 2 is 12, so a hand-written ``expected = 11`` is 1/12 off.
Nothing below is a snapshot of the tool's own output.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET

import mpmath
import pytest
from click.testing import CliRunner

from derivcmp.cli import main
from derivcmp.suite import default_tolerance

METHODS = ["symbolic", "ad-reverse"]

SUITE = """\
[[case]]
id = "square"
expr = "x^2"
at = { x = 3 }
expected = 6
methods = ["symbolic", "ad-reverse"]

[[case]]
id = "product"
expr = "x*y"
at = { x = 2, y = 5 }
methods = ["symbolic", "ad-reverse"]

[[case]]
id = "exp"
expr = "exp(x)"
at = { x = 1 }
methods = ["symbolic", "ad-reverse"]

[[case]]
id = "cube"
expr = "x^3"
at = { x = 2 }
expected = 11
methods = ["symbolic", "ad-reverse"]
"""


def digits50(x) -> str:
    with mpmath.workdps(60):
        return mpmath.nstr(mpmath.mpf(x), 50, strip_zeros=False)


with mpmath.workdps(60):
    E = mpmath.e
    E_FLOAT = float(E)                          # exp(1.0) correctly rounded
    E_ABS = float(abs(mpmath.mpf(E_FLOAT) - E))
    E_REL = float(abs(mpmath.mpf(E_FLOAT) - E) / E)

#: (id, expression, wrt, point, derivative as floats, exact strings, abs error, rel error)
CASES = [
    ("square", "x^2", ["x"], {"x": 3.0}, 6.0, digits50(6), 0.0, 0.0),
    ("product", "x*y", ["x", "y"], {"x": 2.0, "y": 5.0}, [5.0, 2.0], [digits50(5), digits50(2)], 0.0, 0.0),
    ("exp", "exp(x)", ["x"], {"x": 1.0}, E_FLOAT, digits50(E), E_ABS, E_REL),
    ("cube", "x^3", ["x"], {"x": 2.0}, 12.0, digits50(12), 0.0, 0.0),
]


@pytest.fixture
def suite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "80")
    (tmp_path / "s.toml").write_text(SUITE, encoding="utf-8")
    return "s.toml"


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def fmt_err(x: float) -> str:
    return "0" if x == 0 else f"{x:.2e}"


def test_batch_json_holds_the_closed_forms_and_its_layout(suite):
    res = invoke("batch", suite, "--no-timing", "--format", "json", "-j", "1")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    # the layout: two-space indent, keys in the spec's order, one newline at the end
    assert res.stdout == json.dumps(doc, indent=2, allow_nan=False) + "\n"
    assert list(doc) == ["schema", "cases", "summary", "environment", "interrupted"]
    assert doc["schema"] == "derivcmp-batch/2" and doc["interrupted"] is False
    for case, (cid, expr, wrt, at, value, exact, abs_err, rel_err) in zip(doc["cases"], CASES, strict=True):
        methods = case.pop("methods")
        assert case == {"schema": "derivcmp/2", "expression": expr, "wrt": wrt, "order": 1, "at": at,
                        "reference": {"value": value, "digits": 50, "exact": exact, "status": "ok",
                                      "message": None},
                        "f": None, "id": cid, "file": suite}
        assert [m["name"] for m in methods] == METHODS
        for m in methods:
            assert list(m) == ["name", "status", "grade", "message", "value", "abs_error", "rel_error",
                               "component_rel_error", "time", "details"]
            del m["details"]            # what each method says of itself (its own tests pin it)
            assert m == {"name": m["name"], "status": "ok", "grade": "exact", "message": None,
                         "value": value, "abs_error": abs_err, "rel_error": rel_err,
                         "component_rel_error": rel_err, "time": None}
    rels = sorted(c[-1] for c in CASES)
    for name in METHODS:
        assert doc["summary"][name] == {
            "cases": 4, "ok": 4, "not_ok": 0, "not_applicable": 0, "no_derivative": 0, "skipped": 0,
            "median_rel_error": (rels[1] + rels[2]) / 2, "worst_rel_error": E_REL, "worst_case": "exp",
            "median_eval_s": None, "most_accurate": 4}     # equal errors: both win every case


def test_check_csv_junit_and_markdown_of_the_same_suite(suite, tmp_path):
    res = invoke("check", suite, "--no-timing", "--format", "csv", "-j", "1",
                 "--junit", "out.xml", "--markdown", "out.md")
    assert res.exit_code == 1                      # 11 is not d/dx x^3 at 2
    rows = list(csv.reader(io.StringIO(res.stdout)))
    assert rows[0] == ["file", "id", "expression", "wrt", "order", "reference_status", "method", "status",
                       "grade", "value", "abs_error", "rel_error", "correct_digits", "setup_s", "eval_s",
                       "eval_spread_s", "reference", "message", "check", "mark"]
    want = []
    for cid, expr, wrt, _, value, exact, abs_err, rel_err in CASES:
        digits = 17.0 if rel_err == 0 else -math.log10(rel_err)
        for name in METHODS:
            want.append([suite, cid, expr, ",".join(wrt), "1", "ok", name, "ok", "exact",
                         json.dumps(value) if isinstance(value, list) else repr(value), repr(abs_err),
                         repr(rel_err), f"{digits:.2f}", "", "", "",
                         json.dumps(exact) if isinstance(exact, list) else exact, "", "pass", ""])
    assert rows[1:] == want

    why = f"expected 11.0 but the reference is 12.0 (rel error {1 / 12:.2e} > 1e-12)"
    root = ET.parse(tmp_path / "out.xml").getroot()
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "10", "failures": "1", "errors": "0", "skipped": "0"}
    got = {}
    for tc in root.iter("testcase"):
        assert tc.get("classname") == suite
        got[tc.get("name")] = [(child.tag, child.get("message"), child.text) for child in tc]
    tol = {name: f"{default_tolerance(name, 1):.0e}" for name in METHODS}
    want_xml = {}
    for cid, *_, rel_err in CASES:
        if cid in ("square", "cube"):
            want_xml[f"{cid}[expected]"] = (
                [("system-out", None, "rel error 0; tolerance 1e-12")] if cid == "square" else
                [("failure", why, f"{why}\nx^3\nrel error {1 / 12:.2e}; tolerance 1e-12")])
        for name in METHODS:
            want_xml[f"{cid}[{name}]"] = [("system-out", None, f"rel error {fmt_err(rel_err)}; tolerance {tol[name]}")]
    assert got == want_xml

    md = (tmp_path / "out.md").read_text(encoding="utf-8")
    body, footer = md.split("\n\n_", 1)
    assert re.fullmatch(r"4 cases in \d+\.\d s \(1 worker\)_  \n_check: FAIL \(1 failing check; 10 checks, "
                        r"0 skipped\)_\n", footer), footer
    median = fmt_err((sorted(c[-1] for c in CASES)[1] + sorted(c[-1] for c in CASES)[2]) / 2)
    summary = "\n".join(f"| {name} | 4 | 4 | 0 | 0 | 0 | 0 | {median} | {fmt_err(E_REL)} | exp | - | 4 |"
                        for name in METHODS)
    cases = "\n".join(f"| `{cid}` | ok | {fmt_err(rel)} | {fmt_err(rel)} | symbolic, ad-reverse | "
                      f"{'FAIL expected' if cid == 'cube' else 'ok'} |" for cid, *_, rel in CASES)
    assert body == f"""### ❌ derivcmp check: FAIL

**Failures**

|  | case | method | rel error | tolerance | why |
|:---|:---|:---|---:|---:|:---|
|  | cube | expected | {1 / 12:.2e} | 1e-12 | {why.replace(">", "&gt;")} |

**Per method**

| method | cases | ok | not ok | no deriv. | n/a | skipped | median rel error | worst rel error | worst case | median eval | most accurate |
|:---|---:|---:|---:|---:|---:|---:|---:|---:|:---|---:|---:|
{summary}

**Relative error per case**

| case | reference | symbolic | ad-reverse | most accurate | check |
|:---|:---|---:|---:|:---|:---|
{cases}"""


# --- --runs / --warmup, as eval has them ------------------------------------------------

@pytest.mark.parametrize("extra", [["-j", "1", "--timeout", "0"],      # in this process
                                   ["-j", "2"]])                       # worker processes
@pytest.mark.parametrize("command", ["batch", "check"])
def test_runs_and_warmup_reach_every_method_of_every_case(suite, command, extra):
    res = invoke(command, suite, "--runs", "3", "--warmup", "2", "--format", "json", *extra)
    assert res.exit_code == (1 if command == "check" else 0), res.output
    doc = json.loads(res.stdout)
    times = [m["time"] for c in doc["cases"] for m in c["methods"]]
    assert len(times) == 8
    for t in times:
        assert (t["runs"], t["repeats"], t["warmup"]) == (3, 3, 2)
        # hyperfine's statistics of those 3 runs, as eval records them
        assert t["min_s"] <= t["eval_s"] <= t["max_s"] and t["min_s"] <= t["mean_s"] <= t["max_s"]
        assert t["std_s"] >= 0 and t["eval_spread_s"] >= 0


def test_runs_and_warmup_default_to_evals(suite):
    from derivcmp.timing import DEFAULT_RUNS, DEFAULT_WARMUP
    res = invoke("batch", suite, "--format", "json", "-j", "1", "--timeout", "0")
    t = json.loads(res.stdout)["cases"][0]["methods"][0]["time"]
    assert (t["runs"], t["warmup"]) == (DEFAULT_RUNS, DEFAULT_WARMUP)


@pytest.mark.parametrize("command", ["batch", "check"])
def test_runs_without_timing_is_refused(suite, command):
    res = CliRunner().invoke(main, [command, suite, "--no-timing", "--warmup", "3"])
    assert res.exit_code == 2
    assert "--runs and --warmup time the methods; they cannot go with --no-timing" in res.output
    res = CliRunner().invoke(main, [command, suite, "--runs", "1"])
    assert res.exit_code == 2 and "--runs" in res.output and "1 is not in the range 2<=x<=1000" in res.output

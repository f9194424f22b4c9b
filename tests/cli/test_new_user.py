"""What a new user trips over (issue 9): each finding end to end.

CliRunner runs with ``COLUMNS=80``, an ordinary terminal's width; values are
checked against the 50-digit reference, sympy or mpmath, never against the
tool's own output.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import mpmath
import pytest
from click.testing import CliRunner

from derivcmp.backends import base
from derivcmp.cli import main

ENV80 = {"COLUMNS": "80", "NO_COLOR": None}


def run(*args: str, env=None):
    return CliRunner().invoke(main, list(args), env={**ENV80, **(env or {})}, catch_exceptions=False)


def run_json(*args: str) -> dict:
    res = run(*args, "--format", "json", "--no-timing")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def default_methods() -> list[str]:
    return list(base.select(None).names)


# --- 2. expressions that begin with "-" --------------------------------------------

def test_leading_minus_in_a_real_shell_invocation():
    # a real process: the argument vector exactly as a shell hands it over
    out = subprocess.run([sys.executable, "-m", "derivcmp", "eval", "-x^2", "--at", "x=3",
                          "--no-timing", "--format", "json"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["expression"] == "-x^2"
    assert mpmath.mpf(doc["reference"]["exact"]) == -6          # d/dx -(x^2) at 3
    for m in doc["methods"]:
        assert m["status"] == "ok" and m["value"] == pytest.approx(-6.0, rel=1e-8)


@pytest.mark.parametrize("args", [
    ["eval", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))", "--wrt", "z", "--at", "y=1,z=0.5"],
    ["eval", "--wrt", "z", "--at", "y=1,z=0.5", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))"],
    ["eval", "--wrt", "z", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))", "--at", "y=1,z=0.5"],
])
def test_cross_entropy_with_leading_minus_and_options_anywhere(args):
    doc = run_json(*args)
    # d/dz of -log(sigmoid(z)) is sigmoid(z) - 1
    with mpmath.workdps(50):
        truth = 1 / (1 + mpmath.exp(-mpmath.mpf(0.5))) - 1
    assert float(mpmath.mpf(doc["reference"]["exact"])) == pytest.approx(float(truth), rel=1e-15)
    assert [m["name"] for m in doc["methods"]] == default_methods()


def test_unknown_options_are_still_errors():
    res = run("eval", "-x", "--bogus", "--at", "x=1")
    assert res.exit_code == 2 and "No such option '--bogus'" in res.stderr
    res = run("eval", "-x", "-y", "--at", "x=1")
    assert res.exit_code == 2 and "'-y'" in res.stderr


def test_help_still_works_after_a_negative_expression():
    res = run("eval", "-x", "-h")
    assert res.exit_code == 0 and "eval [OPTIONS] EXPRESSION" in res.stdout


# --- 3. the table fits 80 columns and never cuts a number -------------------------------

TABLE_CASES = [
    ["1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3"],                        # with timing
    ["(1-x)^2 + 100*(y-x^2)^2", "--at", "x=-1.2,y=1", "--order", "2", "--no-timing"],
    ["relu(x)", "--at", "x=0", "--no-timing"],
    ["log(x-3)", "--at", "x=1", "--no-timing"],
    ["sigmoid(x)", "--at", "x=-720", "--no-timing"],
    ["sin(x)*cos(y)*z^3", "--at", "x=0.1,y=0.2,z=0.3", "--no-timing"],
]


def _numbers(v):
    if isinstance(v, list):
        return [x for item in v for x in _numbers(item)]
    return [] if v is None else [v]


@pytest.mark.parametrize("args", TABLE_CASES, ids=lambda a: a[0])
def test_table_fits_80_columns_without_cutting_a_number(args):
    res = run("eval", *args)
    assert res.exit_code == 0, res.output
    out = res.stdout
    for line in out.splitlines():
        assert len(line) <= 80, line
        assert line == line.rstrip(), f"trailing spaces: {line!r}"
    assert "…" not in out and "\x1b[" not in out
    doc = json.loads(run("eval", *args, "--format", "json").stdout)
    for m in doc["methods"]:
        assert m["name"] in out.split()                       # whole names, never "fd-cent…"
        for x in _numbers(m["value"]):
            assert repr(x) in out, (m["name"], x)             # every digit of every entry
        if m["rel_error"] is not None:
            assert (f"{m['rel_error']:.2e}" if m["rel_error"] else "0") in out


def test_json_and_csv_keep_what_the_narrow_table_leaves_out():
    args = ["1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3", "--no-timing"]
    table = run("eval", *args[:-1]).stdout          # with timing: no room for the absolute error
    doc = json.loads(run("eval", *args, "--format", "json").stdout)
    truth = float(abs(mpmath.mpf(doc["methods"][0]["value"]) - mpmath.mpf(doc["reference"]["exact"])))
    assert doc["methods"][0]["abs_error"] == pytest.approx(truth, rel=1e-9)
    csv_text = run("eval", *args, "--format", "csv").stdout
    assert csv_text.splitlines()[0].startswith("method,status,grade,value,abs_error,rel_error")
    assert repr(doc["methods"][0]["abs_error"]) in csv_text
    assert "abs error" in run("eval", *args[:-1], env={"COLUMNS": "130"}).stdout   # room for it when wide
    assert "abs error" not in table


class _FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color", [True, False])
def test_no_color_means_no_escape_codes_at_all(monkeypatch, no_color):
    from derivcmp import compare_text
    from derivcmp.report.terminal import render, stdout_console
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("TERM", "xterm-256color")
    fake = _FakeTerminal()
    render(compare_text("tanh(x)", at="x=20", timing=False), stdout_console(fake, fit=True), timing=False)
    out = fake.getvalue()
    # no colour and no bold or dim either; on a colour terminal without NO_COLOR, styles are on
    assert ("\x1b[" in out) is (not no_color)
    assert "wrong" in out


# --- 4. verdicts that agree with the numbers ---------------------------------------

def _family(name: str) -> str:
    return base.entries()[name].backend.family


def test_grades_follow_the_relative_error_against_the_reference():
    from derivcmp.grading import LIMITS
    doc = run_json("eval", "tanh(x)", "--at", "x=20")
    with mpmath.workdps(50):
        truth = mpmath.sech(20) ** 2                     # 1.7e-17: a float 0.0 has no digit right
    for m in doc["methods"]:
        # what the method did: a difference lost in rounding is unresolved (issue 10) ...
        assert m["status"] == ("unresolved" if _family(m["name"]) == "finite-difference" else "ok")
        rel = float(abs(mpmath.mpf(m["value"]) - truth) / truth)
        assert m["rel_error"] == pytest.approx(rel, rel=1e-9)
        expected = next((w for w, lim in LIMITS.items() if rel <= lim), "wrong")
        assert m["grade"] == expected                    # ... and how good its number is
        if m["value"] == 0.0:
            assert m["grade"] == "wrong"
    table = run("eval", "tanh(x)", "--at", "x=20", "--no-timing").stdout
    for m in doc["methods"]:
        row = next(line for line in table.splitlines() if line.startswith(m["name"] + " "))
        # the verdict column: the grade of an ok value, else the status (unresolved says more)
        assert row.split()[-1] == (m["grade"] if m["status"] == "ok" else m["status"])


def test_cancellation_in_a_formula_is_graded_wrong():
    doc = run_json("eval", "(1-cos(x))/x^2", "--at", "x=1e-4")
    with mpmath.workdps(60):
        x = mpmath.mpf(1e-4)
        truth = mpmath.diff(lambda t: (1 - mpmath.cos(t)) / t ** 2, x)
    assert float(mpmath.mpf(doc["reference"]["exact"])) == pytest.approx(float(truth), rel=1e-12)
    for m in doc["methods"]:
        rel = abs(m["value"] - float(truth)) / abs(float(truth))
        if rel > 0.1:
            assert m["status"] == "ok" and m["grade"] == "wrong"
    assert any(m["grade"] == "wrong" for m in doc["methods"])


def test_summary_considers_only_graded_methods():
    # sympy's formula exp(-x)/(1+exp(-x))^2 overflows to inf/inf at -720, the others compute
    args = ["eval", "sigmoid(x)", "--at", "x=-720", "--no-timing"]
    doc = run_json(*args[:-1])
    ungraded = [m["name"] for m in doc["methods"] if m["grade"] is None]
    graded_ = [m["name"] for m in doc["methods"] if m["grade"] is not None]
    assert ungraded and len(graded_) >= 2                 # some method fails there
    with mpmath.workdps(50):
        truth = float(mpmath.exp(-720) / (1 + mpmath.exp(-720)) ** 2)     # 2.03e-313, subnormal
    for name in graded_:
        m = next(m for m in doc["methods"] if m["name"] == name)
        assert m["value"] == pytest.approx(truth, rel=1e-3)
    out = " ".join(run(*args).stdout.split())
    assert "all methods" not in out
    assert f"not graded: {', '.join(ungraded)}" in out
    assert "(the graded methods)" in out or "most accurate:" in out


def test_an_overflowing_derivative_exists():
    doc = run_json("eval", "1/x", "--at", "x=1e-300")
    with mpmath.workdps(50):
        truth = -1 / mpmath.mpf(1e-300) ** 2                          # -1/x^2 at the double nearest 1e-300
        assert abs(mpmath.mpf(doc["reference"]["exact"]) / truth - 1) < mpmath.mpf(10) ** -40
    out = " ".join(run("eval", "1/x", "--at", "x=1e-300", "--no-timing").stdout.split())
    assert "the derivative exists (-1.0e+600) but overflows float64" in out
    assert "no float64 value can be right" in out
    assert "no derivative here" not in out


def test_fd_across_a_pole_says_its_stencil_straddles_it():
    doc = run_json("eval", "tan(x)", "--at", "x=pi/2", "--methods", "finite-difference")
    with mpmath.workdps(50):
        truth = mpmath.sec(mpmath.mpf(float(mpmath.pi / 2))) ** 2     # 2.7e32 at the double nearest pi/2
        assert abs(mpmath.mpf(doc["reference"]["exact"]) / truth - 1) < mpmath.mpf(10) ** -30
    wrong = [m for m in doc["methods"] if m["grade"] in ("inaccurate", "wrong")]
    assert wrong
    for m in wrong:
        assert "straddles a sign change of the function" in m["message"]
    # a finite difference that went wrong for a smooth reason (cancellation) gets no such note
    doc = run_json("eval", "(1-cos(x))/x^2", "--at", "x=1e-4", "--methods", "finite-difference")
    assert all("straddles" not in (m["message"] or "") for m in doc["methods"])


def test_jump_messages_read_as_english():
    doc = run_json("eval", "atan2(y,x)", "--at", "x=-1,y=0")
    msg = doc["reference"]["message"]
    assert "just below it in y" in msg and "just -" not in msg and "just +" not in msg
    # the function really jumps from +pi to -pi below the negative x axis
    assert mpmath.atan2(-1e-30, -1) < 0 < mpmath.atan2(0, -1)
    doc = run_json("eval", "sqrt(x)*sqrt(-x)", "--at", "x=0")
    assert "just - " not in (doc["reference"]["message"] or "")


def test_kink_conventions_name_only_functions_in_the_expression():
    out = " ".join(run("eval", "max(x,y)", "--at", "x=1,y=1", "--no-timing").stdout.split())
    assert "not-differentiable" in out
    for absent in ("sign(0)", "abs'(0)", "relu'(0)"):
        assert absent not in out
    out = " ".join(run("eval", "abs(x)", "--at", "x=0", "--no-timing").stdout.split())
    for absent in ("Heaviside", "max'", "relu'"):
        assert absent not in out


@pytest.mark.parametrize("expr, at", [("sin(x)*cos(y)*z^3", "x=0.1,y=0.2,z=0.3"),
                                      ("sigmoid(w*x+b)", "w=0.3,x=1.7,b=-0.2"),
                                      ("x^3*y^2/(z+4)", "x=1.1,y=2.3,z=0.7")])
def test_hessians_are_exactly_symmetric(expr, at):
    doc = run_json("eval", expr, "--at", at, "--order", "2")
    for m in doc["methods"]:
        h = m["value"]
        assert all(h[i][j] == h[j][i] for i in range(len(h)) for j in range(len(h))), m["name"]
        assert m["grade"] in ("exact", "accurate", "inaccurate")


# --- 5. arguments as users type them ---------------------------------------------

def test_repeated_at_options_merge_into_one_point():
    doc = run_json("eval", "x*y", "--at", "x=1.5", "--at", "y=2")
    assert doc["at"] == {"x": 1.5, "y": 2.0}
    assert [float(mpmath.mpf(v)) for v in doc["reference"]["exact"]] == [2.0, 1.5]   # (y, x)
    res = run("eval", "x*y", "--at", "x=1,y=2", "--at", "x=3")
    assert res.exit_code == 2 and "'x' is given more than once" in res.stderr and "Traceback" not in res.output


@pytest.mark.parametrize("name", ["e", "pi"])
def test_a_variable_named_like_a_constant_is_explained(name):
    res = run("eval", f"{name}*x", "--at", f"{name}=1,x=2")
    assert res.exit_code == 2
    assert f"'{name}' is the constant {name}" in res.stderr
    assert ") in expressions, not a variable; give the variable another name" in res.stderr
    assert "does not use" not in res.stderr and "Traceback" not in res.output


@pytest.mark.parametrize("text, hint", [("x²", "did you mean ^2?"), ("π*x", "did you mean pi?"),
                                        ("2·x", "did you mean *?"), ("−x", "did you mean - (the ASCII minus)?"),
                                        ("x\u00a0+ 1", "a non-breaking space: did you mean a plain space?")])
def test_common_unicode_gets_a_hint(text, hint):
    res = run("eval", text, "--at", "x=1")
    assert res.exit_code == 2 and hint in res.stderr and "Traceback" not in res.output


def test_tabs_and_newlines_do_not_break_the_header():
    res = run("eval", "x\t+\n1", "--at", "x=1", "--no-timing")
    assert res.exit_code == 0, res.output
    first, second = res.stdout.splitlines()[:2]
    assert first == "d/dx of x + 1 at x=1.0"
    assert second.startswith("reference (50 digits): 1.000")


def test_a_wrt_variable_not_in_the_expression_is_not_part_of_the_point():
    res = run("eval", "x^2", "--wrt", "x,y", "--at", "x=1", "--no-timing")
    assert res.stdout.splitlines()[0] == "gradient wrt (x, y) of x^2 at x=1.0"
    assert "does not occur in the expression" in res.stderr
    doc = run_json("eval", "x^2", "--wrt", "x,y", "--at", "x=1")
    assert doc["at"] == {"x": 1.0}
    assert [float(mpmath.mpf(v)) for v in doc["reference"]["exact"]] == [2.0, 0.0]


def test_order_help_states_each_methods_orders():
    out = " ".join(run("eval", "--help").stdout.split())
    for name, entry in base.entries().items():
        assert f"{name} 1-{entry.backend.max_order}" in out.replace("- ", "-")


# --- 7. batch and check that add up ---------------------------------------------

def _suite(tmp_path) -> str:
    first = default_methods()[0]
    p = tmp_path / "s.toml"
    p.write_text(f"""
[[case]]
id = "sig"
expr = "1/(1+exp(-w*x))"
wrt = ["w"]
at = {{ w = 2.0, x = 3.0 }}

[[case]]
id = "only-one-method"
expr = "sin(x)"
at = {{ x = 1.0 }}
methods = ["{first}"]

[[case]]
id = "kink"
expr = "abs(x)"
at = {{ x = 0 }}
expect = "not-differentiable"
""", encoding="utf-8")
    return p.as_posix()


def test_batch_summary_counts_add_up_to_the_cases(tmp_path):
    f = _suite(tmp_path)
    res = run("batch", f, "--no-timing", "-j", "1", "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["interrupted"] is False
    for name, s in doc["summary"].items():
        assert s["cases"] == 3
        assert s["ok"] + s["not_ok"] + s["no_derivative"] + s["not_applicable"] + s["skipped"] == s["cases"]
        ran = sum(any(m["name"] == name for m in c["methods"]) for c in doc["cases"])
        assert s["skipped"] == 3 - ran
    # sin'(1) = cos(1), by the one method asked for
    only = doc["cases"][1]
    assert float(mpmath.mpf(only["reference"]["exact"])) == pytest.approx(float(mpmath.cos(1)), rel=1e-15)
    table = run("batch", f, "--no-timing", "-j", "1").stdout
    assert re.search(r"method\s+cases\s+ok\s+not ok\s+no deriv\.\s+n/a\s+skipped", table)


def test_check_count_equals_the_junit_tests_count(tmp_path):
    f = _suite(tmp_path)
    junit = tmp_path / "j.xml"
    res = run("check", f, "--no-timing", "-j", "1", "--junit", str(junit))
    assert res.exit_code == 0, res.output
    m = re.search(r"check: PASS \((\d+) checks, (\d+) skipped\)", res.stdout)
    assert m, res.stdout
    root = ET.parse(junit).getroot()
    assert root.get("tests") == m.group(1) and root.get("skipped") == m.group(2)
    assert int(m.group(2)) > 0                                # the kink's methods are skipped


def test_interrupted_batch_says_so_once_and_in_json(tmp_path, monkeypatch):
    from derivcmp import batch as batch_mod
    real, calls = batch_mod.compare, []

    def interrupt_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(batch_mod, "compare", interrupt_second)
    f = _suite(tmp_path)
    res = run("batch", f, "--no-timing", "-j", "1", "--timeout", "0")      # in this process
    assert res.exit_code == 130
    assert (res.stdout + res.stderr).count("interrupted: 1 of 3 cases finished") == 1
    calls.clear()
    res = run("batch", f, "--no-timing", "-j", "1", "--timeout", "0", "--format", "json")
    assert res.exit_code == 130
    doc = json.loads(res.stdout)
    assert doc["interrupted"] is True and len(doc["cases"]) == 1
    assert res.stderr.count("interrupted:") == 1


def test_eval_and_batch_csv_share_columns(tmp_path):
    eval_header = run("eval", "sin(x)", "--at", "x=1", "--format", "csv", "--no-timing").stdout.splitlines()[0]
    batch_rows = list(csv.DictReader(io.StringIO(
        run("batch", _suite(tmp_path), "--no-timing", "-j", "1", "--format", "csv").stdout)))
    batch_cols = list(batch_rows[0])
    eval_cols = eval_header.split(",")
    assert batch_cols[-len(eval_cols):] == eval_cols          # same names, same order
    sig = next(r for r in batch_rows if r["id"] == "sig")
    assert float(mpmath.mpf(sig["reference"])) == pytest.approx(
        float(3 * (1 / (1 + mpmath.exp(-6))) * (1 - 1 / (1 + mpmath.exp(-6)))), rel=1e-15)


# --- 6. timing like hyperfine ------------------------------------------------------

def test_runs_and_warmup_are_recorded_with_their_statistics():
    res = run("eval", "sin(x)*exp(x)", "--at", "x=0.5", "--runs", "5", "--warmup", "2", "--format", "json")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    for m in doc["methods"]:
        t = m["time"]
        assert t["runs"] == 5 and t["repeats"] == 5 and t["warmup"] == 2
        assert 0 < t["min_s"] <= t["eval_s"] <= t["max_s"]              # the median lies in the range
        assert t["min_s"] <= t["mean_s"] <= t["max_s"] and t["std_s"] >= 0
        assert t["eval_spread_s"] <= t["max_s"] - t["min_s"]
        # a standard deviation never exceeds the range of its samples
        assert t["std_s"] <= (t["max_s"] - t["min_s"])
        assert m["grade"] in ("exact", "accurate")


def test_terminal_prints_mean_sd_and_the_speed_ratio_with_its_uncertainty():
    res = run("eval", "sin(x)*exp(x)", "--at", "x=0.5", "--runs", "3", "--warmup", "0")
    assert res.exit_code == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "mean ± σ" in out
    assert re.search(r"fastest evaluation: \S+ \(\d[\d.e+]* ± \d[\d.e+-]*× faster than \S+\)", out), out


def test_speed_ratio_propagates_both_deviations():
    from derivcmp.problem import Timing
    from derivcmp.report.terminal import speed_ratio
    fast = Timing(setup_s=0, mean_s=2.0, std_s=0.2)
    slow = Timing(setup_s=0, mean_s=8.0, std_s=0.4)
    ratio, sd = speed_ratio(fast, slow)
    assert ratio == 4.0
    assert sd == pytest.approx(4.0 * (0.1 ** 2 + 0.05 ** 2) ** 0.5, rel=1e-12)


@pytest.mark.parametrize("args, message", [
    (["--runs", "1"], "1 is not in the range 2<=x<=1000"),
    (["--runs", "0"], "0 is not in the range 2<=x<=1000"),
    (["--runs", "100000"], "100000 is not in the range 2<=x<=1000"),
    (["--runs", "abc"], "'abc' is not a valid integer"),
    (["--warmup", "-1"], "-1 is not in the range 0<=x<=1000"),
    (["--runs", "5", "--no-timing"], "--runs and --warmup time the methods; they cannot go with --no-timing"),
])
def test_bad_runs_and_warmup_are_usage_errors(args, message):
    res = run("eval", "x^2", "--at", "x=1", *args)
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output


# --- 8. a Python API for notebooks and scripts --------------------------------------

def test_api_default_timeout_is_the_clis():
    import inspect

    from derivcmp import batch, compare, compare_text
    cli_default = next(p.default for p in main.commands["eval"].params if p.name == "timeout")
    assert inspect.signature(compare_text).parameters["timeout"].default == cli_default
    assert inspect.signature(compare).parameters["timeout"].default == cli_default
    assert callable(batch.run_batch)


def test_comparison_renders_in_rich_and_html_and_converts():
    from rich.console import Console

    from derivcmp import compare_text
    c = compare_text("1/x", at="x=3", timing=False)
    console = Console(width=80, record=True, file=io.StringIO(), color_system=None)
    console.print(c)
    text = console.export_text()
    assert all(len(line) <= 80 for line in text.splitlines())
    for g in c.results:
        assert g.name in text and repr(float(g.outcome.value)) in text
    html = c._repr_html_()
    assert html.count("<tr>") == 1 + len(c.results) and "<script" not in html
    doc = c.to_dict()
    assert mpmath.mpf(doc["reference"]["exact"]) == pytest.approx(mpmath.mpf(-1) / 9, rel=1e-15)


def test_html_escapes_what_it_shows():
    from derivcmp import compare_text
    from derivcmp.report.text import to_html
    c = compare_text("relu(x)", at="x=0", timing=False)      # notes hold quotes: relu'(0)
    html = to_html(c, timing=False)
    assert "relu&#x27;(0) = 0" in html and "relu'(0)" not in html


def test_to_frame_without_pandas_says_what_to_install(monkeypatch):
    from derivcmp import compare_text
    c = compare_text("x^2", at="x=1", timing=False)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"pip install 'derivcmp\[pandas\]'"):
        c.to_frame()


def test_to_frame_with_pandas():
    pd = pytest.importorskip("pandas")
    from derivcmp import compare_text
    c = compare_text("x^3", at="x=2", timing=False)
    frame = c.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame.index) == [g.name for g in c.results]
    assert frame.loc[c.results[0].name, "value"] == pytest.approx(12.0)

"""`derivcmp eval` end to end through click's CliRunner.

Values are checked against closed forms computed independently with mpmath,
not against the tool's own output.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from derivcmp.cli import main
from derivcmp.compare import select_methods

SIGMOID_W = "0.0073995278740801434548671272626"   # DESIGN.md / issue 2


def sigmoid_dw(w: float, x: float) -> mpmath.mpf:
    with mpmath.workdps(60):
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(w) * x))
        return x * s * (1 - s)


def run(*args: str, env=None):
    runner = CliRunner()
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def run_json(*args: str) -> dict:
    res = run(*args, "--format", "json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


# --- the example of the README -------------------------------------------------

def test_table_shows_every_method_and_reference():
    res = run("eval", "1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3")
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert SIGMOID_W in out
    for name in select_methods(None).names:
        assert name in out
    assert "mean ± σ" in out and "verdict" in out
    assert "\x1b[" not in out          # plain text when not a terminal


def test_json_matches_spec_key_by_key():
    doc = run_json("eval", "1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3")
    assert list(doc) == ["schema", "expression", "wrt", "order", "at", "reference", "f", "methods"]
    assert doc["schema"] == "derivcmp/2"
    assert list(doc["f"]) == ["eval_s", "eval_spread_s", "repeats"] and doc["f"]["eval_s"] > 0
    assert doc["expression"] == "1/(1+exp(-w*x))"
    assert doc["wrt"] == ["w"]
    assert doc["order"] == 1
    assert doc["at"] == {"w": 2.0, "x": 3.0}
    ref = doc["reference"]
    assert {"value", "digits", "exact"} <= set(ref)
    assert ref["digits"] == 50
    assert ref["exact"].startswith(SIGMOID_W)
    assert len(ref["exact"].replace("0.00", "", 1)) >= 50     # 50 significant digits
    truth = sigmoid_dw(2.0, 3.0)
    assert ref["value"] == float(truth)
    assert [m["name"] for m in doc["methods"]] == list(select_methods(None).names)
    for m in doc["methods"]:
        assert list(m) == ["name", "status", "grade", "message", "value", "abs_error", "rel_error",
                           "component_rel_error", "time", "details"]
        assert m["status"] == "ok" and m["message"] is None
        assert isinstance(m["value"], float)
        with mpmath.workdps(60):
            abs_err = float(abs(mpmath.mpf(m["value"]) - truth))
        assert m["abs_error"] == pytest.approx(abs_err, rel=1e-6)
        assert m["rel_error"] == pytest.approx(abs_err / float(truth), rel=1e-6)
        t = m["time"]
        assert list(t) == ["setup_s", "eval_s", "eval_spread_s", "repeats", "mean_s", "std_s", "min_s",
                           "max_s", "runs", "warmup", "eval_over_f"]
        assert t["eval_over_f"] == pytest.approx(t["eval_s"] / doc["f"]["eval_s"], rel=1e-12)
        assert t["setup_s"] > 0 and t["eval_s"] > 0 and t["eval_spread_s"] >= 0 and t["repeats"] >= 3
        assert isinstance(m["details"], dict)
    by = {m["name"]: m for m in doc["methods"]}
    assert by["ad-reverse"]["rel_error"] < 1e-15
    assert by["symbolic"]["rel_error"] < 1e-15
    assert 1e-12 < by["fd-central"]["rel_error"] < 1e-8        # eps^(2/3) territory
    assert by["fd-central"]["details"]["steps"]["w"] == pytest.approx(2.220446049250313e-16 ** (1 / 3) * 2)


def test_json_is_the_only_thing_on_stdout():
    res = run("eval", "x*z", "--wrt", "x,y", "--at", "x=1,z=2", "--format", "json", "--no-timing")
    assert res.exit_code == 0
    json.loads(res.stdout)                     # would fail on any stray text
    assert "'y' does not occur" in res.stderr


def test_gradient_and_hessian_shapes():
    doc = run_json("eval", "x^2*y + sin(y)", "--wrt", "x,y", "--at", "x=1.5,y=0.5", "--no-timing")
    with mpmath.workdps(40):
        gx, gy = 2 * 1.5 * 0.5, 1.5 ** 2 + mpmath.cos(0.5)
    assert doc["reference"]["value"] == pytest.approx([gx, float(gy)], rel=1e-15)
    assert isinstance(doc["reference"]["exact"], list) and len(doc["reference"]["exact"]) == 2
    for m in doc["methods"]:
        assert m["value"] == pytest.approx([gx, float(gy)], rel=1e-7)
        assert m["time"] is None
    doc = run_json("eval", "x^2*y + sin(y)", "--wrt", "x,y", "--at", "x=1.5,y=0.5", "--order", "2",
                   "--no-timing")
    hess = [[2 * 0.5, 2 * 1.5], [2 * 1.5, -float(mpmath.sin(0.5))]]
    assert np.allclose(doc["reference"]["value"], hess, rtol=1e-15, atol=0)
    assert all(isinstance(row, list) for row in doc["reference"]["exact"])
    for m in doc["methods"]:
        assert np.allclose(m["value"], hess, rtol=1e-4, atol=0)


def test_csv_and_markdown_have_the_same_rows():
    res = run("eval", "exp(x)", "--at", "x=1", "--format", "csv", "--no-timing")
    assert res.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["method"] for r in rows] == list(select_methods(None).names)
    e = float(mpmath.e)
    for r in rows:
        assert r["status"] == "ok"
        assert float(r["value"]) == pytest.approx(e, rel=1e-8)
        with mpmath.workdps(60):
            assert abs(mpmath.mpf(r["reference"]) - mpmath.e) < mpmath.mpf(10) ** -49
    res = run("eval", "exp(x)", "--at", "x=1", "--format", "markdown", "--no-timing")
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    table = [ln for ln in lines if ln.startswith("| ")]
    assert table[0].startswith("| method | status | value")
    assert [ln.split("|")[1].strip() for ln in table[1:]] == list(select_methods(None).names)
    assert "2.7182818284590452353602874713526624977572470937000" in res.stdout


def test_methods_option_and_unknown_method():
    doc = run_json("eval", "sin(x)", "--at", "x=1", "--methods", "ad-reverse", "--no-timing")
    assert [m["name"] for m in doc["methods"]] == ["ad-reverse"]
    assert doc["methods"][0]["value"] == pytest.approx(float(mpmath.cos(1)), rel=1e-15)
    res = run("eval", "sin(x)", "--at", "x=1", "--methods", "ad-revers")
    assert res.exit_code == 2
    assert "unknown method 'ad-revers'; did you mean 'ad-reverse'?" in res.stderr
    assert "Traceback" not in res.output


# --- bad input: exit 2, message on stderr, caret for expressions ---------------------

@pytest.mark.parametrize("args, message", [
    (["eval", "sinn(x) + 1", "--at", "x=1"],
     "error: unknown function 'sinn' (column 1)\n  sinn(x) + 1\n  ^^^^\ndid you mean 'sin'?"),
    (["eval", "2x", "--at", "x=1"], "  2x\n   ^\ndid you mean 2*x?"),
    (["eval", "x + y", "--at", "x=1"], "error: no value for variable 'y'; give it with --at y=..."),
    (["eval", "x", "--at", "x"], "error: --at: expected name=value, got 'x' (e.g. --at w=2,x=3)"),
    (["eval", "x", "--at", "x=abc"], "error: --at: the value of 'x' must be a number or a constant"),
    (["eval", "x", "--at", "x=1,x=2"], "error: --at: 'x' is given more than once"),
    (["eval", "x", "--at", "x=1", "--wrt", "x,,y"], "error: --wrt: malformed list"),
    (["eval", "x", "--at", "x=1", "--wrt", "1x"], "error: --wrt: '1x' is not a variable name"),
    (["eval", "x", "--at", "x=1", "--wrt", "x,x"], "error: --wrt: x given more than once"),
    (["eval", "x*y", "--at", "x=1,y=1", "--wrt", "x,y", "--order", "3"],
     "error: --order 3 needs a single --wrt variable"),
    (["eval", "x", "--at", "x=1", "--order", "31"], "error: --order 31 is too high"),
    (["eval", "x", "--at", "x=1e999"], "error: --at x=...: number 1e999 is too large for float64"),
])
def test_bad_input_exits_2_with_message(args, message):
    res = run(*args)
    assert res.exit_code == 2
    assert message in res.stderr
    assert res.stdout == ""
    assert "Traceback" not in res.stderr


def test_at_accepts_constant_expressions():
    doc = run_json("eval", "sin(x)", "--at", "x=pi/4", "--no-timing")
    assert doc["at"]["x"] == float(mpmath.pi / 4)
    assert doc["reference"]["value"] == pytest.approx(float(mpmath.cos(mpmath.pi / 4)), rel=1e-15)


def test_default_wrt_is_every_variable():
    doc = run_json("eval", "x*y", "--at", "x=2,y=3", "--no-timing")
    assert doc["wrt"] == ["x", "y"]
    assert doc["reference"]["value"] == [3.0, 2.0]


# --- bad points: statuses, never a confident number -----------------------------------

def test_undefined_point_reports_each_method():
    doc = run_json("eval", "log(x-3)", "--at", "x=1", "--no-timing")
    assert doc["reference"]["status"] == "undefined"
    assert doc["reference"]["value"] is None
    assert "log of a non-positive number" in doc["reference"]["message"]
    for m in doc["methods"]:
        assert m["status"] == "undefined"
        assert m["abs_error"] is None and m["rel_error"] is None
    fd = next(m for m in doc["methods"] if m["name"] == "fd-central")
    assert fd["value"] is None and "column 1" in fd["message"]


def test_not_differentiable_point_grades_nobody():
    doc = run_json("eval", "abs(x)", "--at", "x=0", "--no-timing")
    assert doc["reference"]["status"] == "not-differentiable"
    for m in doc["methods"]:
        assert m["status"] == "not-differentiable"
        assert m["rel_error"] is None
        assert "convention" in m["message"]


def test_overflow_is_a_status_with_a_reason():
    doc = run_json("eval", "exp(x)", "--at", "x=1000", "--no-timing")
    assert doc["reference"]["status"] == "undefined"          # e^1000 overflows float64
    ad = next(m for m in doc["methods"] if m["name"] == "ad-reverse")
    assert ad["value"] is None and "overflow in exp at column 1" in ad["message"]


def test_one_method_failing_does_not_hide_the_others():
    # sympy's formula exp(-x)/(1+exp(-x))^2 overflows at x = -705 (denominator
    # inf, so it returns 0: every digit wrong) and at x = -720 (inf/inf = nan);
    # ad-reverse uses sigmoid' = s(x)s(-x), which does not overflow.
    doc = run_json("eval", "sigmoid(x)", "--at", "x=-705", "--no-timing")
    with mpmath.workdps(50):
        s = 1 / (1 + mpmath.exp(705))
        truth = s * (1 - s)
    assert doc["reference"]["value"] == pytest.approx(float(truth), rel=1e-15)
    by = {m["name"]: m for m in doc["methods"]}
    assert by["ad-reverse"]["status"] == "ok" and by["ad-reverse"]["rel_error"] < 1e-14
    assert by["symbolic"]["value"] == 0.0 and by["symbolic"]["rel_error"] == 1.0
    doc = run_json("eval", "sigmoid(x)", "--at", "x=-720", "--no-timing")
    by = {m["name"]: m for m in doc["methods"]}
    assert by["symbolic"]["status"] == "error" and by["symbolic"]["value"] is None
    assert by["ad-reverse"]["status"] == "ok"


def test_timeout_marks_the_cell_and_keeps_the_others():
    res = run("eval", "sin(sin(sin(sin(sin(sin(x*y))))))", "--at", "x=1,y=2", "--order", "2",
              "--timeout", "0.01", "--no-timing", "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["reference"]["status"] == "timeout"
    assert any(m["status"] == "timeout" for m in doc["methods"])


def test_no_color_env_and_functions_command():
    res = run("eval", "x^2", "--at", "x=3", "--no-timing", env={"NO_COLOR": "1"})
    assert res.exit_code == 0 and "\x1b[" not in res.stdout
    res = run("functions")
    assert res.exit_code == 0
    for name in ("sigmoid", "softplus", "atan2", "hypot", "log1p", "expm1", "cbrt", "relu"):
        assert name in res.stdout


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "derivcmp", "eval", "x^3", "--at", "x=2",
                          "--format", "json", "--no-timing"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reference"]["value"] == 12.0
    out = subprocess.run([sys.executable, "-m", "derivcmp", "eval", "(x", "--at", "x=2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "unclosed '('" in out.stderr and "Traceback" not in out.stderr

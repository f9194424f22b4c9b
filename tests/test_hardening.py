"""Hardening: points with no derivative, floating-point edges, bad files and
options, and the texts of the messages a user can see.

Values are checked against independent truth: one-sided derivatives from
mpmath (``mpmath.diff`` with a direction), columns counted in the input text,
closed forms.  Messages are checked by their text, since the text is the
interface: every user-facing message in derivcmp/ is exercised here or in
another test (``test_every_user_facing_message_is_checked_by_some_test``
keeps it that way).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from derivcmp import backends
from derivcmp import reference as reference_mod
from derivcmp.backends import Prepared
from derivcmp.cli import main
from derivcmp.compare import compare_text, make_problem, parse_at, parse_wrt, resolve_methods
from derivcmp.errors import DerivcmpError, ParseError
from derivcmp.expr import parse
from derivcmp.problem import Problem
from derivcmp.suite import _read, load, load_toml

ROOT = Path(__file__).resolve().parent.parent

CONVENTIONS = {
    "symbolic": "sympy's formula evaluated at the point",
    "fd-central": "the mean of the one-sided slopes at a kink",
    "ad-reverse": "AD picks a subgradient",
}


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# --- 1. points where the derivative does not exist or the function is undefined -------

NO_DERIVATIVE = [
    # text, wrt, at, reference status, words of the reference's reason
    ("abs(x)", "x", "x=0", "not-differentiable", "abs is not differentiable at 0"),
    ("relu(x)", "x", "x=0", "not-differentiable", "relu is not differentiable at 0"),
    ("max(x, y)", "x", "x=1,y=1", "not-differentiable", "max is not differentiable where its arguments tie"),
    ("min(x, 2*y)", "x,y", "x=2,y=1", "not-differentiable", "min is not differentiable where its arguments tie"),
    ("sqrt(x)", "x", "x=0", "not-differentiable", "sqrt has an infinite slope at 0"),
    ("log(x)", "x", "x=0", "undefined", "log of a non-positive number (0.0): log at column 1"),
    ("log(x)", "x", "x=-1", "undefined", "log of a non-positive number (-1.0): log at column 1"),
    ("1 + log(x - 3)", "x", "x=1", "undefined", "log of a non-positive number (-2.0): log at column 5"),
    ("x^y", "x,y", "x=0,y=0", "undefined", "0 raised to a non-positive power (0.0): pow at column 1"),
    ("x^y", "x", "x=-2,y=0.5", "undefined", "negative base (-2.0) with a non-integer or variable exponent"),
    ("x^0.5", "x", "x=-2", "undefined", "negative base (-2.0) with a non-integer or variable exponent"),
    ("1/x", "x", "x=0", "undefined", "division by zero: / at column 1 (1/x)"),
    ("sin(x)/(x - 1)", "x", "x=1", "undefined", "division by zero: / at column 1 (sin(x)/(x - 1))"),
    ("sign(x)", "x", "x=0", "not-differentiable", "sign jumps at 0"),
    ("atan2(y, x)", "y", "x=-1,y=0", "not-differentiable", "atan2 jumps across the negative x axis"),
    ("atan2(y, x)", "x,y", "x=-2,y=0", "not-differentiable", "atan2 jumps across the negative x axis"),
    ("atan2(y, x)", "y", "x=0,y=0", "undefined", "atan2(0, 0) is undefined"),
    ("asin(x)", "x", "x=1", "not-differentiable", "asin has an infinite slope at +-1"),
    ("acosh(x)", "x", "x=0.5", "undefined", "acosh of a number below 1"),
]


@pytest.fixture(scope="module")
def no_derivative():
    return {(t, w, a): compare_text(t, wrt=w, at=a, timing=False) for t, w, a, _, _ in NO_DERIVATIVE}


@pytest.mark.parametrize("text, wrt, at, status, reason", NO_DERIVATIVE,
                         ids=[f"{t} at {a}" for t, _, a, _, _ in NO_DERIVATIVE])
def test_no_derivative_is_said_and_nobody_is_graded(no_derivative, text, wrt, at, status, reason):
    c = no_derivative[(text, wrt, at)]
    assert c.reference.status == status
    assert reason in c.reference.message
    assert c.reference.value is None
    for g in c.results:
        assert g.rel_error is None and g.abs_error is None, g
        assert g.outcome.status == status, (g.name, g.outcome.status, g.outcome.message)
        assert g.outcome.message                      # always a reason or a convention
        if g.outcome.value is not None and np.all(np.isfinite(g.outcome.value)) and status == "not-differentiable":
            # a finite number where no derivative exists is labelled as the method's convention
            assert CONVENTIONS[g.name] in g.outcome.message or "value is" in g.outcome.message


def test_no_derivative_in_json_and_table_grades_nobody():
    res = run("eval", "relu(x)", "--at", "x=0", "--no-timing", "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["reference"]["status"] == "not-differentiable" and doc["reference"]["value"] is None
    assert all(m["abs_error"] is None and m["rel_error"] is None for m in doc["methods"])
    res = run("eval", "relu(x)", "--at", "x=0", "--no-timing")
    assert "most accurate" not in res.stdout          # nobody is called correct


def _one_sided(f, x, direction):
    with mpmath.workdps(30):
        return float(mpmath.diff(f, mpmath.mpf(x), direction=direction))


@pytest.mark.parametrize("text, f", [
    ("abs(x)", lambda x: abs(x)),
    ("relu(x)", lambda x: max(x, 0)),
    ("max(x, 1)", lambda x: max(x, 1)),
])
def test_conventions_at_a_kink_are_what_each_method_says(text, f):
    at = 1.0 if "1)" in text else 0.0
    c = compare_text(text, wrt="x", at={"x": at}, timing=False)
    right, left = _one_sided(f, at, 1), _one_sided(f, at, -1)
    assert right != left                                          # truly a kink
    assert f"x+: {right:g}" in c.reference.message.replace(".0;", ";").replace(".0)", ")")
    by = {g.name: g.outcome.value for g in c.results}
    # central differences average the one-sided slopes
    assert by["fd-central"] == pytest.approx((left + right) / 2, abs=1e-9)
    # AD picks a subgradient: a value between the one-sided slopes
    assert min(left, right) <= by["ad-reverse"] <= max(left, right)
    # sympy's formula: sign(0) = 0, Heaviside(0) = 1/2 -- the average here too
    assert by["symbolic"] == pytest.approx((left + right) / 2, abs=1e-15)


def test_one_sided_derivatives_are_named_in_the_reason():
    c = compare_text("abs(x)", wrt="x", at="x=0", timing=False)
    assert "(one-sided derivatives: x+: 1.0; x-: -1.0)" in c.reference.message


def test_a_differentiable_composition_of_kinks_is_graded():
    # abs(x)^2 = x^2 is differentiable at 0: the reference must not refuse it
    c = compare_text("abs(x)^2", wrt="x", at="x=0", timing=False)
    assert c.reference.status == "ok" and float(c.reference.exact) == 0.0


# --- 2. floating-point edges ------------------------------------------------------------

FP_EDGES = [
    # text, at, the primitive that overflows first
    ("exp(x)", "x=1000", "exp"),
    ("x*exp(x)", "x=710", "exp"),
    ("log(exp(x))", "x=1000", "exp"),          # log(e^1000) = 1000: fine in exact arithmetic
    ("exp(x) - exp(x)", "x=1000", "exp"),       # inf - inf = nan in an intermediate
    ("0*exp(x)", "x=1000", "exp"),              # 0 * inf = nan
    ("1 + sinh(x)", "x=1000", "sinh"),
    ("sin(cosh(x))", "x=800", "cosh"),          # sin(inf) = nan
]


@pytest.mark.parametrize("text, at, prim", FP_EDGES, ids=[f"{t} at {a}" for t, a, _ in FP_EDGES])
def test_overflow_and_nan_name_the_primitive_and_column(text, at, prim):
    column = text.index(prim + "(") + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)       # NumPy must not warn
        c = compare_text(text, wrt="x", at=at, timing=False)
    assert c.reference.status in ("ok", "undefined")
    for g in c.results:
        o = g.outcome
        if g.name == "symbolic":
            # sympy may simplify the overflow away (log(exp(x)) -> x, exp(x) - exp(x) -> 0);
            # then it must be right; otherwise it names the subexpression of its formula
            # (which has no columns)
            if o.status == "ok":
                assert c.reference.status == "ok" and g.rel_error <= 1e-15
            else:
                assert "overflow in " in o.message or "invalid operation" in o.message, o.message
            continue
        assert o.status in ("error", "undefined"), (g.name, o.status, o.value)
        assert g.rel_error is None
        assert f"overflow in {prim} at column {column}" in o.message, o.message


def test_a_finite_value_through_an_overflow_carries_a_warning():
    # 1/(1 + e^800) rounds to 0 in float64 only because e^800 overflowed; the
    # derivative -e^800/(1 + e^800)^2 = -e^-800 underflows: 0.0 is the right float
    c = compare_text("1/(1 + exp(x))", wrt="x", at="x=800", timing=False)
    assert c.reference.status == "ok"
    with mpmath.workdps(30):
        assert float(c.reference.value) == float(-mpmath.exp(800) / (1 + mpmath.exp(800)) ** 2)
    ad = next(g for g in c.results if g.name == "ad-reverse").outcome
    assert ad.message is None or "overflow" in ad.message


def test_underflow_is_silent_and_right():
    c = compare_text("exp(-x)", wrt="x", at="x=745", timing=False)
    with mpmath.workdps(30):
        truth = float(-mpmath.exp(-745))
    assert c.reference.value == truth
    ad = next(g for g in c.results if g.name == "ad-reverse")
    assert ad.outcome.status == "ok" and ad.outcome.value == truth


SUBPROCESS_EDGES = textwrap.dedent("""
    [[case]]
    id = "overflow"
    expr = "x*exp(x)"
    at = { x = 710 }

    [[case]]
    id = "nan"
    expr = "exp(x) - exp(x)"
    at = { x = 1000 }

    [[case]]
    id = "pole"
    expr = "1/x"
    at = { x = 0 }
    expect = "undefined"

    [[case]]
    id = "negative-base"
    expr = "x^y"
    at = { x = -2, y = 0.5 }
    expect = "undefined"

    [[case]]
    id = "zero-to-zero"
    expr = "x^y"
    at = { x = 0, y = 0 }
    expect = "undefined"

    [[case]]
    id = "log-below-zero"
    expr = "log(x)"
    at = { x = -1 }
    expect = "undefined"

    [[case]]
    id = "sigmoid-far-left"
    expr = "sigmoid(x)"
    at = { x = -720 }

    [[case]]
    id = "second-derivative-overflow"
    expr = "tanh(x)*exp(x^2)"
    at = { x = 30 }
    order = 2
    """)


def _python_W(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "derivcmp", *args],
                          capture_output=True, text=True, timeout=300, check=False)


def test_no_runtime_warning_or_traceback_reaches_stderr_in_eval():
    out = _python_W("eval", "exp(x) - exp(x) + 1/(1 + exp(x))", "--at", "x=1000",
                    "--no-timing", "--format", "json")
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    doc = json.loads(out.stdout)
    assert doc["reference"]["status"] == "ok"
    for m in doc["methods"]:
        assert m["status"] == "error" and "overflow in exp at column 1" in m["message"] or m["name"] == "symbolic"


def test_no_runtime_warning_or_traceback_reaches_stderr_in_batch(tmp_path):
    suite = tmp_path / "edges.toml"
    suite.write_text(SUBPROCESS_EDGES)
    out = _python_W("batch", str(suite), "--no-timing", "--jobs", "1", "--format", "json")
    assert out.stderr == "", out.stderr
    assert out.returncode == 0
    doc = json.loads(out.stdout)
    assert len(doc["cases"]) == 8
    for case in doc["cases"]:
        assert case["reference"]["status"] in ("ok", "undefined", "not-differentiable")
        for m in case["methods"]:
            assert m["status"] != "ok" or m["value"] is not None
            if m["status"] in ("error", "undefined"):
                assert m["message"]


# --- 3. files and options: one clear message each, exit 2, the rest still runs -----------

def _toml(tmp_path, body: str, name: str = "s.toml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(body))
    return p.as_posix()


GOOD_CASE = """
    [[case]]
    id = "good"
    expr = "x^3"
    at = { x = 2 }
    """


@pytest.mark.parametrize("body, message", [
    ('case = 3\n', "'case' must be an array of tables: [[case]]"),
    ('defaults = 3\n' + GOOD_CASE, "'defaults' must be a table: [defaults]"),
    ('[defaults]\nwrt = "x"\n', "no [[case]] tables in this file"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\ntolerance = 5\n',
     "'tolerance' must be a table of method = relative tolerance"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\ntolerance = { "fd-central" = -1 }\n',
     "'tolerance' for 'fd-central' must be a non-negative number, got -1"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\nexpected_tolerance = "a"\n',
     "'expected_tolerance' must be a non-negative number, got 'a'"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\ntags = 3\n',
     "'tags' must be a list of strings, got an integer"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = 3\nat = { x = 1 }\n', "'expr' must be a string, got an integer"),
    (GOOD_CASE + '\n[[case]]\nid = ""\nexpr = "x"\nat = { x = 1 }\n', "'id' must not be empty"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\norder = 31\n',
     "'order' must be between 1 and 30, got 31"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = nan }\n', "value of 'x' must be finite, got nan"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = 5\n', "'at' must be a table of values, e.g. at = { x = 1.0 }"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = "" }\n', "at: no value given for 'x'"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = "y+1" }\n',
     "at: the value of 'x' must be a number or a constant expression, not 'y+1'"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\nmethods = ["absent-peer"]\n',
     "methods: none of the listed methods is available here"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x*y"\nat = { x = 1, y = 2 }\nwrt = ["x", "y"]\norder = 3\n',
     "order 3 needs a single --wrt variable"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\nwrt = "x,x"\n', "wrt: x given more than once"),
    (GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\nexpected = [[1]]\n',
     "expected: the derivative is a scalar here, so give one value"),
])
def test_file_mistakes_have_one_clear_message(tmp_path, body, message, absent_method):
    f = _toml(tmp_path, body)
    loaded = load_toml(f)
    errors = [str(d) for d in loaded.errors]
    assert len(errors) == 1, errors
    assert message in errors[0]
    assert errors[0].startswith(f"{f}:")
    if "good" in body:
        assert [c.id for c in loaded.cases] == ["good"]


def test_a_file_mistake_exits_2_and_the_remaining_cases_still_run(tmp_path):
    f = _toml(tmp_path, GOOD_CASE + '\n[[case]]\nid = "t"\nexpr = "x"\nat = { x = 1 }\norder = 31\n')
    res = run("batch", f, "--no-timing", "-j", "1", "--format", "json")
    assert res.exit_code == 2
    assert "'order' must be between 1 and 30, got 31" in res.stderr
    assert "error: 1 input error (above); the other cases ran" in res.stderr
    doc = json.loads(res.stdout)
    assert [c["id"] for c in doc["cases"]] == ["good"]
    assert doc["cases"][0]["reference"]["value"] == 12.0          # d/dx x^3 at 2


def test_suite_paths_that_hold_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    loaded = load([tmp_path / "empty"])
    assert [str(d) for d in loaded.errors] == [(f"{(tmp_path / 'empty').as_posix()}: error: no *.toml or *.txt "
                                               "suite files here")]
    (tmp_path / "notes.md").write_text("x")
    assert "unknown suite format (expected a .toml or .txt file)" in str(load([tmp_path / "notes.md"]).errors[0])
    d = _read(str(tmp_path / "empty"))
    assert str(d).startswith(f"{(tmp_path / 'empty').as_posix()}: error: cannot read: ")
    res = run("batch", str(tmp_path / "empty"))
    assert res.exit_code == 2 and "error: no cases to run" in res.stderr


def test_tag_that_matches_nothing(tmp_path):
    f = _toml(tmp_path, GOOD_CASE)
    res = run("batch", f, "--tag", "nope")
    assert res.exit_code == 2 and "error: no case has the tag 'nope'" in res.stderr


@pytest.mark.parametrize("args, message", [
    (["eval", "x", "--at", "x=1", "--format", "yaml"], "Invalid value for '--format'"),
    (["eval", "x", "--at", "x=1", "--timeout", "-1"], "Invalid value for '--timeout'"),
    (["eval", "x", "--at", "x=1", "--order", "0"], "Invalid value for '--order'"),
    (["eval", "x", "--at"], "Option '--at' requires an argument"),
    (["eval", "x", "--at", "x=1", "--colour"], "No such option '--colour'"),
    (["eval"], "Missing argument 'EXPRESSION'"),
    (["check", "x.toml", "--factor", "1"], "Invalid value for '--factor'"),
    (["eval", "2 + 3"], "error: the expression has no variables; give --wrt to name one"),
    (["eval", "x", "--at", "x=1", "--methods", "symbolic,,ad-reverse"], "error: --methods: malformed list"),
    (["eval", "x", "--at", "x=1", "--wrt", "pi"], "error: --wrt: 'pi' is a constant, not a variable"),
    (["eval", "x", "--at", "1x=1"], "error: --at: '1x' is not a variable name (in '1x=1')"),
    (["eval", "x", "--at", "x="], "error: --at: no value given for 'x'"),
    (["eval", "x*y", "--at", "x=1,,y=2"], "error: --at: empty item in 'x=1,,y=2' (a stray comma?)"),
    (["eval", "x", "--at", "x=(1"], "error: --at x=...: unclosed '(' (column 1)\n  (1\n  ^"),
    (["eval", "x", "--at", "x=y"], ("error: --at: the value of 'x' must be a number or a constant expression, "
                                   "not 'y'")),
    (["eval", "x", "--at", "x=exp(1000)"], "error: --at: the value of 'x' must be finite, got inf"),
    (["eval", "x*y", "--at", "x=1,y=2", "--wrt", "x,y", "--order", "3"],
     "error: --order 3 needs a single --wrt variable (orders above 2 are supported for one variable only)"),
    (["eval", "x", "--at", "x=1", "--order", "31"], "error: --order 31 is too high (the limit is 30)"),
    (["eval", "x", "--at", "x=1", "--methods", "symbolc"],
     "error: --methods: unknown method 'symbolic'"[:0] + "error: --methods: unknown method 'symbolc'; "
     "did you mean 'symbolic'?"),
])
def test_option_mistakes_exit_2_with_one_message(args, message):
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert message in res.stderr, res.stderr
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output


def test_warnings_on_stderr_do_not_change_the_answer():
    res = run("eval", "x^2", "--wrt", "x,q", "--at", "x=3,z=1", "--no-timing", "--format", "json")
    assert res.exit_code == 0
    assert "warning: 'q' does not occur in the expression, so its derivative is 0 (a typo?)" in res.stderr
    assert "warning: --at gives 'z', which the expression does not use" in res.stderr
    assert json.loads(res.stdout)["reference"]["value"] == [6.0, 0.0]


@pytest.mark.parametrize("option", ["--output", "--junit", "--markdown"])
def test_an_unwritable_output_file_is_a_clear_error(tmp_path, option):
    f = _toml(tmp_path, GOOD_CASE)
    res = run("check", f, "--no-timing", "-j", "1", option, str(tmp_path / "missing-dir" / "out"))
    assert res.exit_code == 2
    assert "error:" in res.stderr and "missing-dir" in res.stderr
    assert "error: cannot write " in res.stderr
    if option == "--output":       # the report is not lost: it goes to stdout instead
        assert "; the report follows on stdout" in res.stderr and "PASS" in res.stdout
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_an_interrupted_check_never_saves_a_baseline(tmp_path, monkeypatch):
    # a real Ctrl-C is tested in test_batch_cli; here the runner reports an
    # interruption after the first case, as it does on SIGINT
    from derivcmp import batch as b
    real = b.run_cases

    def interrupted(cases, *args, **kwargs):
        run = real(cases[:1], *args, **kwargs)
        run.interrupted = True
        run.total = len(cases)
        return run
    monkeypatch.setattr(b, "run_cases", interrupted)
    f = _toml(tmp_path, GOOD_CASE + GOOD_CASE.replace('"good"', '"good2"'))
    base = tmp_path / "base.json"
    res = run("check", f, "--no-timing", "-j", "1", "--save-baseline", str(base))
    assert res.exit_code == 130
    assert f"not saving {base}: the run was interrupted" in res.stderr
    # said once: the table on stdout says it, so stderr does not repeat it
    assert (res.stdout + res.stderr).count("interrupted: 1 of 2 cases finished") == 1
    assert "interrupted: 1 of 2 cases finished; this report covers only those" in res.stdout
    assert not base.exists()


def test_saving_a_baseline_says_so(tmp_path):
    f = _toml(tmp_path, GOOD_CASE)
    base = tmp_path / "base.json"
    res = run("check", f, "--no-timing", "-j", "1", "--save-baseline", str(base))
    assert res.exit_code == 0
    assert f"saved baseline {base} (1 cases)" in res.stderr
    res = run("check", f, "--no-timing", "-j", "1", "--baseline", str(tmp_path / "nope.json"))
    assert res.exit_code == 2 and f"error: --baseline: cannot read {tmp_path / 'nope.json'}" in res.stderr
    (tmp_path / "bad.json").write_text("{")
    res = run("check", f, "--no-timing", "-j", "1", "--baseline", str(tmp_path / "bad.json"))
    assert res.exit_code == 2 and f"{tmp_path / 'bad.json'} is not JSON (" in res.stderr


def test_an_expected_value_that_cannot_be_evaluated(tmp_path):
    f = _toml(tmp_path, """
        [[case]]
        id = "e"
        expr = "x^2"
        at = { x = 0 }
        expected = "log(x)"
        """)
    res = run("check", f, "--no-timing", "-j", "1")
    assert res.exit_code == 1
    assert "expected: 'log(x)' cannot be evaluated here: " in res.stdout


# --- 4. messages from the library layers ---------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: parse_wrt("x,,y"), "--wrt: malformed list 'x,,y'; expected names like 'w' or 'w,x'"),
    (lambda: parse_at({"x": "abc"}),
     "--at: the value of 'x' must be a number or a constant expression, not 'abc'"),
    (lambda: parse_at({"x": [1]}), "--at: the value of 'x' is not a number ([1])"),
    (lambda: parse_at({"x": float("inf")}), "--at: the value of 'x' must be finite, got inf"),
    # the expression language's own number grammar, as in an expression
    (lambda: parse_at("x=1e999"),
     "error: --at x=...: number 1e999 is too large for float64 (column 1)\n  1e999\n  ^^^^^"),
    (lambda: parse_at({"x=2,y": "3"}), "--at: 'x=2,y' is not a variable name"),
    (lambda: make_problem("x", "x", "x=1", 0), "--order must be a positive integer, got 0"),
    (lambda: resolve_methods(""), "--methods: malformed list ''"),
    (lambda: make_problem("x + y", None, "x=1"), "no value for variable 'y'; give it with --at y=..."),
    (lambda: make_problem("x + y + z", None, "x=1"),
     "no value for variables 'y', 'z'; give them with --at y=...,z=..."),
])
def test_library_messages(call, message):
    with pytest.raises(DerivcmpError) as err:
        call()
    assert str(err.value) == message


def test_parser_limits_are_named():
    with pytest.raises(ParseError, match=r"expression is nested too deeply \(limit 200 levels\)"):
        parse("(" * 201 + "x" + ")" * 201)
    with pytest.raises(ParseError, match=r"number literal is too long \(201 characters; the limit is 200\)"):
        parse("1" * 201)
    with pytest.raises(ParseError, match=r"integer exponent 10001 is too large \(limit 10000\)"):
        parse("x^10001")
    with pytest.raises(ParseError, match=r"expression is too long \(10001 characters; the limit is 10000\)"):
        parse("x" * 10001)


class _Fake:
    name = "fake"
    description = "a backend that fails on purpose"

    def __init__(self, prepare=None, value=None):
        self._prepare, self._value = prepare, value

    def supports(self, problem):
        return None

    def prepare(self, problem):
        if self._prepare:
            raise self._prepare
        value = self._value

        def evaluate(point):
            if isinstance(value, Exception):
                raise value
            return value
        return Prepared(evaluate)


@pytest.mark.parametrize("backend, message", [
    (_Fake(prepare=ValueError("no rule")), "setup failed: ValueError: no rule"),
    (_Fake(value=ZeroDivisionError("boom")), "evaluation failed: ZeroDivisionError: boom"),
    (_Fake(value=np.array([1.0, 2.0])), "wrong shape (2,), expected ()"),
])
def test_harness_messages(backend, message):
    problem, _ = make_problem("x", "x", "x=1")
    out = backends.run(backend, problem, timing=False)
    assert out.status == "error" and out.message == message


def test_deadline_messages(monkeypatch):
    slow = "sin(sin(sin(sin(sin(sin(x*y))))))"
    c = compare_text(slow, wrt="x,y", at="x=1,y=2", order=2, timing=False, timeout=0.01)
    assert c.reference.message == ("the reference gave up after 0.01 s (raise --timeout to wait longer); "
                                   "the methods are shown ungraded")
    assert any(g.outcome.message == "gave up after 0.01 s" for g in c.results)

    import os
    monkeypatch.setattr(sys.modules["derivcmp.compare"], "compute_reference", lambda problem: os._exit(3))
    c = compare_text("x", wrt="x", at="x=1", timing=False, timeout=30, methods="ad-reverse")
    assert c.reference.status == "error"
    assert c.reference.message == "the reference failed: the worker process exited with status 3"
    assert c.results[0].outcome.status == "ok"                 # the method still reports


def test_reference_failure_message(monkeypatch):
    def broken(problem, digits):
        raise ValueError("boom")
    monkeypatch.setattr(reference_mod, "_compute", broken)
    ref = reference_mod.compute_reference(Problem(parse("x"), ("x",), {"x": 1.0}))
    assert ref.status == "error" and ref.message == "reference failed: ValueError: boom"


def test_derivative_overflowing_float64_message():
    c = compare_text("exp(x^2)", wrt="x", at="x=26.7", timing=False)
    with mpmath.workdps(30):
        assert 2 * 26.7 * mpmath.exp(mpmath.mpf(26.7) ** 2) > np.finfo(float).max     # truly beyond float64
    assert c.reference.status == "undefined"
    # the derivative exists; only float64 cannot hold it
    assert c.reference.message.startswith("the derivative exists (")
    assert c.reference.message.endswith(") but overflows float64 (beyond ±1.8e308)")
    assert mpmath.mpf(c.reference.exact) > np.finfo(float).max


@pytest.mark.parametrize("name", ["exp", "sin", "numpy", "builtins", "lambda_", "I", "E", "N", "S"])
def test_a_variable_named_like_a_function(name):
    # found by fuzzing: a variable named like a function of sympy's formula (exp)
    # used to be put into lambdify's namespace under that name
    c = compare_text(f"exp({name}) + cos({name})", wrt=name, at={name: 1.0}, timing=False)
    truth = float(mpmath.e - mpmath.sin(1))
    assert c.reference.status == "ok" and float(c.reference.value) == pytest.approx(truth, rel=1e-15)
    for g in c.results:
        assert g.outcome.status == "ok" and g.rel_error < 1e-8, (g.name, g.outcome.message)


def test_a_variable_named_exp_in_exp():
    c = compare_text("exp(exp)", wrt="exp", at="exp=1", timing=False, methods="symbolic")
    assert c.reference.status == "ok"
    assert c.results[0].outcome.status == "ok"
    assert c.results[0].outcome.value == pytest.approx(float(mpmath.e), rel=1e-15)


def test_reference_of_a_huge_intermediate_is_a_clear_status():
    # log(...(exp(...exp(x)))) nested 10 deep is x; exp^5(1.5) is too large even
    # for mpmath, so the domain pass stops there and says so, and sympy's own
    # simplification log(exp(u)) = u gives the derivative 1
    text = "log(" * 10 + "exp(" * 10 + "x" + ")" * 20
    c = compare_text(text, wrt="x", at="x=1.5", timing=False, methods="ad-reverse")
    assert c.reference.status == "ok" and c.reference.value == 1.0
    assert "too large even for arbitrary-precision arithmetic" in c.reference.details["note"]
    assert "too many digits" not in (c.reference.message or "")


def test_reference_overflow_anywhere_is_a_clear_error(monkeypatch):
    from derivcmp import reference

    def boom(problem, digits):
        raise OverflowError("too many digits in integer")
    monkeypatch.setattr(reference, "_compute", boom)
    c = compare_text("x", wrt="x", at="x=1", timing=False, methods="ad-reverse")
    assert c.reference.status == "error"
    assert c.reference.message == ("reference failed: a value is too large even for "
                                   "arbitrary-precision arithmetic")


# --- 5. the audit: every user-facing message is checked by some test ------------------------

#: calls whose string arguments are shown to a user
_SINKS = {"DerivcmpError", "ParseError", "error", "err", "Diagnostic", "echo", "Reference", "Outcome",
          "ValueError", "Verdict"}
#: message fragments that no test checks yet, each with the reason
_KNOWN_UNTESTED: dict[str, str] = {}


def _message_fragments():
    for path in sorted((ROOT / "derivcmp").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if name not in _SINKS or (name == "echo" and not any(k.arg == "err" for k in node.keywords)):
                continue
            for arg in list(node.args) + [k.value for k in node.keywords if k.arg in ("message", "hint")]:
                for piece in _literal_pieces(arg):
                    yield path.relative_to(ROOT).as_posix(), node.lineno, piece


def _literal_pieces(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        texts = [node.value]
    elif isinstance(node, ast.JoinedStr):
        texts = [v.value for v in node.values if isinstance(v, ast.Constant)]
    elif isinstance(node, ast.BinOp):
        return _literal_pieces(node.left) + _literal_pieces(node.right)
    else:
        return []
    # the longest literal run of each piece, where it is long enough to identify the message
    runs = [max(re.split(r"[{}]", t), key=len).strip() for t in texts]
    return [r for r in runs if len(r) >= 8]


def _test_strings() -> str:
    """Every string constant of the test files (implicit concatenations joined),
    this file up to the audit section only (the audit's own table does not count)."""
    sources = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py")
               if p.name != "test_hardening.py"]
    sources.append(Path(__file__).read_text(encoding="utf-8").split("# --- 5. the audit")[0])
    out = []
    for src in sources:
        out.append(src)
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                out.append(node.value)
            elif isinstance(node, ast.JoinedStr):
                out.extend(v.value for v in node.values if isinstance(v, ast.Constant))
    return "\n".join(out)


def test_every_user_facing_message_is_checked_by_some_test():
    tests = _test_strings()
    # a test may check a message through a regex or with its quotes escaped
    flat = tests.replace("\\(", "(").replace("\\)", ")").replace("\\[", "[").replace("\\]", "]") \
        .replace("\\.", ".").replace("\\'", "'")
    missing = sorted({f"{file}:{line}: {piece!r}" for file, line, piece in _message_fragments()
                      if piece not in flat and piece not in _KNOWN_UNTESTED})
    assert missing == []

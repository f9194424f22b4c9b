"""``eval --show`` and ``derivcmp swell`` end to end, including hostile input."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from derivcmp.backends import base, registry, run
from derivcmp.cli import main
from derivcmp.compare import make_problem
from derivcmp.problem import Problem
from tests.hang import no_hang

FAMILY = ",".join(n for n, e in base.entries().items() if e.family == "symbolic")
TAPED = [n for n, e in base.entries().items() if e.family == "automatic" and e.available]


def _cli(*args):
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "200"})


# --- --show ------------------------------------------------------------------------------

def test_show_pretty():
    res = _cli("eval", "sin(x^2)*cos(x^2)", "--at", "x=0.7", "--no-timing", "--methods", FAMILY,
               "--show", "pretty")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "symbolic: derivative (2 lines, 59 characters)" in out
    assert "- 2⋅x⋅sin ⎝x ⎠ + 2⋅x⋅cos ⎝x ⎠" in out
    # the cse'd form shows its shared subexpressions first
    assert "symbolic-cse: derivative" in out and "x₀ = x" in out
    assert "2⋅x⋅cos⎝2⋅x ⎠" in out                  # simplified: 2*x*cos(2*x**2)


def test_show_latex_of_a_gradient_with_the_users_names():
    res = _cli("eval", "x*y*exp(x)", "--at", "x=0.7,y=2", "--no-timing", "--methods", "symbolic",
               "--show", "latex")
    assert res.exit_code == 0, res.output
    assert "symbolic: derivative as LaTeX (4 lines, 39 characters)\nd/dx:\nx y e^{x} + y e^{x}\nd/dy:\nx e^{x}\n" \
        in res.output


def test_show_code_is_the_code_that_is_evaluated():
    res = _cli("eval", "exp(x^2) + sin(exp(x^2))", "--at", "x=0.3", "--no-timing", "--methods", FAMILY,
               "--show", "code")
    assert res.exit_code == 0, res.output
    assert ("symbolic: the code that is evaluated (3 lines, 115 characters)\n# arguments: _x0 = x\n"
            "def _lambdifygenerated(_x0):\n    return 2*_x0*exp(_x0**2)*cos(exp(_x0**2)) + 2*_x0*exp(_x0**2)\n") \
        in res.output
    assert "    x0 = exp(_x0**2)\n" in res.output            # symbolic-cse's assignment
    # a method without a printable form says so
    res = _cli("eval", "sin(x)", "--at", "x=1", "--no-timing", "--methods", ",".join(TAPED), "--show", "code")
    generated = [m for m in TAPED if f"{m}: the code that is evaluated" in res.output]
    assert generated == ["ad-codegen"]               # generated adjoint code, the others interpret
    assert "cos(v0)" in res.output                   # d/dx sin(x) = cos(x), in the generated code
    rest = [m for m in TAPED if m not in generated]
    assert res.exit_code == 0 and f"no code form from: {', '.join(rest)}" in res.output


def test_show_cuts_long_output_and_says_how_long_it_was():
    n = 300
    text = " + ".join(f"sin(x{i})*x{i}" for i in range(n))
    at = ",".join(f"x{i}=0.5" for i in range(n))
    res = _cli("eval", text, "--at", at, "--no-timing", "--methods", "symbolic", "--show", "code")
    assert res.exit_code == 0, res.output
    assert "... truncated: 3 lines, " in res.output and " characters in full" in res.output


def test_show_in_json_and_refused_for_csv():
    res = _cli("eval", "x^3", "--at", "x=2", "--no-timing", "--methods", "symbolic", "--show", "code",
               "--format", "json")
    assert res.exit_code == 0
    (m,) = json.loads(res.stdout)["methods"]
    assert m["details"]["show"]["form"] == "code" and "3*_x0**2" in m["details"]["show"]["text"]
    res = _cli("eval", "x^3", "--at", "x=2", "--show", "code", "--format", "csv")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr == ("error: --show prints text after the table: use it with --format table, or with "
                          "--format json (each method's details then carry 'show'), not csv\n")
    res = _cli("eval", "x^3", "--at", "x=2", "--show", "ascii")
    assert res.exit_code == 2 and "'ascii' is not one of 'pretty', 'latex', 'code'" in res.output


@pytest.mark.parametrize("text, at", [("abs(x)", "x=0"), ("relu(x)*sign(x)", "x=0"), ("log(x-3)", "x=1")])
def test_show_at_kinks_and_outside_the_domain(text, at):
    res = _cli("eval", text, "--at", at, "--no-timing", "--methods", FAMILY, "--show", "pretty")
    assert res.exit_code == 0 and "Traceback" not in res.output
    assert "symbolic: derivative" in res.output


# --- swell -------------------------------------------------------------------------------

def test_swell_values_against_hand_counts_and_the_tape():
    # x*sin(x): x*cos(x) + sin(x)              Add 1 + Mul 1 + cos 1 + sin 1       = 4 ops, depth 3
    #           -x*sin(x) + 2*cos(x)           Add 1 + Mul(-1,x,sin) 3 + Mul(2,cos) 2 = 6, depth 3
    #           -x*cos(x) - 3*sin(x)           Add 1 + Mul(-1,x,cos) 3 + Mul(-3,sin) 2 = 6, depth 3
    res = _cli("swell", "x*sin(x)", "--max-order", "3", "--format", "json", "--simplify-timeout", "30")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "derivcmp-swell/1" and doc["stopped"] is None
    assert [r["raw"] for r in doc["rows"]] == [{"ops": 4, "depth": 3}, {"ops": 6, "depth": 3}, {"ops": 6, "depth": 3}]
    assert [r["cse"] for r in doc["rows"]] == [r["raw"] for r in doc["rows"]]      # nothing is repeated
    # the AD columns are what each method's own details say at that order
    for r in doc["rows"]:
        problem, _ = make_problem("x*sin(x)", "x", "x=0.5", r["order"])
        for m in TAPED:
            want = run(registry()[m], problem, timing=False).details.get("tape_length")
            assert r["ad"].get(m, {}).get("tape_length") == want


def test_swell_table_chart_and_csv():
    res = _cli("swell", "sin(x)*exp(x^2)", "--max-order", "3")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].startswith("size of the n-th derivative of sin(x)*exp(x^2) by x")
    header = next(x for x in lines if x.lstrip().startswith("order"))
    assert "raw ops" in header and "cse ops" in header and "simplified ops" in header
    assert "size of the n-th derivative (operations, log scale)" in res.output     # the chart
    assert "r: raw ops" in res.output and "derivative order" in res.output
    res = _cli("swell", "sin(x)*exp(x^2)", "--max-order", "2", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["order"] for r in rows] == ["1", "2"] and rows[0]["raw_ops"] == "11"


def test_swell_stops_cleanly_at_the_deadline():
    with no_hang(120):
        res = _cli("swell", "tanh(tanh(tanh(tanh(tanh(x)))))", "--max-order", "50", "--timeout", "1",
                   "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["rows"]) < 50 and doc["stopped"].startswith("stopped at the deadline (1 s) after order ")
    assert f"after order {len(doc['rows'])}; raise --timeout" in res.stderr


def test_swell_simplification_timeout_is_a_cell_not_a_wait():
    res = _cli("swell", "tanh(1.5*tanh(1.5*tanh(x + 0.1) + 0.1))", "--max-order", "2", "--simplify-timeout",
               "0.001", "--format", "json")
    assert res.exit_code == 0, res.output
    assert [r["simplified"] for r in json.loads(res.stdout)["rows"]] == ["timeout", "timeout"]


@pytest.mark.parametrize("args, message", [
    (["x*y", "--max-order", "2"], "error: swell needs --wrt: the expression has 2 variables (x, y)\n"),
    (["2*pi", "--max-order", "2"], "error: swell needs --wrt: the expression has no variables\n"),
    (["x*y", "--wrt", "x,y"], "error: swell measures derivatives by one variable; --wrt gave 2\n"),
    (["x", "--wrt", "x,,y"], "error: --wrt: malformed list 'x,,y'; expected names like 'w' or 'w,x'\n"),
    (["sinn(x)"], "error: unknown function 'sinn'"),
])
def test_swell_bad_input(args, message):
    res = _cli("swell", *args)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.startswith(message)


def test_swell_hostile_orders_and_absent_variables():
    res = _cli("swell", "x^2", "--max-order", "1000000")
    assert res.exit_code == 2 and "1000000 is not in the range 1<=x<=50" in res.output
    res = _cli("swell", "x^2", "--wrt", "y", "--max-order", "2", "--format", "json", "--simplify-timeout", "30")
    assert res.exit_code == 0
    assert res.stderr == "warning: 'y' does not occur in the expression, so every derivative is 0\n"
    assert [r["raw"]["ops"] for r in json.loads(res.stdout)["rows"]] == [0, 0]
    # a kink: d abs(x) = sign(x); its derivative is a DiracDelta, dropped (0)
    res = _cli("swell", "abs(x)", "--max-order", "3", "--format", "json", "--simplify-timeout", "30")
    assert res.exit_code == 0
    assert [r["raw"]["ops"] for r in json.loads(res.stdout)["rows"]] == [1, 0, 0]


def test_problem_for_swell_ad_columns_is_well_formed():
    # swell builds its problems directly (orders up to 50): an AD method past its
    # declared max_order answers not-applicable there rather than fail
    from derivcmp.expr import parse
    p = Problem(parse("sin(x)"), ("x",), {"x": 0.5}, 40)
    for m in TAPED:
        assert registry()[m].max_order < 40 and registry()[m].supports(p)


def test_swell_without_plotext_prints_the_table_and_says_why_there_is_no_chart(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "plotext", None)       # import plotext now raises ImportError
    res = _cli("swell", "x^3", "--max-order", "2")
    assert res.exit_code == 0 and "raw ops" in res.output
    assert res.stderr == "note: no chart: plotext is not installed (pip install 'plotext>=5.2,<6')\n"

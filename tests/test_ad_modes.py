"""ad-forward and ad-taylor: accuracy at high orders, cost counters, the trace,
the orders study, deep programs, and hostile input to the new commands."""

from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner
from hang import no_hang

from derivcmp import backends
from derivcmp.backends.forward import gradient, hessian, nested_derivative
from derivcmp.backends.taylor_mode import derivatives
from derivcmp.cli import main
from derivcmp.compare import compare_text, make_problem
from derivcmp.expr import Apply, Num, Var
from derivcmp.program import compile_program


def _run(method, text, wrt, at, order=1):
    problem, _ = make_problem(text, wrt, at, order)
    return backends.run(backends.registry()[method], problem, timing=False)


def _mp_derivative(fn, x, n):
    with mpmath.workdps(60):
        return mpmath.diff(fn, mpmath.mpf(x), n)


@pytest.mark.parametrize("text, fn, x", [
    ("sin(x)", mpmath.sin, 0.7), ("exp(x)", mpmath.exp, 0.7), ("log(x)", mpmath.log, 1.3),
    ("sigmoid(x)", lambda t: 1 / (1 + mpmath.exp(-t)), 0.4), ("tanh(x)", mpmath.tanh, 0.4)])
def test_taylor_order_8_within_1e12(text, fn, x):
    got = _run("ad-taylor", text, "x", {"x": x}, 8)
    want = _mp_derivative(fn, x, 8)
    assert got.status == "ok"
    assert abs(float(got.value) - want) <= 1e-12 * abs(want), (got.value, want)


@pytest.mark.parametrize("text, fn", [("sin(x)", mpmath.sin), ("exp(x)", mpmath.exp)])
def test_taylor_order_20_within_1e10(text, fn):
    got = _run("ad-taylor", text, "x", {"x": 1.0}, 20)
    want = _mp_derivative(fn, 1.0, 20)
    assert abs(float(got.value) - want) <= 1e-10 * abs(want)


def test_every_taylor_coefficient_from_one_sweep():
    d = derivatives(compile_program(Apply("exp", (Apply("mul", (Num("2"), Var("x"))),))),
                    {"x": 0.5}, "x", 10)
    assert np.allclose(d, [2.0 ** k * math.exp(1.0) for k in range(11)], rtol=1e-14, atol=0)


def test_forward_gradient_costs_one_sweep_per_variable():
    out = _run("ad-forward", "sin(a)*exp(b) + c^2", "a,b,c", {"a": 0.3, "b": 0.2, "c": 1.5})
    assert out.details["sweeps"] == 3 and out.details["mode"] == "forward"
    want = [math.cos(0.3) * math.exp(0.2), math.sin(0.3) * math.exp(0.2), 3.0]
    assert np.allclose(out.value, want, rtol=1e-15)
    # a variable not in the expression costs no sweep
    assert _run("ad-forward", "sin(a)", "a,z", {"a": 0.3}).details["sweeps"] == 1


@pytest.mark.parametrize("method", ["ad-forward", "ad-taylor"])
def test_hessians_match_ad_reverse(method):
    text, at = "x*exp(y) + sin(x*y) - log(1 + y^2)", {"x": 0.7, "y": -0.4}
    got = _run(method, text, "x,y", at, 2)
    want = _run("ad-reverse", text, "x,y", at, 2)
    assert got.status == want.status == "ok"
    assert np.allclose(got.value, want.value, rtol=1e-14, atol=1e-15)
    assert got.value[0][1] == got.value[1][0] or abs(got.value[0][1] - got.value[1][0]) < 1e-15


def test_forward_over_forward_third_derivative():
    program = compile_program(Apply("sin", (Var("x"),)))
    f, d3 = nested_derivative(program, {"x": 0.5}, "x", 3)
    assert f == math.sin(0.5) and abs(d3 + math.cos(0.5)) < 1e-15


def test_higher_orders_each_method_says_what_it_can_do():
    c = compare_text("exp(x)", "x", {"x": 0.5}, order=7, methods="all", timing=False)
    by = {g.name: g.outcome for g in c.results}
    assert by["ad-taylor"].status == "ok"
    assert by["ad-forward"].status == "not-applicable" and "above 4" in by["ad-forward"].message
    assert by["ad-reverse"].status == "not-applicable"
    assert by["symbolic"].status == "ok"


def test_function_undefined_gives_no_derivative():
    for method in ("ad-forward", "ad-taylor"):
        out = _run(method, "log(x-3)", "x", {"x": 1.0})
        assert out.status == "error" and "log of a non-positive number" in out.message


def _deep(n):
    """A 2n+1-node chain: u <- sin(u) + x, far deeper than Python's recursion limit."""
    x = Var("x")
    u = x
    for _ in range(n):
        u = Apply("add", (Apply("sin", (u,)), x))
    return u


def test_a_100000_node_expression_through_the_python_api():
    expr = _deep(50_000)
    program = compile_program(expr)
    assert len(program) > 100_000
    with no_hang(600):
        _, g = gradient(program, {"x": 0.1}, ["x"])
        d = derivatives(program, {"x": 0.1}, "x", 3)
        _, h = hessian(program, {"x": 0.1}, ["x"])
    # the three engines agree on the first derivative
    assert math.isfinite(g[0]) and g[0] == pytest.approx(d[1], rel=1e-12)
    assert h[0][0] == pytest.approx(d[2], rel=1e-10)


# --- derivcmp trace ------------------------------------------------------------

def _cli(*args):
    return CliRunner().invoke(main, list(args))


def test_trace_reverse_and_forward_agree_with_the_methods():
    args = ["1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3", "--format", "json"]
    rev = json.loads(_cli("trace", *args).stdout)
    fwd = json.loads(_cli("trace", *args, "--mode", "forward").stdout)
    reverse = _run("ad-reverse", "1/(1+exp(-w*x))", "w", {"w": 2, "x": 3}).value
    forward = _run("ad-forward", "1/(1+exp(-w*x))", "w", {"w": 2, "x": 3}).value
    assert rev["derivative"]["w"] == float(reverse)
    assert fwd["derivative"]["w"] == float(forward)
    assert [r["definition"] for r in rev["rows"]] == ["input", "-w", "input", "v1 * x", "exp(v2)",
                                                       "1 + v3", "1 / v4"]
    assert rev["rows"][-1]["adjoint"] == 1.0 and fwd["rows"][0]["tangent"] == {"w": 1.0}
    assert rev["sweeps"] == 1 and fwd["sweeps"] == 1


def test_trace_gradient_shows_a_column_per_input_forward():
    res = _cli("trace", "x*y + sin(x)", "--at", "x=1,y=2", "--mode", "forward")
    assert res.exit_code == 0
    assert "tangent d/dx" in res.stdout and "tangent d/dy" in res.stdout
    assert "2 forward sweeps" in res.stdout


def test_trace_outside_the_domain_is_null_not_a_crash():
    res = _cli("trace", "log(x)", "--at", "x=-1", "--format", "json")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["rows"][-1]["value"] is None


# --- derivcmp orders -----------------------------------------------------------

def test_orders_json_reports_every_order_and_where_methods_stop():
    res = _cli("orders", "sin(x)", "--at", "x=1", "--max-order", "6", "--methods", "ad-taylor,ad-forward",
               "--format", "json", "--no-timing")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "derivcmp-orders/1"
    taylor = [p for p in doc["points"] if p["method"] == "ad-taylor"]
    assert [p["order"] for p in taylor] == [1, 2, 3, 4, 5, 6]
    assert all(p["rel_error"] < 1e-14 for p in taylor)
    assert "ad-forward" in doc["gave_up"] and "from order 5" in doc["gave_up"]["ad-forward"]


def test_orders_stops_a_method_at_its_deadline(monkeypatch):
    from derivcmp import orders
    from derivcmp.problem import TIMEOUT, Outcome
    calls = []

    def fake(backend, problem, timing, timeout):
        calls.append((backend.name, problem.order))
        if backend.name == "symbolic" and problem.order >= 2:
            return Outcome(backend.name, TIMEOUT, message="gave up after 1 s")
        return backends.run(backend, problem, timing)
    monkeypatch.setattr(orders, "run_with_deadline", fake)
    study = orders.run("exp(x)", "x", "x=0.5", 4, "symbolic,ad-taylor", timing=False, timeout=1.0)
    assert [o for m, o in calls if m == "symbolic"] == [1, 2]
    assert study.gave_up["symbolic"] == "timed out at order 2 (after 1 s)"


def test_orders_after_the_reference_times_out_methods_are_ungraded(monkeypatch):
    from derivcmp import orders
    from derivcmp.problem import TIMEOUT, Reference
    real = orders.reference_with_deadline
    calls = []

    def fake(problem, timeout):
        calls.append(problem.order)
        return Reference(TIMEOUT, message="gave up") if problem.order == 2 else real(problem, timeout)
    monkeypatch.setattr(orders, "reference_with_deadline", fake)
    study = orders.run("exp(x)", "x", "x=0.5", 3, "ad-taylor", timing=False, timeout=1.0)
    assert calls == [1, 2]
    assert study.references[3].message == "the reference gave up at a lower order"
    assert study.gave_up["reference"] == "timed out at order 2 (after 1 s)"
    assert [p.rel_error is None for p in study.points] == [False, True, True]


def test_plot_without_matplotlib_says_how_to_install_it(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    res = _cli("orders", "sin(x)", "--at", "x=1", "--plot", "a.png")
    assert res.exit_code == 2 and "--plot needs matplotlib: pip install 'derivcmp[plot]'" in res.output


def test_trace_mode_is_checked():
    from derivcmp.trace import build
    with pytest.raises(ValueError, match="mode must be one of forward, reverse"):
        build(Var("x"), {"x": 1.0}, ["x"], "sideways")


def test_orders_table_chart_csv_and_plot(tmp_path):
    png = tmp_path / "orders.png"
    res = _cli("orders", "sigmoid(x)", "--at", "x=1", "--max-order", "3", "--methods", "ad-taylor,symbolic",
               "--no-timing", "--plot", str(png))
    assert res.exit_code == 0, res.output
    assert "log10 relative error" in res.stdout and "symbolic size" in res.stdout
    assert png.read_bytes()[:4] == b"\x89PNG"
    csv_out = _cli("orders", "sigmoid(x)", "--at", "x=1", "--max-order", "2", "--methods", "ad-taylor",
                   "--no-timing", "--format", "csv").stdout.splitlines()
    assert csv_out[0].startswith("order,method,status,rel_error") and len(csv_out) == 3


@pytest.mark.parametrize("args, message", [
    (["orders", "sin(x)", "--at", "x=1", "--max-order", "0"], "--max-order must be between 1 and 30"),
    (["orders", "sin(x)", "--at", "x=1", "--max-order", "1000000"], "--max-order must be between 1 and 30"),
    (["orders", "x*y", "--at", "x=1,y=2"],
     "orders needs a single --wrt variable (derivatives of order N of one variable)"),
    (["orders", "sin(x)", "--at", "x=1", "--plot", "out.txt"], "should end in .png, .svg or .pdf"),
    (["orders", "sin(x)", "--at", "x=1", "--plot", "/no/such/dir/a.png"],
     "--plot: the directory '/no/such/dir' does not exist"),
    (["orders", "sinn(x)", "--at", "x=1"], "unknown function 'sinn'"),
    (["orders", "sin(x)", "--at", "x=1", "--methods", "ad-fwd"], "unknown method 'ad-fwd'"),
    (["trace", "sin(x", "--at", "x=1"], "unclosed '('"),
    (["trace", "sin(x)", "--at", "x=1", "--mode", "sideways"], "Invalid value for '--mode'"),
    (["trace", "sin(x)"], "no value for variable 'x'"),
])
def test_bad_input_exits_2_without_traceback(args, message):
    res = _cli(*args)
    assert res.exit_code == 2, res.output
    assert message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("text, at", [("abs(x)", "x=0"), ("sqrt(x)", "x=0"), ("exp(x)", "x=1e40"),
                                      ("x^3", "x=1e-40"), ("1/x", "x=1e-40")])
def test_orders_at_kinks_edges_and_extreme_scales_does_not_crash(text, at):
    res = _cli("orders", text, "--at", at, "--max-order", "3", "--methods", "ad-taylor,ad-forward",
               "--no-timing", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len([p for p in doc["points"] if p["method"] == "ad-taylor"]) == 3


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_trace_never_passes_the_chain_rule_off_as_a_derivative(mode):
    from derivcmp.expr import parse
    from derivcmp.trace import build, document
    # log(x) at -1: the chain rule still says 1/x = -1, but log is undefined there
    t = build(parse("log(x)"), {"x": -1.0}, ["x"], mode)
    assert t.derivative == {"x": -1.0} and "undefined" in t.caveat and "log" in t.caveat
    # abs at 0: AD's subgradient 0, while the one-sided slopes are -1 and +1
    t = build(parse("abs(x)"), {"x": 0.0}, ["x"], mode)
    assert t.derivative == {"x": 0.0} and t.caveat.startswith("a kink: abs is not differentiable at 0")
    assert document(t, "abs(x)", {"x": 0.0})["caveat"] == t.caveat
    # a kink that the wrt variable does not reach, and a smooth point: no caveat
    assert build(parse("relu(x)*y"), {"x": 0.0, "y": 2.0}, ["y"], mode).caveat is None
    t = build(parse("sin(x)"), {"x": 1.0}, ["x"], mode)
    assert t.caveat is None and t.derivative["x"] == pytest.approx(math.cos(1.0), rel=1e-15)


def test_trace_table_says_when_its_number_is_not_a_derivative():
    from click.testing import CliRunner

    from derivcmp.cli import main
    out = CliRunner().invoke(main, ["trace", "abs(x)", "--at", "x=0"], env={"COLUMNS": "200"}).output
    assert "d/dx = 0.0" in out
    assert "not a derivative: a kink: abs is not differentiable at 0" in out

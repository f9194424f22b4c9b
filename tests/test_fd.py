"""The finite-difference family: orders of accuracy, the ten cases of issue 10,
``unresolved``, ``not-applicable`` and ``overconfident``, gradients and Hessians."""

from __future__ import annotations

import math

import numpy as np
import pytest

from derivcmp import backends
from derivcmp.backends import base
from derivcmp.compare import compare, compare_text, grade, make_problem
from derivcmp.errors import DerivcmpError
from derivcmp.problem import NOT_APPLICABLE, OK, UNRESOLVED, Outcome, Reference
from derivcmp.reference import compute_reference

FD = [n for n, e in base.entries().items() if e.family == "finite-difference"]
STENCIL = ["fd-forward", "fd-backward", "fd-central", "fd-central4", "richardson"]


def test_the_family_is_registered():
    assert set(FD) == {"fd-forward", "fd-backward", "fd-central", "fd-central4", "richardson",
                       "complex-step", "fd-multiprecision"}
    assert list(compare_text("x", at="x=1", methods="finite-difference", timing=False).results)


# --- order of accuracy: halving h divides the truncation error by 2^p ------------------------

@pytest.mark.parametrize("method, h, p", [("fd-forward", 1e-3, 1), ("fd-backward", 1e-3, 1),
                                          ("fd-central", 1e-2, 2), ("fd-central4", 1e-1, 4)])
@pytest.mark.parametrize("text", ["exp(x)", "sin(x) + x^3"])
def test_halving_the_step_divides_the_truncation_error_by_2_to_the_order(method, h, p, text):
    errs = []
    for step in (h, h / 2):
        c = compare_text(text, at="x=0.7", methods=method, timing=False, step=step)
        errs.append(c.results[0].abs_error)
    assert errs[0] / errs[1] == pytest.approx(2.0 ** p, rel=0.15)


@pytest.mark.parametrize("method", STENCIL)
def test_a_fixed_step_is_used_exactly(method):
    c = compare_text("exp(x)", at="x=1", methods=method, timing=False, step=1e-3)
    steps = c.results[0].outcome.details["steps"]
    if method == "richardson":          # the first of its sequence h, h/2, ...
        assert steps["x"] <= 1e-3
    else:
        assert steps["x"] == (1.0 + 1e-3) - 1.0


# --- the ten cases of issue 10 ----------------------------------------------------------------

CASES = {
    "sigmoid": ("1/(1+exp(-w*x))", "w", "w=2,x=3"),
    "exp": ("exp(x)", "x", "x=1"),
    "log-small": ("log(x)", "x", "x=1e-3"),
    "x-to-the-x": ("x^x", "x", "x=0.5"),
    "tanh-far": ("tanh(x)", "x", "x=20"),
    "cos-quotient": ("(1-cos(x))/x^2", "x", "x=1e-4"),
    "sin-inverse": ("sin(1/x)", "x", "x=0.01"),
    "sqrt-tiny": ("sqrt(x)", "x", "x=1e-10"),
    "gauss-wave": ("exp(-x^2)*cos(40*x)", "x", "x=0.3"),
    "atan-huge": ("atan(x)", "x", "x=1e8"),
}

#: relative error each method reached when written, times ~10 (None: not ok there)
BOUNDS = {
    "sigmoid": {"fd-central": 7e-9, "fd-central4": 1e-10, "richardson": 1e-12, "complex-step": 1e-15,
                "fd-forward": 4e-6},
    "exp": {"fd-central": 1e-10, "fd-central4": 1e-12, "richardson": 3e-14, "complex-step": 1e-15},
    "log-small": {"fd-central": 4e-10, "fd-central4": 6e-12, "richardson": 3e-14, "complex-step": 1e-15},
    "x-to-the-x": {"fd-central": 5e-10, "fd-central4": 5e-11, "richardson": 7e-14, "complex-step": 1e-15},
    "tanh-far": {"fd-central": None, "fd-central4": None, "richardson": None, "complex-step": 1e-15},
    "cos-quotient": {"fd-central4": 0.2, "richardson": 1e-8},
    "sin-inverse": {"fd-central": 6e-7, "richardson": 1e-12, "complex-step": 1e-14},
    "sqrt-tiny": {"fd-central": 6e-11, "fd-central4": 1e-12, "richardson": 7e-14, "complex-step": 1e-15},
    "gauss-wave": {"fd-central": 1e-8, "fd-central4": 2e-9, "richardson": 1e-14, "complex-step": 1e-14},
    "atan-huge": {"fd-central": 1e-2, "fd-central4": 3e-4, "richardson": 3e-7, "complex-step": 1e-15,
                  "fd-forward": None},
}


@pytest.fixture(scope="module")
def ten():
    out = {}
    for cid, (text, wrt, at) in CASES.items():
        out[cid] = {g.name: g for g in compare_text(text, wrt=wrt, at=at, methods="finite-difference",
                                                    timing=False).results}
    return out


@pytest.mark.parametrize("cid", list(CASES))
def test_the_ten_cases_against_the_reference(ten, cid):
    got = ten[cid]
    for method, bound in BOUNDS[cid].items():
        g = got[method]
        if bound is None:
            assert g.outcome.status == UNRESOLVED, (method, g.outcome.status, g.rel_error)
        else:
            assert g.outcome.status == OK, (method, g.outcome.message)
            assert g.rel_error <= bound, (method, g.rel_error)
    # multiprecision differences have the accuracy of a 50-digit method on all ten
    assert got["fd-multiprecision"].outcome.status == OK
    assert got["fd-multiprecision"].rel_error <= 1e-14


#: numdifftools' default ``Derivative(f)(x)`` on the ten cases, relative error against the
#: reference (issue 10's table and benchmarks/bench_fd.py; the smaller where they differ);
#: None where it fails (NaN, or a wrong number with relative error ~1)
NUMDIFFTOOLS = {"sigmoid": 2.9e-12, "exp": 1.3e-14, "log-small": None, "x-to-the-x": 3.2e-14,
                "tanh-far": None, "cos-quotient": 5.3e-9, "sin-inverse": None, "sqrt-tiny": None,
                "gauss-wave": 1.3e-14, "atan-huge": None}


@pytest.mark.parametrize("cid", list(CASES))
def test_richardson_is_at_least_as_accurate_as_numdifftools_default(ten, cid):
    g = ten[cid]["richardson"]
    theirs = NUMDIFFTOOLS[cid]
    if cid == "tanh-far":       # no float64 difference resolves it; richardson says so
        assert g.outcome.status == UNRESOLVED
        return
    assert g.outcome.status == OK, g.outcome.message
    assert g.rel_error <= (theirs if theirs is not None else 1e-6), (g.rel_error, theirs)


@pytest.mark.parametrize("cid", list(CASES))
def test_no_method_is_ok_and_overconfident_on_the_ten_cases(ten, cid):
    for name, g in ten[cid].items():
        if g.outcome.status == OK:
            assert g.overconfident is False, (name, g.outcome.details.get("error_estimate"), g.abs_error)
        # the value 0 where the derivative is not (relative error 1) is never ok
        if cid in ("tanh-far", "atan-huge"):
            assert not (g.outcome.status == OK and g.rel_error > 0.5), name


def test_details_say_steps_stencil_cost_estimate_and_digits_lost(ten):
    d = ten["exp"]["fd-central"].outcome.details
    assert set(d) >= {"steps", "stencil", "function_evaluations", "error_estimate", "truncation_error",
                      "round_off_error", "digits_lost"}
    assert d["error_estimate"] == pytest.approx(d["truncation_error"] + d["round_off_error"])
    assert 3 < d["digits_lost"] < 8          # f(x+h) - f(x-h) cancels ~5 digits at h ~ 6e-6
    assert "central" in d["stencil"]


# --- unresolved, not-applicable, overconfident ----------------------------------------------

@pytest.mark.parametrize("method", STENCIL)
def test_a_difference_lost_in_rounding_is_unresolved_not_ok(method):
    c = compare_text("tanh(x)", at="x=20", methods=method, timing=False)
    g = c.results[0]
    assert g.outcome.status == UNRESOLVED
    assert "lost in rounding" in g.outcome.message and "not a derivative" in g.outcome.message
    assert g.rel_error is not None          # still graded, so the report shows how wrong it is


def test_a_derivative_that_is_zero_is_not_unresolved():
    for text in ("x^2", "cos(x)", "relu(x)"):
        at = "x=0" if text != "relu(x)" else "x=-1"
        g = compare_text(text, at=at, methods="fd-central", timing=False).results[0]
        assert g.outcome.status == OK and g.outcome.value == 0.0, text


@pytest.mark.parametrize("text, what", [("abs(x) + x", "abs"), ("relu(x)", "relu"), ("max(x, 1)", "max"),
                                        ("atan2(x, 2)", "atan2"), ("sign(x)*x", "sign")])
def test_complex_step_is_not_applicable_where_f_is_not_complex_analytic(text, what):
    g = compare_text(text, at="x=0.5", methods="complex-step", timing=False).results[0]
    assert g.outcome.status == NOT_APPLICABLE
    assert what in g.outcome.message and "is not complex-analytic" in g.outcome.message


def test_complex_step_gives_first_derivatives_only():
    g = compare_text("exp(x)", at="x=1", order=2, methods="complex-step", timing=False).results[0]
    assert g.outcome.status == NOT_APPLICABLE
    assert "the complex step gives first derivatives only" in g.outcome.message


def test_an_estimate_far_below_the_true_error_is_flagged_overconfident():
    problem, _ = make_problem("exp(x)", "x", "x=1")
    ref = compute_reference(problem)
    bad = Outcome("fd-central", OK, np.array(2.7), details={"error_estimate": 1e-12})
    g = grade(ref, bad, problem)
    assert g.overconfident is True
    assert "overconfident: its own error estimate 1.0e-12 is more than 10x below the true error" in g.note
    honest = Outcome("fd-central", OK, np.array(2.7), details={"error_estimate": 0.1})
    assert grade(ref, honest, problem).overconfident is False
    assert grade(ref, Outcome("symbolic", OK, np.array(2.7)), problem).overconfident is None
    assert grade(Reference("undefined", message="no"), bad, problem).overconfident is None


# --- gradients, Hessians, cost counters, the one-sided fallback -----------------------------

@pytest.mark.parametrize("method, per_gradient", [("fd-forward", lambda n: n + 1), ("fd-backward", lambda n: n + 1),
                                                  ("fd-central", lambda n: 2 * n),
                                                  ("fd-central4", lambda n: 4 * n)])
def test_a_gradient_costs_n_plus_1_or_2n_evaluations_per_step(method, per_gradient):
    problem, _ = make_problem("x*y*z + exp(x)", "x,y,z", "x=0.5,y=1,z=2")
    out = backends.run(backends.registry()[method], problem, timing=False)
    assert out.details["stencil_evaluations"] == per_gradient(3)


@pytest.mark.parametrize("method", STENCIL + ["fd-multiprecision"])
def test_gradients_and_hessians_of_every_stencil_method(method):
    text, at = "(1-x)^2 + 100*(y-x^2)^2 + sin(x*y)", "x=-1.2,y=1"
    tol = {"fd-forward": 1e-4, "fd-backward": 1e-4}.get(method, 1e-5)
    for order in (1, 2):
        c = compare_text(text, wrt="x,y", at=at, order=order, methods=method, timing=False)
        g = c.results[0]
        assert g.outcome.status == OK, g.outcome.message
        assert np.shape(g.outcome.value) == ((2,) if order == 1 else (2, 2))
        assert g.rel_error < tol, (order, g.rel_error)


def test_one_sided_fallback_at_the_edge_of_the_domain():
    g = compare_text("log(x - 1)", at="x=1.000004", methods="fd-central", timing=False).results[0]
    assert g.outcome.status == OK
    assert "one-sided (x: forward)" in g.outcome.details["fallback"]
    assert g.overconfident is False
    assert "one-sided" in g.outcome.details["stencil"]


def test_step_must_be_positive_and_finite():
    for bad in ("-1", "0", "inf", "nan"):
        with pytest.raises(DerivcmpError, match="--step must be a positive finite number, got"):
            make_problem("x", "x", "x=1", step=bad)
    with pytest.raises(DerivcmpError, match="is not a number"):
        make_problem("x", "x", "x=1", step="abc")


def test_the_sweep_grid_and_its_errors():
    from derivcmp.sweep import parse_steps, run_sweep
    grid = parse_steps("1e-1:1e-9:9")
    assert grid[0] == pytest.approx(0.1) and grid[-1] == pytest.approx(1e-9) and len(grid) == 9
    problem, _ = make_problem("exp(x)", "x", "x=1")
    s = run_sweep(problem, ["fd-central", "fd-forward"], grid)
    central = s.curves[0]
    errs = [p.rel_error for p in central.points]
    # the V: truncation falls from h = 0.1, rounding rises again at 1e-9
    best = int(np.argmin(errs))
    assert 0 < best < len(errs) - 1
    assert errs[0] > 10 * errs[best] and errs[-1] > 10 * errs[best]
    assert central.best.rel_error == min(errs)
    assert math.isclose(central.default.step, 6.055454452313924e-06, rel_tol=1e-12)


def test_compare_accepts_a_step():
    problem, _ = make_problem("exp(x)", "x", "x=1", step=1e-2)
    c = compare(problem, ["fd-central"], timing=False)
    assert c.results[0].outcome.details["steps"]["x"] == (1.0 + 1e-2) - 1.0


@pytest.mark.parametrize("text, at", [
    ("1/(1+exp(-w*x))", "w=2,x=3"),
    ("(1-cos(x))/x^2", "x=1e-4"),
    ("x^y + log(x)*sin(y)", "x=1.5,y=0.3"),
    ("sqrt(x)^3 + hypot(x,y) + 0.1*x", "x=2,y=-1"),
    ("exp(x)^40 * x", "x=20"),              # the scalar path overflows: the NumPy path decides
])
def test_the_compiled_rounding_bound_is_the_one_evaluator_over_rounding_ops(text, at):
    """The bound's compiled code (fast path on floats, IEEE path on arrays) computes what
    ``program.sweep`` over ``RoundingOps(FLOAT_OPS)`` computes: one analysis, one evaluator."""
    from derivcmp.primitives import FLOAT_OPS, RoundingOps
    from derivcmp.program import compile_program, sweep
    problem, _ = make_problem(text, None, at)
    program = compile_program(problem.expr)
    names = list(program.names)
    fb = program.bounded_function(names)
    xs = [problem.point[n] for n in names]
    with np.errstate(all="ignore"):
        v_float, on_floats = fb(*xs)
        _, on_arrays = fb(*[np.array([x, x]) for x in xs])
        v_swept, swept = sweep(program, RoundingOps(FLOAT_OPS),
                               {n: (np.float64(x), None) for n, x in zip(names, xs)})[program.output]
    for b in (on_arrays[0], on_arrays[1], swept):
        if np.isfinite(on_floats):
            # libm and NumPy's SIMD functions may round the last bit apart
            assert b == pytest.approx(on_floats, rel=1e-12)
        else:
            assert not np.isfinite(b)
    if np.isfinite(v_float):
        assert v_float == pytest.approx(float(v_swept), rel=1e-15)
    if np.isfinite(on_floats):
        assert on_floats > 0          # at least one rounding somewhere


#: f and points where its float64 evaluation is checked against 50 digits; three
#: cancel inside f, where the bound must be far above one ulp of f
SOUNDNESS = [
    ("1/(1+exp(-w*x))", "w=2,x=3"), ("x^x", "x=0.5"), ("log(x)", "x=1e-3"), ("tanh(x)", "x=20"),
    ("sin(1/x)", "x=0.01"), ("sqrt(x)", "x=1e-10"), ("exp(-x^2)*cos(40*x)", "x=0.3"), ("atan(x)", "x=1e8"),
    ("x^y + log(x)*sin(y)", "x=1.5,y=0.3"), ("sigmoid(x)*softplus(-x) + sech(x)", "x=-2.5"),
    ("log(x, 3) + cbrt(x) - asinh(x)/x", "x=7.25"), ("erf(x)*erfc(x) + atan2(x, 0.3)", "x=0.7"),
    ("(1-cos(x))/x^2", "x=1e-4"), ("(exp(x) - 1 - x)/x^2", "x=1e-5"), ("(x + 1e8) - 1e8", "x=0.1"),
    ("sin(x) - x", "x=1e-3"), ("tan(x)", "x=1.5707963"),
]
CANCELS = ("(1-cos(x))/x^2", "(exp(x) - 1 - x)/x^2", "(x + 1e8) - 1e8")


@pytest.mark.parametrize("text, at", SOUNDNESS)
def test_the_rounding_bound_covers_the_true_rounding_error_of_f(text, at):
    """Against 60 digits at the exact binary inputs: |f_float64 - f| <= bound."""
    import mpmath

    from derivcmp.primitives import MP_OPS
    from derivcmp.program import compile_program, sweep
    problem, _ = make_problem(text, None, at)
    program = compile_program(problem.expr)
    names = list(program.names)
    xs = [float(problem.point[n]) for n in names]
    v, bound = program.bounded_function(names)(*xs)
    with mpmath.workdps(60):
        exact = sweep(program, MP_OPS, {n: mpmath.mpf(x) for n, x in zip(names, xs)})[program.output]
        err = float(abs(mpmath.mpf(float(v)) - exact))
    assert err <= bound, (err, bound)
    ulp = float(np.finfo(float).eps) * abs(float(v))
    if text in CANCELS:
        assert bound > 1e5 * ulp        # the cancellation inside f is seen
    else:
        assert bound < 1e4 * max(ulp, err)      # and the bound is not vacuous elsewhere


@pytest.mark.parametrize("at", ["x=1e300", "x=1.7e308"])
def test_richardson_gives_no_number_where_f_overflows_at_every_step(at):
    # f = x^2 overflows at every stencil point: no run has data, so no value and no estimate
    # (not 0.0 with an estimate of 0), and the step sequence itself must not overflow
    g = compare_text("x^2 + sin(x)", at=at, methods="richardson", timing=False).results[0]
    assert g.outcome.status != OK
    assert not np.isfinite(g.outcome.value)
    assert g.outcome.details.get("error_estimate") is None
    assert "OverflowError" not in (g.outcome.message or "")
    assert "overflow in ^" in g.outcome.message


@pytest.mark.parametrize("text", ["sin(100*x)", "sin(1000*x)", "cos(201*x)"])
def test_richardson_is_not_fooled_by_steps_that_alias_an_oscillation(text):
    # 100 is nearly 16*2*pi: at the steps 2, 1, ..., 1/16, sin(100 x +- 100 h) differences
    # behave like the smooth sin(-0.53 h), and six of them extrapolate to a consistent
    # wrong value (-0.46 where the derivative is 86.2) unless smaller steps must confirm it
    g = compare_text(text, at="x=1", methods="richardson", timing=False).results[0]
    assert g.outcome.status == OK
    assert g.rel_error < 1e-12, g.rel_error
    assert g.overconfident is False

"""Each backend against the 50-digit reference, plus each method's details.

Tolerances come from numerical analysis, not from observed outputs:

* ``symbolic`` and ``ad-reverse`` evaluate an exact derivative formula in
  float64, so on well-conditioned cases they are good to a modest multiple of
  the unit roundoff eps = 2.2e-16: 1e-12 relative leaves room for a few
  hundred rounding errors along the formula.
* ``fd-central`` with step h for the n-th derivative has truncation error
  O(h^2) (central stencils are second-order) and rounding error
  O(eps |f| / h^n).  Balancing them gives h ~ eps^(1/(n+2)) and an error of
  about eps^(2/(n+2)) times a problem constant (|f'''|-, |f|-like factors):
  n=1: eps^(2/3) = 3.7e-11, n=2: eps^(1/2) = 1.5e-8, n=3: eps^(2/5) = 5.4e-7,
  n=4: eps^(1/3) = 6.1e-6.  The tolerances allow problem constants of a few
  thousand: 1e-7, 1e-4, 1e-3, 1e-2.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from derivcmp import backends
from derivcmp.backends.finite import central_weights
from derivcmp.compare import compare_text, make_problem, select_methods
from derivcmp.expr import parse, walk
from derivcmp.problem import ERROR, NOT_DIFFERENTIABLE, OK, UNDEFINED
from derivcmp.reference import compute_reference

EPS = float(np.finfo(float).eps)
EXACT_TOL = 1e-12
FD_TOL = {1: 1e-7, 2: 1e-4, 3: 1e-3, 4: 1e-2}

# (expression, wrt, at, order)
CASES = [
    # first derivatives of one variable
    ("sin(x)^2 + cos(3*x)", "x", "x=0.3", 1),
    ("exp(-x^2)", "x", "x=1.1", 1),
    ("sqrt(1 + x^2)", "x", "x=2", 1),
    ("log(x)/x", "x", "x=3", 1),
    ("asin(x) + acos(x/2)", "x", "x=0.5", 1),
    ("acosh(x) + asinh(x) + atanh(x/4)", "x", "x=2", 1),
    ("sinh(x)*cosh(x) - tanh(x)", "x", "x=-0.8", 1),
    ("log2(x) + log10(x) + log(x, 7)", "x", "x=0.1", 1),
    ("expm1(x) + log1p(x)", "x", "x=0.5", 1),
    ("x*abs(x) + relu(x)^2", "x", "x=-2", 1),
    ("max(x, 2)*min(x, 3)", "x", "x=1", 1),
    ("sign(x)*x^3", "x", "x=-1.5", 1),
    ("cbrt(x)", "x", "x=-8", 1),
    ("x^-3 + (x^2 + 1)^0.5", "x", "x=-1.7", 1),
    ("erf(x) + erfc(2*x)", "x", "x=0.25", 1),
    ("atan2(x, 2) + hypot(x, 1)", "x", "x=-0.6", 1),
    ("e^x + pi*x", "x", "x=0.5", 1),
    ("cbrt(acos(0.9*tanh(x)))", "x", "x=0.25", 1),   # sympy leaves d sign(acos)/dx unevaluated
    # gradients
    ("(1 - x)^2 + 100*(y - x^2)^2", "x,y", "x=-1.2,y=1", 1),                         # Rosenbrock
    ("(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2", "x,y",
     "x=1,y=1", 1),                                                                   # Beale
    ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", "x,y", "x=1,y=2", 1),                    # Himmelblau
    ("sigmoid(w1*x1 + w2*x2 + b)", "w1,w2,b", "w1=0.5,w2=-1.5,b=0.1,x1=2,x2=0.7", 1),  # a neuron
    ("softplus(-(w*x + b)*t)", "w,b", "w=0.3,b=-0.2,x=1.7,t=1", 1),                 # logistic loss
    ("20 + x^2 - 10*cos(2*pi*x) + y^2 - 10*cos(2*pi*y)", "x,y", "x=0.3,y=-1.2", 1),  # Rastrigin
    ("log(exp(x) + exp(y) + exp(z))", "x,y,z", "x=0.1,y=-0.4,z=1.3", 1),           # log-sum-exp
    ("hypot(x, y)*atan2(y, x)", "x,y", "x=-1,y=0.5", 1),
    # Hessians
    ("(1 - x)^2 + 100*(y - x^2)^2", "x,y", "x=-1.2,y=1", 2),
    ("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", "x,y", "x=1,y=2", 2),
    ("(1.5 - x + x*y)^2 + (2.25 - x + x*y^2)^2 + (2.625 - x + x*y^3)^2", "x,y",
     "x=1,y=1", 2),
    ("x^y", "x,y", "x=2,y=3", 2),
    ("sin(x)*exp(y)*z", "x,y,z", "x=0.4,y=0.2,z=-1.5", 2),
    ("log(x, y)", "x,y", "x=3,y=5", 2),
    ("tanh(w*x + b)", "w,b", "w=0.7,x=1.3,b=-0.4", 2),
    # second derivatives of one variable
    ("tan(x)", "x", "x=0.7", 2),
    ("x^x", "x", "x=1.5", 2),
    ("erf(x)", "x", "x=0.4", 2),
    ("log1p(x^2)*sigmoid(x)", "x", "x=0.3", 2),
    ("1/(1 + x^2)", "x", "x=-0.5", 2),
    # third and fourth derivatives
    ("sin(x)", "x", "x=1", 4),
    ("exp(x)*cos(x)", "x", "x=0.5", 3),
    ("x^x", "x", "x=2", 4),
    ("cbrt(x)", "x", "x=-8", 3),
    ("1/(1 + x^2)", "x", "x=0.5", 4),
]

METHODS = select_methods(None).names


def case_id(case):
    text, wrt, at, order = case
    return f"{text} d{order}/d({wrt}) at {at}"


def rel_error(value, exact) -> float:
    """Max-norm error relative to the max-norm of the reference, in 60 digits."""
    with mpmath.workdps(60):
        vals = np.ravel(np.asarray(value, dtype=float))
        refs = [mpmath.mpf(s) for s in np.ravel(np.asarray(exact, dtype=object))]
        err = max(abs(mpmath.mpf(float(v)) - r) for v, r in zip(vals, refs))
        scale = max(abs(r) for r in refs)
        return float(err / scale) if scale else float(err)


@pytest.fixture(scope="module")
def comparisons():
    return {case: compare_text(case[0], wrt=case[1], at=case[2], order=case[3], timing=False)
            for case in CASES}


def test_the_table_is_as_wide_as_promised():
    orders = [(len(w.split(",")), o) for _, w, _, o in CASES]
    assert len(CASES) >= 30
    assert sum(1 for n, o in orders if n > 1 and o == 1) >= 6      # gradients
    assert sum(1 for n, o in orders if n > 1 and o == 2) >= 6      # Hessians
    assert sum(1 for n, o in orders if n == 1 and o == 2) >= 4
    assert sum(1 for n, o in orders if o >= 3) >= 3


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_method_against_reference(comparisons, case, method):
    c = comparisons[case]
    assert c.reference.status == OK, c.reference.message
    result = next(r for r in c.results if r.name == method)
    assert result.outcome.status == OK, result.outcome.message
    order = case[3]
    tol = FD_TOL[order] if method == "fd-central" else EXACT_TOL
    # our own error computation, so the test does not trust compare.errors
    err = rel_error(result.outcome.value, c.reference.exact)
    assert err <= tol, f"{method}: relative error {err:.3g} > {tol:g}"
    assert result.rel_error == pytest.approx(err, rel=1e-6, abs=1e-300)


def test_gradient_and_hessian_shapes(comparisons):
    for (text, wrt, at, order), c in comparisons.items():
        n = len(wrt.split(","))
        shape = () if n == 1 else (n,) if order == 1 else (n, n)
        for r in c.results:
            assert np.shape(r.outcome.value) == shape, (text, r.name)
            if len(shape) == 2:
                # symmetric up to rounding: reverse-over-reverse computes each row
                # separately, so H[0,1] and H[1,0] may differ in the last bit
                v = np.asarray(r.outcome.value)
                assert np.allclose(v, v.T, rtol=1e-14, atol=0), (text, r.name)


# --- fd-central details ---------------------------------------------------------------

@pytest.mark.parametrize("x", [0.0, 0.1, 1.0, 3.0, -7.3, 1e5, -2.5e-3, 123456.789])
@pytest.mark.parametrize("order", [1, 2])
def test_fd_step_is_exactly_representable(x, order):
    # first derivative: h = eps^(1/3) max(1, |x|); second: eps^(1/4) max(1, |x|)
    power = 1 / 3 if order == 1 else 1 / 4
    nominal = EPS ** power * max(1.0, abs(x))
    problem, _ = make_problem("sin(x)", "x", {"x": x}, order)
    out = backends.run(backends.registry()["fd-central"], problem, timing=False)
    h = out.details["steps"]["x"]
    # rounded to the floats' grid at x: within one ulp of the nominal step
    assert abs(h - nominal) <= math.ulp(x) + math.ulp(nominal)
    assert (x + h) - x == h
    assert x - (x - h) == h


def test_fd_central_stencils_are_the_classical_ones():
    def as_dict(order):
        return {k: w for k, w in central_weights(order)}
    assert as_dict(1) == {-1: -0.5, 1: 0.5}
    assert as_dict(2) == {-1: 1.0, 0: -2.0, 1: 1.0}
    assert as_dict(3) == {-2: -0.5, -1: 1.0, 1: -1.0, 2: 0.5}
    assert as_dict(4) == {-2: 1.0, -1: -4.0, 0: 6.0, 1: -4.0, 2: 1.0}


@pytest.mark.parametrize("wrt, order, evaluations", [
    ("x", 1, 2),                  # f(x+h), f(x-h)
    ("x,y,z", 1, 6),              # two per variable
    ("x", 2, 3),                  # f(x+h), f(x), f(x-h)
    ("x", 3, 4),                  # +-h, +-2h
    ("x", 4, 5),
    ("x,y", 2, 1 + 2 * 2 + 4 * 1),        # centre, +-h per axis, 4 per mixed pair
    ("x,y,z", 2, 1 + 2 * 3 + 4 * 3),
])
def test_fd_function_evaluations(wrt, order, evaluations):
    problem, _ = make_problem("x*y*z + exp(x)", wrt, "x=0.5,y=1,z=2", order)
    out = backends.run(backends.registry()["fd-central"], problem, timing=False)
    assert out.details["stencil_evaluations"] == evaluations
    # each candidate step is also taken at h/2 for the truncation estimate (f(x) once;
    # an entry lost in rounding, here d2/dy2 of a function linear in y, probes larger steps)
    if order == 1:
        # a first derivative or gradient tries each variable's own candidates: the classic
        # step, and the relative one where 0 < |x| < 1 (x = 0.5 here), two points each
        per_var = {"x": 2, "y": 1, "z": 1}
        assert out.details["function_evaluations"] == 1 + sum(2 * 2 * per_var[v] for v in wrt.split(","))
    else:
        assert out.details["function_evaluations"] >= 2 * (evaluations - 1) * out.details["candidates"]
    assert set(out.details["steps"]) == set(wrt.split(","))


# --- ad-reverse details -----------------------------------------------------------------

@pytest.mark.parametrize("text", ["sin(x)*y", "exp(x)*exp(x)", "x", "(x + y)^2 * log(x + y) - 3",
                                  "sigmoid(w*x + b)"])
def test_ad_tape_length_is_one_entry_per_distinct_subexpression(text):
    # first order: the forward sweep records each distinct node once (shared
    # subtrees once), and the backward sweep adds nothing to the tape
    distinct = len(set(walk(parse(text))))
    problem, _ = make_problem(text, None, {n: 0.5 for n in ("x", "y", "w", "b")}, 1)
    out = backends.run(backends.registry()["ad-reverse"], problem, timing=False)
    assert out.status == OK
    assert out.details["tape_length"] == distinct


def test_ad_second_order_records_the_backward_sweep():
    problem, _ = make_problem("sin(x)*y", "x,y", "x=1,y=2", 2)
    out = backends.run(backends.registry()["ad-reverse"], problem, timing=False)
    assert out.details["tape_length"] > len(set(walk(problem.expr)))


# --- large arguments: stable sigmoid / softplus / tanh ------------------------------

# What symbolic does there is its real behaviour, asserted as such: sympy writes
# sigmoid as 1/(1+exp(-x)) and softplus as log(1+exp(x)), whose float64
# evaluation overflows for |x| beyond ~709, and its tanh' = 1 - tanh(x)^2
# cancels to exactly 0 once tanh(x) rounds to 1 (|x| > ~19).
LARGE = [
    # (expression, wrt, at, order, what symbolic does)
    ("sigmoid(x)", "x", "x=50", 1, "accurate"),
    ("sigmoid(x)", "x", "x=-50", 2, "accurate"),
    ("sigmoid(x)", "x", "x=-700", 1, "zero"),       # exp(700)^2 overflows: e^700/inf = 0
    ("sigmoid(x)", "x", "x=-800", 1, "fails"),      # exp(800) = inf, inf/inf = nan
    ("softplus(x)", "x", "x=800", 1, "fails"),
    ("softplus(x)*y", "y", "x=800,y=1", 1, "fails"),  # the value itself: log(1+inf)
    ("softplus(x)", "x", "x=-700", 1, "accurate"),
    ("softplus(x)", "x", "x=50", 2, "zero"),
    ("tanh(x)", "x", "x=50", 1, "zero"),
    ("tanh(x)", "x", "x=-300", 2, "zero"),
    ("sigmoid(w*x + b)", "w,b", "w=2,x=30,b=-10", 2, "accurate"),
]


@pytest.mark.parametrize("text, wrt, at, order, symbolic", LARGE)
def test_large_arguments(text, wrt, at, order, symbolic):
    c = compare_text(text, wrt=wrt, at=at, order=order, timing=False)
    assert c.reference.status == OK
    res = {r.name: r for r in c.results}
    ad = res["ad-reverse"]
    assert ad.outcome.status == OK
    ref_float = np.asarray(c.reference.value, dtype=float)
    if np.all(ref_float == 0):
        # below the smallest subnormal (e^-800 ~ 3.7e-348): no float64 method can
        # do better than the correctly rounded 0.0, which ad-reverse returns
        assert np.all(np.asarray(ad.outcome.value) == 0)
    else:
        assert rel_error(ad.outcome.value, c.reference.exact) < 1e-12
    sym = res["symbolic"]
    if symbolic == "accurate":
        assert sym.outcome.status == OK
        assert rel_error(sym.outcome.value, c.reference.exact) < 1e-12
    elif symbolic == "zero":
        assert sym.outcome.status == OK and np.all(np.asarray(sym.outcome.value) == 0)
    else:
        assert sym.outcome.status == ERROR
        assert "overflow" in sym.outcome.message and "exp" in sym.outcome.message


def test_sigmoid_below_the_smallest_subnormal():
    # sigmoid'(-800) = e^-800 / (1 + e^-800)^2 ~ 3.7e-348 is not representable
    c = compare_text("sigmoid(x)", wrt="x", at="x=-800", timing=False)
    with mpmath.workdps(60):
        truth = mpmath.exp(-800) / (1 + mpmath.exp(-800)) ** 2
        assert abs(mpmath.mpf(c.reference.exact) - truth) < truth * mpmath.mpf(10) ** -45
    assert float(truth) == 0.0
    ad = next(r for r in c.results if r.name == "ad-reverse")
    assert ad.outcome.status == OK and float(ad.outcome.value) == 0.0


# --- statuses at bad points ---------------------------------------------------------

def test_log_of_a_negative_number():
    c = compare_text("log(x)", wrt="x", at="x=-1", timing=False)
    assert c.reference.status == UNDEFINED
    for r in c.results:
        assert r.outcome.status == UNDEFINED, r.name
    res = {r.name: r for r in c.results}
    # the methods that evaluate the function see it fail and say where
    for name in ("fd-central", "ad-reverse"):
        assert "log" in res[name].outcome.message and "column 1" in res[name].outcome.message
    # symbolic only evaluates 1/x, which is finite at -1: it has a number, and
    # the grade says that number is not a derivative
    assert float(res["symbolic"].outcome.value) == -1.0


def test_a_method_that_fails_raw_status():
    # the harness status, before grading: ad-reverse gives a non-finite value and
    # names the slot and column, rather than the chain rule's finite 1/x
    problem, _ = make_problem("2 + log(x)", "x", "x=-1")
    out = backends.run(backends.registry()["ad-reverse"], problem, timing=False)
    assert out.status == ERROR
    assert "log" in out.message and "column 5" in out.message


def test_overflow_in_exp_names_exp():
    problem, _ = make_problem("exp(1000*x)", "x", "x=1")
    assert compute_reference(problem).status == UNDEFINED
    for name in METHODS:
        out = backends.run(backends.registry()[name], problem, timing=False)
        assert out.status == ERROR, name
        assert "exp" in out.message, (name, out.message)
    problem, _ = make_problem("exp(1000*x)*0 + x", "x", "x=1")
    out = backends.run(backends.registry()["ad-reverse"], problem, timing=False)
    assert out.status == ERROR and "overflow in exp at column 1" in out.message


@pytest.mark.parametrize("text, at", [("1/x", "x=0"), ("sqrt(x)", "x=-1"), ("asin(x)", "x=2")])
def test_undefined_points_for_every_method(text, at):
    c = compare_text(text, wrt="x", at=at, timing=False)
    assert c.reference.status == UNDEFINED
    for r in c.results:
        assert r.outcome.status == UNDEFINED, r.name
        assert r.rel_error is None


def test_not_differentiable_points_keep_the_method_conventions():
    c = compare_text("abs(x)", wrt="x", at="x=0", timing=False)
    assert c.reference.status == NOT_DIFFERENTIABLE
    for r in c.results:
        assert r.outcome.status == NOT_DIFFERENTIABLE
        assert float(r.outcome.value) == 0.0       # the symmetric subgradient


def test_ad_and_symbolic_at_a_differentiable_composition_of_kinks():
    # cbrt(x)^3 = x has derivative 1 at 0, but the chain rule multiplies
    # 3 cbrt(x)^2 = 0 by cbrt'(0) = inf: ad-reverse and symbolic give 0, not 1.
    # A known limit of differentiating through a non-differentiable step.
    c = compare_text("cbrt(x)^3", wrt="x", at="x=0", timing=False)
    assert c.reference.status == OK and float(c.reference.value) == 1.0
    res = {r.name: r for r in c.results}
    assert float(res["fd-central"].outcome.value) == pytest.approx(1.0, rel=1e-12)
    assert float(res["ad-reverse"].outcome.value) == 0.0


# --- variables that do not occur -----------------------------------------------------------

@pytest.mark.parametrize("text, wrt, at, order, expected", [
    ("x^2", "y", "x=1.5", 1, 0.0),
    ("x^2", "y", "x=1.5", 3, 0.0),
    ("x^2", "x,y", "x=1.5", 1, [3.0, 0.0]),
    ("x^2*z", "x,y,z", "x=1,z=2", 2, [[4.0, 0.0, 2.0], [0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]),
])
def test_variable_not_in_expression(text, wrt, at, order, expected):
    c = compare_text(text, wrt=wrt, at=at, order=order, timing=False)
    assert any("does not occur" in w for w in c.warnings)
    assert c.reference.status == OK
    for r in c.results:
        assert r.outcome.status == OK, r.name
        # exact: these are integers times exact powers of two
        assert np.array_equal(np.asarray(r.outcome.value, dtype=float), np.asarray(expected)), r.name


@pytest.mark.parametrize("text", ["expm1(x)*y", "log1p(x)*y"])
def test_symbolic_keeps_expm1_and_log1p_accurate_near_zero(text):
    # d/dy expm1(x) y = expm1(x) = 1.00000000005e-10 at x = 1e-10; exp(x) - 1
    # in float64 is 1.000000082740371e-10, a relative error of 8e-8
    c = compare_text(text, wrt="y", at="x=1e-10,y=2", timing=False)
    sym = next(r for r in c.results if r.name == "symbolic")
    assert sym.rel_error < 1e-15


# Second derivatives at tiny arguments: a conditioning limit of the rules.
# Reverse-over-reverse differentiates each rule's formula, so f'' comes out of
# product/quotient-rule terms of the size of f', and is only *absolutely*
# accurate, to ~eps |f'|: tanh' = 4t/(1+t)^2 (t = e^{-2|x|}) gives
# tanh''(1e-8) = -2e-8 with relative error ~4e-9; atanh' = 1/((1-x)(1+x))
# loses (1+x) - (1-x) = 2x.  sigmoid'' = s s(-x) (s(-x) - s(x)) cancels in
# sympy's formula as well.  Rules whose own derivative is stable (tanh' via a
# sech^2 primitive with sech2' = -2 tanh sech2, as JAX's ans-based rules do)
# would make these relatively accurate.
@pytest.mark.parametrize("text, first", [
    ("tanh(x)", lambda x: mpmath.sech(x) ** 2),
    ("atanh(x)", lambda x: 1 / (1 - x * x)),
    ("asin(x)", lambda x: 1 / mpmath.sqrt(1 - x * x)),
    ("sigmoid(x)", lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2),
])
@pytest.mark.parametrize("x", [1e-8, -3e-12])
def test_second_derivative_near_zero_is_absolutely_accurate(text, first, x):
    c = compare_text(text, wrt="x", at={"x": x}, order=2, methods="ad-reverse", timing=False)
    with mpmath.workdps(60):
        err = abs(mpmath.mpf(float(c.results[0].outcome.value)) - mpmath.mpf(c.reference.exact))
        assert err <= 16 * EPS * abs(first(mpmath.mpf(x)))


@pytest.mark.parametrize("text, truth", [
    ("tanh(x)", -2.0),                         # tanh'''(0) = -2
    ("atanh(0.9*tanh(x))", -0.342),            # found by fuzzing at order 3: AD gave 1.458
])
def test_ad_third_derivative_through_tanh_at_zero(text, truth):
    c = compare_text(text, wrt="x", at="x=0", order=3, methods="ad-reverse", timing=False)
    assert c.reference.status == OK
    assert float(c.reference.value) == pytest.approx(truth, rel=1e-15)
    assert float(c.results[0].outcome.value) == pytest.approx(truth, rel=1e-12)


@pytest.mark.parametrize("text, wrt, at_a, at_b, order", [
    ("(1-x)^2 + 100*(y-x^2)^2", "x,y", "x=-1.2,y=1", "x=0.7,y=-0.3", 2),
    ("x^0*y + abs(x)*y^3 + max(x, y)^2", "x,y", "x=0.5,y=2", "x=-1.5,y=-0.25", 2),
    ("sigmoid(w*x + b)*tanh(x)", "w,x,b", "w=0.3,x=1.1,b=-0.2", "w=-2,x=0.4,b=1.5", 2),
    ("tanh(x)^3 + x^-2", "x", "x=0.8", "x=-1.7", 4),
])
def test_ad_reverse_records_once_and_replays_at_any_point(text, wrt, at_a, at_b, order):
    # higher orders record the taped backward sweep once, at setup; evaluating
    # at another point replays it, which must give that point's derivative
    problem_a, _ = make_problem(text, wrt, at_a, order)
    problem_b, _ = make_problem(text, wrt, at_b, order)
    prepared = backends.registry()["ad-reverse"].prepare(problem_a)
    value = np.asarray(prepared.evaluate(problem_b.point), dtype=float)
    ref = compute_reference(problem_b)
    assert ref.status == OK
    assert rel_error(value, ref.exact) < 1e-12


def test_a_complex_value_from_a_method_is_real_or_no_derivative_without_a_warning():
    # seen in fuzz/run.py (seed 1796066297): a method's value came back complex and
    # numpy's cast printed "ComplexWarning: Casting complex values to real" on stderr
    import warnings

    from derivcmp.backends import _real
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _real(np.complex128(2.5 + 0j)) == 2.5
        got = _real(np.array([1 + 0j, 1j * 3.0, -2 + 1e-300j]))
    assert got[0] == 1.0 and np.isnan(got[1]) and np.isnan(got[2])
    assert _real(0.75).dtype == float and _real([1, 2]).tolist() == [1.0, 2.0]

"""Differential fuzzing (CI size) and command-line fuzzing.

Differential: random well-formed expressions and points from
``strategies.problems``, every default method (symbolic, fd-central,
ad-reverse) through ``compare`` against the 50-digit reference, judged by
``strategies.judge``:

* ad-reverse and symbolic evaluate exact formulas in float64, so they must be
  within 1e-9 x max(|reference|, chain-rule error scale) — the same bar as
  test_property, which explains the error scale and the documented limits
  (kinks, float64 overflow, sympy's forms of hypot/expm1/log1p);
* fd-central is judged against its *exact stencil*: the same float64 points
  x + k h, the function evaluated in 40-digit mpmath.  The method must equal
  that within its rounding bound eps * sum|w_k| (S_k + |f_k|) / h^n, S being
  the running error scale of f's value; this is conditioning-aware (an
  ill-conditioned f gets a large bound, computed, not guessed) and catches a
  wrong step, weight or shift on any f.  The distance from the exact stencil
  to the reference is the truncation error, reported as a limit, never
  asserted: it is large near kinks and steep features, by design of the method;
* where the reference is undefined or not differentiable, no method may be
  graded or called ok.

The long run (``python fuzz/run.py --seconds 600``) uses the same judge; its
figures are in fuzz/README.md.

Command line: random text as EXPR, as --at and as --wrt through CliRunner must
exit 0 or 2 without an uncaught exception.
"""

from __future__ import annotations

import string

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from strategies import fd_stencil, judge, problems, texts

from derivcmp.cli import main
from derivcmp.compare import compare
from derivcmp.expr import to_text
from derivcmp.problem import Problem

SETTINGS = {"derandomize": True, "deadline": None, "database": None,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.filter_too_much]}


def _check(case) -> list:
    expr, wrt, point, order = case
    problem = Problem(expr, wrt, point, order, to_text(expr))
    note(f"derivcmp eval '{problem.text}' --wrt {','.join(wrt)} "
         f"--at {','.join(f'{k}={v!r}' for k, v in point.items())} --order {order}")
    comparison = compare(problem, timing=False)
    findings = judge(comparison)
    for f in findings:
        note(str(f))
    bugs = [f for f in findings if f[3]]
    assert not bugs, bugs
    return findings


@settings(max_examples=160, **SETTINGS)
@given(problems(max_depth=3, max_order=2))
def test_all_methods_agree_with_the_reference_or_a_documented_limit(case):
    _check(case)


@settings(max_examples=40, **SETTINGS)
@given(problems(max_depth=2, max_order=4))
def test_higher_orders_agree_with_the_reference_or_a_documented_limit(case):
    _check(case)


# --- the judge itself, on inputs whose verdict is known --------------------------------

def test_the_fd_judge_catches_a_wrong_stencil():
    # the exact stencil of x^3 at 1 with the documented step is 3 + h^2: the
    # judge must accept fd-central's own value and reject one off by 1e-6
    from derivcmp.compare import compare_text
    c = compare_text("x^3", wrt="x", at="x=1", timing=False)
    assert judge(c) == []
    exact, _rounding, steps = fd_stencil(c.problem.expr, ("x",), {"x": 1.0}, 1)
    h = steps["x"]
    assert abs(float(exact[0]) - (3 + h * h)) < 1e-15
    from dataclasses import replace

    import numpy as np
    fd = next(g for g in c.results if g.name == "fd-central")
    bad = replace(fd, outcome=replace(fd.outcome, value=np.float64(float(exact[0]) + 1e-6)))
    findings = judge(replace(c, results=(bad,)))
    assert [f[1] for f in findings] == ["differs from its own stencil"]


# --- the command line ------------------------------------------------------------------

RUNNER = CliRunner()
EXPR_ALPHABET = "xyz0123456789.eE+-*/^(),  _" + "sincoexplgtahbqrmu"


def _invoke(args: list[str]):
    result = RUNNER.invoke(main, args)
    note(f"{args!r} -> {result.exit_code}\n{result.output}")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        assert result.stderr.strip(), "exit 2 without a message"
    return result


CLI_SETTINGS = {"max_examples": 60, **SETTINGS}


@settings(**CLI_SETTINGS)
@given(st.one_of(st.text(max_size=30), st.text(alphabet=EXPR_ALPHABET, max_size=30),
                 texts(max_depth=2)))
def test_cli_random_expression(expr):
    _invoke(["eval", expr, "--at", "x=0.5,y=-1.25,z=2", "--no-timing", "--timeout", "0"])


@settings(**CLI_SETTINGS)
@given(st.one_of(st.text(max_size=30),
                 st.text(alphabet="xyz=,.0123456789-+e()pi/* ", max_size=30),
                 st.lists(st.tuples(st.sampled_from(["x", "y", "", "pi", "1x", "x y"]),
                                    st.sampled_from(["1", "-2.5", "pi/4", "", "1e999", "x", "(", "1/0",
                                                     "exp(1000)", "sqrt(-1)", "0x10", "nan", "inf"])),
                          max_size=3).map(lambda kv: ",".join(f"{k}={v}" for k, v in kv))))
def test_cli_random_point(at):
    _invoke(["eval", "x*y", "--wrt", "x", "--at", at, "--no-timing", "--timeout", "0",
             "--methods", "ad-reverse"])


@settings(**CLI_SETTINGS)
@given(st.one_of(st.text(max_size=20), st.text(alphabet="xyz, _1pie", max_size=12)),
       st.sampled_from(["1", "2", "3"]))
def test_cli_random_wrt(wrt, order):
    _invoke(["eval", "x*y", "--wrt", wrt, "--at", "x=1,y=2", "--order", order, "--no-timing",
             "--timeout", "0", "--methods", "ad-reverse,fd-central"])


@settings(max_examples=30, **SETTINGS)
@given(st.lists(st.text(alphabet=string.ascii_letters + string.digits + "-_=,.", max_size=12), max_size=4))
def test_cli_random_method_and_format_options(words):
    args = ["eval", "x^2", "--at", "x=1", "--no-timing", "--timeout", "0"]
    for opt, w in zip(["--methods", "--format", "--order", "--timeout"], words):
        args += [opt, w]
    _invoke(args)


# --- issue 8 classes: hidden kinks, scale, deep cancellation (fuzz/run.py runs more) ---

from hypothesis import HealthCheck as _HC
from hypothesis import given as _given
from hypothesis import settings as _settings
from reference_classes import (
    cancellations,
    composite_kinks,
    hidden_kinks,
    judge_cancellation,
    judge_composite_kink,
    judge_hidden_kink,
    judge_scaled,
    scaled,
)


@_settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(_HC))
@_given(hidden_kinks())
def test_kinks_hidden_by_exact_constants_are_found(case):
    assert judge_hidden_kink(*case) == []


@_settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(_HC))
@_given(composite_kinks())
def test_kinks_of_a_composite_argument_are_decided_right(case):
    assert judge_composite_kink(*case) == []


@_settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(_HC))
@_given(scaled())
def test_scaling_an_expression_scales_its_reference(case):
    assert judge_scaled(*case) == []


@_settings(max_examples=8, deadline=None, database=None, suppress_health_check=list(_HC))
@_given(cancellations())
def test_cancellations_below_1e300_are_certified_or_refused(case):
    assert judge_cancellation(*case) == []


# --- the judge's own classes, found by the long run --------------------------------------

def test_the_error_scale_of_a_third_derivative_is_in_its_own_units():
    # found by fuzz/run.py: d3/dy3 hypot(y, y) = 0 at y = 2.1e-69 is computed by every
    # chain-rule method from terms of size ~1/y^2; the Hessian analysis gave 1/y
    # (1.3e69), which called ad-reverse's honest rounding error (1.65e122) a bug
    import mpmath
    from strategies import taylor_error_scale

    from derivcmp.compare import compare_text
    from derivcmp.expr import parse

    y = 2.1397610400652734e-69
    scale = taylor_error_scale(parse("hypot(y, y)"), "y", {"y": y}, 3)
    # the terms of the third derivative of hypot(a, b) along (1, 1): 3 a b^2 / r^5 and friends,
    # each of size ~ 1/y^2; the scale sums their magnitudes, so it is a few times 1/y^2
    assert 1 / y ** 2 <= scale <= 100 / y ** 2
    # on one primitive it is the largest partial up to the order: AD computes
    # sin''' from the rule's sin' = cos, whose own derivatives are of size sin, cos
    assert taylor_error_scale(parse("sin(x)"), "x", {"x": 1.0}, 3) == pytest.approx(float(mpmath.sin(1)))
    # x^4 at 2: partials 32, 48, 48, 24
    assert taylor_error_scale(parse("x^4"), "x", {"x": 2.0}, 4) == pytest.approx(48.0)
    c = compare_text("hypot(y, y)", wrt="y", at=f"y={y!r}", order=3, timing=False)
    assert judge(c) == []


def test_symbolic_overflowing_in_sympys_formula_is_a_limit_not_a_bug():
    # found by fuzz/run.py: sympy writes d/dz log(0.5 + sigmoid(sinh(z))) with exp(-sinh(z)),
    # which overflows float64 at z = -47 though the expression stays in [log 0.5, log 1.5]
    from derivcmp.compare import compare_text
    c = compare_text("log(0.5 + sigmoid(sinh(z)))", wrt="z", at="z=-47.173049365768", timing=False)
    symbolic = next(g for g in c.results if g.name == "symbolic")
    assert symbolic.outcome.status == "error"
    findings = [f for f in judge(c) if f[0] == "symbolic"]
    assert [f[1] for f in findings] == ["limit: sympy's formula overflows float64"]
    assert findings[0][2].startswith("1 + exp(-sinh(z)) is 3.23e+66642203701863189220 here")
    assert findings[0][3] is False


def test_a_higher_partial_is_only_as_accurate_as_the_rule_it_comes_from():
    # found by fuzz/run.py: d4/dx4 atanh(0.9*tanh(x)) at x = 8.6e-44 is -5.07e-44; every AD
    # method gives +4.87e-43 (an absolute error far below eps: the table's
    # atanh' = 1/((1-x)(1+x)) differentiated by the quotient rule cancels O(1)
    # terms to O(x)).  The exact partials are all O(x); the judge's scale must count
    # each higher partial at the size of the lower ones it is derived from, as the
    # Hessian analysis does (documented limit), or it calls this honest rounding a bug
    from strategies import taylor_error_scale

    from derivcmp.compare import compare_text
    from derivcmp.expr import parse

    x = 8.612130856175656e-44
    # the partials at ~0: 1, 2x, 2, 24x; the fourth counted at the size of the third
    assert taylor_error_scale(parse("atanh(x)"), "x", {"x": x}, 4) == pytest.approx(2.0)
    c = compare_text("atanh(0.9*tanh(x))", wrt="x", at=f"x={x!r}", order=4, timing=False,
                     methods=["ad-reverse", "ad-forward"])
    values = {g.name: float(g.outcome.value) for g in c.results}
    # the same wrong value from both modes: the rule's formula, not the mode
    assert values["ad-reverse"] == pytest.approx(values["ad-forward"], rel=1e-12)
    assert abs(values["ad-reverse"] - float(c.reference.value)) < 1e-41
    assert judge(c) == []


def test_an_intermediate_that_underflows_is_a_limit():
    # found by fuzz/run.py (seed 1796062709): z^2 at z = -1.24e-228 is 1.5e-456, 0 in
    # float64, which puts abs on its kink: fd-central and ad-reverse return 0 against
    # the true -2.48e-228; float64 lost the operand (the methods warn of the underflow)
    from derivcmp.compare import compare_text
    c = compare_text("abs(z^2)", wrt="z", at="z=-1.2402427732543168e-228", timing=False)
    findings = judge(c)
    assert findings, "the methods are off: the judge must say why"
    assert {f[1] for f in findings} == {"limit: float64 underflow of an intermediate"}
    assert all(f[2].startswith("^ at column 5 (z^2) is 1.54e-456, below float64's normal range") for f in findings)
    assert not any(f[3] for f in findings)


# --- found by the 600 s run of seed 1796064709 -------------------------------------------------

def test_a_max_of_the_same_subexpression_twice_is_no_tie():
    # max(u, u) is u: the reference took it for a tie (a kink), tried sympy's limit for
    # 3 s and then the numeric limits, and ran past its deadline under load
    from derivcmp.compare import make_problem
    from derivcmp.reference import compute_reference
    for text, value in [("max(max(0.5, y), max(0.5, y))", 0.0), ("max(y, y)", 1.0), ("min(3*y, 3*y)", 3.0)]:
        problem, _ = make_problem(text, "y", {"y": 0.0})
        r = compute_reference(problem)
        assert (r.status, float(r.value)) == ("ok", value), (text, r.message)
        assert "kinks" not in r.details


def test_a_limit_sympy_writes_in_a_form_it_cannot_evaluate_falls_back_to_numeric():
    # sympy's one-sided limit of max(atan(1.5), relu(x))' holds Heaviside of atan(3/2)
    # in its complex-log form, which could not be evaluated: the reference said
    # "cannot decide"; the numeric limits give 0 (atan(1.5) > relu(x) near 0)
    from derivcmp.compare import make_problem
    from derivcmp.reference import compute_reference
    problem, _ = make_problem("max(atan(1.5), relu(x))", "x", {"x": 0.0})
    r = compute_reference(problem)
    assert (r.status, float(r.value)) == ("ok", 0.0), r.message
    assert r.details["kink_method"] == "numeric limit"
    assert r.details["kink_fallback"].startswith("sympy's limit could not be evaluated")


def test_the_judge_sees_an_underflow_behind_a_cancellation_and_the_stated_limit():
    from strategies import intermediate_underflow, judge

    from derivcmp.compare import compare_text
    from derivcmp.expr import parse
    from derivcmp.program import compile_program
    # log10(exp(y)) at y = 1e-134 is y/ln 10 only to 135+ digits: at 40 it was 0, and
    # the fourth power's underflow (ad-reverse's second derivative 0) looked like a bug
    y = 9.75850393411945e-135
    assert "below float64's normal range" in intermediate_underflow(compile_program(parse("log10(exp(y))^4")),
                                                                      {"y": y})
    c = compare_text("log10(exp(y))^4", at=f"y={y!r}", order=2, timing=False, methods=["ad-reverse"])
    assert not [why for _, _, why, bug in judge(c) if bug]
    # a derivative of about 1e-330000 cannot be certified within the reference's limit:
    # the stated limit, not a bug
    c = compare_text("asin(0.9*tanh(exp(x)))", at="x=12.85159484405282", timing=False, methods=["ad-reverse"])
    assert c.reference.status == "error" and "cancels below the noise floor" in c.reference.message
    assert [(m, cat, bug) for m, cat, _, bug in judge(c)] == \
        [("reference", "limit: cannot certify below the noise floor", False)]


def test_a_tiny_product_is_certified_by_evalf_before_any_simplify():
    # erfc((1 + x^2)^x) at x = 2.97: the derivative is about -6.5e-342701, a product far
    # below the noise floor relative to its intermediates; sympy's simplify (tried first)
    # took minutes and the reference ran out of time.  evalf's own error analysis certifies it.
    import mpmath

    from derivcmp.compare import make_problem
    from derivcmp.reference import compute_reference
    x = 2.971059526923865
    problem, _ = make_problem("erfc((1 + x^2)^x)", "x", {"x": x})
    r = compute_reference(problem)
    assert r.status == "ok" and float(r.value) == 0.0
    with mpmath.workdps(60):
        xm = mpmath.mpf(x)
        u = (1 + xm ** 2) ** xm
        truth = -2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-u ** 2) * u * (mpmath.log(1 + xm ** 2)
                                                                         + 2 * xm ** 2 / (1 + xm ** 2))
        assert abs(mpmath.mpf(r.exact) - truth) <= abs(truth) * mpmath.mpf(10) ** -45


def test_a_tie_behind_a_min_sympy_leaves_unevaluated_is_decided():
    # min(min(expm1(z), x), z) at z = x = -2.2e-308: the inner min is x (expm1(z) exceeds z
    # by z^2/2), so the outer min ties x and z; sympy kept Min(expm1(z), z) unevaluated and
    # could not prove Min(...) - z = 0 ("cannot decide"): each step is now decided first
    from derivcmp.compare import make_problem
    from derivcmp.reference import compute_reference
    z = -2.2250738585072014e-308
    problem, _ = make_problem("min(min(expm1(z), x), z)", "z,x", {"z": z, "x": z})
    r = compute_reference(problem)
    assert r.status == "not-differentiable", r.message
    assert "min is not differentiable where its arguments tie" in r.message

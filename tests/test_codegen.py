"""Generated code against independent truth: the compiled f, ad-codegen, the scalar fast path.

Generated from the primitive table (``PRIMITIVES`` and each entry's
``sample`` box), so a new primitive is tested here the day it lands:

* the scalar fast path (``scalar.SCALAR``) against mpmath, and against the
  NumPy implementation where it declines (it must raise, never return
  something else);
* the compiled f (``Program.function``) against mpmath at the sample points,
  and bit for bit the NumPy path under ``ieee_only``;
* every primitive through ``ad-codegen``, first and second derivatives (and
  gradients / Hessians for two-argument ones), against the 50-digit reference;
* undefined points, overflow and kinks: the same status, value and message as
  ad-reverse (the same rules, the same conventions);
* the floating-point warnings still come from the IEEE path.

Tolerances: a float64 formula of a few operations is good to a few ulps, so
1e-13 relative for values and 1e-12 for derivatives (test_backends' bar).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from test_backends import CASES, EXACT_TOL, case_id, rel_error
from test_primitives import points

from derivcmp import backends
from derivcmp.backends.codegen_ad import CODE_LIMIT
from derivcmp.compare import compare_text, make_problem
from derivcmp.emit import Emitter, compile_function
from derivcmp.expr import Apply, Num, Var
from derivcmp.primitives import BY_NAME, PRIMITIVES
from derivcmp.problem import OK
from derivcmp.program import compile_program
from derivcmp.reference import compute_reference
from derivcmp.scalar import FALLBACK, SCALAR, SCALAR_OPS, ieee_only

NAMES = [p.name for p in PRIMITIVES]
SPECIAL = (0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 800.0, -800.0, 1e300, -1e300, math.inf, -math.inf, math.nan)


def _expr(prim, pt) -> Apply:
    """prim(x) or prim(x, y); powi's exponent is the integer literal it must be."""
    if prim.name == "powi":
        return Apply("powi", (Var("x"), Num(str(int(pt[1])))))
    return Apply(prim.name, tuple(Var(v) for v in ("x", "y")[:prim.arity]))


def _at(prim, pt) -> dict[str, float]:
    return {"x": pt[0]} if prim.arity == 1 or prim.name == "powi" else {"x": pt[0], "y": pt[1]}


def _mp(prim, pt):
    with mpmath.workdps(40):
        return prim.mp(*[mpmath.mpf(v) for v in pt])


# --- the scalar fast path ------------------------------------------------------------

def test_the_scalar_path_covers_the_table():
    assert set(SCALAR) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_scalar_path_against_mpmath(name):
    prim = BY_NAME[name]
    for pt in points(name)[:8]:
        got = SCALAR[name](*pt)
        assert type(got) is float
        want = _mp(prim, pt)
        assert abs(got - want) <= 1e-13 * abs(want) + 1e-300, (name, pt, got, want)


@pytest.mark.parametrize("name", NAMES)
def test_scalar_path_agrees_with_numpy_or_declines(name):
    # where IEEE arithmetic gives inf or nan from finite numbers, the fast path
    # must raise so the NumPy path answers (and warns)
    prim = BY_NAME[name]
    args = [(a,) for a in SPECIAL] if prim.arity == 1 else [(a, b) for a in SPECIAL for b in SPECIAL[:9]]
    if name == "powi":          # the exponent is an integer literal by construction
        args = [(a, b) for a in SPECIAL for b in (-3.0, -1.0, 0.0, 1.0, 2.0, 3.0)]
    for pt in args:
        with np.errstate(all="ignore"):
            want = float(prim.np(*[np.float64(v) for v in pt]))
        try:
            got = SCALAR[name](*pt)
        except FALLBACK:
            continue
        if math.isnan(want):
            assert math.isnan(got), (name, pt, got)
        else:
            assert got == pytest.approx(want, rel=1e-13, abs=1e-300), (name, pt, got, want)
            if math.isfinite(want) and all(math.isfinite(v) for v in pt):
                assert math.isfinite(got)


def test_negative_base_never_becomes_complex():
    with pytest.raises(ValueError):
        SCALAR["pow"](-8.0, 1 / 3)
    with pytest.raises(ValueError):
        SCALAR["pow"](-math.inf, 0.5)       # math.pow says inf, NumPy nan
    assert SCALAR["powi"](-2.0, 3.0) == -8.0


# --- the compiled f ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_compiled_f_against_mpmath_and_the_numpy_path(name):
    prim = BY_NAME[name]
    for pt in points(name)[:5]:
        expr = _expr(prim, pt)
        program = compile_program(expr)
        names = list(program.names)
        at = _at(prim, pt)
        f = program.function(names)
        got = f(*[at[n] for n in names])
        want = _mp(prim, pt)
        assert abs(got - want) <= 1e-13 * abs(want) + 1e-300, (name, pt)
        with ieee_only(), np.errstate(all="ignore"):
            assert f(*[at[n] for n in names]) == program.evaluate(at)


def test_compiled_f_is_straight_line_with_shared_subexpressions():
    problem, _ = make_problem("exp(x)*exp(x) + sin(x*y)/(x*y)", None, "x=0.5,y=2", 1)
    program = compile_program(problem.expr)
    f = program.function(["x", "y"])
    assert f.source.count("exp(") == 1 and f.source.count("v0 * v1") == 1
    assert f(0.5, 2.0) == pytest.approx(math.exp(1.0) + math.sin(1.0), rel=1e-15)


def test_compiled_f_falls_back_to_numpy_on_overflow_and_domain_errors():
    program = compile_program(make_problem("exp(x) + log(x)", "x", "x=1", 1)[0].expr)
    f = program.function(["x"])
    with np.errstate(all="ignore"):
        assert f(800.0) == math.inf
        assert math.isnan(f(-1.0))
        assert f(0.0) == -math.inf
        assert np.allclose(f(np.array([1.0, 2.0])), np.exp([1.0, 2.0]) + np.log([1.0, 2.0]))


def test_fd_central_keeps_the_overflow_warning_of_an_intermediate():
    # x*x overflows silently on Python floats: the event must still be seen
    c = compare_text("1/(1 + x*x)", wrt="x", at="x=1e200", methods="fd-central,ad-reverse,ad-codegen",
                     timing=False)
    for r in c.results:
        assert r.outcome.status == OK
        assert "floating-point overflow" in r.outcome.message, r.name


# --- ad-codegen, generated from the table ---------------------------------------------

def _problems():
    for prim in PRIMITIVES:
        for k, pt in enumerate(points(prim.name)[:3]):
            wrt = "x" if prim.arity == 1 or prim.name == "powi" else "x,y"
            for order in (1, 2):
                yield pytest.param(prim.name, pt, wrt, order, id=f"{prim.name}-{k}-d{order}")


@pytest.mark.parametrize("name, pt, wrt, order", list(_problems()))
def test_every_primitive_through_ad_codegen(name, pt, wrt, order):
    prim = BY_NAME[name]
    problem, _ = make_problem(_expr(prim, pt), wrt, _at(prim, pt), order)
    ref = compute_reference(problem)
    assert ref.status == OK
    out = backends.run(backends.registry()["ad-codegen"], problem, timing=False)
    assert out.status == OK, out.message
    assert np.shape(out.value) == problem.shape
    assert rel_error(out.value, ref.exact) <= EXACT_TOL


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_ad_codegen_on_the_backend_cases(case):
    # gradients, Hessians, 3rd and 4th derivatives of one variable
    text, wrt, at, order = case
    c = compare_text(text, wrt=wrt, at=at, order=order, methods="ad-codegen", timing=False)
    assert c.reference.status == OK
    (r,) = c.results
    assert r.outcome.status == OK, r.outcome.message
    assert rel_error(r.outcome.value, c.reference.exact) <= EXACT_TOL


@pytest.mark.parametrize("text, wrt, at, order", [
    ("log(x) + 1", "x", "x=-1", 1),                 # undefined: nan
    ("exp(x)*y", "x,y", "x=800,y=1", 2),             # overflow: inf, Hessian shape
    ("sqrt(x)", "x", "x=0", 1),                      # infinite slope
    ("abs(x) + x", "x", "x=0", 1),                   # kink: the subgradient
    ("max(x, y)", "x,y", "x=1,y=1", 1),              # tie: 1/2
    ("relu(x)*sign(x)", "x", "x=0", 2),
    ("x^y", "x,y", "x=0,y=2", 1),                    # edge of pow's domain
    ("cbrt(x)^3", "x", "x=0", 1),                    # 0 * inf in the chain rule
    ("1/(1 + x^2)", "x", "x=1e200", 1),
])
def test_ad_codegen_matches_ad_reverse_where_things_go_wrong(text, wrt, at, order):
    c = compare_text(text, wrt=wrt, at=at, order=order, methods="ad-reverse,ad-codegen", timing=False)
    rev, gen = (r.outcome for r in c.results)
    assert gen.status == rev.status
    if text.startswith("cbrt"):
        # the same value (a zero adjoint contributes 0, not 0 * inf), but straight-line
        # code computes the infinite partial the tape skips, and says so
        assert rev.message is None and "divide by zero" in gen.message
    else:
        assert gen.message == rev.message
    np.testing.assert_array_equal(np.asarray(gen.value, dtype=float), np.asarray(rev.value, dtype=float))


def test_ad_codegen_folds_zero_adjoints_and_shares_subexpressions():
    problem, _ = make_problem("sin(x)*3 + 0*exp(y) + sin(x)", "x", "x=0.5,y=1", 1)
    out = backends.run(backends.registry()["ad-codegen"], problem, timing=False)
    code = out.details["code"]
    assert code.count("sin(") == 1 and code.count("cos(") == 1
    assert "exp(" in code.split("if not isfinite")[0]          # f itself needs it
    assert "exp(" not in code.split("if not isfinite")[1]      # its adjoint is 0*...: folded
    assert " * 1.0" not in code and " + 0.0" not in code
    assert out.value == pytest.approx(4 * math.cos(0.5), rel=1e-15)
    assert out.details["code_lines"] == code.count("\n") + 1


def test_ad_codegen_states_how_much_code_it_truncated():
    text = " + ".join(f"sin({k}*x)*exp({k}*y)" for k in range(1, 60))
    problem, _ = make_problem(text, "x,y", "x=0.1,y=0.2", 2)
    out = backends.run(backends.registry()["ad-codegen"], problem, timing=False)
    assert out.status == OK
    assert out.details["code_chars"] > CODE_LIMIT
    assert f"truncated: {out.details['code_chars']} characters in all" in out.details["code"]


def test_emitter_refuses_a_rule_that_needs_a_computed_value():
    em = Emitter()
    x = em.parameter(0, True)
    with pytest.raises(ValueError, match="a rule needs the value of a computed quantity"):
        em.value(em.exp(x))
    assert em.value(em.number(2.0)) == 2.0


def test_the_tape_fast_path_gives_the_numpy_paths_answer():
    for text, wrt, at, order in CASES:
        problem, _ = make_problem(text, wrt, at, order)
        prepared = backends.registry()["ad-reverse"].prepare(problem)
        fast = np.asarray(prepared.evaluate(problem.point), dtype=float)
        with ieee_only(), np.errstate(all="ignore"):
            slow = np.asarray(prepared.evaluate(problem.point), dtype=float)
        np.testing.assert_allclose(fast, slow, rtol=1e-13, atol=1e-300, err_msg=text)


def test_the_tape_still_takes_arrays():
    problem, _ = make_problem("sin(x)*y", "x", "x=0.5,y=2", 1)
    prepared = backends.registry()["ad-reverse"].prepare(problem)
    xs = np.array([0.1, 0.5, 2.0])
    np.testing.assert_allclose(prepared.evaluate({"x": xs, "y": 2.0}), 2 * np.cos(xs), rtol=1e-15)


def test_scalar_ops_is_an_ops_namespace():
    assert SCALAR_OPS.exp(1.0) == math.exp(1.0)
    with pytest.raises(AttributeError):
        SCALAR_OPS.nonexistent      # noqa: B018


def test_compile_function_takes_any_variable_order():
    program = compile_program(make_problem("x - 2*y", None, "x=1,y=2", 1)[0].expr)
    assert compile_function(program, ["y", "x"])(2.0, 1.0) == -3.0

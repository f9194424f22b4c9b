"""The primitive table against independent truth (mpmath, sympy).

Generated from ``primitives.PRIMITIVES`` in the style of JAX's
``LAX_GRAD_OPS``: every entry is checked at seeded random points drawn from
its own ``sample`` ranges, so adding a primitive adds its tests.

* ``np`` against mpmath at 30 digits;
* the ``partials`` rule (with ``FLOAT_OPS``) against sympy's own derivative of
  the ``sp`` form, evaluated at the exact binary value of each point;
* the complex form ``cx`` (through ``COMPLEX_OPS``): the NumPy value on real
  inputs and, by complex step, the same derivative as sympy's; a primitive
  without one is refused by name;
* stability of sigmoid/softplus/tanh at large |x|, domain and kink predicates,
  and the ``derivcmp functions`` listing.
"""

from __future__ import annotations

import json
import math
import zlib
from functools import cache

import mpmath
import numpy as np
import pytest
import sympy
from click.testing import CliRunner

from derivcmp import primitives as P
from derivcmp.primitives import BY_NAME, COMPLEX_OPS, FLOAT_OPS, FUNCTIONS, PRIMITIVES

N_POINTS = 20
NAMES = [p.name for p in PRIMITIVES]
WITH_CX = [p.name for p in PRIMITIVES if p.cx is not None]
WITHOUT_CX = [p.name for p in PRIMITIVES if p.cx is None]

# Underflow to 0 is the correctly rounded answer for e.g. sigmoid(-800) and
# is what numpy does silently by default; every other floating-point event is
# an error here.
STRICT = {"over": "raise", "invalid": "raise", "divide": "raise", "under": "ignore"}


def _is_integer_slot(prim, i: int) -> bool:
    """powi's exponent is an integer literal by construction (see the parser)."""
    return prim.name == "powi" and i == 1


@cache
def points(name: str) -> tuple[tuple[float, ...], ...]:
    """Seeded random points in the primitive's sample box (stable per name)."""
    prim = BY_NAME[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    cols = []
    for i, (lo, hi) in enumerate(prim.sample):
        col = rng.uniform(lo, hi, N_POINTS)
        if _is_integer_slot(prim, i):
            col = np.round(col)
        cols.append(col)
    return tuple(tuple(float(c[k]) for c in cols) for k in range(N_POINTS))


def close(got: float, want, rel: float) -> bool:
    want = float(want)
    if want == 0:
        return got == 0
    return abs(got - want) <= rel * abs(want)


# --- the table's shape ------------------------------------------------------

def test_names_are_unique_and_indexed():
    assert len(NAMES) == len(set(NAMES))
    assert all(BY_NAME[p.name] is p for p in PRIMITIVES)
    for (syntax, arity), prim in FUNCTIONS.items():
        assert prim.syntax == syntax and prim.arity == arity


@pytest.mark.parametrize("name", NAMES)
def test_entry_is_complete(name):
    prim = BY_NAME[name]
    assert len(prim.sample) == prim.arity
    assert all(lo < hi for lo, hi in prim.sample)
    assert prim.domain_note
    args = [np.float64(v) for v in points(name)[0]]
    parts = prim.partials(FLOAT_OPS, *args, prim.np(*args))
    assert isinstance(parts, tuple) and len(parts) == prim.arity


@pytest.mark.parametrize("name", NAMES)
def test_samples_are_inside_the_domain_and_away_from_kinks(name):
    prim = BY_NAME[name]
    for pt in points(name):
        if prim.domain:
            assert prim.domain(*pt) is None, pt
        if prim.kink:
            assert prim.kink(*pt) is None, pt


# --- (a) NumPy against mpmath --------------------------------------------------

# rel tolerance: a few ulps, except where a composite float formula
# (log(x)/log(b)) legitimately compounds two roundings near a cancellation
NP_REL = {"log_base": 1e-12}


@pytest.mark.parametrize("name", NAMES)
def test_numpy_agrees_with_mpmath(name):
    prim = BY_NAME[name]
    rel = NP_REL.get(name, 1e-13)
    with mpmath.workdps(30):
        for pt in points(name):
            with np.errstate(**STRICT):
                got = prim.np(*[np.float64(v) for v in pt])
            want = prim.mp(*[mpmath.mpf(v) for v in pt])
            assert np.ndim(got) == 0
            assert close(float(got), want, rel), (pt, float(got), want)


@pytest.mark.parametrize("name", NAMES)
def test_numpy_vectorizes(name):
    prim = BY_NAME[name]
    cols = [np.array(c) for c in zip(*points(name))]
    with np.errstate(**STRICT):
        vec = prim.np(*cols)
        one = [prim.np(*[np.float64(v) for v in pt]) for pt in points(name)]
    assert np.shape(vec) == (N_POINTS,)
    np.testing.assert_array_equal(vec, np.array(one, dtype=float))


# --- (b) derivative rules against sympy ------------------------------------------

def _symbols(arity: int):
    return [sympy.Symbol(f"a{i}", real=True) for i in range(arity)]


def _sympy_form(prim, syms, pt):
    if prim.name == "powi":
        return prim.sp(syms[0], sympy.Integer(int(pt[1])))
    return prim.sp(*syms)


@cache
def sympy_partials(name: str) -> tuple[tuple, ...]:
    """For each point, sympy's partial derivatives at the exact binary point
    (``None`` for powi's integer exponent, which is a constant, not a variable)."""
    prim = BY_NAME[name]
    syms = _symbols(prim.arity)
    out = []
    generic = None if prim.name == "powi" else [sympy.diff(prim.sp(*syms), s) for s in syms]
    for pt in points(name):
        subs = {s: sympy.Rational(v) for s, v in zip(syms, pt)}   # exact binary value
        row = []
        for i, s in enumerate(syms):
            if _is_integer_slot(prim, i):
                row.append(None)
                continue
            d = generic[i] if generic else sympy.diff(_sympy_form(prim, syms, pt), s)
            row.append(d.evalf(30, subs=subs))
        out.append(tuple(row))
    return tuple(out)


@pytest.mark.parametrize("name", NAMES)
def test_partials_agree_with_sympy(name):
    prim = BY_NAME[name]
    for pt, want in zip(points(name), sympy_partials(name)):
        args = [np.float64(v) for v in pt]
        with np.errstate(**STRICT):
            parts = prim.partials(FLOAT_OPS, *args, prim.np(*args))
        for i, (p, w) in enumerate(zip(parts, want)):
            if w is None:
                assert p is None, "powi's exponent is a constant: its partial must be None"
                continue
            assert w.is_real, (pt, i, w)
            if p is None:
                assert w == 0, (pt, i, w)
                continue
            assert np.ndim(p) == 0
            assert close(float(p), w, 1e-12), (pt, i, float(p), w)


@pytest.mark.parametrize("name", NAMES)
def test_none_partials_are_identically_zero(name):
    prim = BY_NAME[name]
    syms = _symbols(prim.arity)
    pt = points(name)[0]
    args = [np.float64(v) for v in pt]
    parts = prim.partials(FLOAT_OPS, *args, prim.np(*args))
    for i, p in enumerate(parts):
        if p is not None or _is_integer_slot(prim, i):
            continue
        d = sympy.diff(_sympy_form(prim, syms, pt), syms[i])
        # sign' = 2*DiracDelta(x): zero wherever the derivative exists
        assert sympy.simplify(d.replace(sympy.DiracDelta, lambda *a: sympy.S.Zero)) == 0, d


def test_powi_rule_at_zero_base():
    # d/dx x^n at x = 0: 0 for n = 0 and n >= 2, 1 for n = 1 (x^0 used to give nan)
    powi = BY_NAME["powi"]
    a = sympy.Symbol("a", real=True)
    for n in (0, 1, 2, 3, 7):
        with np.errstate(**STRICT):
            got = powi.partials(FLOAT_OPS, np.float64(0.0), np.float64(n),
                                powi.np(np.float64(0.0), np.float64(n)))[0]
        want = sympy.diff(a ** n, a).subs(a, 0)
        assert (0.0 if got is None else float(got)) == float(want), n


def test_powi_rule_with_negative_base():
    powi = BY_NAME["powi"]
    a = sympy.Symbol("a", real=True)
    for base in (-2.5, -1.0, -0.5):
        for n in (-3, -2, -1, 1, 2, 3, 4):
            with np.errstate(**STRICT):
                got = powi.partials(FLOAT_OPS, np.float64(base), np.float64(n),
                                    powi.np(np.float64(base), np.float64(n)))[0]
            want = sympy.N(sympy.diff(a ** n, a).subs(a, sympy.Rational(base)), 30)
            assert close(float(got), want, 1e-14), (base, n)


# --- (c) the complex-safe form ----------------------------------------------------

@pytest.mark.parametrize("name", WITH_CX)
def test_complex_form_agrees_on_real_inputs(name):
    # read through the ops namespaces the evaluator uses (program.sweep)
    for pt in points(name):
        with np.errstate(**STRICT):
            real = getattr(FLOAT_OPS, name)(*[np.float64(v) for v in pt])
            cplx = getattr(COMPLEX_OPS, name)(*[complex(v) for v in pt])
        assert abs(cplx.imag) <= 1e-15 * max(1.0, abs(real)), (pt, cplx)
        assert close(float(cplx.real), real, 1e-14), (pt, cplx, real)


@pytest.mark.parametrize("name", WITH_CX)
def test_complex_step_gives_the_sympy_derivative(name):
    # cx must be the analytic continuation: Im f(x + ih)/h = f'(x), no cancellation
    prim = BY_NAME[name]
    h = 1e-30
    for pt, want in zip(points(name), sympy_partials(name)):
        for i, w in enumerate(want):
            if w is None:
                continue
            args = [complex(v) for v in pt]
            args[i] += 1j * h
            with np.errstate(**STRICT):
                got = prim.cx(*args).imag / h
            if float(w) == 0:
                assert abs(got) <= 1e-15, (pt, i, got)
            else:
                assert close(float(got), w, 1e-12), (pt, i, got, w)


@pytest.mark.parametrize("name", WITHOUT_CX)
def test_complex_ops_refuse_a_primitive_without_a_complex_form(name):
    # not analytic: running the real formula on complex input would be silently wrong
    with pytest.raises(P.MissingForm, match=rf"'{name}' has no 'cx' .*not analytic"):
        getattr(COMPLEX_OPS, name)
    assert not hasattr(COMPLEX_OPS, name)


@pytest.mark.parametrize("ops", [FLOAT_OPS, COMPLEX_OPS])
def test_ops_namespaces_refuse_unknown_names(ops):
    with pytest.raises(AttributeError, match="no primitive named 'sinn'") as err:
        ops.sinn  # noqa: B018 - the lookup is what is tested
    assert not isinstance(err.value, P.MissingForm)


TINY_CX = [n for n in ("log1p", "expm1", "sin", "sinh", "tan", "tanh", "asin", "asinh", "atan", "atanh",
                       "sqrt", "cbrt", "exp", "log") if BY_NAME[n].cx is not None]


@pytest.mark.parametrize("name", TINY_CX)
@pytest.mark.parametrize("v", [1e-10, -3e-12, 2.5e-200])
def test_complex_forms_are_accurate_at_tiny_arguments(name, v):
    # NumPy's complex log1p is log(1 + z): log1p(1e-10 + 0j) was off by 8e-8
    prim = BY_NAME[name]
    if prim.domain and prim.domain(v):
        v = abs(v)
    with mpmath.workdps(500):     # enough for a difference quotient with h = 1e-18 |x|
        want = prim.mp(mpmath.mpf(v))
        want_d = mpmath.diff(prim.mp, mpmath.mpf(v), h=mpmath.mpf(abs(v)) * mpmath.mpf("1e-18"))
    h = 1e-20 * abs(v)            # h << |x|: Re f(x + ih) = f(x) - f''(x) h^2/2 + ...
    with np.errstate(**STRICT):
        got = prim.cx(complex(v))
        step = prim.cx(complex(v, h))
    assert close(float(got.real), want, 1e-14), (v, got, want)
    assert close(float(step.imag / h), want_d, 1e-13), (v, step, want_d)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
@pytest.mark.parametrize("v", [-800.0, -745.0, -700.0, -40.0, 40.0, 700.0, 800.0])
def test_complex_forms_are_stable_at_large_arguments(name, v):
    prim = BY_NAME[name]
    h = 1e-30
    with np.errstate(**STRICT):
        value = prim.cx(complex(v, h))
    with mpmath.workdps(1000):
        mp_x = mpmath.mpf(v)
        want = BY_NAME[name].mp(mp_x)
        want_d = mpmath.diff(BY_NAME[name].mp, mp_x)
    assert np.isfinite(value)
    assert close(float(value.real), want, 1e-14)
    if abs(want_d) > 1e-250:      # below that, h * f'(x) itself underflows
        assert close(float(value.imag / h), want_d, 1e-13)


# --- (d) stability at large |x| --------------------------------------------------

def _sigmoid_mp(x):
    return 1 / (1 + mpmath.exp(-x))


def _softplus_mp(x):
    return mpmath.log(1 + mpmath.exp(x))


BIG = [-800.0, -745.0, -700.0, -100.0, -40.0, -37.5, -20.0, 20.0, 37.5, 40.0, 100.0, 700.0, 800.0]

STABLE = {
    # name: (value truth, derivative truth), both independent of the table
    "sigmoid": (_sigmoid_mp, lambda x: _sigmoid_mp(x) * _sigmoid_mp(-x)),
    "softplus": (_softplus_mp, _sigmoid_mp),
    "tanh": (mpmath.tanh, lambda x: mpmath.sech(x) ** 2),
    "exp": (mpmath.exp, mpmath.exp),
    "erfc": (mpmath.erfc, lambda x: -2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)),
}


@pytest.mark.parametrize("name", sorted(STABLE))
@pytest.mark.parametrize("v", BIG)
def test_stable_at_large_arguments(name, v):
    prim = BY_NAME[name]
    value_mp, deriv_mp = STABLE[name]
    # 1000 digits: the plain formulas need no cancellation care at this precision
    with mpmath.workdps(1000):
        want = value_mp(mpmath.mpf(v))
        want_d = deriv_mp(mpmath.mpf(v))
    if name == "exp" and float(want) == math.inf:
        pytest.skip("exp itself overflows; nothing to be stable about")
    with np.errstate(**STRICT):
        got = prim.np(np.float64(v))
        (d,) = prim.partials(FLOAT_OPS, np.float64(v), got)
    assert np.isfinite(got) and np.isfinite(d)
    # float(mpf) is the correctly rounded double, including underflow to 0
    assert close(float(got), want, 1e-14), (v, got, want)
    assert close(float(d), want_d, 1e-13), (v, d, want_d)


def test_stable_functions_work_on_arrays_without_warnings():
    xs = np.array(BIG)
    with np.errstate(**STRICT):
        s = P.BY_NAME["sigmoid"].np(xs)
        sp = P.BY_NAME["softplus"].np(xs)
    assert np.all(np.isfinite(s)) and np.all(np.isfinite(sp))
    assert np.all((s >= 0) & (s <= 1))
    assert np.all(np.diff(s) >= 0) and np.all(np.diff(sp) >= 0)


# --- (e) domains, kinks and the real cube root --------------------------------------

def _mp_real_value(prim, *args):
    """mpmath's value if it is a finite real, else None (undefined there)."""
    try:
        with mpmath.workdps(30):
            v = prim.mp(*[mpmath.mpf(a) for a in args])
    except (ZeroDivisionError, ValueError):
        return None
    if isinstance(v, mpmath.mpc) and v.imag != 0:
        return None
    return v if mpmath.isfinite(v) else None


GRID = [-5.0, -2.0, -1.5, -1.0, -0.999, -0.5, 0.0, 0.5, 0.999, 1.0, 1.001, 1.5, 2.0, 5.0]


@pytest.mark.parametrize("name", [p.name for p in PRIMITIVES if p.arity == 1 and p.domain])
def test_unary_domain_matches_where_mpmath_is_real(name):
    prim = BY_NAME[name]
    for v in GRID:
        reason = prim.domain(v)
        defined = _mp_real_value(prim, v) is not None
        assert (reason is None) == defined, (v, reason)
        if reason is not None:
            assert isinstance(reason, str) and name in reason
        # the predicate works on mpf too (the reference calls it so)
        assert (prim.domain(mpmath.mpf(v)) is None) == (reason is None)


@pytest.mark.parametrize("name, args", [
    ("log", (-1.0,)), ("log", (0.0,)), ("log2", (-3.0,)), ("log10", (0.0,)), ("log1p", (-1.0,)),
    ("sqrt", (-1e-300,)), ("asin", (1.5,)), ("acos", (-1.01,)), ("acosh", (0.5,)),
    ("atanh", (1.0,)), ("div", (1.0, 0.0)), ("pow", (-2.0, 0.5)), ("pow", (-2.0, 2.0)),
    ("pow", (0.0, -1.0)), ("pow", (0.0, 0.0)), ("powi", (0.0, -2.0)), ("log_base", (-1.0, 2.0)),
    ("log_base", (2.0, 1.0)), ("log_base", (2.0, -2.0)), ("atan2", (0.0, 0.0)),
])
def test_undefined_points_have_a_reason(name, args):
    reason = BY_NAME[name].domain(*args)
    assert isinstance(reason, str) and reason


@pytest.mark.parametrize("name, args", [
    ("log", (1e-300,)), ("sqrt", (0.0,)), ("asin", (1.0,)), ("acosh", (1.0,)), ("div", (0.0, 2.0)),
    ("pow", (0.0, 2.5)), ("pow", (2.0, -0.5)), ("powi", (-2.0, -3.0)), ("powi", (0.0, 0.0)),
    ("powi", (0.0, 3.0)), ("atan2", (0.0, -1.0)), ("log_base", (0.5, 0.5)),
])
def test_defined_points_have_no_reason(name, args):
    prim = BY_NAME[name]
    assert prim.domain(*args) is None
    # and mpmath agrees that the value is a finite real
    assert _mp_real_value(prim, *args) is not None


KINKS = [
    ("sqrt", (0.0,)), ("cbrt", (0.0,)), ("abs", (0.0,)), ("sign", (0.0,)), ("relu", (0.0,)),
    ("asin", (1.0,)), ("asin", (-1.0,)), ("acos", (1.0,)), ("acosh", (1.0,)),
    ("max", (1.5, 1.5)), ("min", (-2.0, -2.0)), ("hypot", (0.0, 0.0)), ("atan2", (0.0, -1.0)),
    ("pow", (0.0, 0.5)),
    # x^y at x = 0 with y >= 1: the edge of the domain (x < 0 undefined), one-sided only
    ("pow", (0.0, 2.5)),
]


@pytest.mark.parametrize("name, args", KINKS)
def test_kinks_have_a_reason_and_really_are_kinks(name, args):
    prim = BY_NAME[name]
    reason = prim.kink(*args)
    assert isinstance(reason, str) and reason
    # independent check with mpmath: along some argument the one-sided slopes
    # differ, or one of them is unbounded or undefined
    h = mpmath.mpf("1e-25")
    with mpmath.workdps(60):
        base = [mpmath.mpf(a) for a in args]
        f0 = prim.mp(*base)
        really = False
        for i in range(prim.arity):
            slopes = []
            for side in (1, -1):
                moved = list(base)
                moved[i] += side * h
                try:
                    f1 = prim.mp(*moved)
                except (ValueError, ZeroDivisionError):
                    f1 = None
                if f1 is None or isinstance(f1, mpmath.mpc) or isinstance(f0, mpmath.mpc):
                    slopes.append(None)
                else:
                    slopes.append((f1 - f0) / (side * h))
            if None in slopes or any(abs(s) > 1e6 for s in slopes) or abs(slopes[0] - slopes[1]) > 1e-6:
                really = True
        assert really, (name, args)


@pytest.mark.parametrize("name, args", [
    ("sqrt", (1e-300,)), ("cbrt", (-8.0,)), ("abs", (-1e-300,)), ("relu", (1e-300,)),
    ("asin", (0.999,)), ("max", (1.5, 1.5000000000000002)), ("hypot", (0.0, 1e-300)),
    ("atan2", (1e-300, -1.0)), ("pow", (1e-300, 2.5)), ("powi", (0.0, 3.0)),
])
def test_no_kink_next_to_a_kink(name, args):
    assert BY_NAME[name].kink(*args) is None


def test_cbrt_is_the_real_cube_root():
    cbrt = BY_NAME["cbrt"]
    assert cbrt.np(np.float64(-8.0)) == -2.0
    assert cbrt.mp(mpmath.mpf(-8)) == -2
    assert cbrt.sp(sympy.Integer(-8)) == -2
    assert cbrt.sp(sympy.Integer(27)) == 3
    assert cbrt.mp(mpmath.mpf(0)) == 0
    assert complex(cbrt.cx(-8 + 0j)) == pytest.approx(-2.0)
    # and its sympy form differentiates to the real branch: d/dx cbrt(x) at -8 = 1/12
    a = sympy.Symbol("a", real=True)
    d = sympy.diff(cbrt.sp(a), a).replace(sympy.DiracDelta, lambda *_: sympy.S.Zero)
    assert sympy.nsimplify(d.subs(a, -8)) == sympy.Rational(1, 12)
    assert cbrt.partials(FLOAT_OPS, np.float64(-8.0), np.float64(-2.0))[0] == pytest.approx(1 / 12, rel=1e-15)


def test_sympy_forms_are_real_valued_on_the_domain():
    # the reference relies on sp giving real values where np does (e.g. no
    # principal complex roots): check at every sample point
    for prim in PRIMITIVES:
        syms = _symbols(prim.arity)
        for pt in points(prim.name)[:5]:
            f = _sympy_form(prim, syms, pt)
            v = f.evalf(20, subs={s: sympy.Rational(a) for s, a in zip(syms, pt)})
            assert v.is_real, (prim.name, pt, v)
            with np.errstate(**STRICT):
                assert close(float(prim.np(*[np.float64(a) for a in pt])), v, 1e-13), (prim.name, pt)


# --- derivcmp functions ------------------------------------------------------------

def _run(*args):
    from derivcmp.cli import main
    result = CliRunner().invoke(main, list(args), env={"NO_COLOR": "1", "COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return result.output


def test_functions_command_lists_every_function():
    out = _run("functions")
    lines = out.splitlines()
    for (syntax, arity), prim in FUNCTIONS.items():
        rows = [ln for ln in lines if ln.split() and ln.split()[0] == syntax
                and ln.split()[1] == str(arity)]
        assert len(rows) == 1, (syntax, arity, rows)
        assert prim.domain_note in rows[0], (syntax, rows[0])
    assert "pi" in out and "**" in out


def test_functions_command_json():
    items = json.loads(_run("functions", "--format", "json"))
    listed = {(i["name"], i["arity"]) for i in items}
    assert listed == set(FUNCTIONS)
    for i in items:
        assert i["domain"] == FUNCTIONS[(i["name"], i["arity"])].domain_note

"""The 50-digit reference against truth computed independently of derivcmp.

Every expected value here is a closed form worked out by hand and evaluated
in mpmath, or mpmath's own numerical differentiation, at the *exact binary*
value of each input.  Nothing is a copied output of derivcmp.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest

from derivcmp.compare import make_problem
from derivcmp.problem import NOT_DIFFERENTIABLE, OK, UNDEFINED
from derivcmp.reference import compute_reference

DPS = 70                     # working precision of the independent truth
AGREE = mpmath.mpf(10) ** -45   # "45+ digits"


def ref(text, wrt, at, order=1):
    problem, _ = make_problem(text, wrt, at, order)
    return compute_reference(problem)


def mp(x: float) -> mpmath.mpf:
    """The exact binary value of a float, as derivcmp's inputs are taken."""
    return mpmath.mpf(float(x))


def assert_digits(exact, truth, tol=AGREE):
    """``exact`` (string, or nested lists of strings) matches ``truth`` relatively.

    ``truth`` is an mpf, a decimal string or a Fraction; the last two are
    converted at full working precision.
    """
    if isinstance(truth, (list, tuple)):
        assert isinstance(exact, list) and len(exact) == len(truth)
        for e, t in zip(exact, truth):
            assert_digits(e, t, tol)
        return
    with mpmath.workdps(DPS):
        got = mpmath.mpf(exact)
        truth = (mpmath.mpf(truth.numerator) / truth.denominator if isinstance(truth, Fraction)
                 else mpmath.mpf(truth))
        if truth == 0:
            assert got == 0, f"{exact} should be 0"
        else:
            assert abs(got - truth) <= tol * abs(truth), f"{exact} != {mpmath.nstr(truth, 50)}"


def sigma(z):
    return 1 / (1 + mpmath.exp(-z))


# --- closed forms ---------------------------------------------------------------

def test_sigmoid_example_from_the_issue():
    # d/dw 1/(1+exp(-w x)) = x s (1 - s), s = sigmoid(w x)
    r = ref("1/(1+exp(-w*x))", "w", "w=2,x=3")
    assert r.status == OK and r.digits == 50
    with mpmath.workdps(DPS):
        s = sigma(mp(2) * mp(3))
        truth = mp(3) * s * (1 - s)
    assert_digits(r.exact, truth)
    assert r.exact.startswith("0.0073995278740801434548671272626")
    # 50 significant digits in the string
    assert len(r.exact.replace("0.00", "", 1).replace(".", "")) == 50


def test_sigmoid_primitive_gives_the_same_reference():
    a = ref("sigmoid(w*x)", "w", "w=2,x=3")
    b = ref("1/(1+exp(-w*x))", "w", "w=2,x=3")
    assert_digits(a.exact, b.exact)


@pytest.mark.parametrize("text, at, truth", [
    # d/dx sin(x) e^x = e^x (sin x + cos x)
    ("sin(x)*exp(x)", 0.7, lambda x: mpmath.exp(x) * (mpmath.sin(x) + mpmath.cos(x))),
    # d/dx x^x = x^x (1 + log x)
    ("x^x", 1.3, lambda x: x ** x * (1 + mpmath.log(x))),
    # d/dx atan(x)/x = 1/(x (1+x^2)) - atan(x)/x^2
    ("atan(x)/x", 0.37, lambda x: 1 / (x * (1 + x * x)) - mpmath.atan(x) / x ** 2),
    # d/dx erf(x) = 2/sqrt(pi) e^{-x^2}
    ("erf(x)", -0.45, lambda x: 2 / mpmath.sqrt(mpmath.pi) * mpmath.exp(-x * x)),
    # d/dx softplus(x) = sigmoid(x)
    ("softplus(x)", 2.5, sigma),
    # d/dx log(x, 3) = 1/(x ln 3)
    ("log(x, 3)", 5.5, lambda x: 1 / (x * mpmath.log(3))),
    # d/dx asinh(x) = 1/sqrt(1+x^2)
    ("asinh(x)", -2.25, lambda x: 1 / mpmath.sqrt(1 + x * x)),
    # d/dx tanh(x) = sech^2 at a large argument: 50 digits of a tiny number
    ("tanh(x)", 20.0, lambda x: mpmath.sech(x) ** 2),
    # d/dx hypot(x, 2) = x / hypot(x, 2)
    ("hypot(x, 2)", 1.5, lambda x: x / mpmath.hypot(x, 2)),
])
def test_first_derivatives_against_closed_forms(text, at, truth):
    r = ref(text, "x", {"x": at})
    assert r.status == OK
    with mpmath.workdps(DPS):
        assert_digits(r.exact, truth(mp(at)))


def test_gradient_closed_form():
    # f = x^2 y + sin(x y):  df/dx = 2xy + y cos(xy),  df/dy = x^2 + x cos(xy)
    r = ref("x^2*y + sin(x*y)", "x,y", "x=0.3,y=-1.7")
    assert r.status == OK
    with mpmath.workdps(DPS):
        x, y = mp(0.3), mp(-1.7)
        assert_digits(r.exact, [2 * x * y + y * mpmath.cos(x * y), x * x + x * mpmath.cos(x * y)])


def test_hessian_closed_form_is_symmetric():
    # f = exp(x y):  f_xx = y^2 e, f_xy = (1 + xy) e, f_yy = x^2 e
    r = ref("exp(x*y)", "x,y", "x=0.5,y=1.25", order=2)
    assert r.status == OK
    with mpmath.workdps(DPS):
        x, y = mp(0.5), mp(1.25)
        e = mpmath.exp(x * y)
        assert_digits(r.exact, [[y * y * e, (1 + x * y) * e], [(1 + x * y) * e, x * x * e]])
    assert r.exact[0][1] == r.exact[1][0]


@pytest.mark.parametrize("text, at, order", [
    ("exp(sin(x))*x^2", 0.7, 1),
    ("exp(sin(x))*x^2", 0.7, 2),
    ("exp(sin(x))*x^2", 0.7, 3),
    ("log(1 + x^2)/(2 + cos(x))", -1.1, 2),
    ("sqrt(1 + x^4)*atan(x)", 2.0, 4),
    ("x^x", 1.5, 3),
])
def test_against_mpmath_numerical_differentiation(text, at, order):
    fns = {
        "exp(sin(x))*x^2": lambda x: mpmath.exp(mpmath.sin(x)) * x ** 2,
        "log(1 + x^2)/(2 + cos(x))": lambda x: mpmath.log(1 + x ** 2) / (2 + mpmath.cos(x)),
        "sqrt(1 + x^4)*atan(x)": lambda x: mpmath.sqrt(1 + x ** 4) * mpmath.atan(x),
        "x^x": lambda x: x ** x,
    }
    r = ref(text, "x", {"x": at}, order)
    assert r.status == OK
    with mpmath.workdps(DPS):
        truth = mpmath.diff(fns[text], mp(at), order)
    # mpmath.diff works at raised precision; 40 digits is what it reliably gives here
    assert_digits(r.exact, truth, tol=mpmath.mpf(10) ** -40)


# --- exact binary inputs, exact decimal literals --------------------------------

def test_point_is_the_nearest_double_not_the_decimal():
    # d/dx x^3 = 3 x^2 at x = 0.1: the double nearest 0.1 is
    # 0.1000000000000000055511151231257827..., which changes the 17th digit
    r = ref("x^3", "x", "x=0.1")
    with mpmath.workdps(DPS):
        binary = 3 * mp(0.1) ** 2
        decimal = 3 * mpmath.mpf("0.1") ** 2
        assert_digits(r.exact, binary)
        assert abs(mpmath.mpf(r.exact) - decimal) > mpmath.mpf(10) ** -18
    assert r.exact.startswith("0.03000000000000000333066907387546")


def test_literals_are_the_exact_decimal_the_user_wrote():
    # DESIGN.md: "literals at the exact decimal the user wrote"
    r = ref("0.1*x", "x", "x=2")
    assert_digits(r.exact, "0.1")


# --- undefined points -------------------------------------------------------------

@pytest.mark.parametrize("text, at, words", [
    ("log(x)", "x=-1", ["log", "column 1"]),
    ("log(x)", "x=0", ["log"]),
    ("1 + sqrt(x)", "x=-2", ["sqrt", "column 5"]),
    ("1/x", "x=0", ["division by zero"]),
    ("asin(x)", "x=2", ["asin"]),
    ("acosh(x)", "x=0.5", ["acosh"]),
    ("atanh(x)", "x=1", ["atanh"]),
    ("log(y)*x", "x=1,y=-1", ["log"]),          # undefined even where not differentiated
    # x^y is defined for x < 0 only with an integer *constant* exponent
    ("x^y", "x=-2,y=3", ["negative base"]),
    ("x^2.5", "x=-1", ["negative base"]),
    ("(-2)^x", "x=3", ["negative base"]),
    # sympy simplifies sqrt(x)^2 to x; the reference must not be fooled
    ("sqrt(x)^2", "x=-1", ["sqrt"]),
])
def test_undefined_points(text, at, words):
    wrt = "x"
    r = ref(text, wrt, at)
    assert r.status == UNDEFINED, (r.status, r.exact)
    for w in words:
        assert w in r.message


def test_derivative_overflowing_float64_is_undefined():
    # d/dx exp(1000 x) at 1 is 1000 e^1000 ~ 2e437: no float64 can hold it
    r = ref("exp(1000*x)", "x", "x=1")
    assert r.status == UNDEFINED and "overflow" in r.message


def test_integer_powers_of_negative_numbers_are_fine():
    r = ref("(-2)^3*x", "x", "x=1.5")
    assert r.status == OK
    assert_digits(r.exact, -8)
    r = ref("x^3", "x", "x=-2")             # 3 x^2
    assert_digits(r.exact, 12)
    r = ref("x^-2", "x", "x=-0.5", order=2)   # 6 x^-4
    assert_digits(r.exact, 96)


def test_cbrt_is_the_real_cube_root():
    # cbrt(x) = -2 at x = -8 (not the principal complex root 1 + i sqrt 3)
    r = ref("cbrt(x)*y", "y", "x=-8,y=1")
    assert_digits(r.exact, -2)
    # d/dx x^(1/3) = x^(-2/3)/3 = 1/12;  d2 = -2/9 x^(-5/3) = 1/144
    assert_digits(ref("cbrt(x)", "x", "x=-8").exact, Fraction(1, 12))
    assert_digits(ref("cbrt(x)", "x", "x=-8", order=2).exact, Fraction(1, 144))
    with mpmath.workdps(DPS):
        x = mp(-3.3)
        truth = mpmath.cbrt(-x) ** -2 / 3        # |x|^(-2/3) / 3, even in x
    assert_digits(ref("cbrt(x)", "x", "x=-3.3").exact, truth)


# --- kinks: not differentiable, or differentiable after all --------------------------

@pytest.mark.parametrize("text, wrt, at, word", [
    ("abs(x)", "x", "x=0", "abs"),
    ("relu(x)", "x", "x=0", "relu"),
    ("max(x, y)", "x,y", "x=1.5,y=1.5", "max"),
    ("min(x, y)*3", "x", "x=2,y=2", "min"),
    ("abs(x)*y", "x,y", "x=0,y=1", "abs"),      # Hessian below
    # infinite slopes: the one-sided values agree but grow without bound
    ("cbrt(x)", "x", "x=0", "grows without bound"),
    ("sqrt(x)", "x", "x=0", "sqrt"),
    # jumps: the one-sided slopes agree (0, resp. 1/x) but the function does not
    ("sign(x)", "x", "x=0", "the function jumps"),
    ("atan2(y, x)", "y", "x=-1,y=0", "the function jumps"),
])
def test_not_differentiable(text, wrt, at, word):
    order = 2 if text == "abs(x)*y" else 1
    r = ref(text, wrt, at, order)
    assert r.status == NOT_DIFFERENTIABLE, (r.status, r.exact)
    assert word in r.message


@pytest.mark.parametrize("text, wrt, at, order, truth", [
    ("x*abs(x)", "x", "x=0", 1, 0),         # |x| x has derivative 2|x| -> 0
    ("relu(x)^2", "x", "x=0", 1, 0),
    ("abs(x)^3", "x", "x=0", 2, 0),         # 6 |x| -> 0
    ("cbrt(x)^3", "x", "x=0", 1, 1),        # the identity, through a kink of cbrt
    ("max(x, 1)^2", "x", "x=1", 1, None),   # not differentiable: slopes 2 and 0
    ("abs(y)*x", "x", "x=2,y=0", 1, 0),     # the kink is not on a differentiated path
    ("sign(x)*x^2", "x", "x=0", 1, 0),      # |x| x again, through a jump of sign
    ("relu(x)", "x", "x=0", 2, None),       # f'' = 0 on both sides, but f' jumps 0 -> 1
    ("relu(x)^3", "x", "x=0", 2, 0),
    ("atan2(y, x)", "x", "x=-1,y=0", 1, 0),  # along the cut atan2(0, x) = pi: partial 0
])
def test_derivative_may_exist_at_a_kink(text, wrt, at, order, truth):
    r = ref(text, wrt, at, order)
    if truth is None:
        assert r.status == NOT_DIFFERENTIABLE
        return
    assert r.status == OK, r.message
    assert_digits(r.exact, truth, tol=mpmath.mpf(10) ** -20)


def test_exact_zero_is_zero_not_an_evalf_residue():
    # d/dx (x-1)^2.5 = 2.5 (x-1)^1.5 is exactly 0 at x = 1 from the right and d/dy
    # sin(x-1) y is sin(0) = 0: evaluating with evalf(subs=...) gave 5.8e-712 and
    # 2.5e-470.  x = 1 is the edge of (x-1)^2.5's domain (a non-integer power of
    # a negative number is undefined), so only the right derivative exists there.
    r = ref("(x-1)^2.5", "x", "x=1")
    assert r.status == NOT_DIFFERENTIABLE and "edge of its domain" in r.message
    assert ref("sqrt(x-1)^5", "x", "x=1").status == NOT_DIFFERENTIABLE
    r = ref("sin(x-1)*y", "x,y", "x=1,y=2")
    assert_digits(r.exact, [2, 0])


def test_variable_not_in_expression_has_derivative_zero():
    r = ref("x^2", "x,y", "x=3")
    assert_digits(r.exact, [6, 0])
    r = ref("x^2", "y", "x=3", order=2)
    assert_digits(r.exact, 0)


def test_derivative_of_sign_of_a_not_provably_real_argument():
    # cbrt(u) is sign(u)|u|^(1/3) in sympy; for u = acos(...) sympy cannot tell u
    # is real and leaves d sign(u)/dx unevaluated, which made the reference fail.
    # d/dx cbrt(acos(v)) = -v' / (3 acos(v)^(2/3) sqrt(1 - v^2)), v = 0.9 tanh x
    r = ref("cbrt(acos(0.9*tanh(x)))", "x", "x=0.25")
    assert r.status == OK, r.message
    with mpmath.workdps(DPS):
        x = mp(0.25)
        v = mpmath.mpf("0.9") * mpmath.tanh(x)
        dv = mpmath.mpf("0.9") * mpmath.sech(x) ** 2
        truth = -dv / (3 * mpmath.acos(v) ** (mpmath.mpf(2) / 3) * mpmath.sqrt(1 - v * v))
    assert_digits(r.exact, truth)

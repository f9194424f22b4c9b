"""Fuzzers for the classes of issue 8 item 1, each with its own oracle.

* kink arguments built from exact constants: ``abs(x - C)``, ``max(x, C)``,
  ... where ``C`` is a constant expression that is exactly 0 (``sin(pi)``,
  ``log(e) - 1``, ...): the reference must say not-differentiable, never a
  number;
* expressions scaled by 10^-40 ... 10^40: ``s*f`` has the status of ``f`` and
  ``s`` times its value;
* kinks of a composite argument: ``relu(g(a*x))``, ``abs(g(a*x))^1.5``, ...
  at 0, where ``g`` is a smooth function with ``g(0) = 0`` and ``g'(0) > 0``
  (atanh, asinh, sin, ...): whether the derivative exists is known from the
  template alone (sympy's limit steps over Heaviside(atanh(x)) as if it
  were continuous);
* cancellations below 1e-300: ``g(x + t) - g(x)`` with ``t = 1e-300 * 10^-k``:
  the reference agrees with mpmath at 3000 digits or says it cannot certify.

``judge_*`` return a list of disagreements (strings); empty is good.
"""

from __future__ import annotations

import mpmath
from hypothesis import strategies as st

from derivcmp.compare import make_problem
from derivcmp.problem import ERROR, NOT_DIFFERENTIABLE, OK, TIMEOUT
from derivcmp.reference import compute_reference

EXACT_ZEROS = ("sin(pi)", "tan(pi)", "cos(pi/2)", "log(e) - 1", "exp(0) - 1", "sin(2*pi)",
               "atan(0)", "sqrt(4) - 2", "log(1)", "cos(pi) + 1", "tanh(0)", "e^0 - 1",
               "sinh(0)", "asin(0)", "cbrt(8) - 2", "log(exp(3)) - 3", "erf(0)")
KINKS = ("abs(x - {c})", "abs(x + {c})", "max(x, {c})", "min({c}, x)", "relu(x + {c})",
         "relu(x - {c})*2", "abs(3*x + {c}) + x^2", "max(x + {c}, 0) - x/2")


@st.composite
def hidden_kinks(draw):
    c = draw(st.sampled_from(EXACT_ZEROS))
    template = draw(st.sampled_from(KINKS))
    return template.format(c=f"({c})"), "x=0"


#: smooth, g(0) = 0, g'(0) > 0: a kink of g(a*x) at 0 is a kink of x
THROUGH = ("atanh", "asinh", "sin", "tan", "sinh", "atan", "tanh", "expm1", "log1p", "erf")
#: template -> (status, value at 0 if it exists)
COMPOSITE_KINKS = {"relu({g}({a}*x))": (NOT_DIFFERENTIABLE, None),
                   "abs({g}({a}*x))": (NOT_DIFFERENTIABLE, None),
                   "max({g}({a}*x), 0) + x": (NOT_DIFFERENTIABLE, None),
                   "relu({g}({a}*x))^2": (OK, 0), "abs({g}({a}*x))^1.5": (OK, 0),
                   "{g}({a}*x)*abs({g}({a}*x)) + 2*x": (OK, 2)}


@st.composite
def composite_kinks(draw):
    template = draw(st.sampled_from(sorted(COMPOSITE_KINKS)))
    g = draw(st.sampled_from(THROUGH))
    a = draw(st.sampled_from(["0.5", "1", "2", "3"]))
    return template, g, a


def judge_composite_kink(template: str, g: str, a: str) -> list[str]:
    text = template.format(g=g, a=a)
    r = _ref(text, "x=0")
    status, value = COMPOSITE_KINKS[template]
    if r.status == TIMEOUT or (r.status == ERROR and "cannot decide" in (r.message or "")):
        return []
    if r.status != status:
        return [f"{text} at x=0: reference {r.status} {r.exact}, expected {status}"]
    if status == OK and mpmath.mpf(r.exact) != value:
        return [f"{text} at x=0: reference {r.exact}, expected {value}"]
    return []


SCALABLE = ("sin(x)", "exp(x)", "x^3", "abs(x)", "abs(x)^1.5", "x*sqrt(abs(x))", "x*cbrt(x)",
            "sign(x)*x", "relu(x)", "sqrt(x)^3", "tanh(x)", "log(1 + x^2)", "max(x, 0)^2",
            "x + x*abs(x)", "cbrt(x)")


@st.composite
def scaled(draw):
    base = draw(st.sampled_from(SCALABLE))
    exponent = draw(st.integers(-40, 40))
    at = draw(st.sampled_from(["0", "0.5", "-1.25", "2"]))
    return base, f"1e{exponent}", f"x={at}"


CANCELLING = {"sin": (mpmath.sin, mpmath.cos), "exp": (mpmath.exp, mpmath.exp),
              "atan": (mpmath.atan, lambda x: 1 / (1 + x * x)), "tanh": (mpmath.tanh,
              lambda x: mpmath.sech(x) ** 2), "log1p": (mpmath.log1p, lambda x: 1 / (1 + x))}


@st.composite
def cancellations(draw):
    fn = draw(st.sampled_from(sorted(CANCELLING)))
    k = draw(st.integers(0, 300))
    x = draw(st.sampled_from([1.0, 0.5, 2.0, 0.1, 3.0]))
    return fn, k, x


def _ref(text: str, at: str):
    problem, _ = make_problem(text, None, at, 1)
    return compute_reference(problem)


def judge_hidden_kink(text: str, at: str) -> list[str]:
    r = _ref(text, at)
    if r.status in (NOT_DIFFERENTIABLE, TIMEOUT):
        return []
    if r.status == ERROR and "cannot decide" in (r.message or ""):
        return []
    return [f"{text} at {at}: reference {r.status} {r.exact} (a kink hidden by an exact 0)"]


def judge_scaled(base: str, scale: str, at: str) -> list[str]:
    plain, big = _ref(base, at), _ref(f"{scale}*({base})", at)
    if TIMEOUT in (plain.status, big.status):
        return []
    if plain.status != big.status:
        return [f"{scale}*({base}) at {at}: {big.status}, but {base} is {plain.status}"]
    if plain.status == OK:
        with mpmath.workdps(60):
            want = mpmath.mpf(plain.exact) * mpmath.mpf(scale)
            got = mpmath.mpf(big.exact)
            tol = mpmath.mpf(10) ** -(min(plain.digits, big.digits) - 3)
            if abs(got - want) > tol * abs(want):
                return [f"{scale}*({base}) at {at}: {big.exact}, expected {scale} x {plain.exact}"]
    return []


def judge_cancellation(fn: str, k: int, x: float) -> list[str]:
    text = f"{fn}(x + 1e-300*1e-{k}) - {fn}(x)" if k else f"{fn}(x + 1e-300) - {fn}(x)"
    r = _ref(text, f"x={x!r}")
    if r.status == TIMEOUT or (r.status == ERROR and "cannot" in (r.message or "")):
        return []
    if r.status != OK:
        return [f"{text} at x={x}: reference {r.status}: {r.message}"]
    d = CANCELLING[fn][1]
    with mpmath.workdps(300 + k + 100):
        t = mpmath.mpf(10) ** -(300 + k)
        truth = d(mpmath.mpf(x) + t) - d(mpmath.mpf(x))
        got = mpmath.mpf(r.exact)
        if abs(got - truth) > abs(truth) * mpmath.mpf(10) ** -40:
            return [f"{text} at x={x}: reference {r.exact}, truth {mpmath.nstr(truth, 20)}"]
    return []

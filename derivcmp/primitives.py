"""The one table of operators and functions.

Every operator and function derivcmp knows is defined here exactly once: its
arity, a NumPy implementation (numerically stable where the naive formula is
not), a complex-safe form where the function is analytic, its mpmath and
sympy counterparts, its real domain, where it fails to be differentiable, and
its partial derivatives.  Every backend, the reference, the parser and the
tests read this table; adding a function is adding one ``Primitive``.

Derivative rules are written once against an *ops namespace* ``o`` rather
than against NumPy: ``o.cos(x)`` calls the primitive ``cos`` in whatever value
domain the caller works in (floats for reverse mode, taped values for
reverse-over-reverse, dual numbers or code generation later).  So a rule is
itself differentiable, like a JAX ``defjvp`` rule built from primitives.
A rule returns one partial derivative per argument, or ``None`` where that
partial is identically zero.  ``FLOAT_OPS`` (the ``np`` column) and
``COMPLEX_OPS`` (the ``cx`` column, for the complex step) are the namespaces
over this table's own columns; ``program.sweep`` evaluates programs with them.
``RoundingOps`` wraps another namespace with a running rounding-error bound,
from each primitive's ``ulps`` and its partials (the finite differences'
honest round-off estimate).

The sympy and mpmath columns are resolved on first use, so reading the table
(the parser, ``derivcmp functions``, ``--help``) never imports sympy.

This module must never evaluate user text or know about reporting.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Reason = "str | None"


@dataclass(frozen=True)
class Primitive:
    """One operator or function and everything every backend needs of it."""

    name: str
    arity: int
    np: Callable[..., Any]
    mp: Callable[..., Any]
    sp: Callable[..., Any]
    partials: Callable[..., tuple]
    syntax: str | None = None          # how users write it: function name or operator
    infix: str | None = None           # operator symbol for the printer
    cx: Callable[..., Any] | None = None   # complex-safe form, None where not analytic
    domain: Callable[..., str | None] | None = None   # reason when undefined at a point
    kink: Callable[..., str | None] | None = None     # reason when not differentiable
    domain_note: str = "all reals"
    sample: tuple[tuple[float, float], ...] = field(default=((-3.0, 3.0),))
    doc: str = ""
    #: optional, over NumPy arrays: the value and the partials at once, sharing
    #: their work (sigmoid: one exp), equal bit for bit to ``np`` and ``partials``
    #: on ``FLOAT_OPS``; the vectorised tape (``ad-reverse`` over a grid) uses it
    np_fused: Callable[..., tuple[Any, tuple]] | None = None
    #: a bound on the ``np`` column's own rounding error, in units of eps*|result|:
    #: 0 where the result is exact (neg, abs, sign, relu, max, min), 1 for one
    #: rounding (+ - * / sqrt round correctly, to eps/2; glibc's and NumPy's SIMD
    #: libm calls stay within an ulp; 1 keeps a margin for both), more where the
    #: implementation is a short formula itself (sigmoid, softplus, sech, log_base).
    #: The running error analysis (``RoundingOps``) reads it; conditioning, how an
    #: argument's error grows, is in ``partials``
    ulps: float = 1.0


# --- the sympy and mpmath columns, imported on first use -------------------------
# sympy takes ~0.5 s to import (mpmath ~0.03 s), and `derivcmp --help`,
# `functions`, `methods` and parse errors need neither; so the table names
# their functions through resolvers that import on the first call.

def _sympy():
    import sympy
    return sympy


def _mpmath():
    import mpmath
    return mpmath


def _cfunctions():
    from sympy.codegen import cfunctions
    return cfunctions


def _lazy(module: Callable[[], Any], name: str) -> Callable[..., Any]:
    fn = None

    def call(*args):
        nonlocal fn
        if fn is None:
            fn = getattr(module(), name)
        return fn(*args)
    call.__name__ = call.__qualname__ = name
    return call


def _sp(name: str) -> Callable[..., Any]:
    """``sympy.<name>``, imported on first call."""
    return _lazy(_sympy, name)


def _mp(name: str) -> Callable[..., Any]:
    """``mpmath.<name>``, imported on first call."""
    return _lazy(_mpmath, name)


def _cf(name: str) -> Callable[..., Any]:
    """``sympy.codegen.cfunctions.<name>``, imported on first call."""
    return _lazy(_cfunctions, name)


# --- stable float implementations -------------------------------------------

def _sigmoid(x):
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        z = np.exp(-np.abs(x))      # never overflows
        return np.float64(1.0 / (1.0 + z) if x >= 0 else z / (1.0 + z))
    z = np.abs(x)
    np.negative(z, out=z)
    np.exp(z, out=z)                # e^-|x|: never overflows
    d = z + 1.0
    out = np.divide(z, d)                           # x < 0: z/(1+z)
    np.divide(1.0, d, out=out, where=x >= 0)        # x >= 0: 1/(1+z)
    return out[()] if out.ndim == 0 else out


def _sigmoid_fused(x):
    """sigmoid(x) and its partial s(x) s(-x) over arrays from one exp: each
    bit for bit what ``_sigmoid(x)`` and the rule ``ans * sigmoid(-x)`` give."""
    x = np.asarray(x, dtype=float)
    z = np.abs(x)
    np.negative(z, out=z)
    np.exp(z, out=z)
    d = z + 1.0
    a = np.divide(1.0, d)           # 1/(1+z): s(x) for x >= 0, s(-x) for x < 0
    b = np.divide(z, d, out=z)      # z/(1+z): the other one
    s = np.where(x >= 0, a, b)
    np.multiply(a, b, out=a)        # s(x) s(-x) is a b either way (the product commutes exactly)
    return s, (a,)


def _softplus(x):
    # log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow for large |x|.
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _vectorize(scalar_fn):
    vec = np.vectorize(scalar_fn, otypes=[float])

    def fn(x):
        if np.ndim(x) == 0:
            return np.float64(scalar_fn(float(x)))
        return vec(x)
    fn.__name__ = scalar_fn.__name__
    return fn


def _log1p_cx(z):
    # NumPy's complex log1p is log(1 + z): log1p(1e-10 + 0j) is off by 8e-8.
    # log1p(x + iy) = log|1 + z| + i arg(1 + z), with |1 + z|^2 = 1 + x(2 + x) + y^2
    z = np.asarray(z, dtype=complex)
    x, y = z.real, z.imag
    out = 0.5 * np.log1p(x * (2.0 + x) + y * y) + 1j * np.arctan2(y, 1.0 + x)
    return out[()] if out.ndim == 0 else out


def _sigmoid_cx(z):
    # the complex-step form needs the same care: e^{-z} overflows for Re z < -709
    z = np.asarray(z, dtype=complex)
    neg = z.real < 0
    w = np.exp(np.where(neg, z, -z))       # Re <= 0: never overflows
    out = np.where(neg, w / (1.0 + w), 1.0 / (1.0 + w))
    return out[()] if out.ndim == 0 else out


def _softplus_cx(z):
    # log(1 + e^z) = z + log1p(e^-z) for Re z > 0: analytic, and no overflow
    z = np.asarray(z, dtype=complex)
    pos = z.real > 0
    out = np.where(pos, z, 0.0) + _log1p_cx(np.exp(np.where(pos, -z, z)))
    return out[()] if out.ndim == 0 else out


def _cbrt_cx(z):
    # the analytic continuation of the *real* cube root: cbrt(Re z) (z/Re z)^(1/3).
    # z/Re z is near 1 for a complex step, where the principal power is accurate
    # (z^(1/3) = exp(log(z)/3) itself loses ~|log z| ulps at 1e-200).
    z = np.asarray(z, dtype=complex)
    re = z.real
    safe = np.where(re == 0, 1.0, re)
    out = np.where(re == 0, np.power(z, 1.0 / 3.0), np.cbrt(safe) * np.power(z / safe, 1.0 / 3.0))
    return out[()] if out.ndim == 0 else out


def _powi_partial(o, a, n, ans):
    # d/da a^0 = 0 everywhere, but n * a^(n-1) is 0 * inf at a = 0
    if o.value(n) == 0:
        return (None, None)
    return (n * a ** (n - 1.0), None)


def _sech(x):
    # 2 e^-|x| / (1 + e^-2|x|): no overflow where cosh(x) would overflow
    t = np.exp(-np.abs(x))
    return 2.0 * t / (1.0 + t * t)


_erf = _vectorize(math.erf)
_erfc = _vectorize(math.erfc)


def _cbrt_mp(x):
    mpmath = _mpmath()
    return mpmath.sign(x) * mpmath.cbrt(abs(x)) if x else mpmath.mpf(0)


def _sigmoid_mp(x):
    return 1 / (1 + _mpmath().exp(-x))


def _softplus_mp(x):
    mpmath = _mpmath()
    return mpmath.log1p(mpmath.exp(x))


def _sp_cbrt(x):
    sympy = _sympy()
    return sympy.sign(x) * sympy.Abs(x) ** sympy.Rational(1, 3)


# --- domain and kink predicates (work on floats and on mpf) -----------------

def _positive(what):
    return lambda x: None if x > 0 else f"{what} of a non-positive number ({_show(x)})"


def _nonneg(what):
    return lambda x: None if x >= 0 else f"{what} of a negative number ({_show(x)})"


def _unit_closed(what):
    return lambda x: None if -1 <= x <= 1 else f"{what} of a number outside [-1, 1] ({_show(x)})"


def _show(x) -> str:
    mpmath = sys.modules.get("mpmath")     # an mpf exists only once mpmath is imported
    return mpmath.nstr(x, 6) if mpmath and isinstance(x, mpmath.mpf) else f"{float(x):.6g}"


def _at_zero(msg):
    return lambda x: msg if x == 0 else None


def _div_domain(a, b):
    return "division by zero" if b == 0 else None


def _pow_domain(a, b):
    if a > 0:
        return None
    if a == 0:
        return None if b > 0 else f"0 raised to a non-positive power ({_show(b)})"
    return f"negative base ({_show(a)}) with a non-integer or variable exponent"


def _pow_kink(a, b):
    # x^y with a variable or non-integer exponent is undefined for x < 0, so at
    # x = 0 only a one-sided derivative can exist (as for sqrt(x)^3 at 0)
    if a == 0:
        return ("infinite slope of x^y at x = 0 with y < 1" if b < 1 else
                "x^y at x = 0 is the edge of its domain (undefined for x < 0)")
    return None


def _powi_domain(a, n):
    return f"0 raised to a negative power ({_show(n)})" if a == 0 and n < 0 else None


def _powi_kink(a, n):
    return None


def _log_base_domain(x, b):
    if not x > 0:
        return f"log of a non-positive number ({_show(x)})"
    if not b > 0 or b == 1:
        return f"log base must be positive and not 1 ({_show(b)})"
    return None


def _tie(what):
    return lambda a, b: f"{what} is not differentiable where its arguments tie" if a == b else None


def _atan2_domain(y, x):
    return "atan2(0, 0) is undefined" if y == 0 and x == 0 else None


def _atan2_kink(y, x):
    return "atan2 jumps across the negative x axis" if y == 0 and x < 0 else None


def _hypot_kink(a, b):
    return "hypot is not differentiable at (0, 0)" if a == 0 and b == 0 else None


# --- the table ---------------------------------------------------------------

LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

_P = Primitive
PRIMITIVES: tuple[Primitive, ...] = (
    # operators ---------------------------------------------------------------
    _P("add", 2, np.add, lambda a, b: a + b, lambda a, b: a + b,
       lambda o, a, b, ans: (1.0, 1.0), infix="+", cx=np.add,
       sample=((-3, 3), (-3, 3)), doc="a + b"),
    _P("sub", 2, np.subtract, lambda a, b: a - b, lambda a, b: a - b,
       lambda o, a, b, ans: (1.0, -1.0), infix="-", cx=np.subtract,
       sample=((-3, 3), (-3, 3)), doc="a - b"),
    _P("mul", 2, np.multiply, lambda a, b: a * b, lambda a, b: a * b,
       lambda o, a, b, ans: (b, a), infix="*", cx=np.multiply,
       sample=((-3, 3), (-3, 3)), doc="a * b"),
    _P("div", 2, np.divide, lambda a, b: a / b, lambda a, b: a / b,
       lambda o, a, b, ans: (1.0 / b, -ans / b), infix="/", cx=np.divide,
       domain=_div_domain, domain_note="b != 0", sample=((-3, 3), (0.5, 3)), doc="a / b"),
    _P("neg", 1, np.negative, lambda a: -a, lambda a: -a,
       lambda o, a, ans: (-1.0,), ulps=0.0, infix="-", cx=np.negative, doc="-a"),
    _P("pow", 2, np.power, _mp("power"), lambda a, b: a ** b,
       # d/da guarded JAX-style: b * a^(b-1) is the only form finite at a = 0
       lambda o, a, b, ans: (b * a ** (b - 1.0), ans * o.log(a)),
       syntax="pow", infix="^", cx=np.power, domain=_pow_domain, kink=_pow_kink,
       domain_note="a > 0, or a = 0 and b > 0 (a < 0 needs an integer constant exponent)",
       sample=((0.2, 3), (-2, 2)), doc="a ^ b, a ** b, pow(a, b)"),
    _P("powi", 2, np.power, _mp("power"), lambda a, n: a ** n,
       _powi_partial,
       infix="^", cx=np.power, domain=_powi_domain, kink=_powi_kink,
       domain_note="a != 0 when n < 0", sample=((-3, 3), (-3, 4)),
       doc="a ^ n with n an integer constant: defined for negative a"),
    # one-argument functions ----------------------------------------------------
    _P("exp", 1, np.exp, _mp("exp"), _sp("exp"),
       lambda o, x, ans: (ans,), syntax="exp", cx=np.exp),
    _P("log", 1, np.log, _mp("log"), _sp("log"),
       lambda o, x, ans: (1.0 / x,), syntax="log", cx=np.log,
       domain=_positive("log"), domain_note="x > 0", sample=((0.05, 5),)),
    _P("log2", 1, np.log2, lambda x: _mpmath().log(x, 2), lambda x: _sympy().log(x, 2),
       lambda o, x, ans: (1.0 / (x * LN2),), syntax="log2", cx=np.log2,
       domain=_positive("log2"), domain_note="x > 0", sample=((0.05, 5),)),
    _P("log10", 1, np.log10, _mp("log10"), lambda x: _sympy().log(x, 10),
       lambda o, x, ans: (1.0 / (x * LN10),), syntax="log10", cx=np.log10,
       domain=_positive("log10"), domain_note="x > 0", sample=((0.05, 5),)),
    # sympy's own expm1/log1p/hypot (sympy.codegen.cfunctions): they differentiate
    # and evalf like the elementary forms, but lambdify keeps np.expm1 etc., so
    # the symbolic method does not lose digits to exp(x) - 1 near 0
    _P("log1p", 1, np.log1p, _mp("log1p"), _cf("log1p"),
       lambda o, x, ans: (1.0 / (1.0 + x),), syntax="log1p", cx=_log1p_cx,
       domain=lambda x: None if x > -1 else f"log1p of a number <= -1 ({_show(x)})",
       domain_note="x > -1", sample=((-0.9, 4),)),
    _P("expm1", 1, np.expm1, _mp("expm1"), _cf("expm1"),
       lambda o, x, ans: (o.exp(x),), syntax="expm1", cx=np.expm1),
    _P("sqrt", 1, np.sqrt, _mp("sqrt"), _sp("sqrt"),
       lambda o, x, ans: (0.5 / ans,), syntax="sqrt", cx=np.sqrt,
       domain=_nonneg("sqrt"), kink=_at_zero("sqrt has an infinite slope at 0"),
       domain_note="x >= 0 (not differentiable at 0)", sample=((0.05, 5),)),
    _P("cbrt", 1, np.cbrt, _cbrt_mp, _sp_cbrt,
       lambda o, x, ans: (1.0 / (3.0 * ans * ans),), syntax="cbrt", cx=_cbrt_cx,
       kink=_at_zero("cbrt has an infinite slope at 0"),
       domain_note="all reals, real cube root (not differentiable at 0)",
       sample=((-4, 4),)),
    _P("abs", 1, np.abs, abs, _sp("Abs"),
       lambda o, x, ans: (o.sign(x),), syntax="abs", ulps=0.0,
       kink=_at_zero("abs is not differentiable at 0"),
       domain_note="all reals (not differentiable at 0)"),
    _P("sign", 1, np.sign, _mp("sign"), _sp("sign"),
       lambda o, x, ans: (None,), syntax="sign", ulps=0.0,
       kink=_at_zero("sign jumps at 0"), domain_note="all reals (jumps at 0)"),
    _P("sin", 1, np.sin, _mp("sin"), _sp("sin"),
       lambda o, x, ans: (o.cos(x),), syntax="sin", cx=np.sin),
    _P("cos", 1, np.cos, _mp("cos"), _sp("cos"),
       lambda o, x, ans: (-o.sin(x),), syntax="cos", cx=np.cos),
    _P("tan", 1, np.tan, _mp("tan"), _sp("tan"),
       lambda o, x, ans: (1.0 + ans * ans,), syntax="tan", cx=np.tan,
       domain_note="x not an odd multiple of pi/2", sample=((-1.4, 1.4),)),
    _P("asin", 1, np.arcsin, _mp("asin"), _sp("asin"),
       lambda o, x, ans: (1.0 / o.sqrt((1.0 - x) * (1.0 + x)),), syntax="asin", cx=np.arcsin,
       domain=_unit_closed("asin"), kink=lambda x: "asin has an infinite slope at +-1" if abs(x) == 1 else None,
       domain_note="-1 <= x <= 1 (not differentiable at +-1)", sample=((-0.95, 0.95),)),
    _P("acos", 1, np.arccos, _mp("acos"), _sp("acos"),
       lambda o, x, ans: (-1.0 / o.sqrt((1.0 - x) * (1.0 + x)),), syntax="acos", cx=np.arccos,
       domain=_unit_closed("acos"), kink=lambda x: "acos has an infinite slope at +-1" if abs(x) == 1 else None,
       domain_note="-1 <= x <= 1 (not differentiable at +-1)", sample=((-0.95, 0.95),)),
    _P("atan", 1, np.arctan, _mp("atan"), _sp("atan"),
       lambda o, x, ans: (1.0 / (1.0 + x * x),), syntax="atan", cx=np.arctan),
    _P("sinh", 1, np.sinh, _mp("sinh"), _sp("sinh"),
       lambda o, x, ans: (o.cosh(x),), syntax="sinh", cx=np.sinh),
    _P("cosh", 1, np.cosh, _mp("cosh"), _sp("cosh"),
       lambda o, x, ans: (o.sinh(x),), syntax="cosh", cx=np.cosh),
    # sech^2 = 4t/(1+t)^2 with t = e^{-2|x|}: 1 - tanh^2 cancels to 0 for |x| > 19
    # tanh' = sech^2 with a stable sech, not 1 - tanh^2 (0 for |x| > 19); and not
    # via abs(x), whose kink at 0 would spoil the third derivative there
    _P("tanh", 1, np.tanh, _mp("tanh"), _sp("tanh"),
       lambda o, x, ans: (o.sech(x) * o.sech(x),), syntax="tanh", cx=np.tanh),
    _P("sech", 1, _sech, _mp("sech"), _sp("sech"),
       lambda o, x, ans: (-ans * o.tanh(x),), syntax="sech", cx=lambda z: 1.0 / np.cosh(z), ulps=3.0,
       doc="1/cosh(x), evaluated without overflow (tanh' = sech^2)"),
    # 1/hypot(1, x) rather than 1/sqrt(1 + x^2): no overflow for |x| > 1e154
    _P("asinh", 1, np.arcsinh, _mp("asinh"), _sp("asinh"),
       lambda o, x, ans: (1.0 / o.hypot(1.0, x),), syntax="asinh", cx=np.arcsinh),
    _P("acosh", 1, np.arccosh, _mp("acosh"), _sp("acosh"),
       lambda o, x, ans: (1.0 / o.sqrt((x - 1.0) * (x + 1.0)),), syntax="acosh", cx=np.arccosh,
       domain=lambda x: None if x >= 1 else f"acosh of a number below 1 ({_show(x)})",
       kink=lambda x: "acosh has an infinite slope at 1" if x == 1 else None,
       domain_note="x >= 1 (not differentiable at 1)", sample=((1.05, 5),)),
    _P("atanh", 1, np.arctanh, _mp("atanh"), _sp("atanh"),
       lambda o, x, ans: (1.0 / ((1.0 - x) * (1.0 + x)),), syntax="atanh", cx=np.arctanh,
       domain=lambda x: None if -1 < x < 1 else f"atanh of a number outside (-1, 1) ({_show(x)})",
       domain_note="-1 < x < 1", sample=((-0.95, 0.95),)),
    _P("erf", 1, _erf, _mp("erf"), _sp("erf"),
       lambda o, x, ans: (TWO_OVER_SQRT_PI * o.exp(-(x * x)),), syntax="erf"),
    _P("erfc", 1, _erfc, _mp("erfc"), _sp("erfc"),
       lambda o, x, ans: (-TWO_OVER_SQRT_PI * o.exp(-(x * x)),), syntax="erfc"),
    # sigmoid' = s(x) s(-x), not s(1-s): 1 - s rounds to 0 for x > 37
    _P("sigmoid", 1, _sigmoid, _sigmoid_mp, lambda x: 1 / (1 + _sympy().exp(-x)),
       lambda o, x, ans: (ans * o.sigmoid(-x),), syntax="sigmoid",
       cx=_sigmoid_cx, sample=((-8, 8),), ulps=2.5, np_fused=_sigmoid_fused,
       doc="1/(1+exp(-x)), evaluated without overflow"),
    _P("softplus", 1, _softplus, _softplus_mp, lambda x: _sympy().log(1 + _sympy().exp(x)),
       lambda o, x, ans: (o.sigmoid(x),), syntax="softplus",
       cx=_softplus_cx, sample=((-8, 8),), ulps=2.5,
       doc="log(1+exp(x)), evaluated without overflow"),
    # relu'(x) = relu(sign(x)): 1 for x > 0, 0 for x <= 0 (the subgradient JAX picks)
    _P("relu", 1, lambda x: np.maximum(x, 0.0), lambda x: max(x, 0), lambda x: _sympy().Max(0, x),
       lambda o, x, ans: (o.relu(o.sign(x)),), syntax="relu",
       kink=_at_zero("relu is not differentiable at 0"), ulps=0.0,
       domain_note="all reals (not differentiable at 0)"),
    # two-argument functions ----------------------------------------------------
    _P("log_base", 2, lambda x, b: np.log(x) / np.log(b), lambda x, b: _mpmath().log(x) / _mpmath().log(b),
       lambda x, b: _sympy().log(x) / _sympy().log(b),
       lambda o, x, b, ans: (1.0 / (x * o.log(b)), -ans / (b * o.log(b))),
       syntax="log", cx=lambda z, b: np.log(z) / np.log(b), domain=_log_base_domain, ulps=2.5,
       domain_note="x > 0, base > 0, base != 1", sample=((0.1, 5), (1.5, 5)),
       doc="log(x, base)"),
    _P("atan2", 2, np.arctan2, _mp("atan2"), _sp("atan2"),
       lambda o, y, x, ans: (x / (x * x + y * y), -y / (x * x + y * y)), syntax="atan2",
       domain=_atan2_domain, kink=_atan2_kink,
       domain_note="(y, x) != (0, 0) (jumps on the negative x axis)",
       sample=((0.2, 3), (-3, 3)), doc="atan2(y, x)"),
    _P("hypot", 2, np.hypot, _mp("hypot"), _cf("hypot"),
       lambda o, a, b, ans: (a / ans, b / ans), syntax="hypot", kink=_hypot_kink,
       domain_note="all reals (not differentiable at (0, 0))",
       sample=((-3, 3), (-3, 3))),
    # d max(a,b)/da = (1 + sign(a-b))/2: 1, 0, or 1/2 at a tie (a subgradient)
    _P("max", 2, np.maximum, lambda a, b: max(a, b), _sp("Max"),
       lambda o, a, b, ans: (0.5 * (1.0 + o.sign(a - b)), 0.5 * (1.0 - o.sign(a - b))),
       syntax="max", kink=_tie("max"), ulps=0.0, domain_note="all reals (not differentiable at a tie)",
       sample=((-3, 3), (-3, 3))),
    _P("min", 2, np.minimum, lambda a, b: min(a, b), _sp("Min"),
       lambda o, a, b, ans: (0.5 * (1.0 - o.sign(a - b)), 0.5 * (1.0 + o.sign(a - b))),
       syntax="min", kink=_tie("min"), ulps=0.0, domain_note="all reals (not differentiable at a tie)",
       sample=((-3, 3), (-3, 3))),
)


BY_NAME: dict[str, Primitive] = {p.name: p for p in PRIMITIVES}

#: (syntax name, number of arguments) -> primitive, for the parser.
FUNCTIONS: dict[tuple[str, int], Primitive] = {
    (p.syntax, p.arity): p for p in PRIMITIVES if p.syntax is not None
}
FUNCTION_NAMES: frozenset[str] = frozenset(name for name, _ in FUNCTIONS)

CONSTANTS: dict[str, tuple[float, Any, Any]] = {
    # name: (float value, mpmath value getter, sympy value getter)
    "pi": (math.pi, lambda: +_mpmath().pi, lambda: _sympy().pi),
    "e": (math.e, lambda: _mpmath().e(), lambda: _sympy().E),
}


class MissingForm(AttributeError):
    """A primitive has no implementation in the column an ops namespace reads."""


class TableOps:
    """An ops namespace over one column of the table: ``o.cos`` is ``BY_NAME["cos"].<column>``.

    Besides the primitives, every ops namespace has ``value(v)``, the number
    behind a value, for rules that guard a singular point (powi at n = 0),
    and ``constant(slot)``, a constant slot of a program (``program.sweep``)
    in the namespace's value domain.
    """

    column = ""
    #: why a primitive may lack this column, for the error message
    missing_because = ""

    def __getattr__(self, name: str):
        prim = BY_NAME.get(name)
        if prim is None:
            raise AttributeError(f"no primitive named {name!r}")
        fn = getattr(prim, self.column)
        if fn is None:
            raise MissingForm(f"primitive {name!r} has no {self.column!r} implementation in the table"
                              + (f" ({self.missing_because})" if self.missing_because else ""))
        setattr(self, name, fn)
        return fn


class FloatOps(TableOps):
    """Float64 NumPy values: ``o.cos(x)`` is ``np.cos(x)``."""

    column = "np"

    @staticmethod
    def value(v):
        return v

    @staticmethod
    def constant(slot):
        return np.float64(slot.value)

    @staticmethod
    def guarded_mul(e, p):
        with np.errstate(invalid="ignore"):
            return np.where(e == 0, 0.0, e * p)


class ComplexOps(TableOps):
    """Complex values, for the complex step: ``o.cos(z)`` is the table's complex-safe form.

    Only analytic primitives have one; the others (abs, sign, relu, max, ...),
    and those whose form is not written yet (erf, atan2, hypot), raise
    ``MissingForm`` rather than run a real-only formula on complex input.
    """

    column = "cx"
    missing_because = ("it is not analytic, or its complex-safe form is not written yet; "
                       "the complex step cannot differentiate through it")

    @staticmethod
    def value(v):
        return np.real(v)

    @staticmethod
    def constant(slot):
        return np.complex128(slot.value)


FLOAT_OPS = FloatOps()
COMPLEX_OPS = ComplexOps()


class MpOps(TableOps):
    """The ops namespace for mpmath numbers at the current working precision.

    ``constant(slot)`` is a literal's exact decimal (``0.1`` is 1/10, not the
    double nearest it) or the named constant at the working precision.  The
    reference's domain pass runs ``program.sweep`` over this namespace.
    """

    column = "mp"

    @staticmethod
    def value(v):
        return v

    @staticmethod
    def constant(slot):
        node = slot.node
        return _mpmath().mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]()


MP_OPS = MpOps()

EPS = float(np.finfo(float).eps)


class RoundingOps:
    """Running error analysis as an ops namespace over another one (``base``).

    A value is a pair ``(v, e)``: ``v`` in ``base``'s domain and ``e`` a
    first-order bound on v's float64 rounding error (``None``: exact, as the
    inputs are).  Applying a primitive adds its own rounding, ``ulps *
    eps * |result|``, to its arguments' errors carried through its partial
    derivatives (the table's rules, so conditioning comes from them).  Over
    ``FLOAT_OPS`` it computes the bound; over ``emit.Emitter`` it emits the
    code that does (``emit.compile_bound``).  Where f itself cancels, as
    (1 - cos x)/x^2 near 0, this bound is far above one ulp of f: what an
    honest finite-difference round-off estimate needs.

    ``base`` must offer ``guarded_mul(e, p)``, the product ``e * p`` that is 0
    where ``e`` is 0 (an exact zero through an infinite slope adds nothing).
    """

    def __init__(self, base):
        self.base = base

    def value(self, v):
        return self.base.value(v[0])

    def constant(self, slot):
        from fractions import Fraction
        v = self.base.constant(slot)
        text = getattr(slot.node, "text", None)
        exact = text is not None and Fraction(text) == Fraction(slot.value)
        return v, (None if exact or slot.value == 0 else 0.5 * EPS * abs(float(slot.value)))

    def __getattr__(self, name: str):
        prim = BY_NAME.get(name)
        if prim is None:
            raise AttributeError(f"no primitive named {name!r}")
        base = self.base
        fn = getattr(base, name)
        own = prim.ulps * EPS

        def op(*args):
            vals = [a[0] for a in args]
            v = fn(*vals)
            e = own * base.abs(v) if own else None
            for part, (_, ea) in zip(prim.partials(base, *vals, v), args):
                if part is None or ea is None:
                    continue
                term = base.guarded_mul(ea, base.abs(part))
                e = term if e is None else e + term
            return v, e
        setattr(self, name, op)
        return op


def arities(name: str) -> list[int]:
    """The argument counts a function name accepts, e.g. ``[1, 2]`` for log."""
    return sorted(n for (s, n) in FUNCTIONS if s == name)

"""Taylor-mode rules: one recurrence per primitive, in one table keyed by name.

A truncated Taylor polynomial ``x(t) = x_0 + x_1 t + ... + x_N t^N`` is an
array of N+1 coefficients; ``RULES[name](*args)`` maps the argument
polynomials to the coefficients of ``prim(x(t))``, each in O(N^2) operations
(Griewank & Walther, *Evaluating Derivatives*, ch. 13).  The table is kept
beside the primitive table rather than inside it, like ``jet_rules`` in JAX's
``jax.experimental.jet`` is beside its JVP rules: only Taylor mode reads it,
and a primitive's entry here is a loop, not a one-line rule.  A primitive
without a recurrence is listed in ``NO_RECURRENCE`` with the reason, and
Taylor mode answers ``not-applicable`` with it; a primitive in neither fails
a test generated from the primitive table.

Most entries use one device: if ``u = f(x)`` and ``f' = g``, then
``u'(t) = g(x(t)) x'(t)``, and ``u_k = (u')_{k-1} / k``.  Where ``g`` is
known as a series first (atan, asin, erf, log, ...) that is ``_chain``;
where ``g`` depends on ``u`` itself (exp, tan, tanh, sigmoid) it is solved
coefficient by coefficient in ``_ode``.  The constant term is always the
primitive's own stable float implementation.

``TaylorOps`` makes the table an ops namespace for ``program.sweep``.

Nothing here evaluates user text, times, grades or reports.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from .ad import Lifted, LiftedOps
from .primitives import BY_NAME

Series = np.ndarray


def _np(name: str) -> Callable:
    return BY_NAME[name].np


def _f(name: str, x0: float) -> float:
    return float(_np(name)(np.float64(x0)))


def _mul(a: Series, b: Series) -> Series:
    return np.convolve(a, b)[: len(a)]


def _div(a: Series, b: Series) -> Series:
    c = np.empty(len(a))
    b0 = b[0]
    for k in range(len(a)):
        c[k] = (a[k] - np.dot(c[:k], b[k:0:-1])) / b0
    return c


def _d(x: Series) -> Series:
    """The coefficients of x'(t) (one fewer)."""
    return x[1:] * np.arange(1, len(x))


def _integ(u0: float, du: Series) -> Series:
    """The series whose derivative is ``du`` and whose constant term is ``u0``."""
    u = np.empty(len(du) + 1)
    u[0] = u0
    u[1:] = du / np.arange(1, len(u))
    return u


def _chain(u0: float, g: Series, x: Series) -> Series:
    """u with u(0) = u0 and u' = g(x) x', for a known series g = f'(x)."""
    return _integ(u0, _mul(g[:-1], _d(x)))


def _ode(u0: float, w0: float, x: Series, w_next: Callable[[Series, int], float]) -> Series:
    """u with u' = w x' where w_k depends on u_0..u_k only (``w_next(u, k)``)."""
    n = len(x)
    u = np.zeros(n)
    w = np.zeros(n)
    u[0], w[0] = u0, w0
    dx = _d(x)
    for k in range(1, n):
        u[k] = np.dot(w[:k], dx[k - 1::-1]) / k
        if k < n - 1:
            w[k] = w_next(u, k)
    return u


def _sq(u: Series, k: int) -> float:
    """Coefficient k of u^2."""
    return float(np.dot(u[: k + 1], u[k::-1]))


def _const(c: float, n: int) -> Series:
    s = np.zeros(n)
    s[0] = c
    return s


def _plus(c: float, x: Series, sign: float = 1.0) -> Series:
    """The series c + sign*x (a constant touches only the constant term)."""
    u = sign * x
    u[0] += c
    return u


def _is_const(x: Series) -> bool:
    return not x[1:].any()


# --- rules ---------------------------------------------------------------------

def _exp(x):
    return _ode(_f("exp", x[0]), _f("exp", x[0]), x, lambda u, k: u[k])


def _expm1(x):
    u = _exp(x)
    u[0] = _f("expm1", x[0])
    return u


def _log(x, name="log", scale=1.0):
    return _integ(_f(name, x[0]), _div(_d(x), x[:-1]) / scale)


def _log1p(x):
    return _integ(_f("log1p", x[0]), _div(_d(x), _plus(1.0, x)[:-1]))


def _sin_cos(x):
    n = len(x)
    s, c = np.zeros(n), np.zeros(n)
    s[0], c[0] = math.sin(x[0]), math.cos(x[0])
    dx = _d(x)
    for k in range(1, n):
        s[k] = np.dot(c[:k], dx[k - 1::-1]) / k
        c[k] = -np.dot(s[:k], dx[k - 1::-1]) / k
    return s, c


def _sinh_cosh(x):
    n = len(x)
    s, c = np.zeros(n), np.zeros(n)
    s[0], c[0] = _f("sinh", x[0]), _f("cosh", x[0])
    dx = _d(x)
    for k in range(1, n):
        s[k] = np.dot(c[:k], dx[k - 1::-1]) / k
        c[k] = np.dot(s[:k], dx[k - 1::-1]) / k
    return s, c


def _tan(x):
    t0 = _f("tan", x[0])
    return _ode(t0, 1.0 + t0 * t0, x, lambda u, k: _sq(u, k))


def _tanh(x):
    # w = 1 - u^2, with w_0 = sech^2 computed stably (1 - tanh^2 is 0 for |x| > 19)
    sech = _f("sech", x[0])
    return _ode(_f("tanh", x[0]), sech * sech, x, lambda u, k: -_sq(u, k))


def _sech(x):
    t = _tanh(x)
    u0 = _f("sech", x[0])
    return _ode(u0, -u0 * t[0], x, lambda u, k: -float(np.dot(u[: k + 1], t[k::-1])))


def _sigmoid(x):
    # w = u (1 - u); 1 - 2 u_0 and w_0 = s(x) s(-x) without cancellation
    s, r = _f("sigmoid", x[0]), _f("sigmoid", -x[0])
    return _ode(s, s * r, x, lambda u, k: u[k] * (r - s) - float(np.dot(u[1:k], u[k - 1:0:-1])))


def _softplus(x):
    return _chain(_f("softplus", x[0]), _sigmoid(x), x)


def _sqrt(x, u0=None):
    """u^2 = x: u_k = (x_k - sum_{j=1}^{k-1} u_j u_{k-j}) / 2 u_0."""
    n = len(x)
    u = np.zeros(n)
    u[0] = _f("sqrt", x[0]) if u0 is None else u0
    for k in range(1, n):
        u[k] = (x[k] - np.dot(u[1:k], u[k - 1:0:-1])) / (2.0 * u[0])
    return u


def _power(x, r: float, u0: float):
    """x^r for a constant real r: u_k = sum_j ((k-j) r - j) x_{k-j} u_j / (k x_0)."""
    n = len(x)
    u = np.zeros(n)
    u[0] = u0
    for k in range(1, n):
        j = np.arange(k)
        u[k] = np.dot(((k - j) * r - j) * x[k:0:-1], u[:k]) / (k * x[0])
    return u


def _cbrt(x):
    return _power(x, 1.0 / 3.0, _f("cbrt", x[0]))


def _powi(a, n_series):
    n = n_series[0]
    if not _is_const(n_series) or n != int(n):
        return _pow(a, n_series)
    m = abs(int(n))
    # binary powering: exact at a_0 = 0, where the power recurrence divides by a_0
    result, base = _const(1.0, len(a)), a
    while m:
        if m & 1:
            result = _mul(result, base)
        m >>= 1
        if m:
            base = _mul(base, base)
    return _div(_const(1.0, len(a)), result) if n < 0 else result


def _pow(a, b):
    if _is_const(b):
        if b[0] == int(b[0]) and a[0] <= 0:
            return _powi(a, b)
        return _power(a, b[0], float(np.power(a[0], b[0])))
    u = _exp(_mul(b, _log(a)))
    u[0] = float(np.power(a[0], b[0]))
    return u


def _inv_sqrt(q):
    return _div(_const(1.0, len(q)), _sqrt(q))


def _asin(x):
    return _chain(_f("asin", x[0]), _inv_sqrt(_mul(_plus(1.0, x, -1.0), _plus(1.0, x))), x)


def _acos(x):
    return _chain(_f("acos", x[0]), -_inv_sqrt(_mul(_plus(1.0, x, -1.0), _plus(1.0, x))), x)


def _atan(x):
    return _chain(_f("atan", x[0]), _div(_const(1.0, len(x)), _plus(1.0, _mul(x, x))), x)


def _asinh(x):
    return _chain(_f("asinh", x[0]), _inv_sqrt(_plus(1.0, _mul(x, x))), x)


def _acosh(x):
    return _chain(_f("acosh", x[0]), _inv_sqrt(_mul(_plus(-1.0, x), _plus(1.0, x))), x)


def _atanh(x):
    return _chain(_f("atanh", x[0]), _div(_const(1.0, len(x)), _mul(_plus(1.0, x, -1.0), _plus(1.0, x))), x)


_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _erf(x, name="erf", sign=1.0):
    return _chain(_f(name, x[0]), sign * _TWO_OVER_SQRT_PI * _exp(-_mul(x, x)), x)


def _hypot(a, b):
    # the square-root recurrence from a constant term that does not overflow
    return _sqrt(_mul(a, a) + _mul(b, b), float(np.hypot(a[0], b[0])))


def _atan2(y, x):
    d = _mul(x[:-1], _d(y)) - _mul(y[:-1], _d(x))
    return _integ(float(np.arctan2(y[0], x[0])), _div(d, (_mul(x, x) + _mul(y, y))[:-1]))


def _log_base(x, b):
    lb = _log(b)
    lx = _log(x)
    return _div(lx, lb)


def _abs(x):
    # the subgradient convention of the other AD methods: abs'(0) = 0
    return x.copy() if x[0] > 0 else -x if x[0] < 0 else np.zeros(len(x))


def _sign(x):
    return _const(float(np.sign(x[0])), len(x))


def _relu(x):
    return x.copy() if x[0] > 0 else np.zeros(len(x))


def _max(a, b):
    return a.copy() if a[0] > b[0] else b.copy() if a[0] < b[0] else 0.5 * (a + b)


def _min(a, b):
    return a.copy() if a[0] < b[0] else b.copy() if a[0] > b[0] else 0.5 * (a + b)


RULES: dict[str, Callable[..., Series]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": _mul,
    "div": _div,
    "neg": lambda a: -a,
    "pow": _pow,
    "powi": _powi,
    "exp": _exp,
    "log": _log,
    "log2": lambda x: _log(x, "log2", math.log(2.0)),
    "log10": lambda x: _log(x, "log10", math.log(10.0)),
    "log1p": _log1p,
    "expm1": _expm1,
    "sqrt": _sqrt,
    "cbrt": _cbrt,
    "abs": _abs,
    "sign": _sign,
    "sin": lambda x: _sin_cos(x)[0],
    "cos": lambda x: _sin_cos(x)[1],
    "tan": _tan,
    "asin": _asin,
    "acos": _acos,
    "atan": _atan,
    "sinh": lambda x: _sinh_cosh(x)[0],
    "cosh": lambda x: _sinh_cosh(x)[1],
    "tanh": _tanh,
    "sech": _sech,
    "asinh": _asinh,
    "acosh": _acosh,
    "atanh": _atanh,
    "erf": _erf,
    "erfc": lambda x: _erf(x, "erfc", -1.0),
    "sigmoid": _sigmoid,
    "softplus": _softplus,
    "relu": _relu,
    "log_base": _log_base,
    "atan2": _atan2,
    "hypot": _hypot,
    "max": _max,
    "min": _min,
}

#: primitive name -> why Taylor mode cannot propagate it (none today)
NO_RECURRENCE: dict[str, str] = {}


def missing(names) -> str | None:
    """Why Taylor mode cannot run a program using these primitives, or None."""
    for name in names:
        if name in NO_RECURRENCE:
            return f"no Taylor recurrence for {name}: {NO_RECURRENCE[name]}"
        if name not in RULES:
            return f"no Taylor recurrence for {name}"
    return None


class Taylor(Lifted):
    """A truncated Taylor polynomial (its coefficients) in a ``TaylorOps`` domain."""

    __slots__ = ("c",)

    def __init__(self, c: Series, ops: TaylorOps):
        self.c = c
        self.ops = ops

    def __repr__(self) -> str:
        return f"Taylor({self.c!r})"


class TaylorOps(LiftedOps):
    """Truncated Taylor polynomials of degree ``degree`` over float64."""

    kind = Taylor

    def __init__(self, degree: int):
        super().__init__()
        self.degree = degree

    def primal(self, v):
        return np.float64(v.c[0])

    def seed(self, x: float) -> Taylor:
        """The variable itself: x + t."""
        c = _const(float(x), self.degree + 1)
        if self.degree:
            c[1] = 1.0
        return Taylor(c, self)

    def lift(self, prim, inner_fn):
        rule = RULES[prim.name]
        n, mine = self.degree + 1, self.mine

        def apply(*args):
            with np.errstate(all="ignore"):
                return Taylor(rule(*[a.c if mine(a) else _const(float(a), n) for a in args]), self)
        return apply


def coefficients(v, degree: int) -> Series:
    """The Taylor coefficients of a sweep's value (a constant for an inactive one)."""
    return v.c if isinstance(v, Taylor) else _const(float(v), degree + 1)

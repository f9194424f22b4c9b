"""The scalar fast path: each primitive on one Python float, ``math``-based.

A NumPy ufunc on a Python float costs about 1 µs (it boxes the float into a
0-d array and back); ``math.exp`` costs a few tens of ns.  Compiled programs
(``emit``) and the tape (``backends.reverse``) therefore run on Python floats
first and fall back to the primitive table's NumPy implementation -- the IEEE
path -- for the *whole* evaluation as soon as one step raises one of
``FALLBACK``.  The rule that makes this exact:

* every function here either returns what ``Primitive.np`` returns for the
  same float (to within an ulp or two: glibc's ``exp`` and NumPy's SIMD
  ``exp`` need not round alike), or it raises.  It raises where IEEE
  arithmetic would produce inf or nan from finite arguments (math raises
  ``OverflowError``/``ValueError``, Python's ``/`` ``ZeroDivisionError``), so
  such a value, and the warning the harness gives for it, always come from
  the NumPy path;
* ``math.pow`` rather than ``**``: ``(-8.0) ** (1/3)`` is a *complex* number
  in Python, ``math.pow`` raises ``ValueError`` as NumPy would give nan;
* Python's ``+ - *`` overflow silently to inf and never warn, and ``math``
  never reports underflow: that is why the harness's floating-point event
  check (``backends._fp.fp_events``) switches the fast path off altogether
  (``ieee_only``) and observes the NumPy path only.

Only scalar Python floats take this path: an array argument raises
``TypeError`` in ``math`` and falls back too.  Nothing here knows about
programs, derivatives or reporting.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterator
from contextlib import contextmanager

#: what makes a fast evaluation start again on the NumPy path
FALLBACK: tuple[type[BaseException], ...] = (OverflowError, ValueError, ZeroDivisionError, TypeError)

#: non-empty while the fast path is switched off (a list, so that generated
#: code can test it with one global load: ``if _ieee_mode:``)
IEEE_MODE: list[bool] = []


@contextmanager
def ieee_only() -> Iterator[None]:
    """Within the block every fast path takes the NumPy (IEEE) path."""
    IEEE_MODE.append(True)
    try:
        yield
    finally:
        IEEE_MODE.pop()


def _sign(x: float) -> float:
    # np.sign: sign(-0.0) = +0.0, sign(nan) = nan
    return 1.0 if x > 0 else -1.0 if x < 0 else x if math.isnan(x) else 0.0


def _max(a: float, b: float) -> float:
    # np.maximum: a nan on either side wins; on a tie (0.0, -0.0) the second
    return a if (a > b or math.isnan(a)) else b


def _min(a: float, b: float) -> float:
    return a if (a < b or math.isnan(a)) else b


def _relu(x: float) -> float:
    return _max(x, 0.0)


def _sigmoid(x: float) -> float:
    z = math.exp(-abs(x))           # never overflows
    return 1.0 / (1.0 + z) if x >= 0 else z / (1.0 + z)


def _softplus(x: float) -> float:
    return _max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _sech(x: float) -> float:
    t = math.exp(-abs(x))
    return 2.0 * t / (1.0 + t * t)


def _pow(a: float, b: float) -> float:
    # math.pow(-inf, 0.5) is inf (C99), NumPy's power gives nan there
    if a == -math.inf:
        raise ValueError  # NumPy says nan: take its path
    return math.pow(a, b)


def _log_base(x: float, b: float) -> float:
    return math.log(x) / math.log(b)


#: primitive name -> float implementation; a test checks it covers the table
#: and agrees with ``Primitive.np`` at the table's sample points
SCALAR: dict[str, Callable[..., float]] = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "neg": operator.neg, "pow": _pow, "powi": math.pow,
    "exp": math.exp, "log": math.log, "log2": math.log2, "log10": math.log10,
    "log1p": math.log1p, "expm1": math.expm1, "sqrt": math.sqrt, "cbrt": math.cbrt,
    "abs": math.fabs, "sign": _sign,
    "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh, "sech": _sech,
    "asinh": math.asinh, "acosh": math.acosh, "atanh": math.atanh,
    "erf": math.erf, "erfc": math.erfc,
    "sigmoid": _sigmoid, "softplus": _softplus, "relu": _relu,
    "log_base": _log_base, "atan2": math.atan2, "hypot": math.hypot, "max": _max, "min": _min,
}


class ScalarOps:
    """The ops namespace on Python floats (raises where ``SCALAR`` raises)."""

    @staticmethod
    def value(v):
        return v

    @staticmethod
    def constant(slot):
        return float(slot.value)

    def __getattr__(self, name: str):
        try:
            fn = SCALAR[name]
        except KeyError:
            raise AttributeError(f"no primitive named {name!r}") from None
        setattr(self, name, fn)
        return fn


SCALAR_OPS = ScalarOps()

"""Name the floating-point exception behind a non-finite result."""

from __future__ import annotations

import numpy as np


def fp_events(evaluate, point, underflow: bool = False) -> list[str]:
    """The floating-point events (overflow, invalid value, divide by zero, and
    underflow if asked) of one evaluation.

    NumPy reports them; the scalar fast path (``scalar``) cannot (Python's
    ``*`` overflows silently), so it is switched off here."""
    from ..scalar import ieee_only
    seen: list[str] = []

    def record(kind, flag):
        if kind not in seen:
            seen.append(kind)
    old = np.seterrcall(record)
    try:
        with np.errstate(all="call", under="call" if underflow else "ignore"), ieee_only():
            try:
                evaluate(point)
            except (ArithmeticError, ValueError):
                pass
    finally:
        np.seterrcall(old)
    return seen


def explain_fp(evaluate, point) -> str | None:
    """``floating-point overflow, invalid value during evaluation``, or None."""
    seen = fp_events(evaluate, point, underflow=True)
    if not seen:
        return None
    return "floating-point " + ", ".join(seen) + " during evaluation"

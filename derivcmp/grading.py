"""Words for numbers: how good is a method's value, and which method did best.

A method that returned a finite number is graded from its relative error
against the reference, so a reader never has to decide whether ``1.0e+00``
is fine.  The grade is a function of one relative error; whichever error
measure ``compare`` computes (max-norm today) feeds it.  This module never
formats and never prints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .problem import Graded

EPS = 2.0 ** -52

EXACT = "exact"             # within a few units in the last place of float64
ACCURATE = "accurate"       # at least 6 correct digits
INACCURATE = "inaccurate"   # at least one correct digit
WRONG = "wrong"             # not even one correct digit
GRADES = (EXACT, ACCURATE, INACCURATE, WRONG)

#: the relative error up to which each grade is given (the last one: any)
LIMITS = {EXACT: 4 * EPS, ACCURATE: 1e-6, INACCURATE: 0.1}


def grade_of(rel_error: float | None) -> str | None:
    """The grade word for a relative error; None where nothing was graded."""
    if rel_error is None or math.isnan(rel_error):
        return None
    for word, limit in LIMITS.items():
        if rel_error <= limit:
            return word
    return WRONG


def correct_digits(rel_error: float | None) -> float | None:
    """-log10 of the relative error, capped at 17 (float64 has ~15.9)."""
    if rel_error is None or math.isnan(rel_error):
        return None
    return 17.0 if rel_error == 0 else max(0.0, min(17.0, -math.log10(rel_error)))


def graded(results: Iterable[Graded]) -> list[Graded]:
    """The results that were graded: a finite value and a reference to grade it by."""
    return [g for g in results if g.outcome.status == "ok" and g.rel_error is not None]


def most_accurate(results: Iterable[Graded]) -> list[str]:
    """The graded method(s) with the smallest relative error (ties all count);
    none when fewer than two methods were graded.  A non-finite error
    (which the JSON shows as null) is no candidate."""
    pool = [g for g in graded(results) if math.isfinite(g.rel_error)]
    if len(pool) < 2:
        return []
    best = min(g.rel_error for g in pool)
    return [g.name for g in pool if g.rel_error == best]


__all__ = ["ACCURATE", "EXACT", "GRADES", "INACCURATE", "LIMITS", "WRONG", "correct_digits", "grade_of",
           "graded", "most_accurate"]

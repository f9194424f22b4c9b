"""Every Taylor recurrence against sympy's series coefficients, generated from the
primitive table: a new primitive fails here until it has a recurrence in
``derivcmp.taylor.RULES`` or declares in ``NO_RECURRENCE`` why it has none."""

from __future__ import annotations

import math
import random

import mpmath
import numpy as np
import pytest
import sympy

from derivcmp.primitives import PRIMITIVES
from derivcmp.sympy_bridge import without_dirac
from derivcmp.taylor import NO_RECURRENCE, RULES

DEGREE = 6
t = sympy.Symbol("t", real=True)


@pytest.mark.parametrize("prim", PRIMITIVES, ids=lambda p: p.name)
def test_every_primitive_has_a_recurrence_or_says_why_not(prim):
    assert prim.name in RULES or NO_RECURRENCE.get(prim.name), \
        f"{prim.name}: no Taylor recurrence in derivcmp.taylor.RULES and no reason in NO_RECURRENCE"


def _points(prim, count=3):
    rng = random.Random(f"taylor-{prim.name}")
    for _ in range(count):
        yield [round(rng.uniform(lo, hi), 3) for lo, hi in prim.sample]


def _argument_series(i: int, x0: float, constant: bool):
    """A non-trivial input polynomial (so the chain through x(t) is exercised)."""
    if constant:
        return [x0] + [0.0] * DEGREE, sympy.nsimplify(x0)
    c1, c2 = (1.0, 0.3) if i == 0 else (-0.5, 0.2)
    coeffs = [x0, c1, c2] + [0.0] * (DEGREE - 2)
    expr = sympy.Rational(str(x0)) + sympy.Rational(str(c1)) * t + sympy.Rational(str(c2)) * t ** 2
    return coeffs, expr


def _cases():
    for prim in PRIMITIVES:
        if prim.name not in RULES:
            continue
        for pt in _points(prim):
            if prim.name == "powi":
                pt[1] = float(round(pt[1]))
                yield prim, pt, (False, True)
            elif prim.name == "pow":
                yield prim, pt, (False, False)
                yield prim, pt, (False, True)
            else:
                yield prim, pt, (False,) * prim.arity


@pytest.mark.parametrize("prim, point, constant", list(_cases()),
                         ids=lambda v: getattr(v, "name", None) or str(v))
def test_recurrence_matches_sympy_series(prim, point, constant):
    series, exprs = zip(*[_argument_series(i, x0, c) for i, (x0, c) in enumerate(zip(point, constant))])
    # two-argument rules to a lower degree: sympy's repeated diff of hypot and
    # log_base swells (seconds per coefficient beyond 4)
    degree = DEGREE if prim.arity == 1 else 4
    got = RULES[prim.name](*[np.array(s, dtype=float) for s in series])
    composed = prim.sp(*exprs)
    deriv = composed
    with mpmath.workdps(40):
        for k in range(degree + 1):
            if k:
                deriv = without_dirac(sympy.diff(deriv, t))
            want = float(sympy.re(deriv.subs(t, 0).evalf(30))) / math.factorial(k)
            assert abs(got[k] - want) <= 1e-12 * max(1.0, abs(want)), \
                f"{prim.name} at {point}: coefficient {k}: {got[k]!r} != {want!r}"

"""``fd-multiprecision``: a central difference evaluated in mpmath at raised precision.

The same program, run with mpmath numbers at ``dps`` decimal digits: the
fourth-order central stencil (the n-th derivative's, for order n) with
``h = 10^(-dps/(4+n)) * scale``, where scale is ``|x|`` for ``0 < |x| < 1``
and ``max(|x|, 1)`` otherwise (exactly as many digits lost to rounding as
gained from truncation).  The precision doubles from 32 digits until two
successive results agree to 1e-20 relative (or 512 digits are reached); the
value is then rounded to float64.  This gives nearly the accuracy of the
50-digit reference without differentiating symbolically -- at the cost of
mpmath arithmetic, shown honestly in the timing and in ``precisions``.
A stencil point outside the domain switches to a one-sided stencil.
Gradients and Hessians are taken entry by entry.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ..primitives import MP_OPS
from ..problem import Problem
from ..program import compile_program, diagnose, sweep
from . import Prepared
from ._stencil import SCHEMES
from .base import Method

START_DPS = 32
MAX_DPS = 512
#: two precisions' results agreeing to this relative tolerance are accepted
AGREE_DIGITS = 20


class _OutOfDomain(Exception):
    pass


class MultiprecisionDifference(Method):
    name = "fd-multiprecision"
    #: a Jacobian row by row: each output's gradient
    jacobian = "rows"
    family = "finite-difference"
    tolerances = {0: 1e-13}
    description = "fourth-order central differences in mpmath, precision doubled from 32 digits until "\
                  "two results agree"
    convention = "the central stencil straddles the point: at a kink, the mean of the one-sided slopes"

    def prepare(self, problem: Problem) -> Prepared:
        import mpmath  # here, not at module level: listing the methods must not import it
        program = compile_program(problem.expr)
        wrt = list(problem.wrt)
        order = problem.order
        details: dict = {}

        def f(point):
            try:
                v = sweep(program, MP_OPS, point)[program.output]
            except (ValueError, ZeroDivisionError, OverflowError) as err:
                raise _OutOfDomain(str(err)) from None
            if not isinstance(v, mpmath.mpf) or not mpmath.isfinite(v):
                raise _OutOfDomain("not a real number")
            return v

        def entry(point, dirs, dps):
            """One entry of the derivative: ``dirs`` is a tuple of variables (d/dx dx ...)."""
            with mpmath.workdps(dps):
                base = {k: mpmath.mpf(float(v)) for k, v in point.items()}
                hs = {}
                for n in set(dirs):
                    x = float(point[n])
                    scale = abs(x) if 0 < abs(x) < 1 else max(abs(x), 1.0)
                    hs[n] = (mpmath.mpf(problem.step) if problem.step is not None else
                             mpmath.mpf(10) ** (-mpmath.mpf(dps) / (4 + len(dirs))) * scale)
                counts = {n: dirs.count(n) for n in dict.fromkeys(dirs)}
                evals = 0
                for side in (0, 1, -1):
                    stencils = []
                    for n, k in counts.items():
                        offs = (SCHEMES["central4"][1](k) if side == 0 else
                                tuple(side * j for j in range(k + 4)))
                        stencils.append((n, _exact_weights(offs, k)))
                    try:
                        acc = mpmath.mpf(0)
                        for terms in _product(stencils):
                            p = dict(base)
                            w = mpmath.mpf(1)
                            for n, k, c in terms:
                                p[n] = base[n] + k * hs[n]
                                w *= mpmath.mpf(c[0]) / c[1]
                            acc += w * f(p)
                            evals += 1
                        div = mpmath.mpf(1)
                        for n, k in counts.items():
                            div *= hs[n] ** k
                        return acc / div, evals, side, {n: float(h) for n, h in hs.items()}
                    except _OutOfDomain:
                        continue
                raise _OutOfDomain("no stencil fits in the domain")

        def entries():
            if len(wrt) == 1:
                return [(wrt[0],) * order]
            if order == 1:
                return [(n,) for n in wrt]
            return [(a, b) for a in wrt for b in wrt]

        def evaluate(point):
            values, evals, precisions, sides, steps = [], 0, [], set(), {}
            est = 0.0
            for dirs in entries():
                prev, dps = None, START_DPS
                while True:
                    try:
                        v, n_ev, side, hs = entry(point, dirs, dps)
                    except _OutOfDomain:
                        v = mpmath.mpf("nan")
                        break
                    evals += n_ev
                    precisions.append(dps)
                    if prev is not None and abs(v - prev) <= mpmath.mpf(10) ** -AGREE_DIGITS * max(abs(v), mpmath.mpf(10) ** -300):
                        break
                    if dps >= MAX_DPS:
                        break
                    prev, dps = v, dps * 2
                sides.add(side if mpmath.isfinite(v) else 0)
                steps.update({k: h for k, h in hs.items() if k not in steps} if mpmath.isfinite(v) else {})
                values.append(float(v))
                if prev is not None and mpmath.isfinite(v):
                    est = max(est, float(abs(v - prev)) * 1e-3 + 0.5 * float(np.spacing(abs(float(v)))))
            details.update(steps=steps, stencil="central, order 4, in mpmath", function_evaluations=evals,
                           precisions=sorted(set(precisions)), error_estimate=est,
                           truncation_error=None, round_off_error=None, digits_lost=None)
            if sides - {0}:
                details["fallback"] = "one-sided: a central stencil point is outside the domain"
            else:
                details.pop("fallback", None)
            arr = np.array(values)
            if len(wrt) == 1:
                return arr[0]
            return arr if order == 1 else arr.reshape(len(wrt), len(wrt))

        def explain(point):
            why = diagnose(program, program.evaluate_all(point))
            return f"the function itself: {why}" if why else "no stencil fits in the domain at this point"

        return Prepared(evaluate, details, explain)


@cache
def _exact_weights(offsets: tuple[int, ...], n: int) -> tuple[tuple[int, tuple[int, int]], ...]:
    import sympy
    """(offset, (p, q)) with weight p/q exactly: float weights would leave sum(w) != 0
    and turn f/h^2 into a huge error at 500 digits."""
    w = sympy.finite_diff_weights(n, list(offsets), 0)[n][-1]
    return tuple((k, (int(sympy.Rational(c).p), int(sympy.Rational(c).q))) for k, c in zip(offsets, w) if c != 0)


def _product(stencils):
    """Every combination of one (offset, weight) per variable: [(name, offset, weight), ...]."""
    out = [[]]
    for n, terms in stencils:
        out = [acc + [(n, k, w)] for acc in out for k, w in terms]
    return out


METHODS = (MultiprecisionDifference,)

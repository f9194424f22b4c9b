"""The complex step: f'(x) = Im f(x + ih) / h, with no subtraction and so no cancellation.

``h = 1e-20 * max(1, |x|)`` (or ``--step``): the truncation error is
O(h^2 f''') relative, far below float64 rounding, so the result is as
accurate as the float64 evaluation of f itself.  It needs every primitive of
the expression to be complex-analytic with a complex implementation in the
table (``cx``); abs, sign, relu, min, max, atan2, hypot (and erf/erfc, which
have no complex form here) make it ``not-applicable`` with the reason.
First derivatives and gradients only (n evaluations for n variables).
"""

from __future__ import annotations

import numpy as np

from ..primitives import COMPLEX_OPS
from ..problem import Problem
from ..program import OP, compile_program, describe, diagnose, sweep
from . import Prepared
from .base import Method

EPS = float(np.finfo(float).eps)
STEP = 1e-20


def not_analytic(program) -> str | None:
    for s in program.slots:
        if s.kind == OP and s.prim.cx is None:
            return (f"{describe(s.node)} is not complex-analytic (no complex form in the primitive "
                    "table), so Im f(x+ih)/h is not its derivative")
    return None


class ComplexStep(Method):
    name = "complex-step"
    #: a Jacobian natively: one complex evaluation of every output per input
    jacobian = "native"
    family = "finite-difference"
    max_order = 1
    tolerances = {1: 1e-12}
    description = "Im f(x + ih)/h with h = 1e-20*max(1,|x|): no cancellation, needs a complex-analytic f"
    convention = "Im f(x+ih)/h uses the complex continuation of f; at a kink it has none"

    def supports(self, problem: Problem) -> str | None:
        if problem.order > 1:
            return "the complex step gives first derivatives only"
        return not_analytic(compile_program(problem.expr))

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        wrt = list(problem.wrt)
        details: dict = {}
        if program.vector:
            return _jacobian(program, problem, details)
        names = list(program.names)
        fb = program.bounded_function(names).fn     # f and its rounding bound, one call

        def inherited(point, x) -> float:
            """Where float64 f itself cancels (its rounding bound is far above one ulp, as
            (1 - cos x)/x^2 near 0), the imaginary part cancels too: about bound/scale."""
            with np.errstate(all="ignore"):
                args = [float(point[k]) for k in names]
                fx, b = fb(*args) if names else (0.0, 0.0)
                fx, b = abs(float(fx)), float(b)
            if not np.isfinite(b) or b <= 1e3 * EPS * fx:
                return 0.0
            return b / (abs(x) if x != 0 else 1.0)

        def evaluate(point):
            out = []
            steps = {}
            est = trunc = 0.0
            for n in wrt:
                x = float(point[n])
                h, vals = _complex_sweep(program, problem, point, n)
                fz = vals[program.output]
                d = float(np.imag(fz)) / h
                out.append(d)
                steps[n] = h
                # rounding: a few ulps of f', nothing cancels in the imaginary part; truncation
                # ~ h^2 |f'''|/6, taken as (h/scale)^2 |f'|: far below rounding
                est = max(est, 4 * EPS * abs(d) + inherited(point, x))
                trunc = max(trunc, (h / max(1.0, abs(x))) ** 2 * abs(d))
            details.update(steps=steps, stencil="x + ih (complex)", function_evaluations=len(wrt),
                           error_estimate=est + trunc, round_off_error=est, truncation_error=trunc,
                           digits_lost=0.0)
            return out[0] if len(wrt) == 1 else np.array(out)

        def evaluate_grid(columns):
            # the same sweep over complex arrays: each point its own step
            (n,) = wrt
            x = np.asarray(columns[n], dtype=float)
            h = np.full_like(x, problem.step) if problem.step is not None else STEP * np.maximum(1.0, np.abs(x))
            inputs = {k: np.asarray(v, dtype=float).astype(complex) for k, v in columns.items()}
            if n in inputs:
                z = np.empty(x.shape, dtype=complex)
                z.real, z.imag = x, h           # complex(x, h) exactly, -0.0 kept
                inputs[n] = z
            with np.errstate(all="ignore"):
                fz = sweep(program, COMPLEX_OPS, inputs)[program.output]
            return np.imag(fz) / h

        def explain(point):
            why = diagnose(program, program.evaluate_all(point))
            return f"the function itself: {why}" if why else "in the complex evaluation of f"

        return Prepared(evaluate, details, explain, evaluate_grid=evaluate_grid if len(wrt) == 1 else None)


METHODS = (ComplexStep,)


def _complex_sweep(program, problem: Problem, point, name: str):
    """The step h for ``name`` and every slot's value at the point moved by i*h along it."""
    x = float(point[name])
    h = problem.step if problem.step is not None else STEP * max(1.0, abs(x))
    inputs = {k: complex(float(v)) for k, v in point.items()}
    if name in inputs:
        inputs[name] = complex(x, h)
    with np.errstate(all="ignore"):
        return h, sweep(program, COMPLEX_OPS, inputs)


def _jacobian(program, problem: Problem, details: dict) -> Prepared:
    """The (m, n) Jacobian by n complex evaluations of the whole vector program, one
    per input: column k is Im f(x + i h e_k) / h for every output at once.  An output
    whose float64 value is not finite at the point has no derivative: its row is nan
    (the complex continuation may still be finite there: log(-1) = i pi).  The error
    estimate is the rounding of each entry and the truncation term; it leaves out
    the cancellation inside f that the scalar method's rounding bound adds."""
    wrt = list(problem.wrt)
    m = len(program.outputs)

    def evaluate(point):
        with np.errstate(all="ignore"):
            plain = program.evaluate_all(point)
        jac = np.zeros((m, len(wrt)))
        steps, est, trunc = {}, 0.0, 0.0
        for k, name in enumerate(wrt):
            h, vals = _complex_sweep(program, problem, point, name)
            jac[:, k] = [float(np.imag(vals[o])) / h for o in program.outputs]
            steps[name] = h
        for j, o in enumerate(program.outputs):
            if not np.isfinite(plain[o]):
                jac[j] = np.nan
        rows = [j for j in range(m) if np.all(np.isfinite(jac[j]))]
        for k, name in enumerate(wrt):
            top = float(np.max(np.abs(jac[rows, k]), initial=0.0))
            est = max(est, 4 * EPS * top)
            trunc = max(trunc, (steps[name] / max(1.0, abs(float(point[name])))) ** 2 * top)
        details.update(steps=steps, stencil="x + ih (complex)", function_evaluations=len(wrt),
                       error_estimate=est + trunc, round_off_error=est, truncation_error=trunc, digits_lost=0.0)
        return jac

    def explain(point):
        why = diagnose(program, program.evaluate_all(point))
        return f"the function itself: {why}" if why else "in the complex evaluation of f"
    return Prepared(evaluate, details, explain)

"""High-precision truth: the symbolic derivative at 50 significant digits.

The point is taken at the *exact binary* value of each float input
(``Rational(float)``), literals at the exact decimal the user wrote.  Before
differentiating, the expression itself is evaluated slot by slot in mpmath
with each primitive's real-domain predicate, because sympy happily rewrites
``sqrt(x)^2`` to ``x`` and would otherwise hide that ``x < 0`` is outside the
domain.  Where an active node sits on a kink (``abs`` at 0, ``max`` at a tie,
``sqrt`` at 0) the derivative is only trusted if the one-sided values along
every axis agree; otherwise the point is reported ``not-differentiable``.

The reference never looks at a backend's answer.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import mpmath
import numpy as np
import sympy

from . import sympy_bridge
from .expr import Expr
from .primitives import CONSTANTS
from .problem import ERROR, NOT_DIFFERENTIABLE, OK, UNDEFINED, Problem, Reference
from .program import CONST, INPUT, Program, compile_program, describe

DIGITS = 50
_GUARD = 15           # extra working digits for the mpmath domain pass


def compute_reference(problem: Problem, digits: int = DIGITS) -> Reference:
    start = time.perf_counter()
    try:
        with mpmath.workdps(digits + _GUARD):
            ref = _compute(problem, digits)
    except (OverflowError, MemoryError):
        ref = Reference(ERROR, message="reference failed: a value is too large even for "
                        "arbitrary-precision arithmetic", digits=digits)
    except (ValueError, TypeError, ZeroDivisionError, ArithmeticError) as err:
        ref = Reference(ERROR, message=f"reference failed: {type(err).__name__}: {err}", digits=digits)
    elapsed = time.perf_counter() - start
    return Reference(ref.status, ref.value, ref.exact, ref.message, ref.digits, elapsed, ref.details)


def exact_point(point, safe: Mapping[str, str] | None = None) -> dict[sympy.Symbol, sympy.Rational]:
    """The point as exact rationals, keyed by symbol (renamed by ``safe`` if given)."""
    return {sympy_bridge.symbol(safe[k] if safe else k): sympy.Rational(float(v)) for k, v in point.items()}


def value_at(expr: Expr, point: Mapping[str, float], digits: int = DIGITS):
    """An expression's own value at the exact binary point, to ``digits`` digits
    (an mpf); ``ValueError`` saying why where it has none.  For hand-written
    ``expected`` derivatives, evaluated exactly like the reference."""
    with mpmath.workdps(digits + _GUARD):
        value, why = _evaluate(sympy_bridge.to_sympy(expr), exact_point(point), digits)
    if why:
        raise ValueError(why)
    return value


def _compute(problem: Problem, digits: int) -> Reference:
    notes: list[str] = []
    problem_at, kinks = _domain_pass(compile_program(problem.expr), problem, notes)
    if problem_at:
        return Reference(UNDEFINED, message=problem_at, digits=digits)
    # symbols _x0, _x1, ... so that code generated for mpmath holds no user text
    safe = sympy_bridge.safe_names(list(problem.point) + [w for w in problem.wrt if w not in problem.point])
    ref = _differentiate(problem, digits, kinks, safe)
    if ref.message:
        ref = replace(ref, message=sympy_bridge.restore_names(ref.message, safe))
    if notes:
        ref = replace(ref, details={**ref.details, "note": notes[0]})
    return ref


def _differentiate(problem: Problem, digits: int, kinks: list[str], safe: Mapping[str, str]) -> Reference:
    sym = sympy_bridge.to_sympy(problem.expr, rename=safe)
    wrt = tuple(safe[w] for w in problem.wrt)
    deriv = sympy_bridge.derivative(sym, wrt, problem.order)
    subs = exact_point(problem.point, safe)
    problem = Problem(problem.expr, wrt, {safe[k]: v for k, v in problem.point.items()}, problem.order,
                      problem.text)
    if kinks:
        jump = _jump(problem, sym, subs)
        if jump:
            return Reference(NOT_DIFFERENTIABLE, message=f"{kinks[0]} ({jump})", digits=digits,
                             details={"kinks": kinks})
        return _at_kink(problem, deriv, subs, kinks, digits)
    values = _fast(deriv, subs, digits)
    if values is None:
        values, why = _evaluate(deriv, subs, digits)
        if why:
            return Reference(UNDEFINED, message=why, digits=digits)
    return _reference_ok(values, digits)


def _fast(deriv, subs, digits: int):
    """The derivative by mpmath code generated from the sympy tree, or None.

    sympy's evalf certifies its digits but grows ~3x per level of nesting
    (10 nested sigmoids: seconds).  Plain mpmath evaluation is fast but
    certifies nothing, so it is run at two working precisions, digits + 15
    and 2*digits + 20: where both agree to digits + 2 significant digits the
    first has lost fewer than 13 digits to cancellation, and the second (far
    more precise) value is kept.  Anything else (disagreement, a division by
    an exact zero, a function mpmath lacks) falls back to evalf.
    """
    syms = sorted(subs, key=lambda s: s.name)
    try:
        fn = sympy.lambdify(syms, deriv, modules="mpmath")
        results = []
        for dps in (digits + 15, 2 * digits + 20):
            with mpmath.workdps(dps):
                results.append(_as_mpf(fn(*[mpmath.mpf(subs[s].p) / subs[s].q for s in syms])))
    except (ArithmeticError, ValueError, TypeError, NameError, AttributeError):
        return None
    low, high = results
    if low is None or high is None:
        return None
    with mpmath.workdps(2 * digits + 20):
        tol = mpmath.mpf(10) ** -(digits + 2)
        for a, b in zip(_flat(low), _flat(high)):
            # an exact 0 at both precisions may be total cancellation (1 - tanh(x)^2
            # at x = -300 is 1e-260): only evalf can tell, so let it
            if b == 0 or not (mpmath.isfinite(b) and abs(a - b) <= tol * abs(b)):
                return None
    return high


def _as_mpf(v):
    if isinstance(v, (list, tuple)):
        out = [_as_mpf(x) for x in v]
        return None if any(x is None for x in out) else out
    if isinstance(v, mpmath.mpc) or not isinstance(v, (mpmath.mpf, int)):
        return None
    return mpmath.mpf(v)


def _domain_pass(program: Program, problem: Problem,
                 notes: list[str] | None = None) -> tuple[str | None, list[str]]:
    """Evaluate the expression in mpmath; the first domain violation, and kinks hit.

    A value too large even for mpmath (exp of exp of ... of x) stops the pass:
    the domain beyond it is left unchecked, said in ``notes``, and sympy's
    derivative still decides (log(exp(u)) is u to sympy).
    """
    vals: list[Any] = []
    active = program.active(problem.wrt)
    kinks: list[str] = []
    for i, s in enumerate(program.slots):
        if s.kind == INPUT:
            vals.append(mpmath.mpf(float(problem.point[s.name])))
        elif s.kind == CONST:
            node = s.node
            vals.append(mpmath.mpf(node.text) if hasattr(node, "text") else CONSTANTS[node.name][1]())
        else:
            args = [vals[a] for a in s.args]
            if s.prim.domain is not None:
                reason = s.prim.domain(*args)
                if reason:
                    return f"{reason}: {describe(s.node)}", kinks
            if active[i] and s.prim.kink is not None:
                reason = s.prim.kink(*args)
                if reason:
                    kinks.append(f"{reason}: {describe(s.node)}")
            try:
                v = s.prim.mp(*args)
            except (ValueError, ZeroDivisionError) as err:
                return f"{err}: {describe(s.node)}", kinks
            except (OverflowError, MemoryError):
                if notes is not None:
                    notes.append(f"domain not checked beyond {describe(s.node)}: its value is too "
                                 "large even for arbitrary-precision arithmetic")
                return None, kinks
            if isinstance(v, mpmath.mpc):
                return f"not a real number: {describe(s.node)}", kinks
            vals.append(v)
    return None, kinks


def _evaluate(deriv, subs, digits: int) -> tuple[list | Any, str | None]:
    """Evaluate a scalar / nested list of sympy derivatives to mpf values."""
    if isinstance(deriv, list):
        out = []
        for d in deriv:
            v, why = _evaluate(d, subs, digits)
            if why:
                return None, why
            out.append(v)
        return out, None
    # Substitute the exact rationals first and only then evalf.  evalf(subs=...)
    # turns an exact cancellation such as (x - 1) at x = 1 into an error-bounded
    # "0.e-474", which a following power or sin makes into a bogus nonzero value
    # (5.8e-712 for d/dx (x-1)^2.5 at 1); exact substitution lets sympy see the 0.
    try:
        v = deriv.xreplace(subs).evalf(digits, maxn=digits * 8)
    except (ValueError, TypeError):
        # a Max/Min/sign whose exact argument sympy cannot compare with 0 at
        # construction (relu(u) with u ~ 1e-41 next to a kink): let evalf decide
        v = deriv.evalf(digits, subs=subs, maxn=digits * 8)
    if v.has(sympy.zoo, sympy.oo, -sympy.oo) or v in (sympy.oo, -sympy.oo, sympy.zoo):
        return None, "the derivative is infinite here"
    if v.has(sympy.nan) or v is sympy.nan:
        return None, "the derivative is undefined here (nan)"
    if not v.is_number:
        return None, f"the derivative could not be evaluated ({v})"
    re, im = v.as_real_imag()
    if im != 0 and abs(im) > abs(re) * sympy.Float(10) ** (-digits + 5):
        return None, "the derivative is not real here"
    try:
        return mpmath.mpf(sympy.Float(re, digits)._mpf_), None
    except (TypeError, AttributeError):
        return None, f"the derivative could not be evaluated ({re})"


def _reference_ok(values, digits: int) -> Reference:
    flat = np.array(_to_float(values), dtype=float)
    if not np.all(np.isfinite(flat)):
        biggest = max(_flat(values), key=abs)
        return Reference(UNDEFINED, message=f"the derivative exists ({_brief(biggest)}) but overflows float64 "
                         "(beyond ±1.8e308)", digits=digits, exact=_to_str(values, digits),
                         details={"overflow": True})
    return Reference(OK, flat[()] if flat.ndim == 0 else flat, _to_str(values, digits), None, digits)


def _to_float(values):
    if isinstance(values, list):
        return [_to_float(v) for v in values]
    return float(values)


def _to_str(values, digits: int):
    if isinstance(values, list):
        return [_to_str(v, digits) for v in values]
    with mpmath.workdps(digits):
        return mpmath.nstr(values, digits, strip_zeros=False, min_fixed=-6, max_fixed=6) \
            if values != 0 else "0"


def _jump(problem: Problem, sym, subs) -> str | None:
    """Whether the function, or a derivative below the requested order, jumps.

    Matching one-sided derivatives prove nothing across a jump: sign(x) has
    slope 0 on both sides of 0, atan2(y, x) slope 1/x on both sides of the
    negative x axis, relu(x) second derivative 0 on both sides of 0.  Each
    lower derivative must have the same limit from every side as at the
    point itself.
    """
    lower = [sym] + [sympy_bridge.derivative(sym, problem.wrt, k) for k in range(1, problem.order)]
    for k, expr in enumerate(lower):
        what = "the function" if k == 0 else "the derivative" if k == 1 else f"derivative {k}"
        at, why = _evaluate(expr, subs, 30)
        if why:
            return f"{what} cannot be evaluated at the point: {why}"
        for name in problem.wrt:
            s = sympy_bridge.symbol(name)
            for sign in (1, -1):
                side = "above" if sign > 0 else "below"
                near = []
                for power in (40, 30):
                    moved = dict(subs)
                    moved[s] = subs[s] + sign * sympy.Rational(1, 10 ** power) * max(1, abs(subs[s]))
                    v, why = _evaluate(expr, moved, 30)
                    if why:
                        return f"{what} is not defined just {side} the point in {name}"
                    near.append(v)
                # continuous (even with an infinite slope, cbrt at 0) when the gap
                # shrinks as the side approaches; a jump keeps its size
                gap40, gap30 = (_gap(v, at) for v in near)
                if not _close(near[0], at) and gap40 > gap30 / 1000:
                    return (f"{what} jumps: {_brief(at)} at the point, {_brief(near[0])} just {side} "
                            f"it in {name}")
    return None


def _gap(a, b):
    return max(_gap(x, y) for x, y in zip(a, b)) if isinstance(a, list) else abs(a - b)


def _at_kink(problem: Problem, deriv, subs, kinks: list[str], digits: int) -> Reference:
    """Trust the derivative at a kink only if all one-sided values agree.

    Each side is sampled at two distances (1e-40 and 1e-30, relative): the
    values must agree across sides *and* settle as the point is approached,
    otherwise an infinite slope whose sides happen to match (cbrt(x) at 0,
    x^(-2/3) on both sides) would be reported as a huge finite derivative.
    """
    sides = []
    for name in problem.wrt:
        sym = sympy_bridge.symbol(name)
        x = subs[sym]
        near = []
        for power in (40, 30):
            delta = sympy.Rational(1, 10 ** power) * max(1, abs(x))
            for sign in (1, -1):
                moved = dict(subs)
                moved[sym] = x + sign * delta
                near.append(_evaluate(deriv, moved, digits))
        (p40, why_p40), (m40, why_m40), (p30, why_p30), (m30, why_m30) = near
        sides.append((name, "+", p40, why_p40 or why_p30, p30))
        sides.append((name, "-", m40, why_m40 or why_m30, m30))
    first = sides[0][2]
    agree = all(why is None for _, _, _, why, _ in sides) and all(
        _close(v, first) for _, _, v, _, _ in sides)
    settled = agree and all(_close(v, farther) for _, _, v, _, farther in sides)
    if not settled:
        detail = "; ".join(f"{n}{s}: {_brief(v) if why is None else why}" for n, s, v, why, _ in sides)
        growing = " agree but do not settle as the point is approached" if agree else ""
        return Reference(NOT_DIFFERENTIABLE,
                         message=f"{kinks[0]} (one-sided derivatives{growing}: {detail})",
                         digits=digits, details={"kinks": kinks})
    # the one-sided limits agree: the derivative exists and is their common value,
    # known to about 25 digits (the sides sit 1e-40 away; a term of size 1e-25
    # or less relative to the scale is taken as the vanishing O(delta) part)
    scale = max((abs(v) for v in _flat(first)), default=0)
    first = _snap(first, mpmath.mpf(10) ** -25 * max(1, scale))
    ref = _reference_ok(first, 25)
    return Reference(ref.status, ref.value, ref.exact, ref.message, ref.digits,
                     details={"kinks": kinks, "note": "derivative exists at a kink: limit of one-sided values"})


def _flat(v):
    return [x for item in v for x in _flat(item)] if isinstance(v, list) else [v]


def _snap(v, tiny):
    if isinstance(v, list):
        return [_snap(x, tiny) for x in v]
    return mpmath.mpf(0) if abs(v) < tiny else v


def _close(a, b) -> bool:
    if isinstance(a, list):
        return all(_close(x, y) for x, y in zip(a, b))
    return abs(a - b) <= mpmath.mpf(10) ** -18 * max(1, abs(a), abs(b))


def _brief(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_brief(x) for x in v) + "]"
    return mpmath.nstr(v, 6)

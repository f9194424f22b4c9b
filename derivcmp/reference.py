"""High-precision truth: the symbolic derivative at 50 significant digits.

The point is taken at the *exact binary* value of each float input
(``Rational(float)``), literals at the exact decimal the user wrote.  Before
differentiating, the expression itself is evaluated slot by slot in mpmath
(``program.sweep`` over ``MpOps``) with each primitive's real-domain
predicate, because sympy happily rewrites ``sqrt(x)^2`` to ``x`` and would
otherwise hide that ``x < 0`` is outside the domain.  A value that is within
the working precision's noise of a critical point (0, +-1, a tie, an odd
multiple of pi/2 for tan) is decided exactly by sympy, so ``sin(pi)`` is 0 and
not 1e-66; where sympy cannot decide either, the reference says so instead of
guessing.

Where an active node sits on a kink the derivative exists only if the
function is defined on both sides along every ``wrt`` axis, continuous (with
its lower derivatives), and the one-sided derivatives have the same limit.
The one-sided derivatives are taken by ``sympy.limit`` first, under a
deadline (``LIMIT_SECONDS``); where sympy is decisive (finite real limits or
infinities, equality proved exactly) its exact answer is used.  Otherwise
they are taken numerically: values at offsets 1e-30, 1e-60, 1e-90, 1e-120
(relative to the point, absolute at 0), Aitken-extrapolated.  Neither uses an
absolute threshold, so the decision does not depend on the scale of the
expression; ``details["kink_method"]`` says which way was used.  (Continuity
across the kink is checked numerically, the same way.)

A value is only reported when it is certified: evaluated at growing
precision until two levels agree and it stands above the noise floor relative
to the largest intermediate, else "cannot certify".

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
from sympy.codegen import cfunctions as _cf

from . import sympy_bridge
from .expr import Expr
from .primitives import MP_OPS
from .problem import ERROR, NOT_DIFFERENTIABLE, OK, UNDEFINED, Problem, Reference
from .program import OP, Program, compile_program, describe, sweep

DIGITS = 50
_GUARD = 15           # extra working digits for the mpmath domain pass
_OFFSETS = (30, 60, 90, 120)     # one-sided offsets 10^-k (relative to the point)
_SIDE_DIGITS = 60 + _OFFSETS[-1]  # precision of one-sided values: the offsets must show
_LEVELS = (1, 2, 4, 8, 16, 32)   # working precision (x (digits + 15)) tried to certify a value


class _Stop(Exception):
    """The domain pass ends: the expression is undefined here (the reason)."""


class _Overflow(Exception):
    """A value too large even for mpmath: the domain beyond it is unchecked."""


class CannotDecide(Exception):
    """The reference cannot certify an answer; the message says why."""


def compute_reference(problem: Problem, digits: int = DIGITS) -> Reference:
    if problem.vector:
        return jacobian_reference(problem, digits)
    start = time.perf_counter()
    def attempt():
        with mpmath.workdps(digits + _GUARD):
            return _compute(problem, digits)

    try:
        try:
            ref = attempt()
        except RecursionError:
            # sympy recurses once per level of the tree (xreplace, evalf, limit):
            # once more with room to recurse (without sympy's limit at kinks,
            # which needs the main thread's timer)
            ref = sympy_bridge.deep(attempt)
    except CannotDecide as err:
        ref = Reference(ERROR, message=f"the reference cannot decide: {err}", digits=digits)
    except RecursionError:
        ref = Reference(ERROR, message="reference limit: the expression is nested too deeply for "
                        "sympy (past Python's recursion limit, even when raised)", digits=digits)
    except (OverflowError, MemoryError):
        ref = Reference(ERROR, message="reference failed: a value is too large even for "
                        "arbitrary-precision arithmetic", digits=digits)
    except (ValueError, TypeError, ZeroDivisionError, ArithmeticError, KeyError) as err:
        ref = Reference(ERROR, message=f"reference failed: {type(err).__name__}: {err}", digits=digits)
    elapsed = time.perf_counter() - start
    return Reference(ref.status, ref.value, ref.exact, ref.message, ref.digits, elapsed, ref.details)


def jacobian_reference(problem: Problem, digits: int = DIGITS) -> Reference:
    """The m x n reference Jacobian: each output's gradient, a row, to ``digits`` digits.

    An output with no derivative at the point (undefined, not differentiable,
    or a row the reference cannot decide) leaves its row out: the value's row is
    nan, the exact row None, and ``details["undefined_rows"]`` lists
    ``{"output", "status", "message"}`` for each.  The status is ``ok`` while at
    least one row is (those rows are graded); with none, the first row's status.
    """
    start = time.perf_counter()
    m, n = problem.shape
    rows = [compute_reference(problem.row(j), digits) for j in range(m)]
    value = np.full((m, n), np.nan)
    exact: list[Any] = []
    missing, notes, kinks = [], [], []
    for j, r in enumerate(rows):
        if r.status == OK:
            value[j] = np.reshape(np.asarray(r.value, dtype=float), (n,))
            exact.append(list(r.exact) if isinstance(r.exact, list) else [r.exact])
            details = r.details or {}
            notes += [f"output {j + 1}: {details['note']}"] if details.get("note") else []
            kinks += [f"output {j + 1}: {k}" for k in details.get("kinks", ())]
        else:
            exact.append(None)
            missing.append({"output": j + 1, "status": r.status, "message": r.message})
    elapsed = time.perf_counter() - start
    details: dict[str, Any] = {"note": "; ".join(notes)} if notes else {}
    if kinks:
        details["kinks"] = kinks
    if missing:
        details["undefined_rows"] = missing
    if len(missing) == m:
        first = missing[0]
        message = "; ".join(f"output {r['output']}: {r['message']}" for r in missing)
        overflow = all((r.details or {}).get("overflow") for r in rows)
        return Reference(first["status"], message=message, digits=digits, time_s=elapsed,
                         details={**details, **({"overflow": True} if overflow else {})})
    return Reference(OK, value, exact, None, digits, elapsed, details)


def exact_point(point, safe: Mapping[str, str] | None = None) -> dict[sympy.Symbol, sympy.Rational]:
    """The point as exact rationals, keyed by symbol (renamed by ``safe`` if given)."""
    return {sympy_bridge.symbol(safe[k] if safe else k): sympy.Rational(float(v)) for k, v in point.items()}


def value_at(expr: Expr, point: Mapping[str, float], digits: int = DIGITS):
    """An expression's own value at the exact binary point, to ``digits`` digits
    (an mpf); ``ValueError`` saying why where it has none.  For hand-written
    ``expected`` derivatives, evaluated exactly like the reference."""
    with mpmath.workdps(digits + _GUARD):
        sym = sympy_bridge.to_sympy(expr)
        if _infinite(sym):
            raise ValueError("the formula is infinite (sympy's complex infinity)")
        value, why = _value(sym, exact_point(point), digits)
    if why:
        raise ValueError(why)
    return value


def _compute(problem: Problem, digits: int) -> Reference:
    notes: list[str] = []
    exact = {k: sympy.Rational(float(v)) for k, v in problem.point.items()}
    problem_at, kinks = _domain_pass(compile_program(problem.expr), problem.wrt, exact, notes)
    if problem_at:
        return Reference(UNDEFINED, message=problem_at, digits=digits)
    # symbols _x0, _x1, ... so that code generated for mpmath holds no user text
    safe = sympy_bridge.safe_names(list(problem.point) + [w for w in problem.wrt if w not in problem.point])
    ref = _differentiate(problem, digits, kinks, safe)
    if ref.message:
        ref = replace(ref, message=sympy_bridge.restore_names(ref.message, safe))
    if ref.details.get("kink_fallback"):
        ref = replace(ref, details={**ref.details,
                                    "kink_fallback": sympy_bridge.restore_names(ref.details["kink_fallback"], safe)})
    if notes:
        ref = replace(ref, details={**ref.details, "note": notes[0]})
    return ref


def _infinite(sym) -> bool:
    return bool(sym.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo))


def _differentiate(problem: Problem, digits: int, kinks: list[str], safe: Mapping[str, str]) -> Reference:
    sym = sympy_bridge.to_sympy(problem.expr, rename=safe)
    wrt = tuple(safe[w] for w in problem.wrt)
    subs = exact_point(problem.point, safe)
    # a partial derivative does not move the other variables: fix them at their
    # exact values first, so that sympy sees 0^y (x = 0 fixed) as the 0 it is
    fixed = {s: v for s, v in subs.items() if s.name not in wrt}
    sym = _zero_powers(sym.xreplace(fixed), subs)
    if _infinite(sym):
        return Reference(UNDEFINED, message="the expression is infinite or undefined here "
                         "(sympy evaluates it to complex infinity, e.g. a division by an exact 0)",
                         digits=digits)
    deriv = sympy_bridge.derivative(sym, wrt, problem.order)
    problem = Problem(problem.expr, wrt, {safe[k]: v for k, v in problem.point.items()}, problem.order,
                      problem.text)
    if kinks:
        jump = _jump(problem, {v: k for k, v in safe.items()}, sym, subs)
        if jump:
            return Reference(NOT_DIFFERENTIABLE, message=f"{kinks[0]} ({jump})", digits=digits,
                             details={"kinks": kinks})
        return _at_kink(problem, deriv, subs, kinks, digits)
    values, why = _value(deriv, subs, digits)
    if why:
        return Reference(UNDEFINED, message=why, digits=digits)
    return _reference_ok(values, digits)


def _zero_powers(sym, subs):
    """``0^b`` is 0 near a point where ``b > 0``; sympy keeps it symbolic (its
    derivative 0^b log 0 is nan), so replace it where ``b`` is positive here."""
    def positive(e) -> bool:
        try:
            return bool(e.exp.xreplace(subs) > 0)
        except TypeError:
            return False
    return sym.replace(lambda e: e.is_Pow and e.base.is_zero is True and positive(e), lambda e: sympy.S.Zero)


def _value(deriv, subs, digits: int):
    """Certified values of a scalar / nested list of derivatives: (values, None)
    or (None, why it has none).  ``CannotDecide`` where the value cannot be
    certified."""
    got = _certified(deriv, subs, digits)
    if got is not None:
        return got, None
    # a function outside the mpmath table, or a non-real / infinite value: evalf
    return _evaluate(deriv, subs, digits, strict=True)


def _certified(deriv, subs, digits: int):
    """The derivative evaluated node by node in mpmath at growing precision, or None.

    sympy's evalf is slow on deep nesting (10 nested sigmoids: seconds), and
    not always right under deep cancellation (cos(1 + 1e-6000) - cos(1) comes
    back as 7.5e-475), so plain mpmath goes first.  Agreement at two
    precisions is not proof by itself (a term below both precisions is lost in
    both): a component is accepted once it agrees with the next level to
    digits + 2 digits *and* stands above the noise floor of the lower
    precision relative to the largest term of any sum.  A component that stays
    below the floor at every level is 0 only if sympy proves it; otherwise
    ``CannotDecide``.  None where mpmath cannot evaluate the tree.
    """
    flat = _flat(deriv)
    if any(e.has(sympy.Derivative) for e in flat):
        return None     # an unevaluated Derivative(..., z) cannot take z = 3/2: evalf decides
    # the exact substitution is made only where mpmath cannot certify a component:
    # x^y at the exact binary x = p/2^51 and a rational y makes sympy look for
    # perfect powers of 50-digit integers, which can take minutes
    done: dict[int, Any] = {k: mpmath.mpf(e.p) / e.q for k, e in enumerate(flat) if e.is_Rational}
    previous = None
    for level in _LEVELS:
        if len(done) == len(flat):
            break
        dps = level * (digits + 15)
        try:
            with mpmath.workdps(dps):
                vals, mag = _mp_tree(flat, subs)
        except (_Unsupported, ArithmeticError, ValueError, TypeError, RecursionError):
            return None
        if previous is not None:
            low_dps, low = previous
            with mpmath.workdps(dps):
                tol = mpmath.mpf(10) ** -(digits + 2)
                floor = mag * mpmath.mpf(10) ** -(low_dps - digits - 5)
                for k, (a, b) in enumerate(zip(low, vals)):
                    if k not in done and abs(a - b) <= tol * abs(b) and abs(b) > floor:
                        done[k] = +b
        previous = (dps, vals)
    for k, e in enumerate(flat):
        if k in done:
            continue
        try:
            e = e.xreplace(subs)
        except (ValueError, TypeError):
            return None
        if e.is_zero is True:
            done[k] = mpmath.mpf(0)
            continue
        # sympy's evalf has its own error analysis (it keeps a tiny product such
        # as z^5 at z = 1e-212 that the floor above refuses); its claim is taken
        # only where the most precise mpmath value does not contradict it.  It
        # goes before sympy's simplify, which can take minutes on a long
        # derivative (erfc((1 + x^2)^x) at 3: a product of about 1e-336000)
        top_dps, top = previous
        with mpmath.workdps(top_dps):
            claim = _evalf_strict(e, digits)
            if claim is not None and claim != 0 and \
                    abs(claim - top[k]) <= abs(claim) * mpmath.mpf(10) ** -(digits + 2):
                done[k] = claim
                continue
        if _simplifies_to_zero(e):
            done[k] = mpmath.mpf(0)
            continue
        raise CannotDecide(f"the derivative cancels below the noise floor of {top_dps} digits "
                           "(relative to its largest intermediate); its value cannot be certified")
    return _unflat(deriv, [done[k] for k in range(len(flat))])


def _simplifies_to_zero(e) -> bool:
    """Whether sympy's exact rewriting turns a constant expression into 0."""
    try:
        # sympy keeps hypot(0, 1) and friends unevaluated; their elementary forms evaluate
        plain = e.replace(_cf.hypot, lambda a, b: sympy.sqrt(a ** 2 + b ** 2)) \
            .replace(_cf.log1p, lambda a: sympy.log(1 + a)).replace(_cf.expm1, lambda a: sympy.exp(a) - 1)
        return plain == 0 or plain.is_zero is True or sympy.simplify(plain) == 0
    except (ValueError, TypeError, AttributeError, RecursionError, NotImplementedError):
        return False


def _evalf_strict(e, digits: int):
    try:
        v = e.evalf(digits + 5, maxn=digits * 80, strict=True)
    except (sympy.core.evalf.PrecisionExhausted, ValueError, TypeError):
        return None
    if not v.is_Float:
        return None
    return mpmath.mpf(v._mpf_)


class _Unsupported(Exception):
    pass


_MP_FUNCS = {
    sympy.exp: mpmath.exp, sympy.log: mpmath.log, sympy.sin: mpmath.sin, sympy.cos: mpmath.cos,
    sympy.tan: mpmath.tan, sympy.cot: mpmath.cot, sympy.sec: mpmath.sec, sympy.csc: mpmath.csc,
    sympy.asin: mpmath.asin, sympy.acos: mpmath.acos, sympy.atan: mpmath.atan,
    sympy.sinh: mpmath.sinh, sympy.cosh: mpmath.cosh, sympy.tanh: mpmath.tanh,
    sympy.sech: mpmath.sech, sympy.csch: mpmath.csch, sympy.coth: mpmath.coth,
    sympy.asinh: mpmath.asinh, sympy.acosh: mpmath.acosh, sympy.atanh: mpmath.atanh,
    sympy.erf: mpmath.erf, sympy.erfc: mpmath.erfc, sympy.Abs: abs, sympy.sign: mpmath.sign,
    sympy.atan2: mpmath.atan2, sympy.Max: max, sympy.Min: min,
    _cf.log1p: mpmath.log1p, _cf.expm1: mpmath.expm1, _cf.hypot: mpmath.hypot,
}


def _mp_tree(exprs, env):
    """Values of sympy expressions in mpmath, shared subtrees once, and the
    largest magnitude of any term of a sum."""
    memo: dict[Any, Any] = {}
    mag = mpmath.mpf(0)
    stack = list(exprs)
    while stack:
        node = stack[-1]
        if node in memo:
            stack.pop()
            continue
        pending = [a for a in node.args if a not in memo] if node.args and not node.is_Number else []
        if pending and not (node.is_Rational or node.is_Float):
            stack.extend(pending)
            continue
        stack.pop()
        memo[node] = v = _mp_node(node, memo, env)
        if isinstance(v, mpmath.mpc) or not mpmath.isfinite(v):
            raise _Unsupported
        if node.is_Add:
            # only a sum cancels (or absorbs a small term): products, powers and
            # functions keep their relative error, which the levels' agreement checks
            mag = max([mag] + [abs(memo[a]) for a in node.args])
    return [memo[e] for e in exprs], mag


def _mp_node(node, memo, env):
    if node.is_Symbol:
        r = env[node]
        return mpmath.mpf(r.p) / r.q
    if node.is_Rational:
        return mpmath.mpf(node.p) / node.q
    if node.is_Float:
        return mpmath.mpf(node._mpf_)
    if node is sympy.pi:
        return +mpmath.pi
    if node is sympy.E:
        return mpmath.e()
    args = [memo[a] for a in node.args]
    if node.is_Add:
        return mpmath.fsum(args)
    if node.is_Mul:
        return mpmath.fprod(args)
    if node.is_Pow:
        base, ex = args
        if base < 0 and not node.exp.is_Integer:
            raise _Unsupported
        if base == 0 and ex <= 0:
            raise _Unsupported
        return mpmath.power(base, ex)
    if node.func is sympy.Heaviside:    # sympy's Heaviside(0) is 1/2
        return mpmath.mpf(0) if args[0] < 0 else mpmath.mpf(1) if args[0] > 0 else mpmath.mpf(1) / 2
    fn = _MP_FUNCS.get(node.func)
    if fn is None:
        raise _Unsupported
    return fn(*args)


def _unflat(shape, flat):
    it = iter(flat)

    def build(s):
        return [build(x) for x in s] if isinstance(s, list) else next(it)
    return build(shape)


_CRITICAL = {"asin": (0, 1, -1), "acos": (0, 1, -1), "atanh": (0, 1, -1), "acosh": (0, 1),
             "log1p": (0, -1)}


class _Checked:
    """``MpOps`` with the real-domain and kink checks, for ``program.sweep``.

    ``sweep`` applies the primitive slots in order, so the n-th call is the
    n-th primitive slot: that is how a check knows the node it names.  An
    argument within the working precision's noise of a critical value (0,
    +-1, a tie) is decided exactly by sympy and replaced by the exact value
    for every later use.
    """

    def __init__(self, program: Program, wrt, exact: Mapping[str, Any]):
        self.program = program
        self.active = program.active(wrt)
        self.exact = exact
        self.order = [i for i, s in enumerate(program.slots) if s.kind == OP]
        self.calls = 0
        self.mag: dict[int, Any] = {}
        self.fixed: dict[int, Any] = {}
        self.kinks: list[str] = []

    value = staticmethod(MP_OPS.value)
    constant = staticmethod(MP_OPS.constant)

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._apply

    def _apply(self, *args):
        i = self.order[self.calls]
        self.calls += 1
        s = self.program.slots[i]
        args = [self.fixed.get(a, v) for a, v in zip(s.args, args)]
        mags = [max(abs(v), self.mag.get(a, 0)) for a, v in zip(s.args, args)]
        args = self._resolve(s, args, mags)
        if s.prim.domain is not None:
            reason = s.prim.domain(*args)
            if reason:
                raise _Stop(f"{reason}: {describe(s.node)}")
        if s.prim.name == "tan" and self._is_exactly(s.args[0], None, max(mags[0], 1), args[0], cos=True):
            raise _Stop(f"tan of an odd multiple of pi/2 (infinite): {describe(s.node)}")
        if self._kink_counts(i, s):
            reason = s.prim.kink(*args)
            if reason:
                self.kinks.append(f"{reason}: {describe(s.node)}")
        try:
            v = s.prim.mp(*args)
        except (ValueError, ZeroDivisionError) as err:
            raise _Stop(f"{err}: {describe(s.node)}") from None
        except (OverflowError, MemoryError):
            raise _Overflow(f"domain not checked beyond {describe(s.node)}: its value is too "
                            "large even for arbitrary-precision arithmetic") from None
        if isinstance(v, mpmath.mpc):
            raise _Stop(f"not a real number: {describe(s.node)}")
        self.mag[i] = max([abs(v)] + mags)
        return v

    def _kink_counts(self, i: int, s) -> bool:
        if not self.active[i] or s.prim.kink is None:
            return False
        if s.prim.name in ("max", "min") and s.args[0] == s.args[1]:
            return False        # max(u, u) is u: the same slot twice never ties into a kink
        # 0^y with the base fixed: 0^y is 0 for every y > 0, no edge along y
        return s.prim.name != "pow" or self.active[s.args[0]]

    def _resolve(self, s, args, mags):
        args = list(args)
        if s.prim.domain is None and s.prim.kink is None:
            return args     # nothing here depends on an argument being exactly 0 or 1
        for j, a in enumerate(s.args):
            if self.program.slots[a].kind != OP:
                continue        # inputs are exact binary values, literals never noise
            for c in _CRITICAL.get(s.prim.name, (0,)):
                if self._is_exactly(a, c, max(mags[j], abs(c)), args[j]):
                    self.fixed[a] = args[j] = mpmath.mpf(c)
                    break
        if s.prim.name in ("max", "min") and abs(args[0] - args[1]) <= _noise(max(mags)):
            # equal to the working precision is not a tie: acosh(2.25 + 1e-416) and
            # acosh(2.25 + 2e-90) are the same mpf at 65 digits; the exact difference decides
            sign = _exact_sign(self._sympy(s.args[0]) - self._sympy(s.args[1]), s.node)
            if sign == 0:
                args[1] = args[0]
            elif args[0] == args[1]:
                # no tie: keep the branch the exact values take, off by noise only
                args[1] = args[0] - sign * _noise(max(mags))
        return args

    def _is_exactly(self, slot: int, c, mag, v, cos: bool = False) -> bool:
        if cos:
            v = mpmath.cos(v)
        elif v == c:
            return self.program.slots[slot].kind != OP or \
                _exactly(self._sympy(slot), c, self.program.slots[slot].node) is True
        if abs(v - (c or 0)) > _noise(mag):
            return False
        e = self._sympy(slot)
        return _exactly(sympy.cos(e) if cos else e, 0 if cos else c, self.program.slots[slot].node) is True

    def _sympy(self, slot: int):
        node = self.program.slots[slot].node
        subs = {sympy_bridge.symbol(k): v for k, v in self.exact.items()}
        return sympy_bridge.to_sympy(node).xreplace(subs)


def _noise(mag):
    return mag * mpmath.mpf(2) ** -(mpmath.mp.prec - 24)


def _exactly(e, c, node) -> bool:
    """Whether the exact value ``e`` is ``c``; ``CannotDecide`` if sympy cannot tell."""
    return _exact_sign(e - c, node, c) == 0


def _exact_sign(d, node, c=0) -> int:
    """The sign (-1, 0, 1) of the exact value ``d`` (``e - c``); ``CannotDecide``
    if sympy cannot tell."""
    if d == 0:
        return 0
    if _infinite(d):
        return 1
    if d.is_zero is True:
        return 0
    if d.is_positive is True:
        return 1
    if d.is_negative is True:
        return -1
    try:
        v = d.evalf(15, maxn=4000, strict=True)
    except (sympy.core.evalf.PrecisionExhausted, ValueError, TypeError) as err:
        if d.has(sympy.Max, sympy.Min, sympy.Heaviside, sympy.sign):
            # an exact 0 behind a min/max sympy left unevaluated (min(expm1(z), z) - z
            # at z = -2.2e-308): each step decided by the exact sign of its argument(s)
            decided = _steps_decided(d, {})
            if decided != d:
                return _exact_sign(decided, node, c)
        what = describe(node) if node is not None else "a kink's argument"
        raise CannotDecide(f"{what} is {c} to every digit computed, and sympy cannot "
                           f"prove it is exactly {c} or not ({type(err).__name__})") from None
    return 0 if v == 0 else 1 if v > 0 else -1


def _domain_pass(program: Program, wrt, exact: Mapping[str, Any],
                 notes: list[str] | None = None) -> tuple[str | None, list[str]]:
    """Evaluate the expression in mpmath; the first domain violation, and kinks hit.

    ``exact`` maps each variable to its exact rational value.  A value too
    large even for mpmath (exp of exp of ... of x) stops the pass: the domain
    beyond it is left unchecked, said in ``notes``, and sympy's derivative
    still decides (log(exp(u)) is u to sympy).
    """
    ops = _Checked(program, wrt, exact)
    inputs = {k: mpmath.mpf(v.p) / v.q for k, v in exact.items()}
    try:
        sweep(program, ops, inputs)
    except _Stop as stop:
        return str(stop), ops.kinks
    except _Overflow as over:
        if notes is not None:
            notes.append(str(over))
    return None, ops.kinks


def _evaluate(deriv, subs, digits: int, strict: bool = False) -> tuple[list | Any, str | None]:
    """Evaluate a scalar / nested list of sympy derivatives to mpf values by evalf."""
    if isinstance(deriv, list):
        out = []
        for d in deriv:
            v, why = _evaluate(d, subs, digits, strict)
            if why:
                return None, why
            out.append(v)
        return out, None
    # Substitute the exact rationals first and only then evalf.  evalf(subs=...)
    # turns an exact cancellation such as (x - 1) at x = 1 into an error-bounded
    # "0.e-474", which a following power or sin makes into a bogus nonzero value
    # (5.8e-712 for d/dx (x-1)^2.5 at 1); exact substitution lets sympy see the 0.
    try:
        try:
            v = deriv.xreplace(subs).evalf(digits, maxn=digits * 80 if strict else digits * 8,
                                           strict=strict)
        except (ValueError, TypeError):
            # a Max/Min/sign whose exact argument sympy cannot compare with 0 at
            # construction (relu(u) with u ~ 1e-41 next to a kink): let evalf decide
            v = deriv.evalf(digits, subs=subs, maxn=digits * 8)
    except sympy.core.evalf.PrecisionExhausted:
        raise CannotDecide("the derivative cancels below every precision tried (up to "
                           f"{digits * 80} digits); its value cannot be certified") from None
    if v.has(sympy.zoo, sympy.oo, -sympy.oo) or v in (sympy.oo, -sympy.oo, sympy.zoo):
        return None, "the derivative is infinite here"
    if v.has(sympy.nan) or v is sympy.nan:
        return None, "the derivative is undefined here (nan)"
    if not v.is_number:
        # sympy left part of its derivative unevaluated (Derivative(sign(...))):
        # that says nothing about whether the derivative exists
        raise CannotDecide(f"sympy left part of the derivative unevaluated ({str(v)[:200]})")
    re, im = v.as_real_imag()
    if im != 0 and abs(im) > abs(re) * sympy.Float(10) ** (-digits + 5):
        return None, "the derivative is not real here"
    try:
        return mpmath.mpf(sympy.Float(re, digits)._mpf_), None
    except (TypeError, AttributeError):
        raise CannotDecide(f"the derivative could not be evaluated ({str(re)[:120]})")


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


# --- kinks: one-sided limits -------------------------------------------------

def _moved(subs, sym, sign: int, power: int):
    x = subs[sym]
    moved = dict(subs)
    moved[sym] = x + sign * sympy.Rational(1, 10 ** power) * (abs(x) if x != 0 else 1)
    return moved


def _side_defined(problem: Problem, names: Mapping[str, str], subs, sym, sign: int) -> str | None:
    """Why the expression is undefined just beside the point along ``sym``, or None.

    ``names`` maps the safe symbol names back to the AST's own."""
    moved = _moved(subs, sym, sign, _OFFSETS[-1])
    exact = {names[s.name]: v for s, v in moved.items() if s.name in names}
    with mpmath.workdps(_SIDE_DIGITS + _GUARD):
        why, _ = _domain_pass(compile_program(problem.expr), [names[w] for w in problem.wrt], exact)
    return why


def _limit(expr, subs, sym, sign: int):
    """One-sided limit of ``expr`` along ``sym``: (value, error) or (None, why).

    Values at offsets 10^-30 ... 10^-120, Aitken-extrapolated (exact for
    L + c delta^p); a sequence that grows (an infinite slope) has no limit.
    """
    vals = []
    with mpmath.workdps(_SIDE_DIGITS):
        for power in _OFFSETS:
            moved = _moved(subs, sym, sign, power)
            v, why = _evaluate(_steps_decided(expr, moved), moved, _SIDE_DIGITS)
            if why:
                return None, why
            vals.append(v)
        shape = vals[0]
        cols = list(zip(*[_flat(v) for v in vals]))
        limits, errs = [], []
        for seq in cols:
            d1, d2, d3 = (seq[k + 1] - seq[k] for k in range(3))
            if abs(d3) <= mpmath.mpf(10) ** -(DIGITS + 5) * abs(seq[-1]):
                limits.append(seq[-1])
                errs.append(abs(d3))
                continue
            if abs(d3) >= abs(d2) or abs(d2) >= abs(d1):
                return None, "grows without bound" if abs(seq[-1]) > abs(seq[0]) else "does not settle"
            a2 = _aitken(seq[1], seq[2], seq[3])
            a1 = _aitken(seq[0], seq[1], seq[2])
            err = max(abs(a2 - a1), mpmath.mpf(10) ** -(DIGITS + 5) * abs(a2))
            # a limit within its error of 0 is 0 (abs(x)^1.5 at 0: 1.5e-15, 1.5e-30, ...)
            limits.append(mpmath.mpf(0) if abs(a2) <= 2 * err else a2)
            errs.append(err)
        scale = max(abs(v) for seq in cols for v in seq)
        return (_unflat(shape, limits), max(errs), scale), None


def _steps_decided(expr, subs):
    """``expr`` with each Heaviside / sign / Max / Min whose argument(s) are off
    their kink at the exact point ``subs`` replaced by the branch taken there.

    sympy leaves Heaviside(acosh(a) - acosh(b)) unevaluated at exact rationals
    (it cannot see the sign), and builds Max/Min of long exact expressions by
    comparing them (seconds each); the sign of the exact difference, from
    ``_exact_sign``, decides both at once."""
    known: dict[Any, int] = {}

    def sign_at(u):
        # the same argument recurs throughout a derivative (once per term)
        if u not in known:
            exact = u.xreplace(subs)
            try:
                exact = _elementary(exact)
            except ValueError:
                # sympy factors the huge exact rationals of a tiny offset to simplify
                # a square root, and its factorint can fail there ("... is not a
                # prime factor of ..."): the codegen form evaluates as well
                pass
            known[u] = _exact_sign(exact, None)
        return known[u]

    def branch(e):
        if isinstance(e, sympy.Heaviside):
            k = sign_at(e.args[0])
            return sympy.S.One if k > 0 else sympy.S.Zero if k < 0 else e
        if isinstance(e, sympy.sign):
            return sympy.Integer(sign_at(e.args[0]))
        if isinstance(e, (sympy.Max, sympy.Min)) and len(e.args) == 2:
            a, b = e.args
            k = sign_at(a - b)
            if k == 0:
                return e
            return a if (k > 0) == isinstance(e, sympy.Max) else b
        return e

    if isinstance(expr, list):
        return [_steps_decided(e, subs) for e in expr]
    if not expr.has(sympy.Heaviside, sympy.sign, sympy.Max, sympy.Min):
        return expr
    try:
        return expr.replace(lambda e: isinstance(e, (sympy.Heaviside, sympy.sign, sympy.Max, sympy.Min)),
                            branch)
    except CannotDecide:
        return expr


def _aitken(a, b, c):
    den = (c - b) - (b - a)
    return c if den == 0 else c - (c - b) ** 2 / den


def _jump(problem: Problem, names: Mapping[str, str], sym, subs) -> str | None:
    """Whether the function, or a derivative below the requested order, jumps,
    or the function is undefined on one side (an edge of its domain).

    Matching one-sided derivatives prove nothing across a jump: sign(x) has
    slope 0 on both sides of 0, atan2(y, x) slope 1/x on both sides of the
    negative x axis, relu(x) second derivative 0 on both sides of 0.
    """
    for name in problem.wrt:
        s = sympy_bridge.symbol(name)
        for sign in (1, -1):
            why = _side_defined(problem, names, subs, s, sign)
            if why:
                side = "+" if sign > 0 else "-"
                other, _ = _limit(sympy_bridge.derivative(sym, (name,), 1), subs, s, -sign)
                shown = (f"; the one-sided derivative {name}{'-' if sign > 0 else '+'}: "
                         f"{_brief(other[0])}") if other else ""
                return (f"the function is only defined on one side: undefined just {side} of the "
                        f"point along {name} ({why}){shown}")
    lower = [sym] + [sympy_bridge.derivative(sym, problem.wrt, k) for k in range(1, problem.order)]
    for k, expr in enumerate(lower):
        what = "the function" if k == 0 else "the derivative" if k == 1 else f"derivative {k}"
        at, why = _evaluate(expr, subs, _SIDE_DIGITS)
        if why:
            return f"{what} cannot be evaluated at the point: {why}"
        for name in problem.wrt:
            s = sympy_bridge.symbol(name)
            for sign in (1, -1):
                side = "above" if sign > 0 else "below"
                got, why = _limit(expr, subs, s, sign)
                if why:
                    return f"{what} has no limit just {side} the point in {name} ({why})"
                limit, err, _ = got
                if _differ(limit, at, err):
                    return (f"{what} jumps: {_brief(at)} at the point, limit {_brief(limit)} "
                            f"just {side} it in {name}")
    return None


def _differ(a, b, err) -> bool:
    """Whether two limits differ beyond their error estimate (no absolute threshold)."""
    return any(abs(x - y) > 2 * err + mpmath.mpf(10) ** -(DIGITS - 5) * max(abs(x), abs(y))
               for x, y in zip(_flat(a), _flat(b)))


#: wall-clock budget for sympy's one-sided limits at a kink (all of them together)
LIMIT_SECONDS = 3.0
_NUMERIC_WAY = "one-sided limits taken numerically (offsets 1e-30 ... 1e-120, extrapolated)"
_SYMBOLIC_WAY = "one-sided limits taken symbolically (sympy.limit)"
_BY = {"symbolic limit": "by sympy's limit",
       "numeric limit": "by numeric limits at shrinking offsets"}


def _at_kink(problem: Problem, deriv, subs, kinks: list[str], digits: int) -> Reference:
    """The derivative at a kink: the common limit of the one-sided derivatives.

    sympy's ``limit`` goes first, under a deadline (``LIMIT_SECONDS``): where
    it answers every one-sided limit with a finite real number or an infinity,
    and can tell exactly whether they agree, its answer is exact and taken.
    Otherwise the numeric limits decide.  ``details["kink_method"]`` says
    which way was used (and why sympy's was not, in ``kink_fallback``).
    """
    symbolic, why_not = _symbolic_sides(problem.wrt, deriv, subs)

    def numeric():
        out = []
        for name in problem.wrt:
            sym = sympy_bridge.symbol(name)
            for sign in (1, -1):
                got, why = _limit(deriv, subs, sym, sign)
                out.append((name, "+" if sign > 0 else "-", got, why))
        return out

    if symbolic is not None:
        sides, agree = symbolic
        # sympy's limit can step over a step function of a composite argument as
        # if it were continuous (Heaviside(atanh(x))/(1 - x^2) at 0+ and 0-: 1/2
        # both), so its answer stands only where the numeric limits, when they
        # can be taken, do not contradict it
        try:
            checked = numeric()
        except CannotDecide:
            return _kink_verdict(sides, kinks, digits, "symbolic limit", _SYMBOLIC_WAY, {}, agree)
        conflict = next((f"{n}{s}" for (*_, g, _), (n, s, h, _w) in zip(sides, checked)
                         if (g is None) != (h is None) or (g is not None and _differ(g[0], h[0], h[1]))), None)
        if conflict is None:
            return _kink_verdict(sides, kinks, digits, "symbolic limit", _SYMBOLIC_WAY, {}, agree)
        return _kink_verdict(checked, kinks, digits, "numeric limit", _NUMERIC_WAY,
                             {"kink_fallback": f"sympy's limit disagreed with the numeric limits ({conflict})"})
    return _kink_verdict(numeric(), kinks, digits, "numeric limit", _NUMERIC_WAY, {"kink_fallback": why_not})


def _kink_verdict(sides, kinks, digits, method, how, extra, agree: bool | None = None) -> Reference:
    """``sides``: (name, "+"/"-", (limit, error, scale) or None, why not);
    ``agree``: whether the finite limits are equal, if known exactly (else
    they are compared within their error estimates)."""
    details = {"kinks": kinks, "kink_method": method, **extra}
    by = _BY[method]
    if any(why for *_, why in sides):
        detail = "; ".join(f"{n}{s}: {shown if g else why}"
                           for (n, s, g, why), shown in zip(sides, _shown(sides)))
        return Reference(NOT_DIFFERENTIABLE, message=f"{kinks[0]} (one-sided derivatives: {detail}), {by}",
                         digits=digits, details={**details, "note": how})
    first = sides[0][2][0]
    err = max(g[1] for *_, g, _ in sides)
    if agree is False or (agree is None and any(_differ(g[0], first, err) for *_, g, _ in sides)):
        detail = "; ".join(f"{n}{s}: {shown}" for (n, s, *_), shown in zip(sides, _shown(sides)))
        return Reference(NOT_DIFFERENTIABLE, message=f"{kinks[0]} (one-sided derivatives: {detail}), {by}",
                         digits=digits, details={**details, "note": how})
    # the common limit, to the digits its error estimate allows: relative to the
    # limit, or for a limit of 0 to the size of the one-sided values approaching it
    with mpmath.workdps(_SIDE_DIGITS):
        scale = max((abs(v) for v in _flat(first)), default=mpmath.mpf(0)) or \
            max(g[2] for *_, g, _ in sides)
        good = digits if scale == 0 or err == 0 else int(min(digits, -mpmath.log10(err / scale)))
    if good < 17:
        raise CannotDecide(f"{kinks[0]}: the one-sided derivatives agree, but their limit is "
                           f"known to only {max(good, 0)} digits")
    ref = _reference_ok(first, good)
    return Reference(ref.status, ref.value, ref.exact, ref.message, ref.digits,
                     details={**details, "note": f"derivative exists at a kink: {how}"})


class _OutOfTime(BaseException):
    """Raised by the alarm inside sympy; a BaseException, so that sympy's own
    ``except Exception`` cannot swallow it and return a half-computed answer."""


def _within(seconds: float, fn):
    """``fn()`` under a wall-clock alarm: (True, value), or (False, why not).

    The reference runs in the main thread of its own process (a deadline
    child of ``compare``), where SIGALRM can interrupt sympy's pure-Python
    loops.  Elsewhere (another thread, a timer already running) nothing is
    tried."""
    import signal
    import sys
    import threading

    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        return False, "sympy's limit needs a timer, available only in the main thread"
    if signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        return False, "sympy's limit needs a timer, and one is already running"
    fired = []

    def alarm(*_):
        fired.append(True)
        raise _OutOfTime

    # an alarm that lands in a gc callback or a __del__ is swallowed there and
    # printed as "Exception ignored"; ``fired`` already distrusts the answer
    unraisable = sys.unraisablehook

    def quiet(info):
        if not isinstance(info.exc_value, _OutOfTime):
            unraisable(info)

    old = signal.signal(signal.SIGALRM, alarm)
    sys.unraisablehook = quiet
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            value = fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:
        return False, f"sympy's limit did not finish within {seconds:g} s"
    finally:
        signal.signal(signal.SIGALRM, old)
        sys.unraisablehook = unraisable
    if fired:       # the alarm landed somewhere that ignored it: the answer is not trusted
        return False, f"sympy's limit did not finish within {seconds:g} s"
    return True, value


def _elementary(e):
    """sympy's limit cannot rewrite the codegen functions; their elementary forms it can."""
    return e.replace(_cf.hypot, lambda a, b: sympy.sqrt(a ** 2 + b ** 2)) \
        .replace(_cf.log1p, lambda a: sympy.log(1 + a)).replace(_cf.expm1, lambda a: sympy.exp(a) - 1)


def _symbolic_sides(wrt, deriv, subs):
    """The one-sided derivatives by ``sympy.limit``: (sides, None) in the form
    ``_kink_verdict`` takes, exact (error 0), or (None, why sympy's answer is
    not used).  Decisive means: every limit a finite real number or +-oo, and
    whether the finite ones agree proved exactly."""
    flat = _flat(deriv)

    def limits():
        out = []
        for name in wrt:
            sym = sympy_bridge.symbol(name)
            others = {k: v for k, v in subs.items() if k != sym}
            for side in "+-":
                out.append((name, side, [sympy.limit(_elementary(e.xreplace(others)), sym, subs[sym], side)
                                         for e in flat]))
        return out

    try:
        done, got = _within(LIMIT_SECONDS, limits)
    except RecursionError:
        return None, "sympy's limit recursed too deeply"
    except Exception as err:  # noqa: BLE001 - any failure of sympy.limit means: not decisive
        return None, f"sympy's limit failed ({type(err).__name__})"
    if not done:
        return None, got
    sides, exact = [], []
    for name, side, values in got:
        infinite = next((v for v in values if v in (sympy.oo, -sympy.oo)), None)
        if infinite is not None:
            sides.append((name, side, None, "grows without bound (" + ("+inf" if infinite is sympy.oo else "-inf") + ")"))
            continue
        if not all(v.is_number and v.is_extended_real and v.is_finite for v in values):
            bad = next(v for v in values if not (v.is_number and v.is_extended_real and v.is_finite))
            return None, f"sympy's limit is not a finite real number ({str(bad)[:80]})"
        exact.append(values)
        with mpmath.workdps(_SIDE_DIGITS):
            mp = []
            for v in values:
                try:
                    val, why = _evaluate(v, {}, _SIDE_DIGITS)
                except CannotDecide as err:     # e.g. a Heaviside of sympy's own log form of atan
                    val, why = None, str(err)
                if why:
                    return None, f"sympy's limit could not be evaluated ({why})"
                mp.append(val)
        sides.append((name, side, (_unflat(deriv, mp), mpmath.mpf(0), max(abs(m) for m in mp)), None))
    # agreement of the finite limits, exactly: no threshold (1 + 1e-50 is not 1)
    agree = True
    for values in exact[1:]:
        for a, b in zip(exact[0], values):
            d = a - b
            if d == 0 or d.is_zero is True:
                continue
            try:
                v = d if d.is_zero is False else d.evalf(15, maxn=4000, strict=True)
            except (sympy.core.evalf.PrecisionExhausted, ValueError, TypeError):
                return None, "sympy cannot tell whether its one-sided limits are equal"
            if v != 0:
                agree = False
    return (sides, agree), None


def _shown(sides) -> list[str]:
    """The one-sided limits, each to as many digits as it takes to tell the
    different ones apart (1 + 1e-50 and 1 - 1e-50 are not both "1.0")."""
    vals = [g[0] if g else None for _, _, g, _ in sides]
    for n in (6, 20, 60):
        shown = [_brief(v, n) if v is not None else "" for v in vals]
        distinct = {repr(_flat(v)) for v in vals if v is not None}
        if len({s for s in shown if s}) >= len(distinct):
            break
    return shown


def _flat(v):
    return [x for item in v for x in _flat(item)] if isinstance(v, list) else [v]


def _brief(v, n: int = 6) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_brief(x, n) for x in v) + "]"
    with mpmath.workdps(max(n + 5, mpmath.mp.dps)):
        return mpmath.nstr(v, n)

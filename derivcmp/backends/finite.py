"""Finite differences over the float64 program: four stencils and Richardson extrapolation.

``fd-forward``, ``fd-backward`` (first order), ``fd-central`` (second) and
``fd-central4`` (fourth order) share one step rule.  For the n-th derivative
with a scheme of order p the step balancing truncation O(h^p) against
rounding O(eps/h^n) is ``c = eps^(1/(p+n))`` times a scale, and two scales
are candidates: ``max(|x|, 1)`` (functions that vary on a scale of 1, like
exp near 0) and ``|x|`` itself when ``0 < |x| < 1`` (functions with a
singularity at 0, like log at 1e-3 or sqrt at 1e-10).  Each candidate is
also evaluated at h/2, which estimates its truncation error; the candidate
with the smaller estimated total error (truncation + rounding) is reported.
Every step is rounded so that ``x + h`` lies exactly ``h`` from ``x``.
When a stencil point leaves the domain at every candidate, a one-sided
stencil of the same order is used and ``details["fallback"]`` says so.
``--step H`` (``Problem.step``) replaces the rule by one fixed step.

``richardson`` evaluates central differences at up to 60 steps
``h0 * 2^-k`` from ``h0 = 2 * max(|x|, 1)`` (rounded to a power of 2) down to
about ``eps^(1/2)`` relative, in one vectorized call of the compiled f and
its rounding bound; extrapolates every run of 3 to 6 consecutive steps
(eliminating h^2 up to h^10; the runs are fixed matrices, so this is three
matrix products) and keeps the run whose estimated error -- the spread
against the run one level lower plus the amplified rounding bound of f at
its points -- is smallest.  Large first steps with high-order elimination
keep the rounding small where f is smooth on the scale of x; where f varies
faster, the spread of the large-step runs rules them out, and the chosen run
must be confirmed by the runs on smaller steps (``_confirmed``: dyadic steps
can alias an oscillation into a consistent wrong value).

A difference whose numerator is lost in rounding (``f(x+h) == f(x-h)`` to
the last bits) while larger steps show the function changing is
``unresolved``, never ``ok``.  Details: ``steps``, ``stencil``,
``function_evaluations``, ``error_estimate`` (absolute, max over entries)
with ``truncation_error`` and ``round_off_error``, ``digits_lost``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..problem import MAX_ORDER, UNRESOLVED, Problem
from ..program import compile_program, diagnose
from . import Prepared
from ._stencil import EPS, SCHEMES, Table, build, one_sided, representable, table, weights
from ._stencil_grid import grid_evaluator
from .base import Method


def _float_function(program, names):
    """The one place that obtains the float64 function ``f(*values)`` of a program.

    It must accept NumPy arrays (every stencil point in one call is what
    makes the methods cheap); a scalar-only function still works, point by point.
    """
    return program.function(names).fn


def step(x: float, order: int, accuracy: int = 2, relative: bool = False) -> float:
    """The rule's step for the ``order``-th derivative at ``x`` with a scheme of order ``accuracy``."""
    scale = abs(x) if relative else max(1.0, abs(x))
    return representable(x, EPS ** (1.0 / (accuracy + order)) * scale)


def central_weights(order: int) -> tuple[tuple[int, float], ...]:
    """(offset, weight) pairs of the narrowest central stencil for ``order``."""
    from ._stencil import weights
    return weights(SCHEMES["central"][1](order), order)


# --- what every stencil method shares ----------------------------------------------

class _Setup:
    """The compiled function and what each evaluation needs; fills ``details``."""

    def __init__(self, problem: Problem, scheme: str):
        self.program = compile_program(problem.expr)
        self.names = list(self.program.names)
        self.f = _float_function(self.program, self.names)
        #: f and its rounding bound in one compiled call (``emit.compile_bound``)
        self.fb = self.program.bounded_function(self.names).fn
        self.wrt = list(problem.wrt)
        self.order = problem.order
        self.fixed = problem.step
        self.scheme = scheme
        self.accuracy, pattern = SCHEMES[scheme]
        m = len(self.wrt)
        self.hessian = m > 1 and self.order == 2
        self.offsets = tuple(pattern(self.order) for _ in range(m))
        if self.hessian:
            self.offsets = (tuple(pattern(2) for _ in range(m))
                            + tuple(pattern(1) for _ in range(m)))
        self.stencil = build(m, self.order, self.offsets)
        #: outputs of the program: a vector program's table has ``outputs * entries`` columns
        self.outputs = len(self.program.outputs) if self.program.vector else 1
        #: a vector program's (output, variable) pairs, flat: does the output depend on
        #: the variable at all?  (An entry that does not is exactly 0: nothing to probe.)
        self.depends = None
        if self.program.vector:
            act = [self.program.active([w]) for w in self.wrt]
            self.depends = np.array([act[i][o] for o in self.program.outputs for i in range(len(self.wrt))])
        self.details: dict = {}
        self.last: tuple[str, str] | None = None

    def x(self, point) -> np.ndarray:
        return np.array([float(point[n]) for n in self.wrt])

    def run(self, point, stencil, rows) -> Table:
        # a vector f is evaluated once per distinct point (a candidate step equal to
        # another, the centre of every row): each evaluation gives every output
        return table(self.f, self.names, point, self.wrt, stencil, rows, fb=self.fb,
                     distinct=self.program.vector)

    def explain(self, point):
        values = self.program.evaluate_all(point)
        why = diagnose(self.program, values)
        if why:
            return f"the function itself: {why}"
        return "at a shifted point x ± h (outside the domain, or an overflow there)"

    def fallback(self, point, valid: np.ndarray) -> tuple | None:
        """One-sided stencils for variables whose central points all leave the domain."""
        if self.hessian or self.scheme in ("forward", "backward"):
            return None
        bad = [i for i in range(len(self.wrt)) if not valid[:, i].any()]
        if not bad:
            return None
        with np.errstate(all="ignore"):
            f0 = self.f(*[float(point[n]) for n in self.names])
        if not np.isfinite(f0):
            return None           # f itself is not finite: nothing one-sided can help
        return tuple(bad)

    def verdict(self, tab: Table, pick: np.ndarray, point, stencil, rows) -> tuple[str, str] | None:
        """``unresolved`` where a chosen numerator is lost in rounding though larger steps resolve f."""
        k = pick
        e = np.arange(tab.num.shape[1])
        num, mag = tab.num[k, e], tab.mag[k, e]
        if all(abs(n) > 2 * EPS * m for n, m in zip(num.tolist(), mag.tolist())):
            return None                 # (the common case, on Python floats)
        lost = np.abs(num) <= 2 * EPS * mag
        if self.depends is not None:
            lost &= self.depends
        if not lost.any():
            return None
        x = self.x(point)
        h = rows[k, self.stencil_var(stencil)]
        # larger steps, up to half the distance to 0 (a probe across 0 would see relu's kink
        # from -1): does f change there, by more than rounding?
        top = np.where(x != 0, np.abs(x) / 2, 1.0)
        start = rows[k.min()]
        reach = float(np.min(top / start))       # probes up to start * reach
        probes = [start * 8.0 ** j for j in range(1, 40) if 8.0 ** j <= reach]
        evals = 0
        resolved = np.zeros_like(lost)
        if probes:
            # probe on both sides (f may be flat to one side only, as tanh beyond 20)
            central = build(len(self.wrt), self.order, _central_offsets(self.hessian, len(self.wrt), self.order))
            ptab = self.run(point, central, np.array(probes))
            evals = ptab.evaluations
            ok = np.isfinite(ptab.num) & (np.abs(ptab.num) > 16 * EPS * ptab.mag)
            resolved = ok.any(axis=0)
        self.details["function_evaluations"] += evals
        hit = lost & resolved
        if not hit.any():
            return None
        i = int(np.argmax(hit))
        which = f"output {i // len(stencil.entry_var) + 1}: " if self.program.vector else ""
        return UNRESOLVED, which + lost_in_rounding(h[i], tab.round_off[k[i], i])

    def stencil_var(self, stencil) -> np.ndarray:
        """The variable of each column of a table (every output's entries, in turn)."""
        return np.tile(np.array(stencil.entry_var), self.outputs)

    def vector_fallback(self, point, stuck: np.ndarray, h_row, pattern):
        """A vector program's entries (flat, ``stuck``) with no estimate at any step:
        where the output is finite at x, the variable goes one-sided (``one_sided``).
        Returns (evaluations: f at x and the side probes, the stencil or None, the
        entries to take from it, the note)."""
        m, n = self.outputs, len(self.wrt)
        with np.errstate(all="ignore"):
            f0 = np.asarray(self.f(*[float(point[k]) for k in self.names]), dtype=float)
        need = np.repeat(np.isfinite(f0), n) & stuck      # a finite output with no entry
        bad = sorted({int(i) for i in self.stencil_var(self.stencil)[need]})
        if not bad:
            return 1, None, need, None
        outs = np.isfinite(f0) & need.reshape(m, n)[:, bad].any(axis=1)
        stencil, _, note, extra = self.one_sided(point, bad, h_row, pattern, need=outs)
        return 1 + extra, stencil, need, note.replace("one-sided (", "one-sided for some outputs (")

    def one_sided(self, point, bad, h_row, pattern, need=None):
        """A stencil whose variables in ``bad`` use ``pattern(side)`` offsets, each on the
        side where ``f(x - h)`` (forward) or ``f(x + h)`` (backward) stays finite
        (a vector f: the outputs ``need`` marks)."""
        offsets = list(self.offsets)
        sides = []
        x = self.x(point)
        for i in bad:
            args = [float(point[n]) for n in self.names]
            if self.wrt[i] in self.names:
                args[self.names.index(self.wrt[i])] = x[i] - h_row[i]
            with np.errstate(all="ignore"):
                there = np.isfinite(np.asarray(self.f(*args), dtype=float))
            side = -1 if bool(np.all(there if need is None else there[need])) else 1
            offsets[i] = pattern(side)
            sides.append(f"{self.wrt[i]}: {'forward' if side > 0 else 'backward'}")
        stencil = build(len(self.wrt), self.order, tuple(offsets))
        note = (f"one-sided ({', '.join(sides)}): a point of the central stencil is outside the "
                "domain at every step tried")
        return stencil, offsets[bad[0]], note, len(bad)

    def record(self, stencil, value, trunc, rnd, num, mag, hs, desc, fallback=None):
        """Fill ``details`` for the chosen entries; return the value in the derivative's shape."""
        # Python floats: a handful of entries, where NumPy reductions would cost more
        # than the arithmetic
        trunc, rnd, num, mag, hs = (a.tolist() for a in (trunc, rnd, num, mag, hs))
        lost = [math.nan if not (math.isfinite(n) and math.isfinite(m)) else
                16.0 if n == 0 else math.log10(max(m, 1e-300) / abs(n)) for n, m in zip(num, mag)]
        total = [t + r for t, r in zip(trunc, rnd)]
        steps = {}
        for ent, i in enumerate(stencil.entry_var):
            steps.setdefault(self.wrt[i], hs[ent])

        def top(xs):
            return max(xs) if all(math.isfinite(v) for v in xs) else None
        _fill(self.details, steps, desc, top(total), top(trunc), top(rnd), top(lost), fallback)
        return value.reshape(stencil.shape) if stencil.shape else value[0]


def lost_in_rounding(h: float, smallest: float) -> str:
    """Why a difference lost in rounding at step ``h`` is ``unresolved`` (``smallest``:
    the smallest derivative that step can see)."""
    return (f"the difference is lost in rounding: the stencil values at h = {h:.3g} agree to the last "
            f"bits (the smallest derivative this step can see is about {smallest:.1e}), yet "
            "at larger steps f changes; the value is not a derivative")


def _describe(scheme: str, offsets) -> str:
    pts = ", ".join(f"{k:+d}h" if k else "0" for k in offsets)
    return f"{scheme} (order {SCHEMES[scheme][0]}), points x{'' if not pts else ' ' + pts}"


# --- fd-forward, fd-backward, fd-central, fd-central4 ------------------------------

class _Stencil(Method):
    #: a Jacobian from the vector f: each stencil point evaluates every output (``_jacobian``)
    jacobian = "native"
    family = "finite-difference"
    scheme = "central"
    tolerances = {1: 1e-5, 0: 1e-3}
    max_order = MAX_ORDER

    def prepare(self, problem: Problem) -> Prepared:
        s = _Setup(problem, self.scheme)

        def candidates(point) -> np.ndarray:
            x = s.x(point)
            if s.fixed is not None:
                return np.array([[representable(xi, s.fixed) for xi in x]])
            classic = [step(xi, s.order, s.accuracy) for xi in x]
            rows = [classic]
            if any(0 < abs(xi) < 1 for xi in x):
                rows.append([step(xi, s.order, s.accuracy, relative=True) if 0 < abs(xi) < 1 else c
                             for xi, c in zip(x, classic)])
            return np.array(rows)

        def estimate(point, stencil, cand):
            # each candidate h and h/2: the pair estimates the truncation error at h
            n = len(cand)
            rows = np.vstack([cand, cand / 2.0])
            tab = s.run(point, stencil, rows)
            v = tab.value
            p = s.accuracy
            with np.errstate(all="ignore"):
                trunc = np.abs(v[:n] - v[n:]) / (1.0 - 2.0 ** -p)
                total = trunc + tab.round_off[:n]
            total = np.where(np.isfinite(total) & np.isfinite(v[:n]) & np.isfinite(v[n:]), total, np.inf)
            return tab, rows, trunc, total

        if problem.vector:
            return _jacobian(s, candidates, estimate, self.scheme)

        # what the scalar path needs, once per problem: each variable's argument
        # position, its non-centre (offset, weight) terms, sum |w| and 1 - 2^-p
        plan = []
        for i, name in enumerate(s.wrt):
            pos = s.names.index(name) if name in s.names else None
            terms = _weights_cached(s.offsets[i], s.order)
            plan.append((name, pos, [(k, w) for k, w in terms if k != 0 and pos is not None],
                         sum(w for k, w in terms if k == 0 or pos is None),
                         sum(abs(w) for _, w in terms)))
        shrink = 1.0 - 2.0 ** -s.accuracy
        desc0 = _describe(self.scheme, s.offsets[0])
        n_ord, fixed, fb, f = s.order, s.fixed, s.fb, s.f
        c_step = EPS ** (1.0 / (s.accuracy + n_ord))     # ``step``'s factor
        n_points = s.stencil.points
        names = s.names

        def fast(point):
            """Scalar path for derivatives and gradients (Python floats, no NumPy: the
            same points and estimates at a fraction of the cost).  None where it cannot
            decide alone (a non-finite point, a difference lost in rounding, a Hessian):
            the array path then does everything."""
            if s.hessian:
                return None
            args = [float(point[n]) for n in names]
            f0, noise0 = fb(*args) if args else (f(), 0.0)
            f0, noise0 = float(f0), float(noise0)
            if not (math.isfinite(f0) and math.isfinite(noise0)):
                return None
            out, steps = [], {}
            worst_t = worst_r = worst_total = worst_lost = 0.0
            evals, n_cand = 1, 1
            for name, pos, terms, w0, wsum in plan:
                x = float(point[name])
                # the candidates of ``candidates`` for this variable (``step``, inlined)
                if fixed is not None:
                    hs = ((x + fixed) - x,)
                else:
                    hs = ((x + c_step * max(1.0, abs(x))) - x,)
                    if 0 < abs(x) < 1:
                        hs += ((x + c_step * abs(x)) - x,)
                        n_cand = 2
                best = None
                for h in hs:
                    # the stencil at h and at h/2: their difference estimates the truncation
                    num1 = num2 = w0 * f0
                    mag1 = abs(num1)
                    h2 = h / 2.0
                    for k, w in terms:
                        args[pos] = x + k * h
                        fv = w * float(f(*args))     # Python floats: silent inf, as in the harness
                        num1 += fv
                        mag1 += abs(fv)
                        args[pos] = x + k * h2
                        num2 += w * float(f(*args))
                    if terms:
                        args[pos] = x
                    evals += 2 * len(terms)
                    try:
                        div1, div2 = h ** n_ord, h2 ** n_ord
                    except OverflowError:    # h^n overflows (|x| ~ 1e300, n >= 2): the array path
                        return None
                    if div2 == 0.0:          # h^n underflows (x ~ 1e-305): the array path says so
                        return None
                    d1, d2 = num1 / div1, num2 / div2
                    if not (math.isfinite(d1) and math.isfinite(d2)):
                        return None
                    t = abs(d1 - d2) / shrink
                    r = max(EPS * mag1, noise0 * wsum) / div1
                    if best is None or t + r < best[0]:
                        best = (t + r, d1, t, r, num1, mag1, h)
                total, d, t, r, num, mag, h = best
                if abs(num) <= 2 * EPS * mag:
                    return None
                out.append(d)
                steps.setdefault(name, h)
                worst_t, worst_r, worst_total = max(worst_t, t), max(worst_r, r), max(worst_total, total)
                worst_lost = max(worst_lost, math.log10(max(mag, 1e-300) / abs(num)))
            d = s.details
            d.update(steps=steps, stencil=desc0, error_estimate=worst_total, truncation_error=worst_t,
                     round_off_error=worst_r, digits_lost=round(min(16.0, worst_lost), 1),
                     function_evaluations=evals, stencil_evaluations=n_points, candidates=n_cand)
            d.pop("fallback", None)
            return out[0] if len(out) == 1 else np.array(out)

        def evaluate(point):
            s.last = None
            value = fast(point)
            if value is not None:
                return value
            cand = candidates(point)
            stencil = s.stencil
            tab, rows, trunc, total = estimate(point, stencil, cand)
            evals = tab.evaluations
            desc = _describe(self.scheme, s.offsets[0])
            fallback = None
            bad = s.fallback(point, _valid(stencil, total, len(s.wrt)))
            if bad:
                stencil, offs, fallback, extra = s.one_sided(
                    point, bad, cand[-1], lambda side: one_sided(self.scheme, s.order, side))
                tab, rows, trunc, total = estimate(point, stencil, cand)
                evals += tab.evaluations + extra
                desc = _describe(self.scheme, offs) + " (one-sided)"
            pick = _pick(total, s.hessian)
            e = np.arange(total.shape[1])
            s.details["function_evaluations"] = evals
            s.details["stencil_evaluations"] = stencil.points   # what one step costs: n+1, 2n, ...
            s.details["candidates"] = len(cand)
            value = s.record(stencil, tab.value[pick, e], trunc[pick, e], tab.round_off[pick, e],
                             tab.num[pick, e], tab.mag[pick, e],
                             rows[pick, np.array(stencil.entry_var)], desc, fallback)
            if np.all(np.isfinite(value)):
                s.last = s.verdict(tab, pick, point, stencil, rows)
            return value

        def verdict():
            return s.last

        return Prepared(evaluate, s.details, s.explain, verdict=verdict,
                        evaluate_grid=grid_evaluator(s, evaluate, verdict, desc0))


def _jacobian(s: _Setup, candidates, estimate, scheme: str) -> Prepared:
    """The (m, n) Jacobian of a vector program: the compiled vector f at every
    stencil point gives every output there, so each step costs ``n + 1``
    (forward, backward) or ``2n`` (central) evaluations of the whole f, not m
    times that.  Each variable's candidate steps (the step rule, which depends
    on x only) and their halves are evaluated once; each entry (output,
    variable) then picks the candidate with its smallest estimated error, as
    the scalar method would for that output, and keeps its own truncation and
    rounding estimates.  An entry whose central points leave the domain at
    every candidate while its output is finite at x gets the one-sided
    stencil (one more evaluation of f at x and one side probe per such
    variable, counted).  An output undefined at x has non-finite entries: its
    row is nan and the harness leaves it out."""
    m, n = s.outputs, len(s.wrt)
    var = s.stencil_var(s.stencil)               # (m*n,) the variable of each column

    def evaluate(point):
        with np.errstate(all="ignore"):
            return _evaluate(point)

    def _evaluate(point):
        s.last = None
        cand = candidates(point)
        tab, rows, trunc, total = estimate(point, s.stencil, cand)
        evals = tab.evaluations
        pick = np.argmin(total, axis=0)
        e = np.arange(total.shape[1])
        value, t, r = tab.value[pick, e], trunc[pick, e], tab.round_off[pick, e]
        num, mag, hs = tab.num[pick, e], tab.mag[pick, e], rows[pick, var]
        fallback = None
        stuck = ~np.isfinite(total).any(axis=0)        # (m*n,) no candidate gave an estimate
        if stuck.any() and scheme not in ("forward", "backward"):
            extra, stencil, need, fallback = s.vector_fallback(
                point, stuck, cand[-1], lambda side: one_sided(scheme, s.order, side))
            evals += extra
            if stencil is not None:
                tab1, rows1, trunc1, total1 = estimate(point, stencil, cand)
                evals += tab1.evaluations
                p1 = np.argmin(total1, axis=0)
                take = need & np.isfinite(total1[p1, e])
                value, t, r, num, mag, hs = (np.where(take, new, old) for new, old in zip(
                    (tab1.value[p1, e], trunc1[p1, e], tab1.round_off[p1, e], tab1.num[p1, e], tab1.mag[p1, e],
                     rows1[p1, var]), (value, t, r, num, mag, hs)))
        d = s.details
        d["jacobian"] = (f"native: the vector f ({m} outputs) at each stencil point, "
                         f"{s.stencil.points} points a step")
        d["function_evaluations"] = evals
        d["stencil_evaluations"] = s.stencil.points
        d["candidates"] = len(cand)
        jac = _record_jacobian(s, m, n, value, t, r, num, mag, hs, _describe(scheme, s.offsets[0]), fallback)
        if np.any(np.isfinite(jac).all(axis=1)):
            s.last = s.verdict(tab, pick, point, s.stencil, rows)
        return jac

    return Prepared(evaluate, s.details, s.explain, verdict=lambda: s.last)


def _record_jacobian(s: _Setup, m: int, n: int, value, trunc, rnd, num, mag, hs, desc, fallback):
    """``details`` of a native Jacobian: the worst finite entry's estimates (as the
    scalar method's), every entry's own (``error_estimates``, m lists of n; None
    where the entry is not finite), and the steps: one per variable where every
    output's entry chose the same candidate, else the list by output.  Returns
    the (m, n) Jacobian: an entry whose output does not depend on its variable
    is exactly 0 (a stencil's weights on equal values need not sum to 0 in
    float64: 1/12 - 2/3 + 2/3 - 1/12); an output with no value keeps its nan."""
    zero = ~s.depends & np.isfinite(value)
    value, trunc, rnd = (np.where(zero, 0.0, a) for a in (value, trunc, rnd))
    with np.errstate(all="ignore"):
        total = trunc + rnd
        lost = np.where(num == 0, 16.0, np.log10(np.maximum(mag, 1e-300) / np.abs(num)))
        lost = np.where(s.depends, lost, 0.0)     # an output that ignores the variable loses nothing
    ok = np.isfinite(value) & np.isfinite(total)

    def top(a):
        return float(np.max(a[ok])) if ok.any() else None
    hs2 = hs.reshape(m, n)
    steps = {}
    for i, name in enumerate(s.wrt):
        col = [float(h) for h, good in zip(hs2[:, i], ok.reshape(m, n)[:, i]) if good]
        steps[name] = (col[0] if col and all(h == col[0] for h in col) else
                       [float(h) for h in hs2[:, i]] if col else None)
    _fill(s.details, steps, desc, top(total), top(trunc), top(rnd), top(lost), fallback)
    s.details["error_estimates"] = [[float(v) if good else None for v, good in zip(row, oks)]
                                    for row, oks in zip(total.reshape(m, n), ok.reshape(m, n))]
    return value.reshape(m, n)


def _fill(d: dict, steps, desc, total, trunc, rnd, lost, fallback) -> None:
    """The details every stencil method reports: steps, stencil, the error estimate
    and its parts (worst entry), digits lost, and the one-sided fallback if any."""
    d.update(steps=steps, stencil=desc, error_estimate=total, truncation_error=trunc, round_off_error=rnd,
             digits_lost=None if lost is None else round(min(16.0, max(0.0, lost)), 1))
    if fallback:
        d["fallback"] = fallback
    else:
        d.pop("fallback", None)


def _central_offsets(hessian: bool, m: int, order: int):
    pattern = SCHEMES["central"][1]
    if hessian:
        return tuple(pattern(2) for _ in range(m)) + tuple(pattern(1) for _ in range(m))
    return tuple(pattern(order) for _ in range(m))


_weights_cached = weights


def _pick(total: np.ndarray, together: bool) -> np.ndarray:
    """The row with the smallest estimate per entry -- or one row for every entry of
    a Hessian, so that each variable has one step."""
    if together:
        return np.full(total.shape[1], int(np.argmin(np.max(total, axis=1))))
    return np.argmin(total, axis=0)


def _valid(stencil, total: np.ndarray, m: int) -> np.ndarray:
    """(rows, variables): which rows give a finite estimate for each variable's entries."""
    valid = np.zeros((total.shape[0], m), dtype=bool)
    for ent, i in enumerate(stencil.entry_var):
        valid[:, i] |= np.isfinite(total[:, ent])
    return valid


class ForwardDifference(_Stencil):
    name = "fd-forward"
    scheme = "forward"
    tolerances = {1: 1e-5, 0: 1e-2}
    description = "forward differences (order 1), h = eps^(1/2)*scale, scale max(|x|,1) or |x|"
    convention = "(f(x+h) - f(x))/h: the right-hand slope at a kink"


class BackwardDifference(_Stencil):
    name = "fd-backward"
    scheme = "backward"
    tolerances = {1: 1e-5, 0: 1e-2}
    description = "backward differences (order 1), h = eps^(1/2)*scale, scale max(|x|,1) or |x|"
    convention = "(f(x) - f(x-h))/h: the left-hand slope at a kink"


class CentralDifference(_Stencil):
    name = "fd-central"
    scheme = "central"
    default = True
    description = "central differences (order 2), h = eps^(1/3)*scale (eps^(1/4) for 2nd order)"
    convention = ("(f(x+h) - f(x-h))/2h straddles the point: the mean of the one-sided slopes at a "
                  "kink, about jump/2h across a jump")


class Central4Difference(_Stencil):
    name = "fd-central4"
    scheme = "central4"
    tolerances = {1: 1e-8, 0: 1e-5}
    description = "five-point central differences (order 4), h = eps^(1/5)*scale"
    convention = CentralDifference.convention


# --- richardson --------------------------------------------------------------------

ROWS = 60
_HALVINGS = 2.0 ** -np.arange(ROWS)
#: runs of 3 to 6 steps: h^2 .. h^10 eliminated; the estimate picks the run
LEVELS = (3, 4, 5, 6)


@cache
def _extrapolation(exponents: tuple[int, ...]) -> np.ndarray:
    """Weights c with sum c = 1 eliminating h^e for each exponent, steps h, h/2, h/4, ..."""
    n = len(exponents) + 1
    a = np.ones((n, n))
    for r, ex in enumerate(exponents, start=1):
        a[r] = [2.0 ** (-i * ex) for i in range(n)]
    b = np.zeros(n)
    b[0] = 1.0
    return np.linalg.solve(a, b)


@dataclass(frozen=True)
class _Runs:
    """Every run of ``L`` consecutive rows (for each ``L`` in ``LEVELS``) of a table of
    ``n`` rows as matrices over the rows, so that extrapolating is three products:
    value ``full @ v``, spread ``|spread @ v|`` (the run against the run one level
    lower on its smaller steps), rounding ``amplify @ r`` (``full`` and ``spread``
    stacked in ``full_spread``); ``band`` marks the rows a run reads, ``first``
    and ``last`` its largest and smallest step's rows."""
    full_spread: np.ndarray     # the two stacked: one product gives both
    amplify: np.ndarray
    band: np.ndarray
    first: np.ndarray
    last: np.ndarray
    by_first: np.ndarray   # (rows, levels): the runs whose largest step is row j (padded
                           # with the index one past the last run)


@cache
def _runs(n: int, p: int, step_exp: int) -> _Runs:
    full, spread, first, last = [], [], [], []
    for levels in LEVELS:
        exps = tuple(p + step_exp * i for i in range(levels - 1))
        c_full, c_less = _extrapolation(exps), _extrapolation(exps[:-1])
        for k in range(n - levels + 1):
            a = np.zeros(n)
            a[k:k + levels] = c_full
            b = a.copy()
            b[k + 1:k + levels] -= c_less
            full.append(a)
            spread.append(b)
            first.append(k)
            last.append(k + levels - 1)
    full_m = np.array(full).reshape(len(full), n)
    spread_m = np.array(spread).reshape(len(spread), n)
    band = ((full_m != 0) | (spread_m != 0)).astype(float)
    by_first = np.full((n, len(LEVELS)), len(first), dtype=int)
    for r, k in enumerate(first):
        by_first[k, int(np.argmax(by_first[k] == len(first)))] = r
    return _Runs(np.vstack([full_m, spread_m]), np.abs(full_m), band, np.array(first, dtype=int),
                 np.array(last, dtype=int), by_first)


#: how far two runs' values may differ, in units of the sum of their estimates
AGREE = 3.0


def _confirmed(full: np.ndarray, total: np.ndarray, runs: _Runs, together: bool) -> np.ndarray:
    """The run with the smallest estimate whose value the runs on smaller steps confirm.

    Two honest estimates of one derivative agree within their sum.  From the
    chosen run, the best run on strictly smaller steps must agree with it within
    ``AGREE`` times the two estimates, and that one with the best run below it,
    and so on down the steps.  Where a link fails, the runs on the larger steps
    are not in the asymptotic range -- a function varying faster than its
    steps, or aliasing: sin(100 x) at steps 2^-k <= 1/16 is the smooth
    sin(-0.53 h) (100 is nearly 16 * 2 pi), so six such steps extrapolate to a
    spuriously consistent wrong value -- and the choice is made again below
    them."""
    if together:      # one run for every entry of a Hessian: ranked by the worst, all must agree
        def agree(a, b):
            return bool(np.all(np.abs(full[a] - full[b]) <= AGREE * (total[a] + total[b])))
        pick = _confirmed_one(np.max(total, axis=1).tolist(), agree, runs)
        return np.full(total.shape[1], pick)
    picks = []
    for e in range(total.shape[1]):
        t, f = total[:, e].tolist(), full[:, e].tolist()
        picks.append(_confirmed_one(t, lambda a, b, t=t, f=f: abs(f[a] - f[b]) <= AGREE * (t[a] + t[b]), runs))
    return np.array(picks)


def _confirmed_one(t: list, agree, runs: _Runs) -> int:
    """``_confirmed`` for one ranking ``t`` of the runs; ``agree(a, b)`` judges a link."""
    # the best run whose first row is >= j, for every j: each row's best run (at most
    # one per level starts there), then a running minimum from the smallest steps up
    seg = runs.by_first
    tt = np.append(t, math.inf)[seg]
    k = tt.argmin(axis=1)
    row_best = seg[np.arange(len(seg)), k].tolist()
    row_t = tt[np.arange(len(seg)), k].tolist()
    best_from: list = [None] * (len(seg) + 1)
    cur, cur_t = None, math.inf
    for j in range(len(seg) - 1, -1, -1):
        if row_t[j] < cur_t:
            cur, cur_t = row_best[j], row_t[j]
        best_from[j] = cur
    last = runs.last
    start = 0
    while True:
        pick = best_from[start]
        if pick is None or not math.isfinite(t[pick]):
            return best_from[0] if best_from[0] is not None else 0
        a, failed = pick, None
        while (b := best_from[last[a] + 1]) is not None and math.isfinite(t[b]):
            if not agree(a, b):
                failed = a
                break
            a = b
        if failed is None:
            return pick
        start = int(last[failed]) + 1


class Richardson(Method):
    name = "richardson"
    #: a Jacobian from the vector f: each step row evaluates every output
    jacobian = "native"
    family = "finite-difference"
    tolerances = {1: 1e-10, 0: 1e-7}
    description = ("central differences at steps h0*2^-k extrapolated (h^2 .. h^10 eliminated); the "
                   "run with the smallest estimated error wins")
    convention = CentralDifference.convention

    def prepare(self, problem: Problem) -> Prepared:
        s = _Setup(problem, "central")

        least = max(LEVELS) + 2
        desc0 = _describe("central", s.offsets[0])

        def rows_for(point) -> np.ndarray:
            """(rows, variables): h0 * 2^-k per variable, each exactly representable."""
            xs = [float(point[n]) for n in s.wrt]
            if s.fixed is not None:
                h0s, count = [s.fixed] * len(xs), least
            else:
                h0s, count = [], least
                for x in xs:
                    # from twice the scale max(|x|, 1) (a power of 2): large steps are what
                    # high-order extrapolation needs to keep rounding small; a function
                    # that varies faster is caught by the spread of the runs
                    top = max(abs(x), 1.0)
                    # (at most 2^1023: beyond, x +- h0 overflows anyway and the spread says so)
                    h0 = 2.0 ** min(math.floor(math.log2(top)) + 1, 1023) if math.isfinite(top) else 1.0
                    # down to eps^(1/2) relative to |x| (or 1), at most ROWS halvings
                    floor = (min(abs(x), 1.0) if x != 0 else 1.0) * 2.0 ** -26
                    span = h0 / floor if floor > 0 else math.inf
                    count = max(count, math.ceil(math.log2(span)) + 1 if math.isfinite(span) else ROWS)
                    h0s.append(h0)
                count = min(ROWS, count)
            x = np.array(xs)
            rows = np.array(h0s)[None, :] * _HALVINGS[:count, None]
            return (x[None, :] + rows) - x[None, :]       # exactly representable steps

        def extrapolate(tab: Table, p: int, step_exp: int):
            """Every run of ``L`` consecutive steps, for each ``L`` in ``LEVELS``:
            (value, spread, rounding, total), each (runs, entries), each run's last row,
            and which rows are finite (None: all)."""
            v, r = tab.value, tab.round_off
            runs = _runs(len(v), p, step_exp)
            good = np.isfinite(v) & np.isfinite(r)
            clean = good.all()
            if not clean:
                v, r = np.where(good, v, 0.0), np.where(good, r, 0.0)
            both = runs.full_spread @ v
            n_runs = len(runs.last)
            full, spread = both[:n_runs], np.abs(both[n_runs:])
            rnd = runs.amplify @ r
            total = spread + rnd
            if not clean or not np.isfinite(total).all():
                total[(runs.band @ (~good)) > 0] = np.inf      # a run that reads a non-finite row
                total[~np.isfinite(total)] = np.inf
                none = ~np.isfinite(total)          # never a number, nor an estimate, from no data
                full, spread, rnd = (np.where(none, np.nan, a) for a in (full, spread, rnd))
            return full, spread, rnd, total, runs, (None if clean else good)

        def evaluate(point):
            with np.errstate(all="ignore"):
                return _jacobian_at(point) if s.program.vector else _evaluate(point)

        def _jacobian_at(point):
            """The (m, n) Jacobian: the central stencil of the vector f at every step row
            (each distinct point once), every (output, variable) entry extrapolated and
            its run confirmed on its own, as the scalar method does for one output."""
            s.last = None
            m, n = s.outputs, len(s.wrt)
            var = s.stencil_var(s.stencil)
            rows = rows_for(point)
            tab = s.run(point, s.stencil, rows)
            evals = tab.evaluations
            full, spread, rnd, total, runs, _ = extrapolate(tab, 2, 2)
            pick = _confirmed(full, total, runs, False)
            e = np.arange(total.shape[1])
            last = runs.last[pick]
            got = [full[pick, e], spread[pick, e], rnd[pick, e], tab.num[last, e], tab.mag[last, e],
                   rows[last, var]]
            fallback = None
            stuck = ~np.isfinite(total).any(axis=0)
            if stuck.any():
                extra, stencil, need, fallback = s.vector_fallback(
                    point, stuck, rows[-1], lambda side: tuple(side * k for k in range(s.order + 2)))
                evals += extra
                if stencil is not None:
                    tab1 = s.run(point, stencil, rows)
                    evals += tab1.evaluations
                    f1, sp1, r1, t1, runs1, _ = extrapolate(tab1, 2, 1)
                    p1 = _confirmed(f1, t1, runs1, False)
                    l1 = runs1.last[p1]
                    take = need & np.isfinite(t1[p1, e])
                    got = [np.where(take, new, old) for new, old in zip(
                        (f1[p1, e], sp1[p1, e], r1[p1, e], tab1.num[l1, e], tab1.mag[l1, e], rows[l1, var]), got)]
            s.details["jacobian"] = f"native: the vector f ({m} outputs) at each step's stencil points"
            s.details["function_evaluations"] = evals
            s.details["steps_tried"] = len(rows)
            jac = _record_jacobian(s, m, n, *got, desc0, fallback)
            if np.any(np.isfinite(jac).all(axis=1)):
                s.last = s.verdict(tab, last, point, s.stencil, rows)
            return jac

        def _evaluate(point):
            s.last = None
            rows = rows_for(point)
            stencil = s.stencil
            tab = s.run(point, stencil, rows)
            evals = tab.evaluations
            full, spread, rnd, total, runs, finite = extrapolate(tab, 2, 2)
            desc = desc0
            fallback = None
            bad = None if finite is None or finite.any(axis=0).all() else s.fallback(
                point, _valid(stencil, np.where(finite, 0.0, np.inf), len(s.wrt)))
            if bad:
                stencil, offs, fallback, extra = s.one_sided(
                    point, bad, rows[-1], lambda side: tuple(side * k for k in range(s.order + 2)))
                tab = s.run(point, stencil, rows)
                evals += tab.evaluations + extra
                full, spread, rnd, total, runs, _ = extrapolate(tab, 2, 1)
                desc = _describe("central", offs) + " (one-sided)"
            pick = _confirmed(full, total, runs, s.hessian)
            e = np.arange(total.shape[1])
            last = runs.last[pick]              # the run's smallest step
            s.details["function_evaluations"] = evals
            s.details["steps_tried"] = len(rows)
            value = s.record(stencil, full[pick, e], spread[pick, e], rnd[pick, e], tab.num[last, e],
                             tab.mag[last, e], rows[last, stencil.entry_index], desc, fallback)
            if np.all(np.isfinite(value)):
                s.last = s.verdict(tab, last, point, stencil, rows)
            return value

        return Prepared(evaluate, s.details, s.explain, verdict=lambda: s.last)


METHODS = (ForwardDifference, BackwardDifference, CentralDifference, Central4Difference, Richardson)

"""The stencil methods over a whole grid at once (issue 13: "stencils over arrays").

``grid_evaluator`` gives ``fd-forward``, ``fd-backward``, ``fd-central`` and
``fd-central4`` (``finite._Stencil``) an ``evaluate_grid`` for a scalar
derivative in one variable.  It is the method's scalar path (``fast`` in
``finite._Stencil.prepare``) with every Python float replaced by a NumPy
array over the points, operation for operation in the same order:

* f and its rounding bound at every point (``Program.bounded_function``), in
  one call;
* the step rule per point: ``h = (x + c*max(|x|, 1)) - x`` and, where
  ``0 < |x| < 1``, the relative candidate ``(x + c*|x|) - x`` (or the fixed
  ``--step``), each at ``h`` and ``h/2`` -- every stencil point of every
  candidate is one more call of the compiled f over arrays;
* per point the numerator ``sum w*f`` in the scalar path's order, its
  magnitude, the truncation estimate ``|D(h) - D(h/2)| / (1 - 2^-p)``, the
  rounding estimate ``max(eps*sum|w f|, bound(x)*sum|w|) / h^n``, and the
  candidate with the smaller total (the first on a tie).

Where the scalar path hands a point to the array path -- f or its bound not
finite at x, ``h^n`` underflowing, a stencil value not finite (a domain edge,
a pole: the one-sided fallback), or a chosen numerator lost in rounding (the
``unresolved`` verdict with its probes at larger steps) -- the grid does the
same: those points alone are evaluated by the method's own ``evaluate`` and
``verdict`` (``backends.loop_points``), so their values, statuses and
messages are the point-by-point ones; ``details["grid_scalar_points"]``
counts them.  The arithmetic of the vectorised points is the scalar path's
except for f itself: on arrays the compiled f runs NumPy's functions, on
Python floats ``math``'s (``scalar``), which may round an ulp apart; with the
fast path switched off (``scalar.ieee_only``) the values are identical bit
for bit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..problem import OK, UNRESOLVED
from . import GRID_MESSAGES, GridValues, loop_points
from ._stencil import EPS, SCHEMES, build, weights


def _full(v, size: int) -> np.ndarray:
    """``v`` as a float array of ``size`` (a constant part of f gives one number)."""
    v = np.asarray(v, dtype=float)
    return v if v.shape == (size,) else np.broadcast_to(v, (size,))


def grid_evaluator(s, evaluate: Callable, verdict: Callable, describe: str) -> Callable | None:
    """``evaluate_grid`` for a ``finite._Setup`` ``s`` of one variable (None for
    any other problem: the harness then loops); ``evaluate`` and ``verdict`` are
    the method's own, for the points the vectorised path hands back."""
    if len(s.wrt) != 1 or s.hessian or getattr(s.program, "vector", False):
        return None
    (name,) = s.wrt
    names = s.names
    pos = names.index(name) if name in names else None
    terms_all = weights(s.offsets[0], s.order)
    terms = [(k, w) for k, w in terms_all if k != 0 and pos is not None]
    w0 = sum(w for k, w in terms_all if k == 0 or pos is None)
    wsum = sum(abs(w) for _, w in terms_all)
    shrink = 1.0 - 2.0 ** -s.accuracy
    n_ord, fixed = s.order, s.fixed
    c_step = EPS ** (1.0 / (s.accuracy + n_ord))
    f, fb = s.f, s.fb
    n_points = s.stencil.points

    def pow_or_nan(v: float) -> float:
        try:
            return v ** n_ord
        except OverflowError:       # the scalar path raises here: that point goes back to it
            return float("nan")

    def power(h: np.ndarray) -> np.ndarray:
        # h ** n as the scalar path computes it (Python's pow): h itself for n = 1
        if n_ord == 1:
            return h
        return np.array([pow_or_nan(v) for v in h.tolist()])

    def candidate(x, f0, noise0, h, args):
        """One candidate step at every point (arrays of the points it is tried at):
        (total, value, truncation, rounding, num, mag, usable)."""
        num1 = num2 = w0 * f0
        mag1 = np.abs(num1)
        h2 = h / 2.0
        size = len(x)
        call = list(args)
        for k, w in terms:
            # each stencil point of this candidate, at h and at h/2: a call of f over the points
            call[pos] = x + k * h
            fv = w * _full(f(*call), size)
            num1 = num1 + fv
            mag1 = mag1 + np.abs(fv)
            call[pos] = x + k * h2
            num2 = num2 + w * _full(f(*call), size)
        div1, div2 = power(h), power(h2)
        d1, d2 = num1 / div1, num2 / div2
        usable = (div2 != 0.0) & np.isfinite(d1) & np.isfinite(d2)
        t = np.abs(d1 - d2) / shrink
        a, b = EPS * mag1, noise0 * wsum
        r = np.where(b > a, b, a) / div1          # Python's max(a, b)
        return t + r, d1, t, r, _full(num1, len(x)), _full(mag1, len(x)), usable

    stencil = s.stencil
    shifts = stencil.shifts[:, 0]
    probe_stencil = build(1, n_ord, (SCHEMES["central"][1](n_ord),))
    probe_shifts = probe_stencil.shifts[:, 0]
    may_go_one_sided = s.scheme not in ("forward", "backward")
    eight = 8.0 ** np.arange(1, 40)         # the verdict's probes: start * 8^j

    def table(columns, idx, xs, rows, st, sh):
        """``_stencil.table`` at the points ``idx`` (x values ``xs``), each with its own
        step rows ``rows`` (G, K): the same operations, stacked: (num, mag, noise, div)
        each (G*K, entries)."""
        g, k = rows.shape
        offsets = sh[None, None, :] * rows[:, :, None]          # (G, K, S)
        pts = (xs[:, None, None] + offsets).ravel()
        call = [pts if n == name else np.repeat(np.asarray(columns[n], dtype=float)[idx], k * len(sh))
                for n in names]
        fv, b = fb(*call)
        total = g * k * len(sh)
        fv = _full(fv, total).reshape(g * k, len(sh))
        b = _full(b, total).reshape(g * k, len(sh))
        num = fv @ st.weights_t
        mag = np.abs(fv) @ st.abs_weights_t
        noise = b @ st.abs_weights_t
        div = rows.reshape(g * k, 1) ** st.powers[:, 0][None, :]
        return num, mag, noise, div

    def array_path(columns, x, handed, value, total_out, said, messages) -> np.ndarray:
        """``evaluate``'s array path (candidates, the table at h and h/2, the pick, the
        verdict) at the points ``handed``, writing values, statuses (``said``) and
        messages; returns the points that need the one-sided stencil (left to the
        scalar path)."""
        if pos is None:
            return handed
        xs = x[handed]
        ax = np.abs(xs)
        two = np.zeros(len(xs), dtype=bool) if fixed is not None else (ax > 0) & (ax < 1)
        back = []
        for c in (1, 2):
            sel = two if c == 2 else ~two
            idx = handed[sel]
            if not len(idx):
                continue
            xg = xs[sel]
            if fixed is not None:
                cand = ((xg + fixed) - xg)[:, None]
            else:
                classic = (xg + c_step * np.fmax(1.0, np.abs(xg))) - xg
                cand = classic[:, None] if c == 1 else np.stack(
                    [classic, (xg + c_step * np.abs(xg)) - xg], axis=1)
            rows = np.hstack([cand, cand / 2.0])
            got = table(columns, idx, xg, rows, stencil, shifts)
            num, mag, noise, div = (a.reshape(len(idx), 2 * c) for a in got)
            v = num / div
            ro = np.maximum(noise, EPS * mag) / div
            trunc = np.abs(v[:, :c] - v[:, c:]) / shrink
            tot = trunc + ro[:, :c]
            tot = np.where(np.isfinite(tot) & np.isfinite(v[:, :c]) & np.isfinite(v[:, c:]), tot, np.inf)
            keep = np.ones(len(idx), dtype=bool)
            if may_go_one_sided:
                stuck = ~np.isfinite(tot).any(axis=1)
                if stuck.any():
                    # a one-sided stencil where f is finite at x (``_Setup.fallback``)
                    f0 = _full(f(*[np.asarray(columns[n], dtype=float)[idx[stuck]] for n in names]),
                               int(stuck.sum()))
                    edge = np.flatnonzero(stuck)[np.isfinite(f0)]
                    keep[edge] = False
                    back.append(idx[edge])
            pick = np.argmin(tot, axis=1)
            at = np.arange(len(idx))
            val = v[at, pick]
            value[idx[keep]] = val[keep]
            total_out[idx] = tot[at, pick]
            # the verdict: a chosen numerator lost in rounding, while larger steps
            # (up to half the distance to 0) see f change
            n_p, m_p = num[at, pick], mag[at, pick]
            lost = keep & np.isfinite(val) & (np.abs(n_p) <= 2 * EPS * m_p)
            if not lost.any():
                continue
            li = np.flatnonzero(lost)
            start = rows[li, pick[li]]
            top = np.where(xg[li] != 0, np.abs(xg[li]) / 2, 1.0)
            reach = top / start
            within = eight[None, :] <= reach[:, None]           # each point's probes
            used = int(within.sum(axis=1).max())
            if not used:
                continue
            probes = start[:, None] * eight[None, :used]          # (L, probes)
            pnum, pmag, _, _ = table(columns, idx[li], xg[li], probes, probe_stencil, probe_shifts)
            pnum, pmag = pnum.reshape(probes.shape), pmag.reshape(probes.shape)
            ok = np.isfinite(pnum) & (np.abs(pnum) > 16 * EPS * pmag) & within[:, :used]
            for j in np.flatnonzero(ok.any(axis=1)):
                i = int(idx[li[j]])
                said[i] = UNRESOLVED
                messages[i] = (start[j], ro[li[j], pick[li[j]]])      # words made for the first ones
        return np.concatenate(back) if back else np.zeros(0, dtype=int)

    def evaluate_grid(columns: Mapping[str, np.ndarray]) -> GridValues:
        with np.errstate(all="ignore"):
            return _grid(columns)

    def _grid(columns):
        x = np.asarray(columns[name], dtype=float)
        size = len(x)
        args = [np.asarray(columns[n], dtype=float) for n in names]
        if args:
            f0, noise0 = fb(*args)
        else:
            f0, noise0 = f(), 0.0
        f0, noise0 = _full(f0, size), _full(noise0, size)
        fine = np.isfinite(f0) & np.isfinite(noise0)
        # the first candidate at every point
        if fixed is not None:
            h = (x + fixed) - x
        else:
            h = (x + c_step * np.fmax(1.0, np.abs(x))) - x
        total, value, trunc, rnd, num, mag, usable = candidate(x, f0, noise0, h, args)
        steps = h
        n_cand = np.ones(size, dtype=int)
        if fixed is None:
            # the relative candidate where 0 < |x| < 1, taken where strictly better
            two = np.flatnonzero((np.abs(x) > 0) & (np.abs(x) < 1))
            if len(two):
                x2 = x[two]
                h2 = (x2 + c_step * np.abs(x2)) - x2
                got = candidate(x2, f0[two], noise0[two], h2, [a[two] for a in args])
                better = got[0] < total[two]
                at = two[better]
                for arr, new in zip((total, value, trunc, rnd, num, mag), got[:6]):
                    arr[at] = new[better]
                steps = steps.copy()
                steps[at] = h2[better]
                usable[two] &= got[6]
                n_cand[two] = 2
        lost = np.abs(num) <= 2 * EPS * mag
        handed = np.flatnonzero(~(fine & usable) | lost)
        said: dict[int, str] = {}          # point -> status other than ok
        messages: dict[int, str] = {}
        scalar = np.zeros(0, dtype=int)
        if len(handed):
            # the points the scalar path hands to its array path: that path over arrays
            scalar = array_path(columns, x, handed, value, total, said, messages)
        statuses = None
        if len(scalar):
            # what the array path cannot do at once (a one-sided stencil at a domain
            # edge): the method's own evaluation there, point by point
            got_v, got_s, got_m = loop_points(evaluate, verdict, columns, scalar)
            value[scalar] = got_v[scalar]
            said.update((int(i), got_s[i]) for i in scalar if got_s[i] != OK)
            messages.update(got_m)
        if said:
            statuses = np.full(size, OK, dtype=object)
            statuses[list(said)] = list(said.values())
        from .finite import lost_in_rounding
        messages = {i: lost_in_rounding(*m) if isinstance(m, tuple) else m
                    for i, m in sorted(messages.items())[:GRID_MESSAGES]}
        good = np.ones(size, dtype=bool)
        good[handed] = False
        est = total[good]
        d = s.details
        for k in ("steps", "fallback", "truncation_error", "round_off_error", "digits_lost"):
            d.pop(k, None)
        d.update(stencil=describe, stencil_evaluations=n_points, candidates=int(n_cand.max()),
                 grid_array_points=len(handed), grid_scalar_points=len(scalar),
                 error_estimate=float(est.max()) if len(est) and np.isfinite(est).all() else None)
        d["function_evaluations"] = int(size + 2 * len(terms) * int(n_cand.sum()))
        return GridValues(value, statuses, messages)

    return evaluate_grid


__all__ = ["grid_evaluator"]

"""Stencils, step rows and the difference table shared by the finite-difference methods.

A *stencil* says which points ``x + k*h`` a scheme evaluates for every entry
of the derivative (a scalar, a gradient, a Hessian) and with which weights.
``table`` evaluates a stencil at several step rows at once -- one call of the
float function over all points (NumPy arrays), falling back to a loop for a
function that only takes scalars -- and returns per row and entry the
numerator ``sum w*f``, its magnitude ``sum |w*f|`` (the rounding scale), the
divisor ``prod h^n`` and, given the compiled pair ``(f, rounding bound of f)``
(``Program.bounded_function``, the running error analysis of
``primitives.RoundingOps``), the rounding noise of the points.  The methods
in ``finite`` choose rows and combine them; nothing here chooses a step,
grades or reports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np

EPS = float(np.finfo(float).eps)

#: scheme -> (order of accuracy, offsets for the n-th derivative)
SCHEMES: dict[str, tuple[int, Callable[[int], tuple[int, ...]]]] = {
    "forward": (1, lambda n: tuple(range(n + 1))),
    "backward": (1, lambda n: tuple(range(-n, 1))),
    "central": (2, lambda n: tuple(range(-((n + 1) // 2), (n + 1) // 2 + 1))),
    "central4": (4, lambda n: tuple(range(-((n + 1) // 2) - 1, (n + 1) // 2 + 2))),
}


def one_sided(scheme: str, n: int, side: int) -> tuple[int, ...]:
    """Offsets of a one-sided stencil with the same order of accuracy as ``scheme``
    (the fallback at the edge of a domain); ``side`` +1 forward, -1 backward."""
    p = SCHEMES[scheme][0]
    return tuple(side * k for k in range(n + p))


@cache
def weights(offsets: tuple[int, ...], n: int) -> tuple[tuple[int, float], ...]:
    """(offset, weight) pairs of the n-th derivative on ``offsets`` (Fornberg's weights)."""
    import sympy  # here, not at module level: listing the methods must not import sympy
    w = sympy.finite_diff_weights(n, list(offsets), 0)[n][-1]
    return tuple((k, float(c)) for k, c in zip(offsets, w) if c != 0)


@dataclass(frozen=True)
class Stencil:
    shifts: np.ndarray          # (S, m) integer multiples of each variable's step
    weights: np.ndarray         # (E, S) weight of each point in each entry
    powers: np.ndarray          # (E, m) exponent of each step in each entry's divisor
    shape: tuple[int, ...]      # the derivative's shape; entries fill it in C order
    entry_var: tuple[int, ...]  # the variable whose step an entry is reported under

    @property
    def points(self) -> int:
        return len(self.shifts)

    @cached_property
    def entry_index(self) -> np.ndarray:
        return np.array(self.entry_var)

    @cached_property
    def weights_t(self) -> np.ndarray:
        return np.ascontiguousarray(self.weights.T)

    @cached_property
    def abs_weights_t(self) -> np.ndarray:
        return np.abs(self.weights_t)


@cache
def build(m: int, order: int, offsets_for: tuple[tuple[int, ...], ...]) -> Stencil:
    """The stencil of the derivative of ``order`` in ``m`` variables.

    ``offsets_for[i]`` is variable i's offset pattern for ``order`` (or for a
    gradient); a Hessian's mixed entries use the outer product of the
    variables' first-derivative patterns, which must then be given as
    ``offsets_for[m + i]``.
    """
    entries: list[dict[tuple[int, ...], float]] = []
    powers: list[list[int]] = []
    entry_var: list[int] = []

    def unit(i, k):
        v = [0] * m
        v[i] = k
        return tuple(v)

    if m == 1 or order == 1:
        for i in range(m):
            entries.append({unit(i, k): w for k, w in weights(offsets_for[i], order)})
            powers.append([order if j == i else 0 for j in range(m)])
            entry_var.append(i)
        shape: tuple[int, ...] = () if m == 1 else (m,)
    else:
        for i in range(m):
            for j in range(m):
                if i == j:
                    terms = {unit(i, k): w for k, w in weights(offsets_for[i], 2)}
                else:
                    terms = {}
                    for ka, wa in weights(offsets_for[m + i], 1):
                        for kb, wb in weights(offsets_for[m + j], 1):
                            s = [0] * m
                            s[i], s[j] = ka, kb
                            terms[tuple(s)] = terms.get(tuple(s), 0.0) + wa * wb
                entries.append(terms)
                powers.append([(2 if i == j else 1) if t in (i, j) else 0 for t in range(m)])
                entry_var.append(i)
        shape = (m, m)
    shifts = sorted({s for e in entries for s in e})
    index = {s: n for n, s in enumerate(shifts)}
    w = np.zeros((len(entries), len(shifts)))
    for e, terms in enumerate(entries):
        for s, c in terms.items():
            w[e, index[s]] = c
    return Stencil(np.array(shifts, dtype=float).reshape(len(shifts), m), w,
                   np.array(powers, dtype=float), shape, tuple(entry_var))


def representable(x: float, h: float) -> float:
    """The step nearest ``h`` for which ``x + h`` lies exactly ``h`` from ``x``."""
    return (x + h) - x


@dataclass(frozen=True)
class Table:
    num: np.ndarray     # (K, E) sum of w*f
    mag: np.ndarray     # (K, E) sum of |w*f|: the scale the difference cancels from
    div: np.ndarray     # (K, E) prod of h^n
    evaluations: int
    noise: np.ndarray | None = None   # (K, E) sum of |w|*(rounding bound of f)

    @cached_property
    def value(self) -> np.ndarray:
        with np.errstate(all="ignore"):
            return self.num / self.div

    @cached_property
    def round_off(self) -> np.ndarray:
        """The rounding part of the error: f's own rounding bound where known (at
        least one ulp of every point), over the divisor."""
        with np.errstate(all="ignore"):
            ulp = EPS * self.mag
            return (ulp if self.noise is None else np.maximum(self.noise, ulp)) / self.div


def table(f: Callable, names: Sequence[str], point, wrt: Sequence[str], stencil: Stencil,
          rows: np.ndarray, bound: Callable | None = None, fb: Callable | None = None,
          distinct: bool = False) -> Table:
    """Evaluate ``stencil`` at every step row (``rows``: (K, m), a step per ``wrt`` variable).

    ``fb``, the compiled pair ``(f, bound)`` (``Program.bounded_function``), gives
    both in one call and replaces ``f`` and ``bound``.  ``distinct``: evaluate
    each distinct point once (a vector program's Jacobian: the centre point
    shared by every row, a candidate step that equals another); the table's
    ``evaluations`` is then the number of distinct points."""
    if distinct and fb is not None:
        return _distinct_table(fb, names, point, wrt, stencil, rows)
    if not (isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.dtype == float):
        rows = np.atleast_2d(np.asarray(rows, dtype=float))
    k_rows = len(rows)
    size = k_rows * stencil.points
    with np.errstate(all="ignore"):
        offsets = stencil.shifts[None, :, :] * rows[:, None, :]            # (K, S, m)
        args = []
        for n in names:
            base = float(point[n])
            if n in wrt:
                args.append(base + offsets[:, :, wrt.index(n)].ravel())
            else:
                args.append(base)
        b = None
        if fb is not None:
            fv, b = fb(*args)
            if isinstance(fv, tuple):
                return _vector_table(fv, b, size, k_rows, stencil, rows)
            fv = _full(fv, size)
            b = _full(b, size).reshape(k_rows, stencil.points)
        else:
            fv = _call(f, args, size)
            if bound is not None:
                b = _call(bound, args, size).reshape(k_rows, stencil.points)
        fv = fv.reshape(k_rows, stencil.points)
        num = _apply(fv, stencil.weights_t)
        absw = stencil.abs_weights_t
        mag = _apply(np.abs(fv), absw)
        div = _divisor(stencil, rows)
        noise = None if b is None else _apply(b, absw)
        tab = Table(num, mag, div, size, noise)
        # the two derived arrays, made here under this errstate rather than each
        # under its own on first use (cached_property keeps them in __dict__)
        tab.__dict__["value"] = num / div
        tab.__dict__["round_off"] = (EPS * mag if noise is None else np.maximum(noise, EPS * mag)) / div
    return tab


def _apply(fv: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``fv @ w`` (points by entries) where a point an entry does not use cannot
    spoil it: a non-finite value times a zero weight is nan in a product, and
    a point outside the domain for one variable's entry must leave the other
    variables' entries alone."""
    out = fv @ w
    bad = ~np.isfinite(out)
    if not bad.any():
        return out
    # only the entries a non-finite value reached are summed again (the others
    # keep the product's rounding: the same numbers as without such a point)
    used = w != 0
    terms = fv[..., :, None] * w                       # (..., S, E)
    out[bad] = np.where(used, terms, 0.0).sum(axis=-2)[bad]
    return out


def _divisor(stencil: Stencil, rows: np.ndarray) -> np.ndarray:
    """(K, E): prod over variables of h_j ^ power, per step row and entry."""
    div = None
    for j in range(rows.shape[1]):
        col = stencil.powers[:, j]
        if col.any():
            term = rows[:, j:j + 1] ** col[None, :]
            div = term if div is None else div * term
    return np.ones((len(rows), len(stencil.weights))) if div is None else div


def _distinct_table(fb: Callable, names: Sequence[str], point, wrt: Sequence[str], stencil: Stencil,
                    rows: np.ndarray) -> Table:
    """``table`` of a vector program, evaluating each distinct point once."""
    rows = np.atleast_2d(np.asarray(rows, dtype=float))
    k_rows = len(rows)
    size = k_rows * stencil.points
    with np.errstate(all="ignore"):
        offsets = (stencil.shifts[None, :, :] * rows[:, None, :]).reshape(size, len(wrt))
        # a point is its coordinates in the variables f reads (moving one it ignores is no new point)
        read = [n for n in names if n in wrt]
        cols = offsets[:, [wrt.index(n) for n in read]]
        uniq, back = np.unique(cols, axis=0, return_inverse=True)
        back = np.ravel(back)
        args = [float(point[n]) + uniq[:, read.index(n)] if n in read else float(point[n]) for n in names]
        fv, b = fb(*args)
        if not isinstance(fv, tuple):
            fv, b = (fv,), (b,)
        count = len(uniq)
        fv = tuple(_full(v, count)[back] for v in fv)
        b = tuple(_full(v, count)[back] for v in b)
        tab = _vector_table(fv, b, size, k_rows, stencil, rows)
    return Table(tab.num, tab.mag, tab.div, count, tab.noise)


def _vector_table(fv: tuple, b: tuple, size: int, k_rows: int, stencil: Stencil, rows: np.ndarray) -> Table:
    """The table of a vector program (``fb`` gave every output at every point):
    the entries of output j are columns ``j*E .. j*E + E - 1`` (E entries per
    output), so that each (output, entry) is picked and estimated on its own."""
    m = len(fv)
    vals = np.stack([_full(v, size) for v in fv]).reshape(m, k_rows, stencil.points)
    bounds = np.stack([_full(v, size) for v in b]).reshape(m, k_rows, stencil.points)
    absw = stencil.abs_weights_t

    def flat(a):                  # (m, K, E) -> (K, m*E)
        return np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(k_rows, -1)
    num = flat(_apply(vals, stencil.weights_t))
    mag = flat(_apply(np.abs(vals), absw))
    noise = flat(_apply(bounds, absw))
    div = np.tile(_divisor(stencil, rows), (1, m))
    tab = Table(num, mag, div, size, noise)
    tab.__dict__["value"] = num / div
    tab.__dict__["round_off"] = np.maximum(noise, EPS * mag) / div
    return tab


def _full(v, size: int) -> np.ndarray:
    """``v`` as a float array of ``size`` (a program that ignores the varied
    variable gives one number)."""
    v = np.asarray(v, dtype=float)
    return v if v.shape == (size,) else np.broadcast_to(v, (size,))


def _call(f: Callable, args: list, size: int) -> np.ndarray:
    with np.errstate(all="ignore"):
        try:
            out = np.asarray(f(*args), dtype=float)
            if out.shape == (size,):
                return out
            if out.ndim == 0:       # no argument varied: every point is the same
                return np.full(size, float(out))
        except (TypeError, ValueError):
            pass                     # a float function that takes scalars only
        cols = [np.broadcast_to(np.asarray(a, dtype=float), (size,)) for a in args]
        return np.array([float(f(*[c[i] for c in cols])) for i in range(size)])

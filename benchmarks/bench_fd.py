"""Finite differences: derivcmp's family against numdifftools and scipy.differentiate.

    pip install numdifftools scipy        # the peers, for this benchmark only
    python benchmarks/bench_fd.py         # prints a Markdown table

The ten cases of issue 10, in one process: each method's relative error
against derivcmp's 50-digit reference and its median time per call (the
derivative at one point, setup excluded).  Peers get the same float64
function (derivcmp's program, which accepts NumPy arrays) with their default
settings: ``numdifftools.Derivative(f)(x)`` and
``scipy.differentiate.derivative(f, x)``.  A derivcmp method whose status is
not ``ok`` shows it beside its error; a peer's NaN or failed status likewise.

Times are the thread's CPU time (``time.thread_time``: the machine may be
shared), interleaved: in each of ``ROUNDS`` rounds every method, peer and a
textbook central difference ``(f(x+h) - f(x-h))/2h`` on the same compiled f
runs one batch in turn; the median over rounds is reported, with the load.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings

import numpy as np

from derivcmp import backends
from derivcmp.compare import compare, errors, make_problem
from derivcmp.program import compile_program

ROUNDS = 7
#: CPU seconds one batch should take (the call count is set once per callable)
BATCH_S = 0.004
TEXTBOOK = "textbook central"

CASES = [
    ("d/dw sigmoid(w*x), w=2, x=3", "1/(1+exp(-w*x))", "w", "w=2,x=3"),
    ("exp(x) at 1", "exp(x)", "x", "x=1"),
    ("log(x) at 1e-3", "log(x)", "x", "x=1e-3"),
    ("x^x at 0.5", "x^x", "x", "x=0.5"),
    ("tanh(x) at 20", "tanh(x)", "x", "x=20"),
    ("(1-cos(x))/x^2 at 1e-4", "(1-cos(x))/x^2", "x", "x=1e-4"),
    ("sin(1/x) at 0.01", "sin(1/x)", "x", "x=0.01"),
    ("sqrt(x) at 1e-10", "sqrt(x)", "x", "x=1e-10"),
    ("exp(-x^2)*cos(40*x) at 0.3", "exp(-x^2)*cos(40*x)", "x", "x=0.3"),
    ("atan(x) at 1e8", "atan(x)", "x", "x=1e8"),
]
OURS = ["fd-central", "fd-central4", "richardson", "complex-step", "fd-multiprecision"]


def peers():
    out = {}
    try:
        import numdifftools as nd
        out["numdifftools"] = lambda f, x: float(nd.Derivative(f)(x))
    except ImportError:
        print("note: numdifftools is not installed (pip install numdifftools)", file=sys.stderr)
    try:
        from scipy.differentiate import derivative

        def scipy_d(f, x):
            r = derivative(f, x)
            return float(r.df) if bool(r.success) else float("nan")
        out["scipy.differentiate"] = scipy_d
    except ImportError:
        print("note: scipy>=1.15 is not installed (pip install scipy)", file=sys.stderr)
    return out


def one(label, text, wrt, at, others):
    problem, _ = make_problem(text, wrt, at)
    c = compare(problem, OURS, timing=False)
    row = {"case": label}
    for g in c.results:
        o = g.outcome
        err = "NaN" if g.rel_error is None else f"{g.rel_error:.1e}"
        if o.status != "ok":
            err += f" ({o.status})"
        row[g.name] = err
    program = compile_program(problem.expr)
    names = list(program.names)
    fn = program.function(names)
    base = [float(problem.point[n]) for n in names]
    i = names.index(wrt)

    def f(x):
        args = list(base)
        args[i] = x
        return fn(*[np.asarray(a, dtype=float) for a in args])

    x0 = float(problem.point[wrt])
    calls = {}
    registry = backends.registry()
    for name in OURS:
        prepared = registry[name].prepare(problem)
        calls[name] = (lambda p=prepared: p.evaluate(problem.point))
    for name, d in others.items():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            v = d(f, x0)
        row[name] = "NaN" if not np.isfinite(v) else f"{errors(np.array(v), c.reference.exact)[1]:.1e}"
        calls[name] = (lambda d=d: d(f, x0))
    # the textbook central difference on the compiled f, on Python floats: the floor
    # fd-central's step choice and error estimate are paid on top of
    h = (x0 + np.finfo(float).eps ** (1 / 3) * max(1.0, abs(x0))) - x0
    hi, lo = list(base), list(base)
    hi[i], lo[i] = x0 + h, x0 - h
    calls[TEXTBOOK] = lambda: (fn(*hi) - fn(*lo)) / (2 * h)
    return row, _interleaved(calls)


def _interleaved(calls):
    """Median CPU seconds per call of each callable, batches interleaved over ROUNDS."""
    counts = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for name, fn in calls.items():
            n = 1
            while (t := _batch(fn, n)) < BATCH_S and n < 1_000_000:
                n = max(2 * n, int(n * BATCH_S / max(t, 1e-9)) + 1)
            counts[name] = n
        per = {name: [] for name in calls}
        for _ in range(ROUNDS):
            for name, fn in calls.items():
                per[name].append(_batch(fn, counts[name]) / counts[name])
    return {name: float(np.median(v)) for name, v in per.items()}


def _batch(fn, n):
    start = time.thread_time()
    for _ in range(n):
        fn()
    return time.thread_time() - start


def fmt_time(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main() -> None:
    others = peers()
    cols = OURS + list(others)
    load_before = os.getloadavg()
    results = [one(*case, others) for case in CASES]
    load_after = os.getloadavg()
    rows = [r for r, _ in results]
    times = [t for _, t in results]
    print("### Finite differences: relative error on the ten cases of issue 10\n")
    print(f"Python {platform.python_version()}, {platform.machine()}; "
          f"methods: {', '.join(backends.available())}; load average (1 min) "
          f"{load_before[0]:.1f} before, {load_after[0]:.1f} after; times are CPU time per call, "
          f"median of {ROUNDS} interleaved rounds\n")
    print("| case | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for r in rows:
        print(f"| {r['case']} | " + " | ".join(r[c] for c in cols) + " |")
    med = {c: float(np.median([t[c] for t in times])) for c in cols + [TEXTBOOK]}
    print("| median time per call | " + " | ".join(fmt_time(med[c]) for c in cols) + " |")
    print(f"\n{TEXTBOOK} (f(x+h) - f(x-h))/2h on the same compiled f: {fmt_time(med[TEXTBOOK])} per call; "
          f"fd-central {med['fd-central'] / med[TEXTBOOK]:.0f}x that")
    if "numdifftools" in others:
        better = sum(_beats(r["richardson"], r["numdifftools"]) for r in rows)
        ratios = [t["richardson"] / t["numdifftools"] for t in times]
        print(f"\nrichardson at least as accurate as numdifftools on {better} of {len(rows)}; "
              f"time per call {med['richardson'] / med['numdifftools']:.2f}x numdifftools' "
              f"(per case {min(ratios):.2f}x to {max(ratios):.2f}x)")


def _beats(ours: str, theirs: str) -> bool:
    def val(s):
        s = s.split(" ")[0]
        return float("inf") if s == "NaN" else float(s)
    a, b = val(ours), val(theirs)
    if "unresolved" in ours:
        return True          # says it cannot resolve, where the peer gives a wrong number or NaN
    return a <= b


if __name__ == "__main__":
    main()

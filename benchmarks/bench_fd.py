"""Finite differences: derivcmp's family against numdifftools and scipy.differentiate.

    pip install numdifftools scipy        # the peers, for this benchmark only
    python benchmarks/bench_fd.py         # prints a Markdown table

The ten cases of issue 10, in one process: each method's relative error
against derivcmp's 50-digit reference and its median time per call (the
derivative at one point, setup excluded; derivcmp's own timing harness for
all, so the times are comparable side by side).  Peers get the same float64
function (derivcmp's program, which accepts NumPy arrays) with their default
settings: ``numdifftools.Derivative(f)(x)`` and
``scipy.differentiate.derivative(f, x)``.  A derivcmp method whose status is
not ``ok`` shows it beside its error; a peer's NaN or failed status likewise.
"""

from __future__ import annotations

import platform
import sys
import warnings

import numpy as np

from derivcmp import backends
from derivcmp.compare import compare, errors, make_problem
from derivcmp.program import compile_program
from derivcmp.timing import measure

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
    c = compare(problem, OURS, timing=True)
    row = {"case": label}
    for g in c.results:
        o = g.outcome
        err = "NaN" if g.rel_error is None else f"{g.rel_error:.1e}"
        if o.status != "ok":
            err += f" ({o.status})"
        row[g.name] = (err, o.timing.eval_s if o.timing else None)
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
    for name, d in others.items():
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            v = d(f, x0)
            t = measure(lambda d=d: d(f, x0), 0.0, repeats=5).eval_s
        err = "NaN" if not np.isfinite(v) else f"{errors(np.array(v), c.reference.exact)[1]:.1e}"
        row[name] = (err, t)
    return row


def fmt_time(s):
    if s is None:
        return "-"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main() -> None:
    others = peers()
    cols = OURS + list(others)
    rows = [one(*case, others) for case in CASES]
    print("### Finite differences: relative error on the ten cases of issue 10\n")
    print(f"Python {platform.python_version()}, {platform.machine()}; "
          f"methods: {', '.join(backends.available())}\n")
    print("| case | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for r in rows:
        print(f"| {r['case']} | " + " | ".join(r[c][0] for c in cols) + " |")
    med = {c: float(np.median([r[c][1] for r in rows if r[c][1] is not None])) for c in cols}
    print("| median time per call | " + " | ".join(fmt_time(med[c]) for c in cols) + " |")
    better = sum(_beats(r["richardson"][0], r.get("numdifftools", ("NaN",))[0]) for r in rows)
    if "numdifftools" in others:
        print(f"\nrichardson at least as accurate as numdifftools on {better} of {len(rows)}; "
              f"time per call {med['richardson'] / med['numdifftools']:.2f}x numdifftools'")


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

"""Forward, Taylor and reverse mode against the issue-11 targets, in one run.

    python benchmarks/bench_ad.py [--quick]      # prints a Markdown section

1. ad-taylor accuracy: order 8 on sin, exp, log, sigmoid, tanh (target 1e-12
   relative) and order 20 on sin and exp at x = 1 (target 1e-10).
2. ad-taylor cost at order 20 over its cost at order 1 on the sigmoid (target
   at most 30x), beside symbolic's setup time and derivative size at order 12.
3. Gradient of f = sum_i sin(x_i) exp(x_{i+1}) + x_i^2 for n = 10, 100, 1000:
   ad-forward (n sweeps) and ad-reverse (one) as multiples of one float
   evaluation of f, so the n-fold growth of forward mode shows.

Timings are interleaved (A B A B ...), each the median of ``REPEATS`` runs,
and the load average is recorded before and after; ratios taken side by side
in one run are what is comparable across these noisy machines.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time

import mpmath
import numpy as np

from derivcmp import backends
from derivcmp.backends.forward import gradient
from derivcmp.backends.reverse import ReverseMode
from derivcmp.backends.symbolic import Symbolic
from derivcmp.backends.taylor_mode import TaylorMode
from derivcmp.compare import make_problem
from derivcmp.expr import Apply, Num, Var
from derivcmp.program import compile_program
from derivcmp.reference import compute_reference

REPEATS = 7


def _time(fn, min_s: float = 0.02) -> float:
    """Seconds per call: enough calls to last ``min_s``."""
    n = 1
    while True:
        t = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t
        if dt >= min_s or n >= 1 << 20:
            return dt / n
        n *= 2


def interleaved(fns: dict[str, callable], repeats: int = REPEATS) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            samples[k].append(_time(fn))
    return {k: statistics.median(v) for k, v in samples.items()}


def _prepared(method, text, wrt, at, order):
    problem, _ = make_problem(text, wrt, at, order)
    return problem, method.prepare(problem)


def accuracy() -> list[tuple[str, int, float, float]]:
    rows = []
    cases = [(f, 8, {"sin": "x=0.7", "exp": "x=0.7", "log": "x=1.3", "sigmoid": "x=0.4", "tanh": "x=0.4"}[f],
              1e-12) for f in ("sin", "exp", "log", "sigmoid", "tanh")]
    cases += [("sin", 20, "x=1", 1e-10), ("exp", 20, "x=1", 1e-10)]
    for f, order, at, target in cases:
        problem, _ = make_problem(f"{f}(x)", "x", at, order)
        ref = compute_reference(problem)
        out = backends.run(TaylorMode(), problem, timing=False)
        with mpmath.workdps(60):
            exact = mpmath.mpf(ref.exact)
            rel = float(abs(mpmath.mpf(float(out.value)) - exact) / abs(exact))
        rows.append((f"{f}(x) at {at}", order, rel, target))
    return rows


def taylor_cost() -> tuple[float, float, float]:
    _, p1 = _prepared(TaylorMode(), "sigmoid(x)", "x", "x=0.5", 1)
    _, p20 = _prepared(TaylorMode(), "sigmoid(x)", "x", "x=0.5", 20)
    pt = {"x": 0.5}
    t = interleaved({"1": lambda: p1.evaluate(pt), "20": lambda: p20.evaluate(pt)})
    return t["1"], t["20"], t["20"] / t["1"]


def symbolic_swell(order: int = 12) -> tuple[float, int, float]:
    problem, _ = make_problem("sigmoid(x)", "x", "x=0.5", order)
    setups = []
    for _ in range(3):
        t = time.perf_counter()
        prepared = Symbolic().prepare(problem)
        setups.append(time.perf_counter() - t)
    _, taylor = _prepared(TaylorMode(), "sigmoid(x)", "x", "x=0.5", order)
    tt = interleaved({"s": lambda: prepared.evaluate({"x": 0.5}), "t": lambda: taylor.evaluate({"x": 0.5})})
    return statistics.median(setups), prepared.details["expression_size"], tt["s"], tt["t"]


def chain_expr(n: int):
    """f = sum_i sin(x_i) exp(x_{i+1}) + x_i^2, built through the API (the text of
    n = 1000 is past the parser's 10,000-character limit)."""
    xs = [Var(f"x{i}") for i in range(n + 1)]
    total = None
    for i in range(n):
        term = Apply("add", (Apply("mul", (Apply("sin", (xs[i],)), Apply("exp", (xs[i + 1],)))),
                             Apply("powi", (xs[i], Num("2")))))
        total = term if total is None else Apply("add", (total, term))
    return total, [x.name for x in xs[:n]]


def gradient_costs(sizes) -> list[tuple[int, float, float, float, int]]:
    rows = []
    for n in sizes:
        text, wrt = chain_expr(n)
        at = {name: 0.1 + 0.001 * i for i, name in enumerate(wrt + [f"x{n}"])}
        problem, _ = make_problem(text, wrt, at, 1)
        program = compile_program(problem.expr)
        f = program.function(list(program.names))
        args = [np.float64(at[k]) for k in program.names]
        rev = ReverseMode().prepare(problem)
        repeats = REPEATS if n <= 100 else 3
        fns = {"f": lambda f=f, args=args: f(*args), "reverse": lambda rev=rev, at=at: rev.evaluate(at),
               "forward": lambda program=program, at=at, wrt=wrt: gradient(program, at, wrt)}
        t = interleaved(fns, repeats)
        # check that both gradients agree before reporting their cost
        _, g = gradient(program, at, wrt)
        assert np.allclose(g, rev.evaluate(at), rtol=1e-13)
        rows.append((n, t["f"], t["forward"], t["reverse"], len(program)))
    return rows


def main() -> None:
    quick = "--quick" in sys.argv
    load0 = os.getloadavg()
    print("## Automatic differentiation: forward, Taylor and reverse mode (issue 11)\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; load average before {load0[0]:.2f}.\n")
    print("**ad-taylor accuracy** (relative error against the 50-digit reference):\n")
    print("| function | order | rel error | target |")
    print("|---|---:|---:|---:|")
    for label, order, rel, target in accuracy():
        print(f"| `{label}` | {order} | {rel:.2e} | {target:.0e} {'✓' if rel <= target else '✗'} |")
    t1, t20, ratio = taylor_cost()
    setup, size, sym_eval, taylor_eval = symbolic_swell()
    print("\n**Cost against the order** (sigmoid at x = 0.5; medians of interleaved repeats):\n")
    print("| quantity | value | target |")
    print("|---|---:|---|")
    print(f"| ad-taylor per call, order 1 | {t1 * 1e6:.1f} µs | |")
    print(f"| ad-taylor per call, order 20 | {t20 * 1e6:.1f} µs | |")
    print(f"| ad-taylor order 20 / order 1 | **{ratio:.1f}×** | ≤ 30× {'✓' if ratio <= 30 else '✗'} |")
    print(f"| symbolic setup at order 12 (sympy.diff + lambdify) | {setup * 1e3:.0f} ms | reported |")
    print(f"| symbolic derivative size at order 12 (count_ops) | {size} | reported |")
    print(f"| per call at order 12: symbolic / ad-taylor | {sym_eval * 1e6:.1f} µs / "
          f"{taylor_eval * 1e6:.1f} µs | |")
    sizes = (10, 100) if quick else (10, 100, 1000)
    print("\n**Gradient cost** of f = Σ sin(x_i)·exp(x_{i+1}) + x_i² (n variables), "
          "per call and as a multiple of one float evaluation of f:\n")
    print("| n | program slots | f | ad-forward (n sweeps) | × f | ad-reverse (1 sweep) | × f "
          "| forward / reverse |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, tf, tfw, trv, slots in gradient_costs(sizes):
        print(f"| {n} | {slots} | {tf * 1e6:.0f} µs | {tfw * 1e3:.2f} ms | {tfw / tf:.0f}× | "
              f"{trv * 1e3:.2f} ms | {trv / tf:.1f}× | {tfw / trv:.1f}× |")
    load1 = os.getloadavg()
    print(f"\nLoad average after: {load1[0]:.2f}. Command: `python benchmarks/bench_ad.py"
          f"{' --quick' if quick else ''}`.")


if __name__ == "__main__":
    main()

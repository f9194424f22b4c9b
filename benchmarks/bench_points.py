"""A million points at once (issue 13): derivatives over a grid as ratios to NumPy f.

    python benchmarks/bench_points.py [--points 1000000] [--rounds 9]

Two derivatives over 10^6 points: d/dx sigmoid(x) (x from -10 to 10) and
d/dw sigmoid(w*x) (w from -10 to 10, x = 0.7).  The baseline is NumPy f, the
function written by hand in NumPy (``1/(1+np.exp(-x))``); beside it derivcmp's
own compiled f over arrays, a hand-written NumPy derivative (s(x) s(-x): 1 - s cancels), derivcmp's
vectorised methods (``evaluate_grid`` of ad-codegen, ad-reverse, symbolic,
fd-central; fd-central checked against the hand-written derivative to 1e-6),
autograd's ``elementwise_grad`` and torch's backward on a float64 tensor (the
peers only when installed: ``pip install autograd torch``; the package never
requires them).  Each round runs every contender once, in rotated order; a
figure is the median over rounds of the thread's CPU time
(``time.thread_time``: on a shared machine wall time counts other processes).
The load average before and after is printed.  Then the four stencil methods
over ``tanh(x)`` at 10,001 points and sigmoid at ``--points``: time per point
of ``evaluate_grid`` against the loop it replaced (each point's ``evaluate``
and ``verdict``, timed on ``--loop-points`` points).  Prints Markdown.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from derivcmp import backends
from derivcmp.gridrun import make_grid_problem
from derivcmp.program import compile_program

METHODS = ("ad-codegen", "ad-reverse", "symbolic", "fd-central")
#: finite differences are checked against the hand-written derivative at their own tolerance
LOOSE = {"fd-central": 1e-6}
#: the stencil methods: vectorised (``evaluate_grid``) against the loop it replaced
STENCILS = ("fd-forward", "fd-backward", "fd-central", "fd-central4")


def _cases(n: int):
    x = np.linspace(-10.0, 10.0, n)
    w = np.linspace(-10.0, 10.0, n)
    c = 0.7
    return [
        ("d/dx sigmoid(x)", "sigmoid(x)", "x", f"x=-10:10:{n}", {"x": x},
         lambda: 1.0 / (1.0 + np.exp(-x)),
         lambda: 1.0 / (1.0 + np.exp(-x)) / (1.0 + np.exp(x)),
         ("x", x, lambda t, torch: torch.sigmoid(t), lambda anp, v: 1.0 / (1.0 + anp.exp(-v)))),
        ("d/dw sigmoid(w*x)", "sigmoid(w*x)", "w", f"w=-10:10:{n},x={c}", {"w": w, "x": np.full(n, c)},
         lambda: 1.0 / (1.0 + np.exp(-(w * c))),
         lambda: c / (1.0 + np.exp(-(w * c))) / (1.0 + np.exp(w * c)),
         ("w", w, lambda t, torch: torch.sigmoid(t * c), lambda anp, v: 1.0 / (1.0 + anp.exp(-(v * c))))),
    ]


def _contenders(case) -> dict[str, Callable[[], object]]:
    _, text, wrt, at, _, numpy_f, hand, (_, arr, torch_f, ag_f) = case
    problem, grid, _ = make_grid_problem(text, wrt, at)
    cols = grid.columns(tuple(problem.point))
    program = compile_program(problem.expr)
    names = list(program.names)
    compiled = program.function(names)
    xs = [cols[k] for k in names]
    out: dict[str, Callable[[], object]] = {"NumPy f": numpy_f, "derivcmp compiled f": lambda: compiled(*xs),
                                            "hand-written NumPy derivative": hand}
    reg = backends.registry()
    for m in METHODS:
        prepared = reg[m].prepare(problem)
        out[m] = (lambda p=prepared: p.evaluate_grid(cols))
    if importlib.util.find_spec("autograd") is not None:
        import autograd.numpy as anp
        from autograd import elementwise_grad
        g = elementwise_grad(lambda v: ag_f(anp, v))
        out["autograd elementwise_grad"] = lambda: g(arr)
    if importlib.util.find_spec("torch") is not None:
        import torch
        torch.set_num_threads(1)

        def run_torch():
            t = torch.from_numpy(arr).requires_grad_()
            y = torch_f(t, torch)
            (grad,) = torch.autograd.grad(y, t, torch.ones_like(y))
            return grad.numpy()
        out["torch backward"] = run_torch
    return out


def _check(contenders, hand) -> None:
    """Every derivative contender agrees with the hand-written derivative."""
    want = hand()
    for name, fn in contenders.items():
        if "f" in name.split():
            continue
        with np.errstate(all="ignore"):
            got = fn()
            got = np.asarray(getattr(got, "values", got), dtype=float)     # a ``GridValues``
        if not np.allclose(got, want, rtol=LOOSE.get(name, 1e-10), atol=1e-300):
            raise SystemExit(f"{name} disagrees with the hand-written derivative")


def _stencils_vectorised_vs_loop(text: str, at: str, loop_points: int, rounds: int) -> None:
    """Time per point of each stencil method over the grid at once (``evaluate_grid``)
    and in the loop ``run_grid`` used before (each point's ``evaluate`` and
    ``verdict``, on the first ``loop_points`` points, or all); interleaved rounds,
    thread CPU time, medians."""
    problem, grid, _ = make_grid_problem(text, "x", at)
    cols = grid.columns(tuple(problem.point))
    n_loop = min(loop_points, grid.size)
    part = {k: v[:n_loop] for k, v in cols.items()}
    reg = backends.registry()
    runs: dict[tuple[str, str], Callable[[], object]] = {}
    for m in STENCILS:
        p = reg[m].prepare(problem)
        runs[(m, "vectorised")] = lambda p=p: p.evaluate_grid(cols)
        runs[(m, "loop")] = lambda p=p: backends.loop_points(p.evaluate, p.verdict, part, range(n_loop))
    per = {k: (grid.size if k[1] == "vectorised" else n_loop) for k in runs}
    times: dict = {k: [] for k in runs}
    keys = list(runs)
    with np.errstate(all="ignore"):
        for k in keys:
            runs[k]()
        for r in range(rounds):
            for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                t0 = time.thread_time()
                runs[k]()
                times[k].append(time.thread_time() - t0)
    print(f"### stencils over `{text}` at `{at}` ({grid.size:,} points; the loop timed on "
          f"{n_loop:,})\n\n| method | loop | vectorised | speed-up |\n|---|---:|---:|---:|")
    for m in STENCILS:
        lo = statistics.median(times[(m, "loop")]) / per[(m, "loop")]
        ve = statistics.median(times[(m, "vectorised")]) / per[(m, "vectorised")]
        print(f"| {m} | {lo * 1e6:.1f} µs | {ve * 1e9:.0f} ns | {lo / ve:.0f}× |")
    print()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=10 ** 6)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--loop-points", type=int, default=10001,
                    help="points the stencil methods' old loop is timed on (per point)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print(f"{args.points:,} points, {args.rounds} rounds, thread CPU time, median over rounds; "
          f"load before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}\n")
    for case in _cases(args.points):
        contenders = _contenders(case)
        _check(contenders, case[6])
        times: dict[str, list[float]] = {k: [] for k in contenders}
        keys = list(contenders)
        with np.errstate(all="ignore"):
            for k in keys:
                contenders[k]()         # warm-up
            for r in range(args.rounds):
                for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                    t0 = time.thread_time()
                    contenders[k]()
                    times[k].append(time.thread_time() - t0)
        base = statistics.median(times["NumPy f"])
        print(f"### {case[0]}\n\n| contender | time | × NumPy f |\n|---|---:|---:|")
        for k in keys:
            med = statistics.median(times[k])
            print(f"| {k} | {med * 1e3:.2f} ms | {med / base:.2f} |")
        print()
    _stencils_vectorised_vs_loop("tanh(x)", "x=-30:30:10001", args.loop_points, max(3, args.rounds // 3))
    _stencils_vectorised_vs_loop("sigmoid(x)", f"x=-10:10:{args.points}", args.loop_points,
                                 max(3, args.rounds // 3))
    after = os.getloadavg()
    print(f"load after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}")


if __name__ == "__main__":
    main()

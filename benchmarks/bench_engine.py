"""The engine's costs as ratios measured side by side (issue 7's targets).

    python benchmarks/bench_engine.py [--rounds 15] [--quick]

Every comparison times its contenders *interleaved*: each round runs one
batch of each (order rotated), batches sized to ~5 ms by autorange, and the
per-call figure is the median over rounds, in thread CPU time
(``time.thread_time``: wall time on a busy machine counts other processes).  The machine's load
(/proc/loadavg) is recorded before and after: on a busy 2-core machine
absolute times move, ratios much less.  Prints Markdown.

Rows: compiled f vs a hand-written f; fd-central vs a textbook central
difference on the same f; ad-codegen vs hand-written derivatives (sigmoid
d/dw, Rosenbrock gradient and Hessian), both as bare functions of floats and
through ``evaluate(point)``; ad-reverse per call on the sigmoid and per tape
entry on f = sum sin(x_i) exp(x_{i+1}) + x_i^2 at n = 10 .. 10,000;
ad-codegen's gradient over the compiled f at those n; fd-central's full
gradient against n (O(n^2): 2n evaluations of an O(n) f).  autograd, if
installed, on the same scalar expressions (never required).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import math
import platform
import statistics
import time
from collections.abc import Callable

from derivcmp import backends
from derivcmp.compare import make_problem
from derivcmp.expr import Apply, Num, Var
from derivcmp.problem import Problem
from derivcmp.program import compile_program

EPS = 2.0 ** -52


def load() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def _batch(fn: Callable, args: tuple, number: int) -> float:
    # CPU time of this thread, not wall time: on a shared machine (load average
    # above the core count) wall time counts other processes' time slices, more
    # of them the longer a batch runs, and distorts even interleaved ratios
    start = time.thread_time()
    for _ in range(number):
        fn(*args)
    return time.thread_time() - start


def _number(fn: Callable, args: tuple, target: float) -> int:
    n = 1
    while True:
        t = _batch(fn, args, n)
        if t >= target or n >= 1_000_000:
            return n
        n = min(1_000_000, max(2 * n, int(n * target / max(t, 1e-9) * 1.2) + 1))


def interleaved(contenders: dict[str, tuple[Callable, tuple]], rounds: int, target: float = 0.005
                ) -> dict[str, float]:
    """Median seconds per call of each contender, timed in alternation."""
    numbers = {k: _number(fn, args, target) for k, (fn, args) in contenders.items()}
    samples: dict[str, list[float]] = {k: [] for k in contenders}
    keys = list(contenders)
    enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                fn, args = contenders[k]
                samples[k].append(_batch(fn, args, numbers[k]) / numbers[k])
    finally:
        if enabled:
            gc.enable()
    return {k: statistics.median(v) for k, v in samples.items()}


def us(t: float) -> str:
    return f"{t * 1e6:.3g} µs" if t < 1e-3 else f"{t * 1e3:.3g} ms" if t < 1 else f"{t:.3g} s"


def prepared(method: str, problem: Problem):
    return backends.registry()[method].prepare(problem)


# --- hand-written baselines ---------------------------------------------------------

def hand_sigmoid(w, x):
    return 1 / (1 + math.exp(-w * x))


def hand_sigmoid_dw(w, x):
    s = 1 / (1 + math.exp(-w * x))
    return x * s * (1 - s)


def hand_rosenbrock_grad(x, y):
    b = y - x * x
    return [-2 * (1 - x) - 400 * x * b, 200 * b]


def hand_rosenbrock_hessian(x, y):
    return [[2 - 400 * (y - x * x) + 800 * x * x, -400 * x], [-400 * x, 200.0]]


def textbook_central(point):
    w, x = point["w"], point["x"]
    h = EPS ** (1 / 3) * max(1.0, abs(w))
    h = (w + h) - w
    return (hand_sigmoid(w + h, x) - hand_sigmoid(w - h, x)) / (2 * h)


# --- the scalar graph -----------------------------------------------------------------

def _balanced_sum(terms):
    while len(terms) > 1:
        terms = [Apply("add", (terms[i], terms[i + 1])) if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


def scalar_graph(n: int) -> Problem:
    """f = sum_i sin(x_i) exp(x_{i+1}) + x_i^2, built as an AST (a balanced sum), gradient in all x_i."""
    xs = [Var(f"x{i}") for i in range(n)]
    terms = [Apply("add", (Apply("mul", (Apply("sin", (xs[i],)), Apply("exp", (xs[i + 1],)))),
                           Apply("powi", (xs[i], Num("2"))))) for i in range(n - 1)]
    terms.append(Apply("powi", (xs[-1], Num("2"))))
    point = {f"x{i}": 0.1 + 0.8 * ((i * 7919) % 100) / 100 for i in range(n)}
    return Problem(_balanced_sum(terms), tuple(f"x{i}" for i in range(n)), point, 1, f"scalar graph n={n}")


def hand_graph(xs):
    """The scalar graph as a plain Python loop: the floor for any evaluation of f."""
    total = 0.0
    for i in range(len(xs) - 1):
        total += math.sin(xs[i]) * math.exp(xs[i + 1]) + xs[i] * xs[i]
    return total + xs[-1] * xs[-1]


def autograd_grad(kind: str):
    """autograd's grad of the sigmoid (d/dw) or of the scalar graph; None if not installed."""
    if importlib.util.find_spec("autograd") is None:
        return None
    import autograd
    import autograd.numpy as anp
    if kind == "sigmoid":
        return autograd.grad(lambda w, x: 1 / (1 + anp.exp(-w * x)))

    def f(xs):
        total = 0.0
        for i in range(len(xs) - 1):
            total = total + anp.sin(xs[i]) * anp.exp(xs[i + 1]) + xs[i] ** 2
        return total + xs[-1] ** 2
    return autograd.grad(f)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--quick", action="store_true", help="n up to 1000, fewer rounds")
    opts = ap.parse_args()
    rounds = 5 if opts.quick else opts.rounds
    sizes = (10, 100, 1000) if opts.quick else (10, 100, 1000, 10000)
    started = time.perf_counter()
    start_load = load()
    rows: list[tuple[str, str, str, str]] = []

    # compiled f, fd-central, ad-codegen and ad-reverse on the sigmoid
    sig, _ = make_problem("1/(1+exp(-w*x))", "w", "w=2,x=3", 1)
    f = compile_program(sig.expr).function(["w", "x"]).fn
    fd = prepared("fd-central", sig)
    gen = prepared("ad-codegen", sig)
    rev = prepared("ad-reverse", sig)
    from derivcmp.backends.codegen_ad import generate
    dsig = generate(compile_program(sig.expr), ("w",), 1)[0].fn
    contenders = {"f": (f, (2.0, 3.0)), "hand f": (hand_sigmoid, (2.0, 3.0)),
                  "fd": (fd.evaluate, (sig.point,)), "textbook": (textbook_central, (sig.point,)),
                  "gen": (dsig, (2.0, 3.0)), "gen eval": (gen.evaluate, (sig.point,)),
                  "hand d": (hand_sigmoid_dw, (2.0, 3.0)), "rev": (rev.evaluate, (sig.point,))}
    ag = autograd_grad("sigmoid")
    if ag is not None:
        contenders["autograd"] = (ag, (2.0, 3.0))
    t = interleaved(contenders, rounds)
    rows += [
        ("compiled f / hand-written f (sigmoid)", f"{t['f'] / t['hand f']:.2f}×", "≤ 2×",
         f"{us(t['f'])} vs {us(t['hand f'])}"),
        ("fd-central / textbook central difference", f"{t['fd'] / t['textbook']:.2f}×", "≤ 3×",
         f"{us(t['fd'])} vs {us(t['textbook'])}"),
        ("ad-codegen / hand-written d/dw (sigmoid), functions of floats", f"{t['gen'] / t['hand d']:.2f}×",
         "≤ 2×", f"{us(t['gen'])} vs {us(t['hand d'])}"),
        ("ad-codegen evaluate(point) / hand-written d/dw", f"{t['gen eval'] / t['hand d']:.2f}×", "",
         f"{us(t['gen eval'])} (the point dict lookup included)"),
        ("ad-reverse per call (sigmoid)", us(t["rev"]), "≤ 5 µs",
         f"{t['rev'] / t['hand d']:.0f}× hand-written d/dw"
         + (f"; autograd {us(t['autograd'])} ({t['autograd'] / t['rev']:.1f}× ad-reverse)" if ag else "")),
        ("machine speed: hand-written f (the issue measured 0.076 µs)", us(t["hand f"]), "", ""),
    ]

    for label, order, hand in (("gradient", 1, hand_rosenbrock_grad), ("Hessian", 2, hand_rosenbrock_hessian)):
        ros, _ = make_problem("(1-x)^2 + 100*(y-x^2)^2", "x,y", "x=-1.2,y=1", order)
        d = generate(compile_program(ros.expr), ("x", "y"), order)[0].fn
        ev = prepared("ad-codegen", ros)
        r = prepared("ad-reverse", ros)
        t = interleaved({"gen": (d, (-1.2, 1.0)), "hand": (hand, (-1.2, 1.0)),
                         "eval": (ev.evaluate, (ros.point,)), "rev": (r.evaluate, (ros.point,))}, rounds)
        rows += [
            (f"ad-codegen / hand-written Rosenbrock {label}, functions of floats", f"{t['gen'] / t['hand']:.2f}×",
             "≤ 2×", f"{us(t['gen'])} vs {us(t['hand'])}"),
            (f"ad-codegen evaluate(point) / hand-written Rosenbrock {label}", f"{t['eval'] / t['hand']:.2f}×", "",
             f"{us(t['eval'])}; ad-reverse {us(t['rev'])}"),
        ]

    # the scalar graph
    graph_rows = []
    for n in sizes:
        problem = scalar_graph(n)
        program = compile_program(problem.expr)
        names = list(program.names)
        t0 = time.thread_time()
        cf = program.function(names).fn
        t_compile_f = time.thread_time() - t0
        t0 = time.thread_time()
        r = prepared("ad-reverse", problem)
        t_setup_rev = time.thread_time() - t0
        t0 = time.thread_time()
        g = prepared("ad-codegen", problem)
        t_setup_gen = time.thread_time() - t0
        args = tuple(problem.point[k] for k in names)
        contenders = {"f": (cf, args), "rev": (r.evaluate, (problem.point,)), "gen": (g.evaluate, (problem.point,)),
                      "loop": (hand_graph, (list(args),))}
        ag = autograd_grad("graph")
        if ag is not None and n <= 1000:
            contenders["autograd"] = (ag, ([problem.point[k] for k in names],))
        t = interleaved(contenders, max(3, rounds // 3), target=0.02)
        tape = r.details["tape_length"]
        graph_rows.append((n, tape, t, t_compile_f, t_setup_rev, t_setup_gen))

    fd_rows = []
    for n in sizes[:3]:
        problem = scalar_graph(n)
        fdp = prepared("fd-central", problem)
        t = interleaved({"fd": (fdp.evaluate, (problem.point,))}, 3, target=0.02)["fd"]
        fd_rows.append((n, t))

    end_load = load()
    wall = time.perf_counter() - started
    print("## engine (issue 7)\n")
    print(f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
          f"load average {start_load} before, {end_load} after.  Interleaved batches, median of "
          f"{rounds} rounds (scalar graph: {max(3, rounds // 3)}), thread CPU time.\n")
    print("| comparison | measured | target | absolute |")
    print("|---|---:|---:|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nScalar graph f = Σ sin(x_i)·exp(x_{i+1}) + x_i², gradient in all n variables:\n")
    peer = any("autograd" in t for _, _, t, *_ in graph_rows)
    print("| n | tape entries | plain Python loop | compiled f | ad-reverse | per tape entry (target ≤ 0.5 µs) "
          "| ad-codegen | ad-codegen / f (target ≤ 4×) | setup (CPU): f, ad-reverse, ad-codegen |"
          + (" autograd |" if peer else ""))
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if peer else ""))
    for n, tape, t, cf_s, rev_s, gen_s in graph_rows:
        cells = [str(n), str(tape), us(t["loop"]), us(t["f"]), us(t["rev"]), f"{t['rev'] / tape * 1e6:.3f} µs",
                 us(t["gen"]),
                 f"{t['gen'] / t['f']:.2f}×", f"{us(cf_s)}, {us(rev_s)}, {us(gen_s)}"]
        if peer:
            cells.append(us(t["autograd"]) if "autograd" in t else "—")
        print("| " + " | ".join(cells) + " |")
    if not peer:
        print("\n(autograd not installed: peer column skipped)")
    print("\nfd-central full gradient (2n evaluations of an O(n) f: O(n²)):\n")
    print("| n | time | time / n² |")
    print("|---:|---:|---:|")
    for n, t in fd_rows:
        print(f"| {n} | {us(t)} | {t / n ** 2 * 1e9:.3g} ns |")
    print(f"\n(benchmark wall time {wall:.0f} s)")


if __name__ == "__main__":
    main()

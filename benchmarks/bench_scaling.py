"""Cost of the front end against the size of the expression.

    python benchmarks/bench_scaling.py                 # n = 10 ... 100000
    python benchmarks/bench_scaling.py --max-n 10000   # stop earlier

Two shapes, built as ASTs directly (as a Python API user would):

* ``sum``:   f = sum_i sin(x_i)*exp(x_{i+1}) + x_i^2 (a left-deep sum, ~10 nodes a term)
* ``chain``: t <- sin(t) - x_{i mod 7}, as deep as it is long

and for each n (the number of AST nodes) the median CPU time of each stage
(``time.process_time``: on a shared 2-core machine under load, wall time is
mostly waiting for a core and varies tenfold; CPU time is the algorithm's):
``parse`` (the same expression printed and parsed back, sum only: parsing
recurses with nesting, which the parser bounds), ``make_problem`` (given the
AST), ``compile_program``, ``to_text``, ``variables`` and ``to_sympy`` (from
a cold sympy cache; sympy's own constructors recurse into their arguments, so
deep chains end in RecursionError inside sympy whatever the bridge does).  The
ratio column is time per node: flat for O(n), growing with n for anything
worse.  A stage is skipped at the next n once ten times its time exceeds
``--budget`` seconds (an O(n^2) stage would take hours).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import sympy
from bench_startup import loadavg  # this folder is on sys.path when run as a script

from derivcmp import expr as E
from derivcmp.compare import make_problem
from derivcmp.program import compile_program
from derivcmp.sympy_bridge import to_sympy

SIZES = (10, 100, 1000, 10_000, 100_000)


def sum_expr(n: int) -> E.Expr:
    terms = max(1, n // 10)
    x = [E.Var(f"x{i}") for i in range(terms + 1)]
    two = E.Num("2")
    f = None
    for i in range(terms):
        t = E.Apply("add", (E.Apply("mul", (E.Apply("sin", (x[i],)), E.Apply("exp", (x[i + 1],)))),
                            E.Apply("powi", (x[i], two))))
        f = t if f is None else E.Apply("add", (f, t))
    return f


def chain_expr(n: int) -> E.Expr:
    x = [E.Var(f"x{i}") for i in range(7)]
    t: E.Expr = x[0]
    for i in range(max(1, n // 2)):
        t = E.Apply("sub", (E.Apply("sin", (t,)), x[i % 7]))
    return t


def _to_sympy_cold(expr: E.Expr):
    sympy.core.cache.clear_cache()      # as the symbolic method runs it; a warm cache hides the cost
    return to_sympy(expr)


def stages(expr: E.Expr, shape: str):
    text = E.to_text(expr)
    point = {v: 0.5 for v in E.variables(expr)}
    out = {
        "make_problem": lambda: make_problem(expr, at=point),
        "compile_program": lambda: compile_program(expr),
        "to_text": lambda: E.to_text(expr),
        "variables": lambda: E.variables(expr),
        "to_sympy": lambda: _to_sympy_cold(expr),
    }
    if shape == "sum":
        out = {"parse": lambda: _parse(text), **out}
    return out


def _parse(text: str):
    try:
        return E.parse(text, max_length=len(text))
    except TypeError:       # before parse took max_length: lift the module limit
        old, E.MAX_LENGTH = E.MAX_LENGTH, len(text)
        try:
            return E.parse(text)
        finally:
            E.MAX_LENGTH = old


def median_time(fn, budget: float) -> tuple[float, int]:
    times: list[float] = []
    while True:
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
        if len(times) >= 5 or sum(times) > budget / 4 or (len(times) >= 3 and sum(times) > 0.5):
            return statistics.median(times), len(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-n", type=int, default=SIZES[-1])
    ap.add_argument("--budget", type=float, default=60.0,
                    help="skip a stage at the next n when 10x its time exceeds this (s)")
    args = ap.parse_args()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    print(f"python {platform.python_version()}, {platform.machine()}, load average {loadavg()}")
    print()
    print("| shape | n (nodes) | stage | median s | repeats | µs per node |")
    print("|---|---:|---|---:|---:|---:|")
    for shape, build in (("sum", sum_expr), ("chain", chain_expr)):
        skipped: set[str] = set()
        for n in (s for s in SIZES if s <= args.max_n):
            expr = build(n)
            nodes = E.size(expr)
            for stage, fn in stages(expr, shape).items():
                if stage in skipped:
                    print(f"| {shape} | {nodes} | {stage} | skipped | | |", flush=True)
                    continue
                try:
                    t, reps = median_time(fn, args.budget)
                except RecursionError:
                    print(f"| {shape} | {nodes} | {stage} | RecursionError (in sympy) | | |", flush=True)
                    skipped.add(stage)
                    continue
                print(f"| {shape} | {nodes} | {stage} | {t:.4g} | {reps} | {t / nodes * 1e6:.3g} |", flush=True)
                if 10 * t > args.budget:      # even O(n) would overrun at the next n
                    skipped.add(stage)


if __name__ == "__main__":
    main()

"""Symbolic differentiation measured: derivative sizes, setup and per-evaluation time.

    python benchmarks/bench_symbolic.py [--repeats 3] [--max-n 10000]   # prints Markdown

Cases: nested expressions from expressions/deep.toml (first derivative) and the
gradient of f = sum_i sin(x_i)*exp(x_{i+1}) + x_i^2 for n = 10 ... 10,000.
The sum is built as an AST directly, as a balanced tree of additions (a
left-deep chain of 10,000 additions, what the parser makes of the text, pays
sympy's pairwise flattening in ``to_sympy`` before differentiation starts).

Methods: symbolic, symbolic-cse, ad-reverse, and ad-codegen where the registry
has it.  Each (case, method) runs ``backends.run`` in a forked child with a
deadline, so every setup starts from the same cold state; the repeats are
interleaved (case by case, method by method, then again) and the medians are
reported; n = 10,000 runs once.  The load average is recorded before and after:
on a loaded machine the absolute times are inflated, the ratios less so.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tomllib

from derivcmp import deadline, timing
from derivcmp.backends import registry
from derivcmp.compare import make_problem
from derivcmp.expr import Apply, Num, Var
from derivcmp.problem import Problem

ROOT = Path(__file__).resolve().parent.parent
NESTED = ["sin-chain-10", "softplus-chain-12", "tanh-stack-5", "sigmoid-net-5"]
SIZES = [10, 100, 1000, 10_000]
WANTED = ["symbolic", "symbolic-cse", "ad-reverse", "ad-codegen"]
DEADLINE_S = 600.0


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def nested_problems() -> list[tuple[str, Problem]]:
    cases = tomllib.loads((ROOT / "expressions" / "deep.toml").read_text())["case"]
    out = []
    for c in cases:
        if c["id"] in NESTED:
            p, _ = make_problem(c["expr"], c.get("wrt"), c["at"], 1)
            out.append((c["id"], p))
    return out


def sum_problem(n: int) -> Problem:
    xs = [Var(f"x{i}") for i in range(n + 1)]
    terms = [Apply("add", (Apply("mul", (Apply("sin", (xs[i],)), Apply("exp", (xs[i + 1],)))),
                           Apply("pow", (xs[i], Num("2"))))) for i in range(n)]
    while len(terms) > 1:
        terms = [Apply("add", (terms[i], terms[i + 1])) if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    names = tuple(v.name for v in xs)
    point = {v: 0.1 + 0.01 * (i % 37) for i, v in enumerate(names)}
    return Problem(terms[0], names, point, 1, f"sum n={n}")


@dataclass(frozen=True)
class Measured:
    status: str
    setup_s: float
    setup_cpu_s: float      # CPU seconds of the setup: what a loaded machine inflates least
    eval_s: float | None
    details: dict


def _measure_here(method: str, problem: Problem) -> Measured:
    backend = registry()[method]
    wall, cpu = time.perf_counter(), time.process_time()
    prepared = backend.prepare(problem)
    setup_s, setup_cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    point = problem.point
    with np.errstate(all="ignore"):
        value = np.asarray(prepared.evaluate(point), dtype=float)
        t = timing.measure(lambda: prepared.evaluate(point), setup_s)
    details = dict(prepared.details)
    if prepared.extra is not None:
        details.update(prepared.extra())
    status = "ok" if np.all(np.isfinite(value)) else "non-finite"
    return Measured(status, setup_s, setup_cpu_s, t.eval_s, details)


def measure(method: str, problem: Problem) -> Measured | None:
    got = deadline.call(lambda: _measure_here(method, problem), DEADLINE_S, reraise=False)
    return got if isinstance(got, Measured) else None


def size_of(o) -> str:
    d = o.details if o is not None else {}
    if "sizes" in d:
        s = d["sizes"]
        return f"{s['raw']['ops']:,} / {s['cse']['ops']:,}"
    if "tape_length" in d:
        return f"tape {d['tape_length']:,}"
    if "code_lines" in d:
        return f"code {d['code_lines']:,} lines"
    return "-"


def fmt(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-n", type=int, default=10_000)
    args = ap.parse_args()
    reg = registry()
    methods = [m for m in WANTED if m in reg]
    skipped = [m for m in WANTED if m not in reg]
    cases = nested_problems() + [(f"sum n={n}", sum_problem(n)) for n in SIZES if n <= args.max_n]
    load_before, start = load(), time.perf_counter()
    results: dict[tuple[str, str], list] = {}
    for r in range(args.repeats):
        for label, problem in cases:
            if r > 0 and label == "sum n=10000":
                continue
            for m in methods:
                o = measure(m, problem)
                results.setdefault((label, m), []).append(o)
                print(f"# {label} {m}: {o.status if o else 'timeout/crash'} setup {fmt(o.setup_s if o else None)} "
                      f"(cpu {fmt(o.setup_cpu_s if o else None)}) eval {fmt(o.eval_s if o else None)}",
                      file=sys.stderr, flush=True)
    wall = time.perf_counter() - start

    print("## symbolic: sizes, setup and evaluation\n")
    print(f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}; "
          f"load average {load_before} before, {load()} after; {wall:.0f} s in all. "
          f"Medians of {args.repeats} interleaved runs (sum n=10,000: one run).\n")
    if skipped:
        print(f"Not in this registry, skipped: {', '.join(skipped)}.\n")
    print("Size: operations of the derivative raw / after cse (symbolic), tape length (ad-reverse), "
          "lines of generated adjoint code (ad-codegen). "
          "Setup: differentiate + code generation (symbolic), compile + record (ad-reverse), "
          "compile + generate + compile the adjoint code (ad-codegen), wall time "
          "with its CPU time in parentheses (the load inflates wall time, CPU time much less). "
          "Eval: one evaluation of the derivative or gradient.\n")
    head = ["case", "f ops", "size"] + [f"{m} setup" for m in methods] + [f"{m} eval" for m in methods]
    print("| " + " | ".join(head) + " |")
    print("|---|" + "---:|" * (len(head) - 1))
    for label, _ in cases:
        runs = {m: [o for o in results[(label, m)] if o is not None and o.status == "ok"] for m in methods}
        first = next((o for m in methods for o in runs[m] if "sizes" in o.details), None)
        f_ops = f"{first.details['sizes']['f']['ops']:,}" if first else "-"
        size = "; ".join(f"{size_of(runs[m][0])}" for m in methods if runs[m] and m in ("symbolic", "ad-reverse", "ad-codegen"))

        def med(m, key, runs=runs):
            vals = [getattr(o, key) for o in runs[m] if getattr(o, key) is not None]
            return statistics.median(vals) if vals else None
        cells = [label, f_ops, size] + [f"{fmt(med(m, 'setup_s'))} ({fmt(med(m, 'setup_cpu_s'))})"
                                        for m in methods] + [fmt(med(m, "eval_s")) for m in methods]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

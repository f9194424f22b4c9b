"""How long `derivcmp eval` takes, and how the methods' costs compare.

    python benchmarks/bench_eval.py            # prints a Markdown section

1. Wall time of the README example as a user runs it (a fresh process,
   default options: timing on, 10 s deadlines), median of 5 runs.
2. Per-evaluation cost of each method on a few expressions, as ratios to the
   cheapest method in the same run (these 2-core machines are noisy; ratios
   measured side by side are what is comparable across runs).
"""

from __future__ import annotations

import platform
import shutil
import statistics
import subprocess
import sys
import time

from derivcmp.compare import compare_text

EXAMPLE = ["eval", "1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3"]
CASES = [
    ("sigmoid", "1/(1+exp(-w*x))", "w", "w=2,x=3", 1),
    ("rosenbrock grad", "(1-x)^2 + 100*(y-x^2)^2", "x,y", "x=-1.2,y=1", 1),
    ("rosenbrock Hessian", "(1-x)^2 + 100*(y-x^2)^2", "x,y", "x=-1.2,y=1", 2),
    ("deep chain", "sin(exp(cos(log(1+x^2)*tanh(x))))", "x", "x=0.7", 1),
    ("neuron grad", "tanh(w1*x1 + w2*x2 + b)", "w1,w2,b", "w1=0.3,w2=-0.2,b=0.1,x1=1.5,x2=2", 1),
]


def wall_time(runs: int = 5) -> float:
    exe = shutil.which("derivcmp")
    cmd = [exe] if exe else [sys.executable, "-m", "derivcmp"]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd + EXAMPLE, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    wall = wall_time()
    print("## eval\n")
    print(f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}.\n")
    print(f"`derivcmp {' '.join(repr(a) if ' ' in a or '(' in a else a for a in EXAMPLE)}` "
          f"(fresh process, timing on): median wall time **{wall:.2f} s** over 5 runs "
          "(target: well under 2 s).\n")
    print("Per-evaluation time, median of 7 autoranged batches, as a ratio to the fastest method "
          "of the same case (absolute time of the fastest in parentheses):\n")
    print("| case | symbolic | fd-central | ad-reverse | symbolic setup |")
    print("|---|---:|---:|---:|---:|")
    for label, expr, wrt, at, order in CASES:
        c = compare_text(expr, wrt=wrt, at=at, order=order)
        t = {g.name: g.outcome.timing for g in c.results}
        fastest = min(x.eval_s for x in t.values())
        cells = [f"{t[m].eval_s / fastest:.1f}×" + (f" ({t[m].eval_s * 1e6:.1f} µs)" if t[m].eval_s == fastest else "")
                 for m in ("symbolic", "fd-central", "ad-reverse")]
        print(f"| {label} | " + " | ".join(cells) + f" | {t['symbolic'].setup_s * 1e3:.0f} ms |")


if __name__ == "__main__":
    main()

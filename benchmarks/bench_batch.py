"""How fast `derivcmp batch` runs the shipped suites, and what a case costs.

    python benchmarks/bench_batch.py              # prints the Markdown "Batch" section
    python benchmarks/bench_batch.py --repeats 5

1. Parallel speed-up: `derivcmp batch expressions/` (default options, as a
   user runs it) with `--jobs 1` and with `--jobs 2`, alternated, best of
   `--repeats` wall times each (the best is the least disturbed by other load
   on the machine); the ratio is the figure.  Two load-independent checks go
   with it: what 2 processes gain over 1 on a pure CPU loop just before and
   after (the most any tool could gain then), and how many workers were busy
   on average in a `jobs=2` run.
2. Per-case overhead: the cases of one suite run (a) as one batch process,
   `--jobs 1`, and (b) as one `derivcmp eval` process per case with the same
   expression, point, order and methods; both `--no-timing`.  The compute
   itself is measured in-process (``batch.run_case``) and subtracted, so what
   is left is the overhead per case.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from derivcmp.batch import run_case
from derivcmp.suite import load

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "expressions"


def command() -> list[str]:
    exe = shutil.which("derivcmp") or str(Path(sys.executable).with_name("derivcmp"))
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "derivcmp"]


def wall(args: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(command() + args, check=False, capture_output=True, cwd=ROOT)
    return time.perf_counter() - t


def speedup(repeats: int) -> tuple[float, float, int]:
    n = len(load([SUITES]).cases)
    one, two = [], []
    for _ in range(repeats):
        one.append(wall(["batch", "expressions/", "--jobs", "1", "--format", "json"]))
        two.append(wall(["batch", "expressions/", "--jobs", "2", "--format", "json"]))
    return min(one), min(two), n


def _spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def machine_speedup(repeats: int) -> float:
    """What 2 processes gain over 1 on a pure CPU loop, now: the ceiling for any tool.

    On a shared machine another job may hold a core; this says how much
    parallelism was actually available while the batch figures were taken.
    """
    from concurrent.futures import ProcessPoolExecutor
    best = {1: float("inf"), 2: float("inf")}
    for _ in range(repeats):
        for jobs in (1, 2):
            t = time.perf_counter()
            with ProcessPoolExecutor(jobs) as ex:
                list(ex.map(_spin, [2_000_000] * 8))
            best[jobs] = min(best[jobs], time.perf_counter() - t)
    return best[1] / best[2]


def occupancy(jobs: int) -> tuple[float, float]:
    """Wall time of the runner in-process, and how many workers were busy on average.

    The sum of the cases' own times over the wall time: 2.0 means both workers
    always had a case, whatever share of the CPU the machine gave them.
    """
    from derivcmp.batch import run_cases
    cases = load([SUITES]).cases
    t = time.perf_counter()
    run = run_cases(cases, timing=True, jobs=jobs, timeout=10)
    elapsed = time.perf_counter() - t
    return elapsed, sum(r.seconds for r in run.results) / elapsed


def eval_args(case) -> list[str]:
    args = ["eval", case.expr, "--at", ",".join(f"{k}={v!r}" for k, v in case.at.items()),
            "--order", str(case.order), "--no-timing", "--format", "json"]
    if case.wrt:
        args += ["--wrt", ",".join(case.wrt)]
    if case.methods:
        args += ["--methods", ",".join(case.methods)]
    return args


def overhead(suite: Path) -> dict[str, float]:
    cases = load([suite]).cases
    n = len(cases)
    for c in cases[:3]:                   # warm caches before measuring the compute
        run_case(c, None, False, None)
    t = time.perf_counter()
    for c in cases:
        run_case(c, None, False, None)
    compute = (time.perf_counter() - t) / n
    rel = suite.relative_to(ROOT).as_posix()
    batch = wall(["batch", rel, "--jobs", "1", "--no-timing", "--format", "json"]) / n
    t = time.perf_counter()
    for c in cases:
        subprocess.run(command() + eval_args(c), check=False, capture_output=True, cwd=ROOT)
    separate = (time.perf_counter() - t) / n
    return {"n": n, "compute": compute, "batch": batch, "eval": separate}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--suite", default=str(SUITES / "basics.toml"))
    opts = ap.parse_args()
    load_before = os.getloadavg()[0]       # other work on the machine skews every figure
    before = machine_speedup(opts.repeats)
    t1, t2, n = speedup(opts.repeats)
    after = machine_speedup(opts.repeats)
    _, busy2 = occupancy(2)
    o = overhead(Path(opts.suite).resolve())
    ms = {k: v * 1000 for k, v in o.items() if k != "n"}
    print("## Batch\n")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
          f"{platform.python_version()}; load average before the runs {load_before:.1f}.\n")
    print(f"Reproduce: `python benchmarks/bench_batch.py --repeats {opts.repeats}`\n")
    print("| measurement | value |")
    print("|:---|---:|")
    print(f"| `derivcmp batch expressions/` ({n} cases, timing on), `--jobs 1`, best of {opts.repeats} "
          f"| {t1:.1f} s |")
    print(f"| the same with `--jobs 2` | {t2:.1f} s |")
    print(f"| **speed-up `--jobs 2` vs `--jobs 1`** (target ≥ 1.7×) | **{t1 / t2:.2f}×** |")
    print(f"| for calibration: 2 vs 1 processes on a pure CPU loop, just before / just after "
          f"| {before:.2f}× / {after:.2f}× |")
    print(f"| workers busy on average during a `jobs=2` run (sum of case times / wall time) | {busy2:.2f} |")
    name = Path(opts.suite).name
    print(f"| {name} ({o['n']} cases, `--no-timing`): compute per case, in-process "
          f"| {ms['compute']:.0f} ms |")
    print(f"| one `derivcmp batch` process, per case | {ms['batch']:.0f} ms |")
    print(f"| one `derivcmp eval` process per case | {ms['eval']:.0f} ms |")
    print(f"| **overhead per case: batch vs separate eval processes** "
          f"| **{ms['batch'] - ms['compute']:.0f} ms vs {ms['eval'] - ms['compute']:.0f} ms** |")


if __name__ == "__main__":      # the worker pool re-imports this module
    main()

"""Start-up: one `derivcmp eval` against importing the libraries it stands on.

    python benchmarks/bench_startup.py              # 15 pairs
    python benchmarks/bench_startup.py --runs 31
    python benchmarks/bench_startup.py --before /tmp/old-checkout   # also time that tree's eval

Runs ``derivcmp eval "1/(1+exp(-w*x))" --wrt w --at w=2,x=3 --no-timing``
(default 10 s deadlines, so the reference and each method run in a forked
child) and ``python -c "import sympy, numpy, rich, click"`` alternately,
each in a fresh process, and reports the medians and their ratio (target
<= 1.3).  Also ``derivcmp --help`` and a parse error, which must not import
sympy at all.  The machine load is printed before and after: on a busy
2-core machine the ratio, measured pairwise, is what is comparable.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

EVAL = ["eval", "1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3", "--no-timing"]
COMMANDS = {
    "derivcmp eval ... --no-timing": [sys.executable, "-m", "derivcmp", *EVAL],
    "import sympy, numpy, rich, click": [sys.executable, "-c", "import sympy, numpy, rich, click"],
    "derivcmp --help": [sys.executable, "-m", "derivcmp", "--help"],
    "derivcmp eval 'sinn(x)' (parse error)": [sys.executable, "-m", "derivcmp", "eval", "sinn(x)"],
    "import numpy, rich, click": [sys.executable, "-c", "import numpy, rich, click"],
}


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "?"


def run(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, env=env)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--before", metavar="DIR", help="a checkout of another commit: time its eval too")
    args = ap.parse_args()
    commands = {name: (cmd, None) for name, cmd in COMMANDS.items()}
    if args.before:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(args.before)}
        commands[f"derivcmp eval ... --no-timing ({args.before})"] = (COMMANDS["derivcmp eval ... --no-timing"], env)
    for cmd, env in commands.values():      # warm the file cache and .pyc files
        run(cmd, env)
    load_before = loadavg()
    times: dict[str, list[float]] = {k: [] for k in commands}
    for _ in range(args.runs):              # interleaved: drift in load hits every command alike
        for name, (cmd, env) in commands.items():
            times[name].append(run(cmd, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["import sympy, numpy, rich, click"]
    print(f"python {sys.version.split()[0]}; {args.runs} interleaved runs each; "
          f"load average before {load_before}, after {loadavg()}")
    print()
    print("| command | median s | min s | max s | ratio to import sympy, numpy, rich, click |")
    print("|---|---:|---:|---:|---:|")
    for name, v in times.items():
        print(f"| `{name}` | {med[name]:.3f} | {min(v):.3f} | {max(v):.3f} | {med[name] / base:.2f} |")
    pairs = [a / b for a, b in zip(times["derivcmp eval ... --no-timing"],
                                   times["import sympy, numpy, rich, click"])]
    print()
    print(f"eval / imports, median of the {len(pairs)} paired ratios: {statistics.median(pairs):.2f} "
          f"(target <= 1.3)")


if __name__ == "__main__":
    main()

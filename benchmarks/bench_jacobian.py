"""The forward/reverse crossover of a Jacobian (issue 15), in one run.

    python benchmarks/bench_jacobian.py [--family jacobian-network,jacobian] [--inputs 64]
        [--outputs 1,4,16,32,64,128,256] [--plot FILE.png]

On the generated families of ``bench.jacobian_problem`` (m outputs of n inputs):
``jacobian-network``, y = V tanh(W2 tanh(W1 x)), where every sweep either way
costs about one f, and ``jacobian``, y_j = sum_i sin(a_ji x_i) x_{i+1}, where an
output's dependency cone is its own 4n nodes but an input's reaches every
output (so sparsity, not the sweep count, decides), it times the
Jacobian of every method that computes one as a single job over one program
(``jacobian = "native"``): ad-forward (n tangent sweeps), ad-reverse and
ad-codegen (m reverse sweeps), and the installed peers -- jax both ways
(jacfwd and jacrev, ``jacobian_modes``), the others as they are.  Peers used
only for this comparison are installed by hand: ``pip install jax``.

Timings are interleaved (A B C A B C ...), each the median of ``--repeats``
runs of enough calls to last 20 ms, as CPU time of this process
(``time.process_time``: the machine is shared, and wall time would count the
other processes' work); the load average is recorded before and after.  The
crossover is where ad-forward's time falls below ad-reverse's (log-log
interpolation between the two m that bracket it).  Every method's Jacobian is
checked against ad-reverse's (and against the 50-digit reference where
m * n <= 64) before it is timed.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import statistics
import sys
import time

import numpy as np

from derivcmp import backends
from derivcmp.bench import JACOBIAN_FAMILIES, jacobian_problem, parse_sizes
from derivcmp.compare import compute_reference


def _time(fn, min_s: float = 0.02) -> float:
    n = 1
    while True:
        t = time.process_time()
        for _ in range(n):
            fn()
        dt = time.process_time() - t
        if dt >= min_s or n >= 1 << 16:
            return dt / n
        n *= 2


def variants(wanted: list[str]) -> list[tuple[str, object]]:
    reg = backends.registry()
    out = []
    for name, b in reg.items():
        if getattr(b, "jacobian", None) != "native" or name not in wanted:
            continue
        modes = getattr(b, "jacobian_modes", ()) or (None,)
        for mode in modes:
            v = b
            if mode is not None and len(modes) > 1:
                v = copy.copy(b)
                v.jacobian_mode = mode
            out.append((name if mode is None or len(modes) == 1 else f"{name} ({mode})", v))
    return out


def crossover(ms: list[int], fwd: list[float], rev: list[float]) -> float | None:
    """The m where forward's time meets reverse's, interpolated on log-log axes."""
    for i in range(1, len(ms)):
        a0, a1 = math.log(fwd[i - 1] / rev[i - 1]), math.log(fwd[i] / rev[i])
        if a0 > 0 >= a1:
            t = a0 / (a0 - a1)
            return math.exp(math.log(ms[i - 1]) + t * (math.log(ms[i]) - math.log(ms[i - 1])))
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--family", default="jacobian-network,jacobian")
    ap.add_argument("--inputs", default="64")
    ap.add_argument("--outputs", default="1,4,16,32,64,128,256")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--max-setup", type=float, default=60.0,
                    help="a method whose setup took longer is not tried at larger m")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--methods", default="ad-forward,ad-reverse,ad-codegen,jax,torch",
                    help="methods to time (those installed); autograd and pytensor are slow here")
    ap.add_argument("--network-methods", default="ad-forward,ad-reverse",
                    help="methods for jacobian-network (ad-codegen's code and jax's compile time grow with "
                         "m times the dense layers' size: minutes at n = 64)")
    ap.add_argument("--max-call", type=float, default=3.0,
                    help="a method whose Jacobian took longer (s) is not tried at larger m")
    args = ap.parse_args()
    (n,) = parse_sizes(args.inputs, "--inputs", "inputs")
    ms = list(parse_sizes(args.outputs, "--outputs", "outputs"))
    families = [f.strip() for f in args.family.split(",")]
    results = {fam: study(fam, n, ms, args) for fam in families}
    if args.plot:
        plot(results, n, ms, args.plot)


def study(family: str, n: int, ms: list[int], args) -> dict:
    load0 = os.getloadavg()
    methods = variants((args.network_methods if family == "jacobian-network" else args.methods).split(","))
    times: dict[str, dict[int, float]] = {name: {} for name, _ in methods}
    costs: dict[str, dict[int, str]] = {name: {} for name, _ in methods}
    setups: dict[str, dict[int, float]] = {name: {} for name, _ in methods}
    skipped: set[str] = set()
    for m in ms:
        problem = jacobian_problem(n, m, family)
        point = problem.point
        # (the network's reference would have sympy differentiate nested dense layers: minutes;
        # tests/test_bench.py checks that family against its Jacobian by matrix products)
        ref = compute_reference(problem) if m * n <= 64 and family == "jacobian" else None
        prepared, truth = {}, None
        for name, backend in methods:
            if name in skipped:
                continue
            t = time.perf_counter()
            p = backend.prepare(problem)
            with np.errstate(all="ignore"):
                value = np.asarray(p.evaluate(point), dtype=float)
            setups[name][m] = time.perf_counter() - t
            if setups[name][m] > args.max_setup:
                skipped.add(name)
            assert value.shape == (m, n), (name, value.shape)
            if ref is not None:
                assert np.allclose(value, ref.value, rtol=1e-12, atol=1e-14), name
            if truth is None:
                truth = value
            assert np.allclose(value, truth, rtol=1e-12, atol=1e-14), name
            d = p.details
            costs[name][m] = (f"{d['forward_sweeps']} fwd" if "forward_sweeps" in d and "reverse_sweeps" not in d
                              else f"{d.get('reverse_sweeps')} rev")
            prepared[name] = p
        samples: dict[str, list[float]] = {k: [] for k in prepared}
        for _ in range(args.repeats):
            for k, p in prepared.items():
                samples[k].append(_time(lambda p=p, point=point: p.evaluate(point)))
        for k, v in samples.items():
            times[k][m] = statistics.median(v)
            if times[k][m] > args.max_call:
                skipped.add(k)
        print(f"{family} m={m}: " + ", ".join(f"{k} {times[k][m] * 1e3:.3g} ms" for k in prepared), file=sys.stderr)
    load1 = os.getloadavg()

    print(f"**{family}**: {JACOBIAN_FAMILIES[family]}; n = {n} inputs, m outputs: CPU time per "
          f"Jacobian (median of {args.repeats} interleaved runs), in ms, and the sweeps each did.\n")
    names = [k for k, _ in methods]
    print("| m | m/n | " + " | ".join(names) + " |")
    print("|---:|---:|" + "---:|" * len(names))
    for m in ms:
        cells = [f"{times[k][m] * 1e3:.3g} ({costs[k][m]})" if m in times[k] else "-" for k in names]
        print(f"| {m} | {m / n:g} | " + " | ".join(cells) + " |")
    print()
    pairs = [("ad-forward", "ad-reverse")]
    if "jax (forward)" in times:
        pairs.append(("jax (forward)", "jax (reverse)"))
    for f, r in pairs:
        common = [m for m in ms if m in times[f] and m in times[r]]
        x = crossover(common, [times[f][m] for m in common], [times[r][m] for m in common])
        where = (f"m = {x:.0f} (m/n = {x / n:.2f})" if x is not None else
                 "none in the range measured")
        print(f"- crossover of {f} and {r}: {where}")
    print(f"\nload average {load0[0]:.1f} before, {load1[0]:.1f} after; "
          f"Python {platform.python_version()}, {platform.machine()}")
    return {"names": names, "times": times}


def plot(results: dict, n: int, ms: list[int], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.8), squeeze=False)
    for ax, (family, res) in zip(axes[0], results.items()):
        for k in res["names"]:
            got = [m for m in ms if m in res["times"][k]]
            if got:
                ax.loglog([m / n for m in got], [res["times"][k][m] for m in got], marker="o", label=k)
        ax.axvline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel(f"m/n (outputs / inputs; n = {n})")
        ax.set_ylabel("CPU time per Jacobian (s)")
        ax.set_title(f"{family}: {JACOBIAN_FAMILIES[family]}", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}", file=sys.stderr)

if __name__ == "__main__":
    main()

"""The peers and the scaling study: gradient cost against the number of variables.

    python benchmarks/bench_peers.py [--sizes 10,100,1000,10000] [--family sum] [--plot docs/bench.png]

Runs ``derivcmp bench`` (the library, with every method installed here) and
prints a Markdown section: the table, then each target of issue 12 measured
in this one run (ratios side by side; these 2-core machines are noisy):

* ad-reverse's (and ad-codegen's, where registered) gradient/f ratio at most 5
  for every n, while fd-central's grows about linearly with n;
* ad-reverse faster than autograd's and torch's eager gradients at every n;
* ad-codegen within 2x of jax.jit(grad) per call at every n;
* the whole run within 10 minutes.
"""

from __future__ import annotations

import argparse
import platform

from derivcmp import bench
from derivcmp.backends import base
from derivcmp.report.bench import plot, to_markdown


def by(rows, method):
    return {r.n: r for r in rows if r.method == method and r.status == "ok"}


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--family", default="sum")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--plot")
    args = ap.parse_args()
    sizes = bench.parse_sizes(args.sizes)
    methods = [n for n, e in base.entries().items() if e.available]
    result = bench.run(bench.parse_families(args.family), sizes, methods, args.timeout)
    if args.plot:
        plot(result, args.plot)
    print(f"## bench: gradient cost against n ({platform.machine()}, Python {platform.python_version()})\n")
    print(f"`python benchmarks/bench_peers.py --sizes {args.sizes} --family {args.family}`\n")
    print(to_markdown(result))
    rows = result.rows
    print("| target | measured | verdict |\n|---|---|---|")
    for m in ("ad-reverse", "ad-codegen"):
        got = by(rows, m)
        if got:
            worst = max(r.ratio for r in got.values())
            print(f"| {m} grad/f <= 5 at every n | worst {worst:.3g} | {verdict(worst <= 5)} |")
    fd = by(rows, "fd-central")
    if len(fd) >= 2:
        ns = sorted(fd)
        growth = (fd[ns[-1]].ratio / fd[ns[0]].ratio) / (ns[-1] / ns[0])
        print(f"| fd-central grad/f grows ~linearly | ratio grew {growth:.2f}x as fast as n "
              f"(n={ns[0]}..{ns[-1]}) | {verdict(0.3 <= growth <= 3)} |")
    ad = by(rows, "ad-reverse")
    for peer in ("autograd", "torch"):
        got = by(rows, peer)
        common = sorted(set(ad) & set(got))
        if common:
            speed = ", ".join(f"{got[n].grad_s / ad[n].grad_s:.2g}x" for n in common)
            print(f"| ad-reverse faster than {peer} (n={', '.join(map(str, common))}) | {speed} | "
                  f"{verdict(all(got[n].grad_s > ad[n].grad_s for n in common))} |")
    codegen, jax = by(rows, "ad-codegen"), by(rows, "jax")
    common = sorted(set(codegen) & set(jax))
    print(f"| ad-codegen within 2x of jax.jit(grad) | "
          f"{', '.join(f'{codegen[n].grad_s / jax[n].grad_s:.2g}x' for n in common) or 'not measured'} | "
          f"{verdict(all(codegen[n].grad_s <= 2 * jax[n].grad_s for n in common) if common else None)} |")
    print(f"| whole run within 10 minutes | {result.elapsed_s:.0f} s | {verdict(result.elapsed_s <= 600)} |")


if __name__ == "__main__":
    main()

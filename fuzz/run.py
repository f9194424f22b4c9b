"""Long differential fuzz run: random well-formed expressions and points, all
methods against the 50-digit reference, every disagreement categorized.

    python fuzz/run.py --seconds 600            # writes its figures into fuzz/README.md
    python fuzz/run.py --seconds 60 --no-write  # just print them

Inputs come from ``tests/strategies.py`` (``problems``); judging is
``strategies.judge`` (the same code the CI-sized run in tests/test_fuzz.py
uses), so the two runs differ only in size and randomness.  Each comparison
runs through ``derivcmp.compare.compare`` with a per-stage deadline, as the
CLI does: a stage that overruns is a *hang*; an exception out of ``compare``
or ``judge`` is a *crash*.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from reference_classes import (
    cancellations,
    composite_kinks,
    hidden_kinks,
    judge_cancellation,
    judge_composite_kink,
    judge_hidden_kink,
    judge_scaled,
    scaled,
)
from strategies import judge, problems

from derivcmp.compare import compare
from derivcmp.expr import to_text
from derivcmp.problem import Problem

BEGIN, END = "<!-- fuzz-results:begin -->", "<!-- fuzz-results:end -->"


class StopFuzz(Exception):
    pass


def command(problem: Problem) -> str:
    at = ",".join(f"{k}={float(v)!r}" for k, v in problem.point.items())
    return (f"derivcmp eval '{problem.text}' --wrt {','.join(problem.wrt)} --at {at} "
            f"--order {problem.order} --no-timing")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--timeout", type=float, default=5.0, help="per-stage deadline (s)")
    ap.add_argument("--no-write", action="store_true", help="do not update fuzz/README.md")
    ap.add_argument("--class-share", type=float, default=0.25,
                    help="share of the time for the issue-8 reference classes")
    args = ap.parse_args(argv)

    counts = collections.Counter()
    ref_status = collections.Counter()
    categories: dict[tuple[str, str, bool], list[str]] = collections.defaultdict(list)
    crashes: list[str] = []
    slowest = [0.0, ""]
    stop_at = time.monotonic() + args.seconds * (1 - args.class_share)
    start = time.monotonic()

    strategy = st.one_of(problems(max_depth=3, max_order=2),
                         problems(max_depth=4, max_order=2),
                         problems(max_depth=2, max_order=4),
                         problems(max_depth=3, max_order=1, bound=50.0))

    @seed(args.seed)
    @settings(max_examples=10 ** 9, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case):
        if time.monotonic() > stop_at:
            raise StopFuzz
        expr, wrt, point, order = case
        problem = Problem(expr, wrt, point, order, to_text(expr))
        counts["inputs"] += 1
        t0 = time.monotonic()
        try:
            comparison = compare(problem, timing=False, timeout=args.timeout)
            findings = judge(comparison)
        except Exception:  # noqa: BLE001 - a crash is what we are counting
            counts["crashes"] += 1
            crashes.append(f"{command(problem)}\n{traceback.format_exc()}")
            return
        took = time.monotonic() - t0
        if took > slowest[0]:
            slowest[:] = [took, command(problem)]
        ref_status[comparison.reference.status] += 1
        for method, category, why, bug in findings:
            counts["hangs" if category == "hang" else "bugs" if bug else "limits"] += 1
            examples = categories[(method, category, bug)]
            if len(examples) < 3:
                examples.append(f"`{command(problem)}` — {why}")
            else:
                examples.append("")

    try:
        one()
    except StopFuzz:
        pass
    class_counts = run_classes(args, args.seconds * args.class_share, counts, categories, crashes)
    elapsed = time.monotonic() - start
    summary = render(args, counts, ref_status, categories, crashes, elapsed, slowest, class_counts)
    print(summary)
    if crashes:
        print("\n\n".join(crashes), file=sys.stderr)
    if not args.no_write:
        readme = HERE / "README.md"
        text = readme.read_text(encoding="utf-8")
        block = f"{BEGIN}\n{summary}\n{END}"
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: block, text, flags=re.DOTALL) \
            if BEGIN in text else text + "\n" + block + "\n"
        readme.write_text(text, encoding="utf-8")
        (HERE / "last_run.json").write_text(json.dumps({
            "seed": args.seed, "seconds": elapsed, "counts": dict(counts),
            "reference_status": dict(ref_status),
            "categories": [{"method": m, "category": c, "bug": b, "count": len(v),
                            "examples": [e for e in v if e]} for (m, c, b), v in sorted(categories.items())],
            "crashes": crashes}, indent=2), encoding="utf-8")
    return 1 if crashes or counts["bugs"] or counts["hangs"] else 0


def run_classes(args, seconds: float, counts, categories, crashes) -> collections.Counter:
    """The issue-8 classes, each judged by its own oracle (tests/reference_classes.py),
    in turn until ``seconds`` are spent: a wrong reference is a bug."""
    from derivcmp import deadline

    tried = collections.Counter()
    kinds = [("hidden kink", hidden_kinks(), judge_hidden_kink),
             ("composite kink", composite_kinks(), judge_composite_kink),
             ("scaled 1e-40..1e40", scaled(), judge_scaled),
             ("cancellation < 1e-300", cancellations(), judge_cancellation)]

    def make(name, strategy, judge_one, until):
        @seed(args.seed)
        @settings(max_examples=10 ** 9, phases=[Phase.generate], database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def one(case):
            if time.monotonic() > until:
                raise StopFuzz
            tried[name] += 1
            counts["inputs"] += 1
            try:
                got = deadline.call(lambda: judge_one(*case), args.timeout * 3)
            except Exception:  # noqa: BLE001 - a crash is what we are counting
                counts["crashes"] += 1
                crashes.append(f"{name} {case!r}\n{traceback.format_exc()}")
                return
            if isinstance(got, deadline.Timeout):
                counts["hangs"] += 1
                categories[("reference", f"{name}: hang", True)].append(f"{case!r}")
                return
            if isinstance(got, deadline.Crashed):
                counts["crashes"] += 1
                crashes.append(f"{name} {case!r}: {got.message}")
                return
            for why in got:
                counts["bugs"] += 1
                categories[("reference", name, True)].append(why)
        return one

    start = time.monotonic()
    for k, (name, strategy, judge_one) in enumerate(kinds):
        try:
            make(name, strategy, judge_one, start + (k + 1) * seconds / len(kinds))()
        except StopFuzz:
            pass
    return tried


def render(args, counts, ref_status, categories, crashes, elapsed, slowest, class_counts=None) -> str:
    lines = [(f"Run: `python fuzz/run.py --seconds {args.seconds:g} --seed {args.seed}` "
             f"(per-stage deadline {args.timeout:g} s), {elapsed:.0f} s wall."), "",
             "| inputs tried | crashes | hangs | disagreements (bugs) | documented limits hit |",
             "| ---: | ---: | ---: | ---: | ---: |",
             (f"| {counts['inputs']} | {counts['crashes']} | {counts['hangs']} | {counts['bugs']} "
             f"| {counts['limits']} |"), "",
             "Reference statuses: " + ", ".join(f"{k} {v}" for k, v in ref_status.most_common()) + ".",
             "Issue-8 reference classes (inputs, each judged by its own oracle): "
             + ", ".join(f"{k} {v}" for k, v in (class_counts or {}).items()) + ".",
             f"Slowest input ({slowest[0]:.1f} s): `{slowest[1]}`", "",
             "| method | category | bug? | count | examples |", "| --- | --- | --- | ---: | --- |"]
    for (method, category, bug), examples in sorted(categories.items(), key=lambda kv: -len(kv[1])):
        shown = "<br>".join(e.replace("|", "\\|") for e in examples if e)
        lines.append(f"| {method} | {category} | {'**yes**' if bug else 'no (limit)'} | {len(examples)} "
                     f"| {shown} |")
    if crashes:
        lines += ["", "Crashes:", ""] + [f"```\n{c}\n```" for c in crashes[:5]]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

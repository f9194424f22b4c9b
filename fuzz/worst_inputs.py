"""The slowest and most memory-hungry inputs we could find, measured end to end.

    python fuzz/worst_inputs.py                 # prints a Markdown table
    python fuzz/worst_inputs.py --write         # ... and puts it into fuzz/README.md
    python fuzz/worst_inputs.py --only tanh     # a subset, by name

Each input runs as ``derivcmp eval EXPR --at ... --timeout 2`` in a fresh
process (timing runs on, as a user gets by default).  Measured: wall time and
the peak resident memory of the process tree (``os.wait4`` reports the
largest of the process and its reaped children, i.e. the forked stages).

The bound the issue sets is "the worst input returns within the deadline plus
one second", plus process start-up.  Start-up is measured here too, as the
wall time of a trivial ``derivcmp eval x --at x=1 --timeout 2`` (imports,
four forked stages, the report).  Two bounds are checked:

* strict: start-up + deadline + 1 s — what the issue asks;
* per stage: start-up + (1 + methods) x deadline + 1 s — what the code
  promises today, since the reference and each method get their own
  deadline one after another (3 methods by default: 4 stages).

Then the same inputs run as one TOML suite through ``derivcmp batch`` and
``derivcmp check`` (``--jobs 1`` and ``--jobs 2``); the whole-run bound is
start-up + cases x (1 + methods) x deadline / jobs + 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEADLINE = 2.0
METHODS = 3
BEGIN, END = "<!-- worst-inputs:begin -->", "<!-- worst-inputs:end -->"


def nest(fn: str, depth: int, inner: str = "x") -> str:
    return f"{fn}(" * depth + inner + ")" * depth


def _long_sum(n: int) -> str:
    return " + ".join(f"tanh({i % 7 + 1}*x*y - {i % 5}*z)" for i in range(n))


def _big_hessian() -> str:
    # many distinct terms over 5 variables: a 5x5 Hessian for every stage
    vs = ["a", "b", "c", "d", "f"]
    terms = [f"sin({vs[i % 5]}*{vs[(i + 1) % 5]} + {i % 9 + 1})*exp(-{vs[(i + 2) % 5]}^2)" for i in range(160)]
    return " + ".join(terms)


#: name -> (expression, --at, extra options)
CASES: dict[str, tuple[str, str, list[str]]] = {
    "trivial": ("x", "x=1", []),
    "x^10000 (order 4)": ("x^10000", "x=1.0001", ["--order", "4"]),
    "(x+y)^10000 Hessian": ("(x+y)^10000", "x=0.5,y=0.5", ["--order", "2"]),
    "(x+1)^10000*(x-1)^10000 (order 2)": ("(x+1)^10000*(x-1)^10000", "x=0.5", ["--order", "2"]),
    "x^(10^100)": ("x^(10^100)", "x=1.0000001", []),
    "x^(10^10^10)": ("x^(10^10^10)", "x=1.5", []),
    "exp(exp(exp(exp(x))))": ("exp(exp(exp(exp(x))))", "x=3", []),
    "2^2^2^2^2^x tower": ("2^(2^(2^(2^(2^x))))", "x=2", []),
    "tanh nested 8 (order 2)": (nest("tanh", 8), "x=0.5", ["--order", "2"]),
    "tanh nested 12 (order 2)": (nest("tanh", 12), "x=0.5", ["--order", "2"]),
    "tanh nested 8 (order 4)": (nest("tanh", 8), "x=0.5", ["--order", "4"]),
    "sigmoid nested 8 (order 2)": (nest("sigmoid", 8), "x=0.5", ["--order", "2"]),
    "softplus nested 10 (order 2)": (nest("softplus", 10), "x=0.5", ["--order", "2"]),
    "erf nested 10 (order 3)": (nest("erf", 10), "x=0.5", ["--order", "3"]),
    "sin(x*y) nested 6 Hessian": (nest("sin", 6, "x*y"), "x=1,y=2", ["--order", "2"]),
    "powers nested x^x^x^x^x (order 2)": ("x^x^x^x^x^x", "x=1.5", ["--order", "2"]),
    "(1+x)^(1+x) nested 6 (order 2)": ("((((((1+x)^(1+x))^(1+x))^(1+x))^(1+x))^(1+x))", "x=0.5",
                                       ["--order", "2"]),
    "max/min chain 12 Hessian": (("max(x,min(y,max(x,min(y,max(x,min(y,max(x,min(y,max(x,min(y,"
                                 "max(x,min(y,x))))))))))))"), "x=1,y=2", ["--order", "2"]),
    "abs nested 30 at a kink": (nest("abs", 30, "x-1"), "x=1", []),
    "relu chain 40 at 0": (nest("relu", 40), "x=0", ["--order", "2"]),
    "long sum (~9.9k chars) Hessian": (_long_sum(330), "x=0.3,y=0.7,z=0.1", ["--order", "2"]),
    "long product x*x*...*x (5000 factors)": ("*".join(["x"] * 5000), "x=1.0001", ["--order", "2"]),
    "long sum x+x+...+x (5000 terms)": ("+".join(["x"] * 5000), "x=1", ["--order", "2"]),
    "5x5 Hessian of 160 terms": (_big_hessian(), "a=0.1,b=0.2,c=0.3,d=0.4,f=0.5", ["--order", "2"]),
    "product of 40 binomials (expand bait)": ("*".join(f"(x+{i})^{i % 5 + 2}" for i in range(40)),
                                              "x=0.5", ["--order", "4"]),
    "deep parentheses (190 levels)": ("(" * 190 + "x" + ")" * 190, "x=1", []),
    "log/exp alternation 20": (nest("log", 10, nest("exp", 10)), "x=1.5", ["--order", "2"]),
}


def measure(cmd: list[str], limit: float = 120.0) -> tuple[float, int, int, str, str]:
    """(wall seconds, peak RSS in MiB of the tree, exit code, stdout, stderr).

    The child is reaped with ``os.wait4``, whose rusage covers the child and
    the descendants it reaped (the forked stages), so ``ru_maxrss`` is the
    largest resident set among them."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > limit:
                proc.kill()
            time.sleep(0.01)
        wall = time.monotonic() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss // 1024, code, out.read().decode(errors="replace"), \
            err.read().decode(errors="replace")


def derivcmp() -> list[str]:
    return [sys.executable, "-m", "derivcmp"]


def eval_cmd(expr: str, at: str, extra: list[str]) -> list[str]:
    return derivcmp() + ["eval", expr, "--at", at, "--timeout", f"{DEADLINE:g}", "--format", "json"] + extra


def statuses(stdout: str) -> str:
    try:
        doc = json.loads(stdout)
    except ValueError:
        return "-"
    parts = [f"ref {doc['reference']['status']}"] + [f"{m['name']} {m['status']}" for m in doc["methods"]]
    return ", ".join(parts)


def shell(cmd: list[str]) -> str:
    def q(a: str) -> str:
        a = a if len(a) < 80 else a[:60] + "…" + f"[{len(a)} chars]"
        return a if re.fullmatch(r"[\w.,=/+:-]+", a) else "'" + a + "'"
    return " ".join(["derivcmp"] + [q(a) for a in cmd[3:]])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--no-batch", action="store_true")
    args = ap.parse_args(argv)

    # process start-up: imports alone, and a trivial eval (four forked stages)
    version = min(measure(derivcmp() + ["--version"])[0] for _ in range(3))
    trivial = [measure(eval_cmd("x", "x=1", [])) for _ in range(3)]
    startup = min(t[0] for t in trivial)
    strict = startup + DEADLINE + 1
    staged = startup + (1 + METHODS) * DEADLINE + 1
    rows = []
    over = []
    for name, (expr, at, extra) in CASES.items():
        if args.only and args.only not in name:
            continue
        cmd = eval_cmd(expr, at, extra)
        wall, rss, code, out, err = measure(cmd)
        verdict = "ok" if wall <= strict else ("> strict" if wall <= staged else "**> per-stage**")
        if wall > strict:
            over.append((name, wall, shell(cmd)))
        tb = " TRACEBACK" if "Traceback" in err else ""
        rows.append(f"| {name} | {wall:.2f} | {rss} | {code}{tb} | {statuses(out)} | {verdict} |")
        print(rows[-1], file=sys.stderr)
    lines = [
        (f"Deadline `--timeout {DEADLINE:g}`; start-up measured on this machine: `derivcmp --version` "
        f"{version:.2f} s, trivial `derivcmp eval x --at x=1 --timeout 2` {startup:.2f} s (best of 3). "
        f"Bounds: strict = start-up + deadline + 1 s = **{strict:.2f} s**; per stage = start-up + "
        f"4 × deadline + 1 s = **{staged:.2f} s**."), "",
        "| input | wall s | peak RSS MiB | exit | statuses | verdict |", "| --- | ---: | ---: | --- | --- | --- |",
        *rows]
    if over:
        lines += ["", "Over the strict bound (each is `derivcmp eval ... --timeout 2`):", ""]
        lines += [f"* {n}: {w:.2f} s — `{c}`" for n, w, c in over]
    if not args.no_batch and not args.only:
        lines += ["", batch_section(startup)]
    text = "\n".join(lines)
    print(text)
    if args.write:
        readme = HERE / "README.md"
        body = readme.read_text(encoding="utf-8")
        block = f"{BEGIN}\n{text}\n{END}"
        body = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: block, body, flags=re.DOTALL) \
            if BEGIN in body else body + "\n" + block + "\n"
        readme.write_text(body, encoding="utf-8")
    return 0


def batch_section(startup: float) -> str:
    cases = [(n, e, a, x) for n, (e, a, x) in CASES.items() if n != "trivial"]
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "worst.toml"
        parts = []
        for i, (name, expr, at, extra) in enumerate(cases):
            order = int(extra[extra.index("--order") + 1]) if "--order" in extra else 1
            point = ", ".join(f"{k} = {v}" for k, v in (kv.split("=") for kv in at.split(",")))
            parts.append(f'[[case]]\nid = "w{i}"\nnote = {json.dumps(name)}\nexpr = "{expr}"\n'
                         f"at = {{ {point} }}\norder = {order}\n")
        suite.write_text("\n".join(parts), encoding="utf-8")
        out = [f"Batch: the {len(cases)} inputs above (minus the trivial one) as one TOML suite.", "",
               "| command | wall s | bound s | peak RSS MiB | exit | cases: timeout / error stages |",
               "| --- | ---: | ---: | ---: | --- | --- |"]
        for sub, jobs in (("batch", 1), ("batch", 2), ("check", 2)):
            cmd = derivcmp() + [sub, str(suite), "--timeout", f"{DEADLINE:g}", "--jobs", str(jobs),
                                "--format", "json"]
            wall, rss, code, stdout, err = measure(cmd, 1200)
            bound = startup + len(cases) * (1 + METHODS) * DEADLINE / jobs + 1
            try:
                doc = json.loads(stdout)
                stages = [(c["reference"]["status"], *[m["status"] for m in c["methods"]]) for c in doc["cases"]]
                n_to = sum(s.count("timeout") for s in stages)
                n_err = sum(s.count("error") for s in stages)
                summary = f"{len(doc['cases'])} cases; {n_to} timeout, {n_err} error stages"
            except (ValueError, KeyError):
                summary = "no JSON: " + err.strip().splitlines()[-1][:200] if err.strip() else "no JSON"
            tb = " TRACEBACK" if "Traceback" in err else ""
            out.append(f"| `derivcmp {sub} worst.toml --timeout 2 --jobs {jobs}` | {wall:.1f} | {bound:.1f} "
                       f"| {rss} | {code}{tb} | {summary} |")
            print(out[-1], file=sys.stderr)
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())

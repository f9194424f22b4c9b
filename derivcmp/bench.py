"""``derivcmp bench``: the cost of a full gradient against the number of variables.

Generated scalar functions of n variables, built as ASTs directly (never as
text: a 10,000-variable string would only be parsed back into the same
tree), with sums as balanced trees so depth grows like log n:

* ``sum``        f = sum_i sin(x_i) exp(x_{i+1}) + x_i^2
* ``rosenbrock`` f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2   (the chained form)
* ``dense``      f = sum_j v_j tanh(sum_i W_ji x_i + b_j), 4 hidden units, fixed weights
* ``logsumexp``  f = log(sum_i exp(x_i))

For each method (whatever the registry holds at run time) and each n: the
gradient's per-call time with the harness's autorange, its ratio to one
evaluation of f (derivcmp's compiled program, the same baseline for every
method), setup time, a cost counter from the method's details, and the
largest relative error -- against the 50-digit reference where n is small
enough, otherwise against the element-wise median of the methods that
succeeded (said so in every row).  Each method runs in a forked child under
its own deadline; a method that times out at one n is not tried at larger n.

This module knows no method by name and nothing of printing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backends, deadline
from .backends import base
from .compare import errors, reference_with_deadline, run_with_deadline
from .errors import DerivcmpError
from .expr import Apply, Expr, Num, Var
from .problem import OK, TIMEOUT, Problem, Timing

SCHEMA = "derivcmp-bench/1"
MAX_SIZE = 100_000
DEFAULT_SIZES = (10, 100, 1000, 10000)
#: the 50-digit reference is affordable up to here (sympy differentiates n times)
REFERENCE_MAX = 100
HIDDEN = 4


# --- generated functions ---------------------------------------------------------------

def _sum(terms: Sequence[Expr]) -> Expr:
    """A balanced tree of additions (depth log2 n, not n)."""
    level = list(terms)
    while len(level) > 1:
        level = [Apply("add", (level[i], level[i + 1])) if i + 1 < len(level) else level[i]
                 for i in range(0, len(level), 2)]
    return level[0]


def _const(v: float) -> Expr:
    return Num(repr(float(v))) if v >= 0 else Apply("neg", (Num(repr(-float(v))),))


def _sq(e: Expr) -> Expr:
    return Apply("powi", (e, Num("2")))


def _sum_family(x: list[Var]) -> Expr:
    terms = [Apply("add", (Apply("mul", (Apply("sin", (x[i],)), Apply("exp", (x[i + 1],)))), _sq(x[i])))
             for i in range(len(x) - 1)]
    return _sum(terms + [_sq(x[-1])])


def _rosenbrock(x: list[Var]) -> Expr:
    return _sum([Apply("add", (Apply("mul", (Num("100"), _sq(Apply("sub", (x[i + 1], _sq(x[i])))))),
                               _sq(Apply("sub", (Num("1"), x[i])))))
                 for i in range(len(x) - 1)])


def _dense(x: list[Var]) -> Expr:
    units = []
    for j in range(1, HIDDEN + 1):
        pre = _sum([Apply("mul", (_const(round(math.sin(j * (i + 1) + 0.5) / math.sqrt(len(x)), 6)), xi))
                    for i, xi in enumerate(x)] + [_const(0.1 * j)])
        units.append(Apply("mul", (_const(round(math.cos(j), 6)), Apply("tanh", (pre,)))))
    return _sum(units)


def _logsumexp(x: list[Var]) -> Expr:
    return Apply("log", (_sum([Apply("exp", (xi,)) for xi in x]),))


@dataclass(frozen=True)
class Family:
    name: str
    formula: str
    build: Callable[[list[Var]], Expr]
    min_size: int


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("sum", "sum_i sin(x_i)*exp(x_{i+1}) + x_i^2", _sum_family, 1),
    Family("rosenbrock", "sum_i 100*(x_{i+1} - x_i^2)^2 + (1 - x_i)^2", _rosenbrock, 2),
    Family("dense", f"sum_j v_j*tanh(sum_i W_ji*x_i + b_j), {HIDDEN} hidden units", _dense, 1),
    Family("logsumexp", "log(sum_i exp(x_i))", _logsumexp, 1),
)}


def problem(family: str, n: int) -> Problem:
    """The gradient problem of a generated function of ``n`` variables."""
    fam = FAMILIES[family]
    xs = [Var(f"x{i}") for i in range(1, n + 1)]
    expr = fam.build(xs)
    point = {v.name: 0.1 + 0.5 * math.sin(1.3 * i) for i, v in enumerate(xs, 1)}
    return Problem(expr, tuple(v.name for v in xs), point, 1, f"{family}, n={n}")


# --- options -------------------------------------------------------------------------------

def parse_sizes(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise DerivcmpError(f"--sizes: malformed list {text!r}; expected e.g. 10,100,1000")
    sizes = []
    for p in parts:
        if not p.isdigit():
            raise DerivcmpError(f"--sizes: {p!r} is not a whole number of variables (e.g. --sizes 10,100,1000)")
        n = int(p)
        if not 1 <= n <= MAX_SIZE:
            raise DerivcmpError(f"--sizes: {n} is out of range (1 to {MAX_SIZE:,} variables)")
        sizes.append(n)
    return tuple(sorted(set(sizes)))


def parse_families(text: str) -> tuple[str, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts):
        raise DerivcmpError(f"--family: malformed list {text!r}")
    if parts == ["all"]:
        return tuple(FAMILIES)
    for p in parts:
        if p not in FAMILIES:
            import difflib
            close = difflib.get_close_matches(p, FAMILIES, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise DerivcmpError(f"--family: unknown family {p!r}{hint} (known: {', '.join(FAMILIES)}, or all)")
    return tuple(dict.fromkeys(parts))


# --- running -----------------------------------------------------------------------------

@dataclass
class Row:
    family: str
    n: int
    method: str
    method_family: str
    status: str
    message: str | None = None
    f_s: float | None = None
    grad_s: float | None = None
    grad_spread_s: float | None = None
    setup_s: float | None = None
    cost: str | None = None
    max_rel_error: float | None = None
    error_against: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    value: Any = None

    @property
    def ratio(self) -> float | None:
        return self.grad_s / self.f_s if self.grad_s and self.f_s else None


@dataclass
class BenchResult:
    families: tuple[str, ...]
    sizes: tuple[int, ...]
    methods: tuple[str, ...]
    timeout: float | None
    rows: list[Row]
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def _cost(details: dict[str, Any]) -> str | None:
    for key, label in (("function_evaluations", "evals"), ("sweeps", "sweeps"), ("tape_length", "tape")):
        if key in details:
            return f"{details[key]} {label}"
    return None


def run(families: Sequence[str], sizes: Sequence[int], methods: Sequence[str], timeout: float | None,
        reference_max: int = REFERENCE_MAX, progress: Callable[[str], None] | None = None) -> BenchResult:
    reg = backends.registry()
    entries = base.entries()
    start = time.perf_counter()
    rows: list[Row] = []
    for fam in families:
        gave_up: dict[str, float] = {}
        for n in sizes:
            if n < FAMILIES[fam].min_size:
                continue
            prob = problem(fam, n)
            if progress:
                progress(f"{fam} n={n}: f")
            got = deadline.call(lambda prob=prob: backends.time_function(prob), timeout)
            f_time = got if isinstance(got, Timing) else None
            here: list[Row] = []
            for m in methods:
                row = Row(fam, n, m, entries[m].family, TIMEOUT, f_s=f_time.eval_s if f_time else None)
                if m in gave_up:
                    row.message = f"not run: timed out at a smaller n (n={gave_up[m]:g})"
                    here.append(row)
                    continue
                if progress:
                    progress(f"{fam} n={n}: {m}")
                out = run_with_deadline(reg[m], prob, True, timeout)
                row.status, row.message, row.details = out.status, out.message, dict(out.details)
                if out.timing is not None:
                    # a peer's setup includes importing its framework (seconds, once per
                    # process): reported apart, in details, so setup is the tracing/compiling
                    imported = float(row.details.get("import_s", 0.0))
                    row.setup_s, row.grad_s, row.grad_spread_s = (out.timing.setup_s - imported,
                                                                   out.timing.eval_s, out.timing.eval_spread_s)
                row.cost = _cost(row.details)
                if out.status == OK:
                    row.value = np.asarray(out.value, dtype=float)
                elif out.status == TIMEOUT:
                    gave_up[m] = n
                here.append(row)
            _grade(prob, here, timeout if n <= reference_max else None, n <= reference_max, progress)
            rows.extend(here)
    return BenchResult(tuple(families), tuple(sizes), tuple(methods), timeout, rows,
                       time.perf_counter() - start)


def _grade(prob: Problem, rows: list[Row], timeout: float | None, use_reference: bool,
           progress: Callable[[str], None] | None) -> None:
    ok = [r for r in rows if r.status == OK]
    if not ok:
        return
    if use_reference:
        if progress:
            progress(f"{prob.text}: reference")
        ref = reference_with_deadline(prob, timeout)
        if ref.status == OK:
            for r in ok:
                r.max_rel_error = errors(r.value, ref.exact)[1]
                r.error_against = "reference (50 digits)"
            return
    # no reference: the element-wise median of the methods that succeeded,
    # from at least two families, so no method is checked against itself alone
    families = {r.method_family for r in ok}
    if len(ok) < 3 or len(families) < 2:
        for r in ok:
            r.error_against = f"none: only {len(ok)} method(s) succeeded, too few to cross-check"
        return
    median = np.median(np.stack([r.value for r in ok]), axis=0)
    scale = float(np.max(np.abs(median))) or 1.0
    for r in ok:
        r.max_rel_error = float(np.max(np.abs(r.value - median))) / scale
        r.error_against = f"median of {len(ok)} methods (no reference at this n)"


def environment(result: BenchResult) -> dict[str, Any]:
    from .batch import environment as base_environment
    env = base_environment()
    env["threads"] = {r.method: r.details.get("threads") for r in result.rows if "threads" in r.details}
    env["versions"] = {r.method: r.details.get("version") for r in result.rows if r.details.get("version")}
    return env

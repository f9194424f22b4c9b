"""``derivcmp bench``: the cost of a full gradient against the number of variables.

Generated scalar functions of n variables, built as ASTs directly (never as
text: a 10,000-variable string would only be parsed back into the same
tree), with sums as balanced trees so depth grows like log n:

* ``sum``        f = sum_i sin(x_i) exp(x_{i+1}) + x_i^2
* ``rosenbrock`` f = sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2   (the chained form)
* ``dense``      f = sum_j v_j tanh(sum_i W_ji x_i + b_j), 4 hidden units, fixed weights
* ``logsumexp``  f = log(sum_i exp(x_i))

and one vector-valued family, for the forward/reverse crossover of a Jacobian:

* ``jacobian``   y_j = sum_i sin(a_ji x_i) x_{i+1}, j = 1..m, i = 1..n (x_{n+1} = x_1),
                 fixed a_ji in [0.5, 1.5]: m outputs of n inputs, every output
                 depending on every input, f's own cost growing like m n
                 (``--inputs N --outputs M1,M2,...`` or the converse)

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
from .expr import Apply, Expr, Num, Var, Vector
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


#: the vector-valued families: they take numbers of inputs and of outputs, not --sizes
JACOBIAN = "jacobian"
NETWORK = "jacobian-network"
JACOBIAN_FORMULA = "y_j = sum_i sin(a_ji*x_i)*x_{i+1}, j = 1..m, i = 1..n"
NETWORK_FORMULA = "y = V tanh(W2 tanh(W1 x)), W1, W2 n x n, V m x n (fixed weights)"
JACOBIAN_FAMILIES = {JACOBIAN: JACOBIAN_FORMULA, NETWORK: NETWORK_FORMULA}
#: the largest m*n whose Jacobian is graded against the 50-digit reference (above: a cross-check)
JACOBIAN_REFERENCE_MAX = 64


def jacobian_problem(n: int, m: int, family: str = JACOBIAN) -> Problem:
    """The Jacobian problem of a generated vector function of ``n`` inputs and ``m`` outputs.

    ``jacobian``: each output its own sum over every input, so an output's
    dependency cone is its own ~4n nodes while an input's reaches ~2 terms and
    a sum path in every output.  ``jacobian-network``: two dense tanh layers
    shared by every output and a dense readout, so every node past the first
    layer depends on every input and the layers feed every output: each sweep,
    either way, costs about as much as f."""
    xs = [Var(f"x{i}") for i in range(1, n + 1)]
    outputs = []
    if family == NETWORK:
        def layer(inputs: list[Expr], seed: float, rows: int, squash: bool) -> list[Expr]:
            out = []
            for i in range(1, rows + 1):
                pre = _sum([Apply("mul", (_const(round(math.sin(1.7 * i + 0.9 * k + seed) / math.sqrt(n), 6)),
                                          v)) for k, v in enumerate(inputs, 1)])
                out.append(Apply("tanh", (pre,)) if squash else pre)
            return out
        outputs = layer(layer(layer(list(xs), 0.1, n, True), 0.7, n, True), 1.3, m, False)
    else:
        for j in range(1, m + 1):
            terms = [Apply("mul", (Apply("sin", (Apply("mul", (_const(round(1 + 0.5 * math.sin(j * i + 0.3 * j), 6)),
                                                                 xs[i - 1])),)), xs[i % n]))
                     for i in range(1, n + 1)]
            outputs.append(_sum(terms))
    point = {v.name: 0.1 + 0.5 * math.sin(1.3 * i) for i, v in enumerate(xs, 1)}
    return Problem(Vector(tuple(outputs)), tuple(v.name for v in xs), point, 1, f"{family}, n={n}, m={m}")


# --- options -------------------------------------------------------------------------------

def parse_sizes(text: str, option: str = "--sizes", what: str = "variables",
                limit: int = MAX_SIZE) -> tuple[int, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or any(not p for p in parts):
        raise DerivcmpError(f"{option}: malformed list {text!r}; expected e.g. 10,100,1000")
    sizes = []
    for p in parts:
        if not p.isdigit():
            raise DerivcmpError(f"{option}: {p!r} is not a whole number of {what} (e.g. {option} 10,100,1000)")
        n = int(p)
        if not 1 <= n <= limit:
            raise DerivcmpError(f"{option}: {n} is out of range (1 to {limit:,} {what})")
        sizes.append(n)
    return tuple(sorted(set(sizes)))


#: inputs x outputs of one generated Jacobian (its program has about 4 m n slots)
MAX_JACOBIAN_ENTRIES = 65_536


def parse_shapes(inputs: str | None, outputs: str | None) -> tuple[tuple[int, int], ...]:
    """(n, m) pairs from ``--inputs`` and ``--outputs``: one of them a list, the other one number."""
    ns = parse_sizes(inputs or "64", "--inputs", "inputs", 4096)
    ms = parse_sizes(outputs or "1,4,16,64,256", "--outputs", "outputs", 4096)
    if len(ns) > 1 and len(ms) > 1:
        raise DerivcmpError("--inputs and --outputs: give one of them as a list and the other as one number "
                            "(e.g. --inputs 64 --outputs 1,4,16,64,256)")
    shapes = tuple((n, m) for n in ns for m in ms)
    big = [f"{n}x{m}" for n, m in shapes if n * m > MAX_JACOBIAN_ENTRIES]
    if big:
        raise DerivcmpError(f"--inputs/--outputs: {', '.join(big)} is too large (at most "
                            f"{MAX_JACOBIAN_ENTRIES:,} Jacobian entries, inputs x outputs)")
    return shapes


def parse_families(text: str) -> tuple[str, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    if any(not p for p in parts):
        raise DerivcmpError(f"--family: malformed list {text!r}")
    if parts == ["all"]:
        return tuple(FAMILIES)
    vector = [p for p in parts if p in JACOBIAN_FAMILIES]
    if vector and len(parts) > 1:
        raise DerivcmpError(f"--family: {vector[0]} runs alone (it takes --inputs and --outputs, not --sizes)")
    if vector:
        return (vector[0],)
    for p in parts:
        if p not in FAMILIES:
            import difflib
            close = difflib.get_close_matches(p, [*FAMILIES, *JACOBIAN_FAMILIES], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise DerivcmpError(f"--family: unknown family {p!r}{hint} (known: {', '.join(FAMILIES)}, "
                                f"{', '.join(JACOBIAN_FAMILIES)}, or all)")
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
    #: the number of outputs m (the jacobian family; n is the number of inputs)
    outputs: int | None = None

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
    for key, label in (("function_evaluations", "evals"), ("forward_sweeps", "fwd sweeps"),
                       ("reverse_sweeps", "rev sweeps"), ("sweeps", "sweeps"), ("tape_length", "tape")):
        if key == "forward_sweeps" and "reverse_sweeps" in details:
            continue        # a recording sweep before m reverse ones: the reverse ones are the cost
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
                if _fill(row, run_with_deadline(reg[m], prob, True, timeout)) == TIMEOUT:
                    gave_up[m] = n
                here.append(row)
            _grade(prob, here, timeout if n <= reference_max else None, n <= reference_max, progress)
            rows.extend(here)
    return BenchResult(tuple(families), tuple(sizes), tuple(methods), timeout, rows,
                       time.perf_counter() - start)


def _fill(row: Row, out) -> str:
    """A row from a method's outcome; returns its status."""
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
    return out.status


def run_jacobian(shapes: Sequence[tuple[int, int]], methods: Sequence[str], timeout: float | None,
                 reference_max: int = JACOBIAN_REFERENCE_MAX, progress: Callable[[str], None] | None = None,
                 runs: int = 3, family: str = JACOBIAN) -> BenchResult:
    """Jacobian time of each method for each (n inputs, m outputs) of the ``jacobian`` family.

    A peer offering several Jacobian transformations (``jacobian_modes``: jax's
    jacrev and jacfwd) gets one row per mode, named ``method (mode)``.  Each
    time is the harness's autorange with ``runs`` runs (the largest Jacobians
    take seconds a call)."""
    import copy

    from .timing import settings
    reg = backends.registry()
    entries = base.entries()
    start = time.perf_counter()
    rows: list[Row] = []
    gave_up: dict[str, tuple[int, int]] = {}
    variants = []
    for m in methods:
        modes = getattr(reg[m], "jacobian_modes", ()) or (None,)
        for mode in modes:
            backend = reg[m]
            if mode is not None and len(modes) > 1:
                backend = copy.copy(backend)
                backend.jacobian_mode = mode
            variants.append((m if mode is None or len(modes) == 1 else f"{m} ({mode})", m, backend))
    for n, m_out in shapes:
        prob = jacobian_problem(n, m_out, family)
        if progress:
            progress(f"n={n} m={m_out}: f")
        got = deadline.call(lambda prob=prob: backends.time_function(prob), timeout)
        f_time = got if isinstance(got, Timing) else None
        here: list[Row] = []
        for label, name, backend in variants:
            row = Row(family, n, label, entries[name].family, TIMEOUT, f_s=f_time.eval_s if f_time else None,
                      outputs=m_out)
            if label in gave_up:
                row.message = "not run: timed out at a smaller size (n={}, m={})".format(*gave_up[label])
                here.append(row)
                continue
            if progress:
                progress(f"n={n} m={m_out}: {label}")
            with settings(runs=runs, warmup=1):
                out = run_with_deadline(backend, prob, True, timeout)
            if _fill(row, out) == TIMEOUT:
                gave_up[label] = (n, m_out)
            here.append(row)
        _grade(prob, here, timeout if n * m_out <= reference_max else None, n * m_out <= reference_max, progress)
        rows.extend(here)
    sizes = tuple(sorted({n for n, _ in shapes}))
    return BenchResult((family,), sizes, tuple(v[0] for v in variants), timeout, rows,
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

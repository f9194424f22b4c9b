"""The command line: parse options, call the library, print.  Nothing else.

Data goes to stdout; warnings and errors to stderr.  Every ``DerivcmpError``
(bad expression, bad option value) exits with status 2 and a message, never a
traceback.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import signal
import sys

import click

from . import __version__
from .backends import SHOW_FORMS
from .compare import (
    DEFAULT_TIMEOUT,
    compare,
    make_problem,
    resolve_methods,
    scalar_only,
    select_methods,
    warm_up,
)
from .errors import DerivcmpError
from .timing import DEFAULT_RUNS, DEFAULT_WARMUP, MAX_RUNS
from .timing import settings as timing_settings

FORMATS = ("table", "json", "csv", "markdown")


def _joined(at: tuple[str, ...] | str) -> str:
    """Repeated --at options are one point (a name given twice is refused by parse_at)."""
    return at if isinstance(at, str) else ",".join(a for a in at if a.strip())


def _orders_help() -> str:
    from .backends.base import entries
    return "; ".join(f"{n} 1-{e.backend.max_order}" for n, e in entries().items()) + "."
SWELL_MAX_ORDER = 50


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except DerivcmpError as err:
            click.echo(str(err) if str(err).startswith(("error", "warning")) or "\n" in str(err)
                       else f"error: {err}", err=True)
            ctx.exit(2)
        except OSError as err:
            if err.errno not in _OUTPUT_ERRNOS:
                raise
            _stdout_failed(err)

    def main(self, *args, **kwargs):
        try:
            return super().main(*args, **kwargs)
        finally:
            _restore_signals()
            _TERMINATED.clear()
            # stdout is flushed at exit, after click is done: a full disk there
            # (> /dev/full) is still an error message and exit 2, not a traceback
            try:
                sys.stdout.flush()
            except OSError as err:
                _stdout_failed(err)


_OUTPUT_ERRNOS = {errno.ENOSPC, errno.EPIPE, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _stdout_failed(err: OSError) -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())     # nothing more is lost at exit
    except (OSError, ValueError):
        pass
    if err.errno != errno.EPIPE:
        click.echo(f"error: cannot write the output: {err.strerror or err}", err=True)
    raise SystemExit(2)


class _Seconds(click.ParamType):
    """A deadline in seconds: a finite number from 0 (no limit) to a year."""

    name = "seconds"
    LIMIT = 365 * 24 * 3600.0

    def convert(self, value, param, ctx):
        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(v) and 0 <= v <= self.LIMIT):
            self.fail(f"{value!r} must be a finite number of seconds from 0 (no limit) "
                      f"to {self.LIMIT:g} (a year)", param, ctx)
        return v


SECONDS = _Seconds()


class ExpressionCommand(click.Command):
    """A command whose EXPRESSION argument may begin with ``-`` (``-x^2``, ``-1/x``).

    click would read ``-x^2`` as an unknown option.  A word that begins with
    ``-`` but names none of the command's options, and is not the value of the
    option before it, is the expression: it moves behind ``--`` at the end, so
    options still work before or after it.
    """

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, self._expression_last(ctx, list(args)))

    def _expression_last(self, ctx, args: list[str]) -> list[str]:
        takes_value, known = set(), set()
        for p in self.get_params(ctx):
            if isinstance(p, click.Option):
                known.update(p.opts + p.secondary_opts)
                if not p.is_flag and not p.count:
                    takes_value.update(p.opts)
        out, moved, i = [], [], 0
        while i < len(args):
            a = args[i]
            if a == "--":
                out.extend(args[i:])
                break
            if a in takes_value:
                out.extend(args[i:i + 2])
                i += 2
                continue
            looks_like_option = a.startswith("--") and a[2:3].isalpha()      # --bogus stays an error
            if (a.startswith("-") and len(a) > 1 and not moved and not looks_like_option
                    and a.split("=", 1)[0] not in known):
                moved.append(a)
            else:
                out.append(a)
            i += 1
        if moved:
            out = out + (["--"] if "--" not in out else []) + moved
        return out


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derivcmp")
def main() -> None:
    """Compare symbolic, finite-difference and automatic differentiation."""


def _timing_options() -> list:
    """``--runs`` and ``--warmup``, the same for ``eval``, ``batch`` and ``check``."""
    return [click.option("--runs", type=click.IntRange(2, MAX_RUNS), default=None,
                         help=f"Timed runs per method (each a batch of calls), as hyperfine  "
                              f"[default: {DEFAULT_RUNS}]"),
            click.option("--warmup", type=click.IntRange(0, MAX_RUNS), default=None,
                         help=f"Runs to discard before timing  [default: {DEFAULT_WARMUP}]")]


def _with_timing_options(fn):
    for option in reversed(_timing_options()):
        fn = option(fn)
    return fn


def _refuse_runs_without_timing(no_timing: bool, runs: int | None, warmup: int | None) -> None:
    if no_timing and (runs is not None or warmup is not None):
        raise click.UsageError("--runs and --warmup time the methods; they cannot go with --no-timing")


@main.command("eval", cls=ExpressionCommand)
@click.argument("expression")
@click.option("--wrt", help="Variable(s) to differentiate by, comma separated (default: all).")
@click.option("--at", "at", multiple=True,
              help="The point: name=value pairs, e.g. w=2,x=3 (values may be pi/4); repeatable: "
                   "--at w=2 --at x=3.  A range compares every point: x=0:1:101, x=1e-3:1e3:61:log, "
                   "x=[1,2,5].")
@click.option("--order", type=click.IntRange(1, None), default=1, show_default=True,
              help="1: derivative or gradient; 2: second derivative or Hessian; 3, 4: higher "
                   "derivatives of one variable.  Orders per method: " + _orders_help())
@click.option("--methods", default=None,
              help="Comma-separated method names or families, or 'all' (see 'derivcmp methods'; "
                   "default: the methods marked default there).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--no-timing", is_flag=True, help="Skip the timing runs.")
@_with_timing_options
@click.option("--timeout", type=SECONDS, default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each method (and the reference) may take; 0 for no limit.")
@click.option("--step", "step", default=None, metavar="H",
              help="One fixed step for every finite-difference method (default: each method's rule).")
@click.option("--show", type=click.Choice(SHOW_FORMS), default=None,
              help="Also print each method's derivative: pretty, latex, or the code that is evaluated.")
@click.option("--plot", "plot", default=None, type=click.Path(dir_okay=False),
              help="With a range in --at: also write relative error against x to FILE.png or FILE.svg "
                   "(needs the 'plot' extra: matplotlib).")
def eval_cmd(expression: str, wrt: str | None, at: str, order: int, methods: str | None,
             fmt: str, no_timing: bool, runs: int | None, warmup: int | None, timeout: float,
             step: str | None, show: str | None, plot: str | None) -> None:
    """Differentiate EXPRESSION at a point with every method and compare.

    EXPRESSION may begin with a minus sign (derivcmp eval "-x^2" --at x=3).  A range in
    --at (x=0:1:101, x=1e-3:1e3:61:log, x=[1,2,5]) compares the methods over every point.
    A bracketed list of expressions ("[x*y, sin(x) + y^2]") has several outputs: each
    method's Jacobian is compared.
    """
    _refuse_runs_without_timing(no_timing, runs, warmup)
    from .grid import has_range
    if has_range(_joined(at)):
        _eval_grid(expression, wrt, _joined(at), order, methods, fmt, no_timing, runs, warmup, timeout,
                   step, show, plot)
        return
    if plot is not None:
        raise DerivcmpError("--plot draws a range of points: give one in --at (e.g. --at x=0:1:101)")
    if show and fmt in ("csv", "markdown"):
        raise DerivcmpError(f"--show prints text after the table: use it with --format table, or with "
                            f"--format json (each method's details then carry 'show'), not {fmt}")
    names = _chosen(methods)
    problem, warnings = make_problem(expression, wrt, _joined(at), order, step=step)
    for w in warnings:
        click.echo(w, err=True)
    if timeout:
        warm_up(names)      # once here, not in every child forked per stage
    try:
        with timing_settings(runs=runs, warmup=warmup):
            result = compare(problem, names, timing=not no_timing, warnings=warnings,
                             timeout=timeout or None, show=show)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    emit(result, fmt, not no_timing)
    if show and fmt == "table":
        from .report.show import render_shown
        from .report.terminal import stdout_console
        render_shown(result, stdout_console(sys.stdout), show)


def _chosen(methods: str | None) -> list[str]:
    """The methods to run, each one this installation lacks said on stderr."""
    chosen = select_methods(methods)
    for note in chosen.notes:
        click.echo(note, err=True)
    if not chosen.names:
        raise DerivcmpError("--methods: none of the chosen methods can run in this installation")
    return list(chosen.names)


def _check_plot(plot: str | None) -> None:
    if plot is not None and not plot.lower().endswith((".png", ".svg")):
        raise DerivcmpError(f"--plot: {plot!r} must end in .png or .svg")
    if plot is not None:
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            raise DerivcmpError("--plot needs matplotlib: pip install 'derivcmp[plot]'")


def _eval_grid(expression, wrt, at, order, methods, fmt, no_timing, runs, warmup, timeout, step, show,
               plot) -> None:
    """``eval`` over a range of points (``gridrun``)."""
    from .gridrun import compare_grid, make_grid_problem
    from .report import grid as report
    if show:
        raise DerivcmpError("--show prints one derivative; it does not go with a range in --at")
    if fmt == "markdown":
        raise DerivcmpError("a range of points is reported as table, json or csv, not markdown")
    if runs is not None or warmup is not None:
        raise DerivcmpError("--runs and --warmup time one point; over a range the whole grid is timed once")
    _check_plot(plot)
    names = _chosen(methods)
    problem, grid, warnings = make_grid_problem(expression, wrt, at, order, step=step)
    for w in warnings:
        click.echo(w, err=True)
    if timeout:
        warm_up(names)
    try:
        result = compare_grid(problem, grid, names, timing=not no_timing, timeout=timeout or None,
                              warnings=warnings)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    _emit_with_plot(report, result, fmt, plot, fit=True)


def _emit_with_plot(report, result, fmt: str, plot: str | None, fit: bool = False) -> None:
    """A result with ``to_json``/``to_csv``/``render``/``figure`` (a sweep, a grid) on
    stdout, and its figure to ``plot`` if asked."""
    from .report.terminal import stdout_console
    if fmt == "json":
        click.echo(report.to_json(result))
    elif fmt == "csv":
        click.echo(report.to_csv(result), nl=False)
    else:
        report.render(result, stdout_console(sys.stdout, fit=fit))
    if plot is not None:
        try:
            report.figure(result, plot)
        except OSError as err:
            raise DerivcmpError(f"cannot write {plot}: {err.strerror or err}") from None
        click.echo(f"wrote {plot}", err=True)


def emit(result, fmt: str, timing: bool) -> None:
    from . import report
    if fmt == "json":
        click.echo(json.dumps(report.document(result, timing), indent=2, allow_nan=False))
    elif fmt == "csv":
        from .report.text import to_csv
        click.echo(to_csv(result, timing), nl=False)
    elif fmt == "markdown":
        from .report.text import to_markdown
        click.echo(to_markdown(result, timing), nl=False)
    else:
        from .report.terminal import render, stdout_console
        render(result, stdout_console(sys.stdout, fit=True), timing)


@main.command("functions")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def functions_cmd(fmt: str) -> None:
    """List the functions of the expression language."""
    from .primitives import PRIMITIVES
    items = [p for p in PRIMITIVES if p.syntax is not None]
    if fmt == "json":
        click.echo(json.dumps([{"name": p.syntax, "arity": p.arity, "domain": p.domain_note,
                                "doc": p.doc} for p in items], indent=2))
        return
    from rich import box
    from rich.table import Table

    from .report.terminal import stdout_console
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("function", "arity", "domain", "notes"):
        table.add_column(col)
    for p in items:
        table.add_row(p.syntax, str(p.arity), p.domain_note, p.doc)
    console = stdout_console(sys.stdout)
    console.print(table)
    console.print("operators: + - * / ^ ** (power is right-associative and binds tighter than unary minus); "
                  "constants: pi e", highlight=False)


@main.command("methods")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def methods_cmd(fmt: str) -> None:
    """List every differentiation method: family, description, and whether it can run here."""
    from .backends.base import broken_plugins, entries
    items = []
    for name, e in entries().items():
        b = e.backend
        items.append({"name": name, "family": e.family, "description": b.description,
                      "default": bool(getattr(b, "default", False)), "available": e.available,
                      "why_unavailable": e.why_unavailable(), "max_order": getattr(b, "max_order", None),
                      "origin": e.origin})
    for problem in broken_plugins():
        click.echo(f"warning: {problem}", err=True)
    if fmt == "json":
        click.echo(json.dumps(items, indent=2))
        return
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .report.terminal import stdout_console
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for col in ("method", "family", "available", "description"):
        table.add_column(col, overflow="fold")
    for m in items:
        mark = ("yes" + (" (default)" if m["default"] else "")) if m["available"] else \
            f"no: {m['why_unavailable']}"
        desc = m["description"] + ("" if m["origin"] == "built-in" else f" [{m['origin']}]")
        table.add_row(Text(m["name"]), Text(m["family"]), Text(mark), Text(desc))
    console = stdout_console(sys.stdout)
    console.print(table)
    console.print("--methods takes names, families (e.g. --methods finite-difference) or all",
                  highlight=False)


@main.command("swell")
@click.argument("expression")
@click.option("--wrt", help="The one variable to differentiate by (default: the expression's only variable).")
@click.option("--max-order", type=click.IntRange(1, SWELL_MAX_ORDER), default=6, show_default=True,
              help="Measure the derivatives of order 1..N.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True)
@click.option("--timeout", type=click.FloatRange(0, None), default=30.0, show_default=True,
              help="Seconds for the whole run; the orders finished by then are reported. 0 for no limit.")
@click.option("--simplify-timeout", type=click.FloatRange(0, None, min_open=True), default=2.0,
              show_default=True, help="Seconds sympy.simplify may take per order (past it: 'timeout').")
@click.option("--no-chart", is_flag=True, help="The table only, without the terminal chart.")
def swell_cmd(expression: str, wrt: str | None, max_order: int, fmt: str, timeout: float,
              simplify_timeout: float, no_chart: bool) -> None:
    """Size of the n-th derivative of EXPRESSION for n = 1..N: raw, cse'd, simplified, beside AD's tape."""
    from . import swell
    from .expr import parse
    from .report import swell as rs
    scalar_only(parse(expression), "swell")
    result, warnings = swell.run(expression, wrt, max_order, timeout or None, simplify_timeout)
    for w in warnings:
        click.echo(w, err=True)
    if result.stopped:
        click.echo(f"note: {result.stopped}", err=True)
    if fmt == "json":
        click.echo(json.dumps(result.document(), indent=2))
    elif fmt == "csv":
        click.echo(rs.to_csv(result), nl=False)
    else:
        from .report.terminal import stdout_console
        note = rs.render(result, stdout_console(sys.stdout), chart_too=not no_chart)
        if note:
            click.echo(note, err=True)


# --- bench: gradient cost against problem size ---------------------------------------

@main.command("bench")
@click.option("--family", default="sum", show_default=True,
              help="Generated function(s): sum, rosenbrock, dense, logsumexp (comma separated) or all; "
                   "or jacobian / jacobian-network (alone): m outputs of n inputs, the forward/reverse "
                   "crossover.")
@click.option("--sizes", default=None,
              help="Numbers of variables, comma separated  [default: 10,100,1000,10000].")
@click.option("--inputs", default=None,
              help="jacobian family: numbers of inputs n, comma separated  [default: 64].")
@click.option("--outputs", default=None,
              help="jacobian family: numbers of outputs m, comma separated  [default: 1,4,16,64,256]; "
                   "one of --inputs and --outputs is a list, the other one number.")
@click.option("--methods", default="all", show_default=True,
              help="Comma-separated method names or families, or 'all' (see 'derivcmp methods').")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
              help="Write a log-log figure (PNG, SVG, PDF) of gradient time and gradient/f against n.")
@click.option("--timeout", type=click.FloatRange(0, None), default=30.0, show_default=True,
              help="Seconds each method may take per size (0 for none); a method that times out "
                   "is not tried at larger sizes.")
@click.option("--reference-max", type=click.IntRange(0, None), default=None,
              help="Largest n (jacobian family: n*m) graded against the 50-digit reference (above: a "
                   "cross-check of the methods)  [default: 100; jacobian: 64].")
def bench_cmd(family: str, sizes: str | None, inputs: str | None, outputs: str | None, methods: str, fmt: str,
              plot_path: str | None, timeout: float, reference_max: int | None) -> None:
    """Gradient cost against the number of variables, for every chosen method; with
    --family jacobian, Jacobian cost against the numbers of outputs and inputs."""
    from .benchcli import bench
    bench(family, sizes, methods, fmt, plot_path, timeout, reference_max, inputs, outputs)


@main.command("sweep")
@click.argument("expression")
@click.option("--wrt", help="The variable to step along (one).")
@click.option("--at", "at", default="", help="The point: name=value pairs, e.g. x=1.")
@click.option("--order", type=click.IntRange(1, None), default=1, show_default=True)
@click.option("--methods", default=None,
              help="Finite-difference methods, comma separated (default: the whole family).")
@click.option("--steps", default="1e-1:1e-16:61", show_default=True, metavar="START:STOP:COUNT",
              help="The log grid of steps.")
@click.option("--plot", "plot", default=None, type=click.Path(dir_okay=False),
              help="Also write the figure to FILE.png or FILE.svg (needs the 'plot' extra: matplotlib).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--timeout", type=click.FloatRange(0, None), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds the reference may take; 0 for no limit.")
def sweep_cmd(expression, wrt, at, order, methods, steps, plot, fmt, timeout) -> None:
    """Each finite-difference method's error against its step size (the V of truncation and rounding)."""
    from .report import sweep as report
    from .sweep import parse_steps, run_sweep
    grid = parse_steps(steps)
    _check_plot(plot)
    names = resolve_methods(methods) if methods else None
    problem, warnings = make_problem(expression, wrt, at, order)
    scalar_only(problem, "sweep")
    for w in warnings:
        click.echo(w, err=True)
    result = run_sweep(problem, names, grid, timeout or None)
    _emit_with_plot(report, result, fmt, plot)


# --- batch and check: many cases from expression files -----------------------------

def _suite_options(fn):
    """The options ``batch`` and ``check`` share (the method and timing ones match ``eval``)."""
    options = [
        click.argument("paths", nargs=-1, required=True, type=click.Path()),
        click.option("--methods", default=None,
                     help="Comma-separated methods, or 'all'; overrides the files' own lists."),
        click.option("--jobs", "-j", type=click.IntRange(1, None), default=None,
                     help="Worker processes (default: all cores; 1 runs in this process)."),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True),
        click.option("--output", "-o", default="-", type=click.Path(dir_okay=False, allow_dash=True),
                     help="Write the report to FILE instead of stdout."),
        click.option("--no-timing", is_flag=True, help="Skip the timing runs."),
        *_timing_options(),
        click.option("--timeout", type=SECONDS, default=DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds each method (and the reference) may take per case; 0 for no limit."),
        click.option("--wrt", help="For .txt files: variable(s) to differentiate by (default: all)."),
        click.option("--at", "at", multiple=True,
                     help="For .txt files: the point, e.g. x=1,y=2 (repeatable)."),
        click.option("--order", type=click.IntRange(1, None), default=1, show_default=True,
                     help="For .txt files: the derivative order."),
        click.option("--tag", "tags", multiple=True, help="Run only cases with this tag (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags, runs=None, warmup=None):
    """Load, report input problems on stderr, run with a progress bar."""
    _refuse_runs_without_timing(no_timing, runs, warmup)
    from .batch import run_cases, summarize
    from .report.batch import progress
    from .suite import load
    names = resolve_methods(methods) if methods else None
    jobs = _clamp_jobs(jobs)
    loaded = load(paths, wrt=wrt, at=_joined(at), order=order, tags=tags)
    for d in loaded.diagnostics:
        click.echo(str(d), err=True)
    if not loaded.cases:
        why = f"no case has the tag {', '.join(map(repr, tags))}" if tags and not loaded.errors else \
            "no cases to run"
        raise DerivcmpError(why)
    _SAVED_HANDLERS.append((signal.signal(signal.SIGINT, _interrupt),
                            signal.signal(signal.SIGTERM, _terminate)))
    with progress(len(loaded.cases)) as advance:
        run = run_cases(loaded.cases, names, timing=not no_timing, jobs=jobs, timeout=timeout or None,
                        on_result=advance, runs=runs, warmup=warmup)
    # the report phase: what finished is written whole, whatever signal comes next
    # (timeout -s INT sends the group a second SIGINT)
    _ignore_signals()
    return loaded, run, summarize(run)


def _ignore_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _interrupt(signum, frame) -> None:
    """The first Ctrl-C stops the run; any further signal is ignored while the
    workers are stopped and the report is written."""
    _SIGNALLED.append(signum)
    _ignore_signals()
    _stop()


_SAVED_HANDLERS: list[tuple] = []
_SIGNALLED: list[int] = []


def _restore_signals() -> None:
    """Put the handlers back (for in-process callers), except after a signal
    stopped the run: then the process is on its way out, and a late second
    signal must not turn into a KeyboardInterrupt during shutdown."""
    if _SIGNALLED:
        _SAVED_HANDLERS.clear()
        _SIGNALLED.clear()
    while _SAVED_HANDLERS:
        sigint, sigterm = _SAVED_HANDLERS.pop(0)
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, sigterm)


_TERMINATED: list[bool] = []


def _terminate(signum, frame) -> None:
    """SIGTERM stops the run like Ctrl-C (workers killed, finished cases reported), exit 143."""
    _TERMINATED.append(True)
    _SIGNALLED.append(signum)
    _ignore_signals()
    _stop()


def _stop() -> None:
    from .batch import stop_requested     # KeyboardInterrupt, once no worker is half started
    stop_requested()


def _clamp_jobs(jobs: int | None) -> int | None:
    """More workers than a few per core only compete for the cores (and each
    stage forks again): clamp with a note."""
    from .batch import default_jobs
    limit = JOBS_PER_CORE * default_jobs()
    if jobs is not None and jobs > limit:
        click.echo(f"note: --jobs {jobs} is more than {JOBS_PER_CORE} per core; using {limit}", err=True)
        return limit
    return jobs


JOBS_PER_CORE = 2


def _refuse_outputs_that_are_inputs(paths, outputs) -> None:
    """``batch s.toml -o s.toml`` would replace the suite: refuse before running."""
    from .files import inputs_among
    from .suite import find_files
    try:
        inputs = [str(f) for f in find_files(paths)[0]] + [str(p) for p in paths]
    except (OSError, DerivcmpError):
        inputs = [str(p) for p in paths]
    problems = inputs_among(outputs, inputs)
    if problems:
        raise DerivcmpError(problems[0])


def _emit_batch(run, summary, fmt: str, output: str, report=None) -> None:
    from .batch import environment
    from .report import batch as rb
    from .report.terminal import stdout_console
    if fmt == "table":
        if output != "-":
            from .files import write_atomic
            buffer = io.StringIO()
            rb.render(run, summary, stdout_console(buffer), report)
            try:
                write_atomic(output, buffer.getvalue())
                return
            except OSError as err:
                _cannot_write(output, err, fallback=True)
        rb.render(run, summary, stdout_console(sys.stdout), report)
        return
    text = (rb.to_json(run, summary, environment()) if fmt == "json" else
            rb.to_csv(run, report) if fmt == "csv" else rb.to_markdown(run, summary, report))
    _write(output, text, fallback=True)


_WRITE_FAILED: list[str] = []


def _cannot_write(path: str, err: OSError, fallback: bool) -> None:
    _WRITE_FAILED.append(path)
    why = err.strerror or str(err)
    click.echo(f"error: cannot write {path}: {why}" + ("; the report follows on stdout" if fallback else ""),
               err=True)


def _write(path: str, text: str, fallback: bool = False) -> bool:
    """Write ``text`` to ``path`` (``-``: stdout); an unwritable path is an input error,
    and with ``fallback`` the text goes to stdout so the report is not lost."""
    if path != "-":
        from .files import write_atomic
        try:
            write_atomic(path, text)
            return True
        except OSError as err:
            _cannot_write(path, err, fallback)
            if not fallback:
                return False
    click.echo(text, nl=False)
    return True


def _finish(loaded, run, failed: bool = False, said: bool = False) -> None:
    """Exit with the run's status.  ``said``: the report on the terminal already
    says the run was interrupted (its footer), so stderr does not repeat it."""
    if run.interrupted:
        if not said:
            click.echo(f"{'terminated' if _TERMINATED else 'interrupted'}: {len(run.results)} of "
                       f"{run.total} cases finished; the report covers only those", err=True)
        sys.exit(143 if _TERMINATED else 130)
    if _WRITE_FAILED:
        _WRITE_FAILED.clear()
        sys.exit(2)
    if loaded.errors:
        n = len(loaded.errors)
        click.echo(f"error: {n} input error{'s' if n > 1 else ''} (above); the other cases ran", err=True)
        sys.exit(2)
    if failed:
        sys.exit(1)


@main.command("batch")
@_suite_options
def batch_cmd(paths, methods, jobs, fmt, output, no_timing, runs, warmup, timeout, wrt, at, order,
              tags) -> None:
    """Run every case in PATH... (TOML suites, .txt files, or directories of them).

    Prints a table per case and a summary per method; exits 2 if any file had
    mistakes (the good cases still run), 130 on Ctrl-C (after the report).
    """
    _refuse_outputs_that_are_inputs(paths, [("--output", output)])
    loaded, run, summary = _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags,
                                       runs, warmup)
    _emit_batch(run, summary, fmt, output)
    _finish(loaded, run, said=fmt == "table" and output == "-")


@main.command("check")
@_suite_options
@click.option("--baseline", type=click.Path(dir_okay=False), help="Compare with this saved baseline.")
@click.option("--save-baseline", type=click.Path(dir_okay=False), help="Save this run as a baseline.")
@click.option("--junit", type=click.Path(dir_okay=False),
              help="Write JUnit XML (one testcase per case×method).")
@click.option("--markdown", "markdown", type=click.Path(dir_okay=False, allow_dash=True),
              help="Write a GitHub-flavoured Markdown summary (e.g. to $GITHUB_STEP_SUMMARY).")
@click.option("--factor", type=click.FloatRange(1, None, min_open=True), default=10.0, show_default=True,
              help="Fail when a method's error grows past FACTOR× its baseline.")
@click.option("--fail-on-slowdown", type=click.FloatRange(1, None, min_open=True), default=None,
              help="Fail when a method's median eval-time ratio to the baseline exceeds FACTOR.")
@click.option("--force-save", is_flag=True,
              help="Save the baseline even when this run failed its checks against that same file.")
def check_cmd(paths, methods, jobs, fmt, output, no_timing, runs, warmup, timeout, wrt, at, order, tags,
              baseline, save_baseline, junit, markdown, factor, fail_on_slowdown, force_save) -> None:
    """Check PATH... for CI: tolerances, expected values, regressions vs a baseline.

    Exit 0 pass, 1 a check failed, 2 bad input.
    """
    from . import checks
    from .report.batch import to_markdown
    from .report.junit import to_junit
    _refuse_outputs_that_are_inputs(paths, [("--output", output), ("--junit", junit),
                                            ("--markdown", markdown), ("--save-baseline", save_baseline)])
    _refuse_runs_without_timing(no_timing, runs, warmup)
    base = checks.load_baseline(baseline) if baseline else None
    loaded, run, summary = _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags,
                                       runs, warmup)
    report = checks.check(run, base, factor, fail_on_slowdown, baseline)
    _emit_batch(run, summary, fmt, output, report)
    if junit:
        _write(junit, to_junit(report, loaded.diagnostics, run.elapsed_s))
    if markdown:
        _write(markdown, to_markdown(run, summary, report))
    if save_baseline:
        from .files import same_file
        same = bool(baseline) and same_file(save_baseline, baseline)
        if run.interrupted:
            click.echo(f"not saving {save_baseline}: the run was interrupted", err=True)
        elif loaded.errors:
            click.echo(f"not saving {save_baseline}: the run had input errors, so it does not "
                       "cover the whole suite", err=True)
        elif same and not report.passed and not force_save:
            click.echo(f"not saving {save_baseline}: this run failed its checks against that same "
                       "baseline (use --force-save to replace it anyway)", err=True)
        else:
            if _write(save_baseline, checks.baseline_json(checks.baseline_document(run, report))):
                click.echo(f"saved baseline {save_baseline} ({len(run.results)} cases)", err=True)
    _finish(loaded, run, failed=not report.passed, said=fmt == "table" and output == "-")


from .cli_ad import orders_cmd, trace_cmd  # commands of the AD issue, kept in their module

main.add_command(trace_cmd)
main.add_command(orders_cmd)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

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
from .compare import compare, make_problem, resolve_methods
from .errors import DerivcmpError

FORMATS = ("table", "json", "csv", "markdown")
DEFAULT_TIMEOUT = 10.0


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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derivcmp")
def main() -> None:
    """Compare symbolic, finite-difference and automatic differentiation."""


@main.command("eval")
@click.argument("expression")
@click.option("--wrt", help="Variable(s) to differentiate by, comma separated (default: all).")
@click.option("--at", "at", default="", help="The point: name=value pairs, e.g. w=2,x=3 (values may be pi/4).")
@click.option("--order", type=click.IntRange(1, None), default=1, show_default=True,
              help="1: derivative or gradient; 2: second derivative or Hessian.")
@click.option("--methods", default=None, help="Comma-separated methods, or 'all' (default: symbolic,fd-central,ad-reverse).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--no-timing", is_flag=True, help="Skip the timing runs.")
@click.option("--timeout", type=SECONDS, default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each method (and the reference) may take; 0 for no limit.")
def eval_cmd(expression: str, wrt: str | None, at: str, order: int, methods: str | None,
             fmt: str, no_timing: bool, timeout: float) -> None:
    """Differentiate EXPRESSION at a point with every method and compare."""
    names = resolve_methods(methods)
    problem, warnings = make_problem(expression, wrt, at, order)
    for w in warnings:
        click.echo(w, err=True)
    try:
        result = compare(problem, names, timing=not no_timing, warnings=warnings, timeout=timeout or None)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    emit(result, fmt, not no_timing)


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
        render(result, stdout_console(sys.stdout), timing)


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
        click.option("--timeout", type=SECONDS, default=DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds each method (and the reference) may take per case; 0 for no limit."),
        click.option("--wrt", help="For .txt files: variable(s) to differentiate by (default: all)."),
        click.option("--at", "at", default="", help="For .txt files: the point, e.g. x=1,y=2."),
        click.option("--order", type=click.IntRange(1, None), default=1, show_default=True,
                     help="For .txt files: the derivative order."),
        click.option("--tag", "tags", multiple=True, help="Run only cases with this tag (repeatable)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags):
    """Load, report input problems on stderr, run with a progress bar."""
    from .batch import run_cases, summarize
    from .report.batch import progress
    from .suite import load
    names = resolve_methods(methods) if methods else None
    jobs = _clamp_jobs(jobs)
    loaded = load(paths, wrt=wrt, at=at, order=order, tags=tags)
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
                        on_result=advance)
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
    raise KeyboardInterrupt


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
    raise KeyboardInterrupt


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


def _finish(loaded, run, failed: bool = False) -> None:
    if run.interrupted:
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
def batch_cmd(paths, methods, jobs, fmt, output, no_timing, timeout, wrt, at, order, tags) -> None:
    """Run every case in PATH... (TOML suites, .txt files, or directories of them).

    Prints a table per case and a summary per method; exits 2 if any file had
    mistakes (the good cases still run), 130 on Ctrl-C (after the report).
    """
    _refuse_outputs_that_are_inputs(paths, [("--output", output)])
    loaded, run, summary = _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags)
    _emit_batch(run, summary, fmt, output)
    _finish(loaded, run)


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
def check_cmd(paths, methods, jobs, fmt, output, no_timing, timeout, wrt, at, order, tags, baseline,
              save_baseline, junit, markdown, factor, fail_on_slowdown, force_save) -> None:
    """Check PATH... for CI: tolerances, expected values, regressions vs a baseline.

    Exit 0 pass, 1 a check failed, 2 bad input.
    """
    from . import batch as b
    from .report.batch import to_markdown
    from .report.junit import to_junit
    _refuse_outputs_that_are_inputs(paths, [("--output", output), ("--junit", junit),
                                            ("--markdown", markdown), ("--save-baseline", save_baseline)])
    base = b.load_baseline(baseline) if baseline else None
    loaded, run, summary = _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags)
    report = b.check(run, base, factor, fail_on_slowdown, baseline)
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
            if _write(save_baseline, b.baseline_json(b.baseline_document(run, report))):
                click.echo(f"saved baseline {save_baseline} ({len(run.results)} cases)", err=True)
    _finish(loaded, run, failed=not report.passed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

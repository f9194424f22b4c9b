"""The command line: parse options, call the library, print.  Nothing else.

Data goes to stdout; warnings and errors to stderr.  Every ``DerivcmpError``
(bad expression, bad option value) exits with status 2 and a message, never a
traceback.
"""

from __future__ import annotations

import json
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
@click.option("--timeout", type=click.FloatRange(0, None), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each method (and the reference) may take; 0 for no limit.")
@click.option("--step", "step", default=None, metavar="H",
              help="One fixed step for every finite-difference method (default: each method's rule).")
def eval_cmd(expression: str, wrt: str | None, at: str, order: int, methods: str | None,
             fmt: str, no_timing: bool, timeout: float, step: str | None) -> None:
    """Differentiate EXPRESSION at a point with every method and compare."""
    names = resolve_methods(methods)
    problem, warnings = make_problem(expression, wrt, at, order, step=step)
    for w in warnings:
        click.echo(w, err=True)
    result = compare(problem, names, timing=not no_timing, warnings=warnings, timeout=timeout or None)
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
    from .report.terminal import stdout_console
    from .sweep import parse_steps, run_sweep
    grid = parse_steps(steps)
    if plot is not None and not plot.lower().endswith((".png", ".svg")):
        raise DerivcmpError(f"--plot: {plot!r} must end in .png or .svg")
    if plot is not None:
        import importlib.util
        if importlib.util.find_spec("matplotlib") is None:
            raise DerivcmpError("--plot needs matplotlib: pip install 'derivcmp[plot]'")
    names = resolve_methods(methods) if methods else None
    problem, warnings = make_problem(expression, wrt, at, order)
    for w in warnings:
        click.echo(w, err=True)
    result = run_sweep(problem, names, grid, timeout or None)
    if fmt == "json":
        click.echo(report.to_json(result))
    elif fmt == "csv":
        click.echo(report.to_csv(result), nl=False)
    else:
        report.render(result, stdout_console(sys.stdout))
    if plot is not None:
        try:
            report.figure(result, plot)
        except OSError as err:
            raise DerivcmpError(f"cannot write {plot}: {err.strerror or err}") from None
        click.echo(f"wrote {plot}", err=True)


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
        click.option("--timeout", type=click.FloatRange(0, None), default=DEFAULT_TIMEOUT, show_default=True,
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
    loaded = load(paths, wrt=wrt, at=at, order=order, tags=tags)
    for d in loaded.diagnostics:
        click.echo(str(d), err=True)
    if not loaded.cases:
        why = f"no case has the tag {', '.join(map(repr, tags))}" if tags and not loaded.errors else \
            "no cases to run"
        raise DerivcmpError(why)
    with progress(len(loaded.cases)) as advance:
        run = run_cases(loaded.cases, names, timing=not no_timing, jobs=jobs, timeout=timeout or None,
                        on_result=advance)
    return loaded, run, summarize(run)


def _emit_batch(run, summary, fmt: str, output: str, report=None) -> None:
    from .batch import environment
    from .report import batch as rb
    from .report.terminal import stdout_console
    if fmt == "table":
        if output != "-":
            try:
                with open(output, "w", encoding="utf-8") as fh:
                    rb.render(run, summary, stdout_console(fh), report)
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
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
            return True
        except OSError as err:
            _cannot_write(path, err, fallback)
            if not fallback:
                return False
    click.echo(text, nl=False)
    return True


def _finish(loaded, run, failed: bool = False) -> None:
    if run.interrupted:
        click.echo(f"interrupted: {len(run.results)} of {run.total} cases finished; "
                   "the report covers only those", err=True)
        sys.exit(130)
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
def check_cmd(paths, methods, jobs, fmt, output, no_timing, timeout, wrt, at, order, tags, baseline,
              save_baseline, junit, markdown, factor, fail_on_slowdown) -> None:
    """Check PATH... for CI: tolerances, expected values, regressions vs a baseline.

    Exit 0 pass, 1 a check failed, 2 bad input.
    """
    from . import batch as b
    from .report.batch import to_markdown
    from .report.junit import to_junit
    base = b.load_baseline(baseline) if baseline else None
    loaded, run, summary = _run_suites(paths, methods, jobs, no_timing, timeout, wrt, at, order, tags)
    report = b.check(run, base, factor, fail_on_slowdown, baseline)
    _emit_batch(run, summary, fmt, output, report)
    if junit:
        _write(junit, to_junit(report, loaded.diagnostics, run.elapsed_s))
    if markdown:
        _write(markdown, to_markdown(run, summary, report))
    if save_baseline:
        if run.interrupted:
            click.echo(f"not saving {save_baseline}: the run was interrupted", err=True)
        else:
            if _write(save_baseline, b.baseline_json(b.baseline_document(run, report))):
                click.echo(f"saved baseline {save_baseline} ({len(run.results)} cases)", err=True)
    _finish(loaded, run, failed=not report.passed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

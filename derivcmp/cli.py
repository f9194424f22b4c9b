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
def eval_cmd(expression: str, wrt: str | None, at: str, order: int, methods: str | None,
             fmt: str, no_timing: bool, timeout: float) -> None:
    """Differentiate EXPRESSION at a point with every method and compare."""
    names = resolve_methods(methods)
    problem, warnings = make_problem(expression, wrt, at, order)
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
    from rich.table import Table
    from rich import box
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""``derivcmp trace`` and ``derivcmp orders``: thin click commands over ``trace`` and ``orders``."""

from __future__ import annotations

import json
import sys

import click

from .errors import DerivcmpError
from .problem import MAX_ORDER

DEFAULT_TIMEOUT = 10.0


@click.command("trace")
@click.argument("expression")
@click.option("--wrt", help="Variable(s) to differentiate by, comma separated (default: all).")
@click.option("--at", "at", default="", help="The point: name=value pairs, e.g. w=2,x=3.")
@click.option("--mode", type=click.Choice(["forward", "reverse"]), default="reverse", show_default=True,
              help="forward: a tangent column per input (forward mode); "
                   "reverse: one adjoint column (reverse mode).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--graph", "graph", type=click.Path(dir_okay=False), default=None,
              help="Also draw the computational graph: FILE.svg or FILE.png (needs Graphviz's dot; "
                   "the DOT text is always saved beside it as FILE.dot) or FILE.dot.")
def trace_cmd(expression: str, wrt: str | None, at: str, mode: str, fmt: str, graph: str | None) -> None:
    """Show the evaluation trace (Wengert list) of EXPRESSION with its tangents or adjoints."""
    from .compare import make_problem
    from .trace import build, document
    if graph is not None:
        from .report.graph import graph_format
        graph_format(graph)
    problem, warnings = make_problem(expression, wrt, at, 1)
    for w in warnings:
        click.echo(w, err=True)
    trace = build(problem.expr, problem.point, problem.wrt, mode)
    at_text = ", ".join(f"{k}={v!r}" for k, v in problem.point.items())
    title = f"{mode} trace of {expression} at {at_text}"
    if graph is not None:       # the DOT text first: it is saved whatever happens to stdout or the renderer
        from .report import graph as rg
        graph_fmt, dot_path = rg.save_dot(trace, title, graph)
        click.echo(f"saved {dot_path}", err=True)
    unwritten: OSError | None = None
    try:
        if fmt == "json":
            click.echo(json.dumps(document(trace, expression, problem.point), indent=2, allow_nan=False))
        else:
            from .report.terminal import stdout_console
            from .report.trace import render
            render(trace, title, stdout_console(sys.stdout))
        if graph is not None:
            sys.stdout.flush()      # the table shows while dot draws
    except OSError as err:          # (> /dev/full): still draw the picture, then report it
        if graph is None:
            raise
        unwritten = err
    if graph is not None and graph_fmt != "dot":
        rg.render(dot_path, graph, graph_fmt)
        click.echo(f"saved {graph}", err=True)
    if unwritten is not None:
        raise unwritten


@click.command("orders")
@click.argument("expression")
@click.option("--wrt", help="The variable (one) to differentiate by (default: the only variable).")
@click.option("--at", "at", default="", help="The point: name=value pairs, e.g. x=1.")
@click.option("--max-order", type=int, default=12, show_default=True,
              help=f"Highest order (at most {MAX_ORDER}).")
@click.option("--methods", default=None,
              help="Comma-separated methods, families or 'all' (default: the default methods of eval "
                   "and every automatic method).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@click.option("--plot", "plot", type=click.Path(dir_okay=False), default=None,
              help="Save a figure (PNG, SVG, PDF) of error and cost against the order "
                   "(needs the 'plot' extra).")
@click.option("--no-timing", is_flag=True, help="Skip the timing runs (errors only).")
@click.option("--no-chart", is_flag=True, help="No terminal chart under the table.")
@click.option("--timeout", type=click.FloatRange(0, None), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each method (and the reference) may take per order; 0 for no limit. "
                   "A method that overruns is not asked for higher orders.")
def orders_cmd(expression, wrt, at, max_order, methods, fmt, plot, no_timing, no_chart, timeout) -> None:
    """Error and cost of each method against the derivative order 1..N."""
    from .orders import document, run
    from .report import orders as ro
    if not 1 <= max_order <= MAX_ORDER:
        raise DerivcmpError(f"--max-order must be between 1 and {MAX_ORDER}, got {max_order}")
    if plot:
        _check_plot(plot)
    tty = sys.stderr.isatty()

    def progress(k: int) -> None:
        if tty:
            click.echo(f"\rorder {k} of {max_order} done", err=True, nl=k == max_order)
    study = run(expression, wrt, at, max_order, methods, timing=not no_timing, timeout=timeout or None,
                progress=progress)
    for w in study.warnings:
        click.echo(w, err=True)
    if fmt == "json":
        click.echo(json.dumps(document(study), indent=2, allow_nan=False))
    elif fmt == "csv":
        click.echo(ro.to_csv(study), nl=False)
    else:
        from .report.terminal import stdout_console
        ro.render(study, stdout_console(sys.stdout), timing=not no_timing, chart=not no_chart)
    if plot:
        try:
            ro.save_plot(study, plot, timing=not no_timing)
        except (OSError, ValueError) as err:
            raise DerivcmpError(f"cannot write {plot}: {err}") from None
        click.echo(f"saved {plot}", err=True)


def _check_plot(path: str) -> None:
    import importlib.util
    import os
    if importlib.util.find_spec("matplotlib") is None:
        raise DerivcmpError("--plot needs matplotlib: pip install 'derivcmp[plot]'")
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".png", ".svg", ".pdf"):
        raise DerivcmpError(f"--plot: {path!r} should end in .png, .svg or .pdf")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DerivcmpError(f"--plot: the directory {parent!r} does not exist")

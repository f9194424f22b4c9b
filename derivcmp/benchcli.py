"""The ``derivcmp bench`` command's body: validate, run with progress on stderr, print.

Kept apart from ``cli`` so the click layer stays thin.  Every input mistake
is a ``DerivcmpError`` (exit 2, a message, no traceback).
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click

from .compare import select_methods
from .errors import DerivcmpError


def bench(family: str, sizes: str | None, methods: str, fmt: str, plot_path: str | None, timeout: float,
          reference_max: int | None, inputs: str | None = None, outputs: str | None = None) -> None:
    from . import bench as b
    from .report import bench as rb
    families = b.parse_families(family)
    jacobian = families[0] in b.JACOBIAN_FAMILIES
    if jacobian and sizes is not None:
        raise DerivcmpError(f"--sizes is not for --family {families[0]}: give --inputs and --outputs")
    if not jacobian and (inputs is not None or outputs is not None):
        raise DerivcmpError(f"--inputs and --outputs are for --family {' or '.join(b.JACOBIAN_FAMILIES)} "
                            "(vector-valued functions)")
    shapes = b.parse_shapes(inputs, outputs) if jacobian else ()
    size_list = () if jacobian else b.parse_sizes(",".join(map(str, b.DEFAULT_SIZES)) if sizes is None else sizes)
    for fam in families if not jacobian else ():
        least = b.FAMILIES[fam].min_size
        small = [n for n in size_list if n < least]
        if len(small) == len(size_list):
            raise DerivcmpError(f"--sizes: {fam} needs at least {least} variables")
        if small:
            click.echo(f"note: {fam} needs at least {least} variables; n={','.join(map(str, small))} skipped",
                       err=True)
    chosen = select_methods(methods)
    for note in chosen.notes:
        click.echo(note, err=True)
    names = list(chosen.names)
    if jacobian:
        # the crossover is about methods that compute a Jacobian as one job (sweeps
        # over one program); a method that differentiates output by output is left out
        from .backends import registry
        reg = registry()
        names = [n for n in names if getattr(reg[n], "jacobian", None) == "native"]
        if methods != "all" and len(names) < len(chosen.names):
            left = [n for n in chosen.names if n not in names]
            click.echo(f"note: {', '.join(left)} compute{'s' if len(left) == 1 else ''} a Jacobian output by "
                       "output (not one program's sweeps); left out of the crossover", err=True)
    if not names:
        raise DerivcmpError("--methods: none of the chosen methods can run in this installation")
    if plot_path:
        if importlib.util.find_spec("matplotlib") is None:
            raise DerivcmpError("--plot needs matplotlib: pip install 'derivcmp[plot]'")
        folder = os.path.dirname(os.path.abspath(plot_path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise DerivcmpError(f"--plot: cannot write {plot_path}: {folder} is not a writable folder")
    from rich.console import Console
    err = Console(stderr=True, highlight=False)
    with err.status("bench") as status:
        progress = lambda what: status.update(f"bench: {what}")  # noqa: E731
        if jacobian:
            result = b.run_jacobian(shapes, names, timeout or None,
                                    b.JACOBIAN_REFERENCE_MAX if reference_max is None else reference_max,
                                    progress=progress, family=families[0])
        else:
            result = b.run(families, size_list, names, timeout or None,
                           b.REFERENCE_MAX if reference_max is None else reference_max, progress=progress)
    if fmt == "json":
        click.echo(rb.to_json(result), nl=False)
    elif fmt == "csv":
        click.echo(rb.to_csv(result), nl=False)
    elif fmt == "markdown":
        click.echo(rb.to_markdown(result), nl=False)
    else:
        from .report.terminal import stdout_console
        rb.render(result, stdout_console(sys.stdout))
        if importlib.util.find_spec("plotext") is not None:
            chart = rb.terminal_chart(result)
            if chart:
                click.echo(chart)
        else:
            click.echo("(a terminal chart needs plotext: pip install 'derivcmp[plot]')", err=True)
    if plot_path:
        try:
            rb.plot(result, plot_path)
        except (OSError, ValueError) as error:
            raise DerivcmpError(f"--plot: cannot write {plot_path}: {error}") from None
        click.echo(f"wrote {plot_path}", err=True)

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


def bench(family: str, sizes: str, methods: str, fmt: str, plot_path: str | None, timeout: float,
          reference_max: int) -> None:
    from . import bench as b
    from .report import bench as rb
    families = b.parse_families(family)
    size_list = b.parse_sizes(sizes)
    for fam in families:
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
    if not chosen.names:
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
        result = b.run(families, size_list, chosen.names, timeout or None, reference_max,
                       progress=lambda what: status.update(f"bench: {what}"))
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

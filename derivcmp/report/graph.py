"""The computational graph of an evaluation trace (``derivcmp trace --graph``).

One node per row of the trace (each input, each intermediate ``v3 = exp(v2)``
with its value and, in reverse mode, its adjoint, in forward mode its tangent
per seeded input), one edge per use of a row by another, labelled with that
use's local partial derivative.  A subexpression the program shares is one
row, so it is drawn once.  Every number is the trace's own (``trace.build``),
formatted as the table formats it; nothing here computes.

``to_dot`` writes the Graphviz DOT text itself; ``write`` always saves it and,
for ``.svg``/``.png``, runs Graphviz's ``dot`` binary (no shell, a timeout).
Without Graphviz the DOT file is still written and the error says how to
install it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import DerivcmpError
from ..trace import Row, Trace
from .escape import dot_string, visible
from .trace import number, summary

FORMATS = ("svg", "png", "dot")
RENDER_TIMEOUT_S = 60.0
INSTALL_HINT = ("install Graphviz (apt install graphviz, brew install graphviz, "
                "or see https://graphviz.org/download/)")

_INPUT = 'shape=box, style="rounded,filled", fillcolor="#dbe9f6"'
_OP = 'shape=ellipse, style=filled, fillcolor="#f4f4f4"'
_OUTPUT = 'shape=ellipse, style=filled, fillcolor="#fde2c8", peripheries=2'


def graph_format(path: str) -> str:
    """The format ``path`` asks for (svg, png or dot), or a DerivcmpError."""
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext not in FORMATS:
        raise DerivcmpError(f"--graph: {path!r} should end in .svg, .png or .dot")
    if os.path.isdir(path):
        raise DerivcmpError(f"--graph: {path!r} is a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DerivcmpError(f"--graph: the directory {parent!r} does not exist")
    return ext


def _node_label(trace: Trace, row: Row) -> str:
    if row.definition == "input":
        lines = [f"input {row.name} = {number(row.value)}"]
    else:
        lines = [f"{row.name} = {row.definition}", f"value {number(row.value)}"]
    if row.name == trace.output:
        lines[0] = f"output {lines[0]}"
    if trace.mode == "forward":
        lines += [f"tangent d/d{w} {number(t)}" for w, t in row.tangents.items()]
    else:
        lines.append(f"adjoint {number(row.adjoint)}" if row.adjoint is not None
                     else "no adjoint (no --wrt variable reaches it)")
    return "\n".join(lines)


def to_dot(trace: Trace, title: str) -> str:
    """The DOT text of ``trace``'s computational graph, ``title`` above it."""
    ids = {r.name: f"n{i}" for i, r in enumerate(trace.rows)}
    heading = [title, summary(trace)]
    if trace.caveat:
        heading.append(f"not a derivative: {trace.caveat}")
    what = "adjoint" if trace.mode == "reverse" else "tangent"
    heading.append(f"boxes: inputs, double outline: the output, nodes: value and {what}, "
                   f"edges: local partials")
    label = dot_string("\n".join(heading))
    out = ["digraph trace {",
           f'  graph [rankdir=BT, labelloc=t, fontname="Helvetica", fontsize=12, label={label}];',
           '  node [fontname="Helvetica", fontsize=11];',
           '  edge [fontname="Helvetica", fontsize=10];']
    for r in trace.rows:
        style = _OUTPUT if r.name == trace.output else _INPUT if r.definition == "input" else _OP
        out.append(f"  {ids[r.name]} [label={dot_string(_node_label(trace, r))}, {style}];")
    for r in trace.rows:
        for arg, partial in zip(r.args, r.partials):
            if partial is None:       # the rule says identically zero
                out.append(f"  {ids[arg]} -> {ids[r.name]} "
                           f"[label={dot_string(f'∂{r.name}/∂{arg} = 0')}, style=dashed];")
            else:
                out.append(f"  {ids[arg]} -> {ids[r.name]} "
                           f"[label={dot_string(f'∂{r.name}/∂{arg} = {number(partial)}')}];")
    out.append("}")
    return "\n".join(out) + "\n"


def save_dot(trace: Trace, title: str, target: str) -> tuple[str, str]:
    """Save the DOT text for ``target`` (.svg, .png or .dot): to ``target`` itself,
    or beside it with the suffix .dot.  Returns (format, the DOT file's path)."""
    fmt = graph_format(target)
    dot_path = target if fmt == "dot" else str(Path(target).with_suffix(".dot"))
    try:
        Path(dot_path).write_text(to_dot(trace, title), encoding="utf-8")
    except OSError as err:
        raise DerivcmpError(f"cannot write {dot_path}: {err.strerror or err}") from None
    return fmt, dot_path


def write(trace: Trace, title: str, target: str, timeout: float = RENDER_TIMEOUT_S) -> list[str]:
    """Save the graph as ``target`` (.svg, .png or .dot), the DOT text always
    (``save_dot``).  Returns the files written; raises DerivcmpError (after
    saving the DOT text) when the picture cannot be drawn."""
    fmt, dot_path = save_dot(trace, title, target)
    if fmt == "dot":
        return [dot_path]
    render(dot_path, target, fmt, timeout)
    return [dot_path, target]


def render(dot_path: str, target: str, fmt: str, timeout: float = RENDER_TIMEOUT_S) -> None:
    """Run Graphviz's ``dot`` on ``dot_path`` to make ``target`` in ``fmt``."""
    exe = shutil.which("dot")
    if exe is None:
        raise DerivcmpError(
            f"error: cannot draw {target}: Graphviz's 'dot' program is not on PATH "
            f"(the DOT text is saved in {dot_path}).\n"
            f"To draw it, {INSTALL_HINT}, then run: dot -T{fmt} {dot_path} -o {target}")
    # absolute paths: a file name starting with '-' is never read as an option
    argv = [exe, f"-T{fmt}", "-o", os.path.abspath(target), os.path.abspath(dot_path)]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DerivcmpError(f"Graphviz's dot did not finish drawing {target} within {timeout:g} s "
                            f"(the DOT text is saved in {dot_path})") from None
    except OSError as err:
        raise DerivcmpError(f"cannot run {exe}: {err.strerror or err} "
                            f"(the DOT text is saved in {dot_path})") from None
    if done.returncode != 0:
        why = visible(done.stderr.decode("utf-8", "replace").strip().replace("\n", " "))[:400]
        raise DerivcmpError(f"Graphviz's dot could not draw {target} (exit {done.returncode}): "
                            f"{why or 'no message'} (the DOT text is saved in {dot_path})")


__all__ = ["FORMATS", "INSTALL_HINT", "graph_format", "render", "save_dot", "to_dot", "write"]

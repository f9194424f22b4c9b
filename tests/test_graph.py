"""``derivcmp trace --graph``: the computational graph's DOT text against
independently computed values, shared subexpressions, escaping, and the
renderer (real Graphviz when installed, a stand-in ``dot``, none at all)."""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import subprocess

import pytest
from click.testing import CliRunner

from derivcmp.cli import main
from derivcmp.errors import DerivcmpError
from derivcmp.expr import parse
from derivcmp.report import graph
from derivcmp.report.escape import dot_string
from derivcmp.trace import build

SIGMOID = "1/(1+exp(-w*x))"
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^  (n\d+) \[label={_QUOTED}, (.*)\];$", re.MULTILINE)
_EDGE = re.compile(rf"^  (n\d+) -> (n\d+) \[label={_QUOTED}(.*)\];$", re.MULTILINE)


def _parse(dot: str):
    """{node id: (label lines, attributes)}, [(from, to, label, attributes)]."""
    nodes = {m[1]: (m[2].split("\\n"), m[3]) for m in _NODE.finditer(dot)}
    edges = [(m[1], m[2], m[3], m[4]) for m in _EDGE.finditer(dot)]
    return nodes, edges


def _by_name(nodes):
    """Node label lines keyed by the slot name (``v3``, ``w``)."""
    out = {}
    for node_id, (lines, attrs) in nodes.items():
        head = lines[0].removeprefix("output ").removeprefix("input ")
        out[head.split(" = ")[0]] = (node_id, lines, attrs)
    return out


def _number(lines, key):
    [line] = [ln for ln in lines if ln.startswith(key + " ")]
    return float(line[len(key) + 1:])


def _sigmoid_truth():
    w, x = 2.0, 3.0
    v1 = -w
    v2 = v1 * x
    v3 = math.exp(v2)
    v4 = 1 + v3
    v5 = 1 / v4
    values = {"w": w, "x": x, "v1": v1, "v2": v2, "v3": v3, "v4": v4, "v5": v5}
    partials = {("w", "v1"): -1.0, ("v1", "v2"): x, ("x", "v2"): v1, ("v2", "v3"): v3,
                ("v3", "v4"): 1.0, ("v4", "v5"): -1 / v4 ** 2}
    a5 = 1.0
    a4 = a5 * -1 / v4 ** 2
    a3 = a4
    a2 = a3 * v3
    a1 = a2 * x
    adjoints = {"v5": a5, "v4": a4, "v3": a3, "v2": a2, "v1": a1, "w": -a1}
    t = {"w": 1.0, "x": 0.0}
    t["v1"] = -t["w"]
    t["v2"] = t["v1"] * x + v1 * t["x"]
    t["v3"] = v3 * t["v2"]
    t["v4"] = t["v3"]
    t["v5"] = -t["v4"] / v4 ** 2
    return values, partials, adjoints, t


def _dot(text, at, wrt, mode="reverse"):
    return graph.to_dot(build(parse(text), at, wrt, mode), f"{mode} trace of {text}")


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_sigmoid_graph_nodes_edges_and_numbers_match_the_closed_form(mode):
    values, partials, adjoints, tangents = _sigmoid_truth()
    nodes, edges = _parse(_dot(SIGMOID, {"w": 2.0, "x": 3.0}, ("w",), mode))
    named = _by_name(nodes)
    assert set(named) == set(values)
    ids = {name: node_id for name, (node_id, _, _) in named.items()}
    for name, want in values.items():
        lines = named[name][1]
        got = float(lines[0].rsplit(" = ", 1)[1]) if name in ("w", "x") else _number(lines, "value")
        assert got == pytest.approx(want, rel=1e-9), name
    # one edge per use, each carrying its local partial derivative
    got_edges = {}
    for src, dst, label, _ in edges:
        name = {v: k for k, v in ids.items()}
        m = re.fullmatch(r"∂(\w+)/∂(\w+) = (\S+)", label)
        assert m and (m[2], m[1]) == (name[src], name[dst])
        got_edges[(name[src], name[dst])] = float(m[3])
    assert set(got_edges) == set(partials)
    for key, want in partials.items():
        assert got_edges[key] == pytest.approx(want, rel=1e-9), key
    if mode == "reverse":
        for name, want in adjoints.items():
            assert _number(named[name][1], "adjoint") == pytest.approx(want, rel=1e-9), name
        assert adjoints["w"] == pytest.approx(3 * values["v5"] * (1 - values["v5"]), rel=1e-12)
        # x is not differentiated: it has no adjoint, and no number pretends otherwise
        assert "no adjoint (no --wrt variable reaches it)" in named["x"][1]
        assert not any("tangent" in ln for _, lines, _ in named.values() for ln in lines)
    else:
        for name, want in tangents.items():
            assert _number(named[name][1], "tangent d/dw") == pytest.approx(want, rel=1e-9), name
        assert not any("adjoint" in ln for _, lines, _ in named.values() for ln in lines)
    # inputs and the output are told apart, in the text and in the drawing
    assert named["w"][1][0].startswith("input ") and "shape=box" in named["w"][2]
    assert named["x"][1][0].startswith("input ") and "shape=box" in named["x"][2]
    assert named["v5"][1][0] == "output v5 = 1 / v4" and "peripheries=2" in named["v5"][2]
    assert sum("peripheries=2" in attrs for _, _, attrs in named.values()) == 1


def test_graph_numbers_are_the_trace_numbers():
    """One source of truth: every number drawn is the trace's, formatted as its table."""
    from derivcmp.report.trace import number
    trace = build(parse(SIGMOID), {"w": 2.0, "x": 3.0}, ("w",))
    dot = graph.to_dot(trace, "t")
    for r in trace.rows:
        assert f"adjoint {number(r.adjoint)}" in dot or r.adjoint is None
        for a, p in zip(r.args, r.partials):
            assert f"∂{r.name}/∂{a} = {number(p)}" in dot
    assert repr(trace.derivative["w"]) in dot


def test_shared_subexpression_is_drawn_once_with_an_edge_per_use():
    x, y = 1.5, 0.5
    nodes, edges = _parse(_dot("x*y + sin(x*y)", {"x": x, "y": y}, ("x", "y")))
    products = [nid for nid, (lines, _) in nodes.items() if lines[0].endswith("= x * y")]
    assert len(products) == 1 and len(nodes) == 5          # x, y, x*y, sin, +
    [prod] = products
    uses = [(dst, label) for src, dst, label, _ in edges if src == prod]
    assert len(uses) == 2                                  # used by sin and by +
    labels = sorted(label for _, label in uses)
    assert labels[0] == "∂v2/∂v1 = " + f"{math.cos(x * y):.10g}" and labels[1] == "∂v3/∂v1 = 1"
    adjoint = _number(nodes[prod][0], "adjoint")
    assert adjoint == pytest.approx(1 + math.cos(x * y), rel=1e-9)


def test_repeated_argument_gets_one_edge_per_use():
    nodes, edges = _parse(_dot("x*x", {"x": 3.0}, ("x",)))
    assert len(nodes) == 2
    assert [label for *_, label, _ in edges] == ["∂v1/∂x = 3", "∂v1/∂x = 3"]


@pytest.mark.parametrize("text, at, shown", [
    ("log(x)", {"x": 0.0}, "value -inf"),
    ("sqrt(x) + x", {"x": -1.0}, "value nan"),
    ("exp(x)", {"x": 1000.0}, "value inf"),
])
def test_non_finite_numbers_stay_inside_quoted_labels(text, at, shown):
    dot = _dot(text, at, ("x",))
    assert shown in dot
    for line in dot.splitlines()[4:-1]:                    # every node and edge line is well formed
        assert _NODE.match(line) or _EDGE.match(line), line
    if shutil.which("dot"):
        subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=True, timeout=60)


def test_dot_string_escapes_quotes_backslashes_and_controls():
    assert dot_string('a "b" \\N c') == r'"a \"b\" \\N c"'
    assert dot_string("two\nlines") == r'"two\nlines"'
    assert dot_string("esc\x1b[31m") == r'"esc\\x1b[31m"'
    text = graph.to_dot(build(parse("x"), {"x": 1.0}, ("x",)), 'title with "quotes" and \\G')
    assert r'title with \"quotes\" and \\G' in text


def test_a_constant_expression_has_no_output_node():
    trace = build(parse("2"), {"x": 1.0}, ("x",))
    assert trace.output is None
    assert "peripheries=2" not in graph.to_dot(trace, "t")


# --- the command and the renderer -------------------------------------------------

def _cli(*args, **env):
    return CliRunner().invoke(main, list(args), env=env or None)


def _fake_dot(directory, script):
    path = directory / "dot"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_missing_renderer_writes_the_dot_text_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))   # no dot anywhere on PATH
    target = tmp_path / "sig.svg"
    res = _cli("trace", SIGMOID, "--wrt", "w", "--at", "w=2,x=3", "--graph", str(target))
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "v5     1 / v4" in res.stdout                    # the table is still printed
    dot = tmp_path / "sig.dot"
    assert res.stderr.endswith(
        f"error: cannot draw {target}: Graphviz's 'dot' program is not on PATH "
        f"(the DOT text is saved in {dot}).\n"
        f"To draw it, install Graphviz (apt install graphviz, brew install graphviz, "
        f"or see https://graphviz.org/download/), then run: dot -Tsvg {dot} -o {target}\n")
    assert not target.exists()
    nodes, edges = _parse((tmp_path / "sig.dot").read_text(encoding="utf-8"))
    assert len(nodes) == 7 and len(edges) == 6


def test_dot_target_needs_no_renderer(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    target = tmp_path / "g.dot"
    res = _cli("trace", SIGMOID, "--wrt", "w", "--at", "w=2,x=3", "--mode", "forward", "--graph",
               str(target), "--format", "json")
    assert res.exit_code == 0, res.output
    assert f"saved {target}" in res.stderr
    assert '"schema": "derivcmp-trace/1"' in res.stdout
    assert "tangent d/dw" in target.read_text(encoding="utf-8")


def test_renderer_is_called_without_a_shell_on_absolute_paths(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "argv"
    _fake_dot(bindir, f'printf "%s\\n" "$@" > {log}\nprintf "<svg/>" > "$3"\n')
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.chdir(tmp_path)
    res = _cli("trace", "x*y", "--at", "x=1,y=2", "--graph", "-odd.svg")
    assert res.exit_code == 0, res.output
    assert res.stderr == "saved -odd.dot\nsaved -odd.svg\n"
    assert log.read_text().split("\n")[:4] == ["-Tsvg", "-o", str(tmp_path / "-odd.svg"),
                                               str(tmp_path / "-odd.dot")]
    assert (tmp_path / "-odd.svg").read_text() == "<svg/>"


def test_renderer_failure_and_timeout_are_messages(tmp_path, monkeypatch):
    sleep = shutil.which("sleep")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_dot(bindir, 'echo "Error: syntax error in line 1" >&2\nexit 3\n')
    monkeypatch.setenv("PATH", str(bindir))
    res = _cli("trace", "x*y", "--at", "x=1,y=2", "--graph", str(tmp_path / "g.png"))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr == (f"saved {tmp_path / 'g.dot'}\n"
                          f"error: Graphviz's dot could not draw {tmp_path / 'g.png'} (exit 3): "
                          f"Error: syntax error in line 1 (the DOT text is saved in {tmp_path / 'g.dot'})\n")
    assert (tmp_path / "g.dot").exists()
    _fake_dot(bindir, f"exec {sleep} 30\n")
    with pytest.raises(DerivcmpError) as err:
        graph.render(str(tmp_path / "g.dot"), str(tmp_path / "g.png"), "png", timeout=0.2)
    assert str(err.value) == (f"Graphviz's dot did not finish drawing {tmp_path / 'g.png'} within 0.2 s "
                              f"(the DOT text is saved in {tmp_path / 'g.dot'})")
    (bindir / "dot").chmod(0o600)                         # on PATH but not executable: which() skips it
    with pytest.raises(DerivcmpError, match="Graphviz's 'dot' program is not on PATH"):
        graph.render(str(tmp_path / "g.dot"), str(tmp_path / "g.png"), "png")


def test_a_renderer_that_cannot_start_is_a_message(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_dot(bindir, "")
    (bindir / "dot").write_bytes(b"\x7fELF not really")    # executable bit, but no program
    monkeypatch.setenv("PATH", str(bindir))
    with pytest.raises(DerivcmpError) as err:
        graph.render(str(tmp_path / "g.dot"), str(tmp_path / "g.png"), "png")
    assert str(err.value).startswith(f"cannot run {bindir / 'dot'}: ")
    assert str(err.value).endswith(f" (the DOT text is saved in {tmp_path / 'g.dot'})")


@pytest.mark.parametrize("target, message", [
    ("g.pdf", "error: --graph: 'g.pdf' should end in .svg, .png or .dot"),
    ("g", "error: --graph: 'g' should end in .svg, .png or .dot"),
    ("missing/g.svg", "error: --graph: the directory "),
    ("", "error: --graph: '' should end in .svg, .png or .dot"),
])
def test_bad_graph_target_exits_2_before_any_work(tmp_path, monkeypatch, target, message):
    monkeypatch.chdir(tmp_path)
    res = _cli("trace", SIGMOID, "--wrt", "w", "--at", "w=2,x=3", "--graph", target)
    assert res.exit_code == 2 and message in res.stderr and "Traceback" not in res.output
    assert res.stdout == "" and os.listdir(tmp_path) == []


def test_a_directory_is_no_graph_target(tmp_path):
    (tmp_path / "d.svg").mkdir()
    with pytest.raises(DerivcmpError) as err:
        graph.graph_format(str(tmp_path / "d.svg"))
    assert str(err.value) == f"--graph: {str(tmp_path / 'd.svg')!r} is a directory"


def test_unwritable_dot_file_is_a_message(tmp_path):
    trace = build(parse("x"), {"x": 1.0}, ("x",))
    (tmp_path / "g.dot").mkdir()                           # the DOT file cannot be written
    with pytest.raises(DerivcmpError, match="cannot write"):
        graph.write(trace, "t", str(tmp_path / "g.svg"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("ext, magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_graphviz_draws_the_sigmoid(tmp_path, ext, magic):
    target = tmp_path / f"sig.{ext}"
    res = _cli("trace", SIGMOID, "--wrt", "w", "--at", "w=2,x=3", "--graph", str(target))
    assert res.exit_code == 0, res.output
    data = target.read_bytes()
    assert magic in data[:400]
    if ext == "svg":
        assert "output v5 = 1 / v4" in data.decode() and f"{math.exp(-6):.10g}" in data.decode()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_stdout_still_gets_the_picture(tmp_path):
    import sys
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _fake_dot(bindir, 'printf "<svg/>" > "$3"\n')
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "derivcmp", "trace", SIGMOID, "--wrt", "w", "--at",
                               "w=2,x=3", "--graph", str(tmp_path / "g.svg")], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "error: cannot write the output: No space left on device" in done.stderr
    assert (tmp_path / "g.svg").read_text() == "<svg/>"
    nodes, edges = _parse((tmp_path / "g.dot").read_text(encoding="utf-8"))
    assert len(nodes) == 7 and len(edges) == 6

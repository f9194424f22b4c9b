"""``derivcmp bench``: the generated functions, the run, its reports, and hostile input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from derivcmp import bench
from derivcmp.backends import base
from derivcmp.cli import main
from derivcmp.expr import depth
from derivcmp.program import compile_program

#: three methods of different families, whatever is registered (bench names none itself)
DEFAULTS = [n for n, e in base.entries().items() if getattr(e.backend, "default", False) and e.available]


def direct(family: str, x: np.ndarray) -> float:
    """Each family's formula written out independently with NumPy."""
    if family == "sum":
        return float(np.sum(np.sin(x[:-1]) * np.exp(x[1:]) + x[:-1] ** 2) + x[-1] ** 2)
    if family == "rosenbrock":
        return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))
    if family == "logsumexp":
        return float(np.log(np.sum(np.exp(x))))
    n = len(x)
    total = 0.0
    for j in range(1, bench.HIDDEN + 1):
        w = np.array([round(math.sin(j * (i + 1) + 0.5) / math.sqrt(n), 6) for i in range(n)])
        total += round(math.cos(j), 6) * math.tanh(float(w @ x) + 0.1 * j)
    return total


@pytest.mark.parametrize("family", list(bench.FAMILIES))
@pytest.mark.parametrize("n", [2, 7, 64])
def test_generated_functions_are_their_formulas(family, n):
    p = bench.problem(family, n)
    x = np.array([p.point[f"x{i}"] for i in range(1, n + 1)])
    got = float(compile_program(p.expr).evaluate(p.point))
    assert got == pytest.approx(direct(family, x), rel=1e-13)
    assert p.wrt == tuple(f"x{i}" for i in range(1, n + 1)) and p.order == 1


def test_sums_are_balanced_trees():
    assert depth(bench.problem("sum", 10_000).expr) < 25


def run_cli(*args):
    return CliRunner().invoke(main, ["bench", *args])


@pytest.mark.parametrize("args, message", [
    (["--sizes", "0"], "error: --sizes: 0 is out of range (1 to 100,000 variables)"),
    (["--sizes", "-1"], "error: --sizes: '-1' is not a whole number of variables (e.g. --sizes 10,100,1000)"),
    (["--sizes", "1e9"], "error: --sizes: '1e9' is not a whole number of variables"),
    (["--sizes", "1000000000"], "error: --sizes: 1000000000 is out of range (1 to 100,000 variables)"),
    (["--sizes", "ten"], "error: --sizes: 'ten' is not a whole number of variables"),
    (["--sizes", "10,,20"], "error: --sizes: malformed list '10,,20'; expected e.g. 10,100,1000"),
    (["--sizes", ""], "error: --sizes: malformed list ''"),
    (["--family", "sum,"], "error: --family: malformed list 'sum,'"),
    (["--family", "nope"], ("error: --family: unknown family 'nope' (known: sum, rosenbrock, dense, "
                            "logsumexp, or all)")),
    (["--family", "rosenbrok"], "did you mean 'rosenbrock'"),
    (["--methods", "nope"], "unknown method 'nope'"),
    (["--family", "rosenbrock", "--sizes", "1"], "error: --sizes: rosenbrock needs at least 2 variables"),
    (["--timeout", "-1"], "Invalid value"),
    (["--format", "xml"], "Invalid value"),
    (["--plot", "/nonexistent-folder/x.png", "--sizes", "2"],
     "error: --plot: cannot write /nonexistent-folder/x.png: /nonexistent-folder is not a writable folder"),
])
def test_bad_input_exits_2_with_a_message(args, message):
    r = run_cli(*args)
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output


def test_without_matplotlib_plot_says_how_to_install_it(monkeypatch, tmp_path):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    r = run_cli("--sizes", "2", "--plot", str(tmp_path / "x.png"))
    assert r.exit_code == 2
    assert "error: --plot needs matplotlib: pip install 'derivcmp[plot]'" in r.output


def test_without_plotext_the_table_comes_with_a_note(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "plotext" else real(name, *a))
    r = run_cli("--sizes", "2", "--methods", DEFAULTS[0], "--timeout", "120")
    assert r.exit_code == 0
    assert "(a terminal chart needs plotext: pip install 'derivcmp[plot]')" in r.stderr
    assert "grad/f" in r.stdout


def test_a_plot_that_cannot_be_written_is_an_input_error(monkeypatch, tmp_path):
    from derivcmp.report import bench as rb

    def fail(result, path):
        raise OSError("disk full")
    monkeypatch.setattr(rb, "plot", fail)
    r = run_cli("--sizes", "2", "--methods", DEFAULTS[0], "--plot", str(tmp_path / "x.png"), "--timeout", "120")
    assert r.exit_code == 2
    assert f"error: --plot: cannot write {tmp_path / 'x.png'}: disk full" in r.output


@pytest.fixture(scope="module")
def small_run():
    r = run_cli("--sizes", "3,6", "--family", "sum,rosenbrock", "--methods", ",".join(DEFAULTS),
                "--format", "json", "--timeout", "120")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_json_has_every_method_and_size_graded_against_the_reference(small_run):
    doc = small_run
    assert doc["schema"] == "derivcmp-bench/1"
    assert {(r["family"], r["n"], r["method"]) for r in doc["rows"]} == \
        {(f, n, m) for f in ("sum", "rosenbrock") for n in (3, 6) for m in DEFAULTS}
    for r in doc["rows"]:
        assert r["status"] == "ok", r
        assert r["error_against"] == "reference (50 digits)"
        assert r["max_rel_error"] < 1e-6
        assert r["ratio"] == pytest.approx(r["grad_s"] / r["f_s"])
        assert r["setup_s"] >= 0 and r["grad_s"] > 0
    env = doc["environment"]
    assert env["python"] and env["numpy"] and env["cpu_count"]


def test_without_a_reference_the_methods_are_cross_checked():
    r = run_cli("--sizes", "5", "--methods", ",".join(DEFAULTS), "--format", "json", "--reference-max", "0",
                "--timeout", "120")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert all(row["error_against"] == f"median of {len(DEFAULTS)} methods (no reference at this n)"
               for row in rows)
    assert all(row["max_rel_error"] < 1e-6 for row in rows)


def test_a_method_past_its_deadline_is_a_timeout_cell_and_is_not_run_again():
    result = bench.run(["sum"], [200, 400], DEFAULTS[:1], timeout=1e-3, reference_max=0)
    first, second = result.rows
    assert first.status == "timeout" and "gave up" in first.message
    assert second.status == "timeout" and "timed out at a smaller n" in second.message


def test_sizes_too_small_for_a_family_are_skipped_with_a_note():
    r = run_cli("--family", "rosenbrock", "--sizes", "1,3", "--methods", DEFAULTS[0], "--timeout", "120")
    assert r.exit_code == 0, r.output
    assert "note: rosenbrock needs at least 2 variables; n=1 skipped" in r.stderr
    assert "\n3 " in r.stdout and "\n1 " not in r.stdout


def test_nothing_to_chart_is_no_chart():
    from derivcmp.report.bench import terminal_chart
    result = bench.run(["sum"], [200], DEFAULTS[:1], timeout=1e-3, reference_max=0)
    assert terminal_chart(result) == ""


def test_table_csv_markdown_and_plots(tmp_path):
    png = tmp_path / "bench.png"
    r = run_cli("--sizes", "2,4", "--methods", ",".join(DEFAULTS), "--plot", str(png), "--timeout", "120")
    assert r.exit_code == 0, r.output
    assert "grad/f" in r.stdout and "gradient time / f time" in r.stdout     # table and terminal chart
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_out = run_cli("--sizes", "2", "--methods", DEFAULTS[0], "--format", "csv", "--timeout", "120").stdout
    assert csv_out.splitlines()[0].startswith("family,n,method,status,f_s,grad_s")
    md = run_cli("--sizes", "2", "--methods", DEFAULTS[0], "--format", "markdown", "--timeout", "120").stdout
    assert md.count("\n| 2 |") == 1

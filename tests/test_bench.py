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
                            "logsumexp, jacobian, jacobian-network, or all)")),
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


# --- the jacobian family (issue 15) ------------------------------------------------------------

def test_jacobian_family_is_its_formula():
    import mpmath
    p = bench.jacobian_problem(5, 3)
    assert p.vector and p.shape == (3, 5)
    program = compile_program(p.expr)
    got = program.evaluate(p.point)
    x = [p.point[f"x{i}"] for i in range(1, 6)]
    for j in range(1, 4):
        a = [round(1 + 0.5 * math.sin(j * i + 0.3 * j), 6) for i in range(1, 6)]
        want = math.fsum(math.sin(a[i] * x[i]) * x[(i + 1) % 5] for i in range(5))
        assert got[j - 1] == pytest.approx(want, rel=1e-14)
    # the Jacobian by hand: dy_j/dx_k = a_jk cos(a_jk x_k) x_{k+1} + sin(a_j,k-1 x_{k-1})
    from derivcmp.compare import compute_reference
    ref = compute_reference(p)
    with mpmath.workdps(30):
        for j in range(1, 4):
            a = [round(1 + 0.5 * math.sin(j * i + 0.3 * j), 6) for i in range(1, 6)]
            for k in range(5):
                # the literals are the decimals written (repr), not their binary roundings
                ak, ak1 = mpmath.mpf(repr(a[k])), mpmath.mpf(repr(a[k - 1]))
                want = ak * mpmath.cos(ak * x[k]) * x[(k + 1) % 5] + mpmath.sin(ak1 * x[k - 1])
                assert abs(mpmath.mpf(ref.exact[j - 1][k]) - want) < mpmath.mpf(10) ** -25


def test_jacobian_bench_gives_real_values_and_sweep_counts():
    names = [n for n in ("ad-forward", "ad-reverse", "ad-codegen") if n in base.entries()]
    result = bench.run_jacobian([(4, 1), (4, 8)], names, timeout=None, runs=2)
    assert {(r.n, r.outputs) for r in result.rows} == {(4, 1), (4, 8)}
    for r in result.rows:
        assert r.status == "ok", r.message
        assert r.value.shape == (r.outputs, r.n)
        assert r.error_against == "reference (50 digits)"
        assert r.max_rel_error < 1e-14
        assert r.grad_s > 0 and r.f_s > 0
        if r.method == "ad-forward":
            assert r.cost == "4 fwd sweeps"
        else:
            assert r.cost == f"{r.outputs} rev sweeps"


def test_jacobian_bench_command_table_json_and_plot(tmp_path):
    out = tmp_path / "crossover.png"
    result = CliRunner().invoke(main, ["bench", "--family", "jacobian", "--inputs", "3", "--outputs", "1,6",
                                       "--methods", "ad-forward,ad-reverse,symbolic", "--plot", str(out)],
                                env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "symbolic computes a Jacobian output by output (not one program's sweeps); left out of the " \
           "crossover" in result.output
    assert "jacobian: f = y_j = sum_i sin(a_ji*x_i)*x_{i+1}, j = 1..m, i = 1..n" in result.output
    assert "3 fwd sweeps" in result.output and "6 rev sweeps" in result.output
    assert "Jacobian time (s) against m/n (log-log)" in result.output
    assert out.stat().st_size > 10_000
    js = CliRunner().invoke(main, ["bench", "--family", "jacobian", "--inputs", "2,3", "--outputs", "2",
                                   "--methods", "ad-reverse", "--format", "json"])
    doc = json.loads(js.output)
    assert [(r["n"], r["m"]) for r in doc["rows"]] == [(2, 2), (3, 2)]
    assert doc["families"] == {"jacobian": bench.JACOBIAN_FORMULA}
    assert all(r["max_rel_error"] < 1e-14 for r in doc["rows"])


def test_network_family_is_two_dense_layers_and_a_readout():
    p = bench.jacobian_problem(3, 2, bench.NETWORK)
    x = np.array([p.point[f"x{i}"] for i in range(1, 4)])

    def weights(rows, seed):
        return np.array([[round(math.sin(1.7 * i + 0.9 * k + seed) / math.sqrt(3), 6) for k in range(1, 4)]
                         for i in range(1, rows + 1)])
    w1, w2, v = weights(3, 0.1), weights(3, 0.7), weights(2, 1.3)
    want = v @ np.tanh(w2 @ np.tanh(w1 @ x))
    assert np.allclose(compile_program(p.expr).evaluate(p.point), want, rtol=1e-14)
    # its Jacobian by hand: V diag(1 - h2^2) W2 diag(1 - h1^2) W1
    h1 = np.tanh(w1 @ x)
    h2 = np.tanh(w2 @ h1)
    jac = v @ np.diag(1 - h2 ** 2) @ w2 @ np.diag(1 - h1 ** 2) @ w1
    result = bench.run_jacobian([(3, 2)], ["ad-forward", "ad-reverse"], timeout=None, runs=2, family=bench.NETWORK)
    for r in result.rows:
        assert np.allclose(r.value, jac, rtol=1e-13), r.method
        assert r.max_rel_error < 1e-14 and r.error_against == "reference (50 digits)"


@pytest.mark.parametrize("args, message", [
    (["--family", "jacobian", "--inputs", "2,4", "--outputs", "1,2"],
     "--inputs and --outputs: give one of them as a list and the other as one number "
     "(e.g. --inputs 64 --outputs 1,4,16,64,256)"),
    (["--family", "jacobian", "--inputs", "4096", "--outputs", "17"],
     "--inputs/--outputs: 4096x17 is too large (at most 65,536 Jacobian entries, inputs x outputs)"),
    (["--family", "jacobian,sum"], "--family: jacobian runs alone (it takes --inputs and --outputs, not --sizes)"),
    (["--family", "jacobian", "--sizes", "10"], "--sizes is not for --family jacobian: give --inputs and --outputs"),
    (["--family", "sum", "--outputs", "3"], "--inputs and --outputs are for --family jacobian or "
                                            "jacobian-network (vector-valued functions)"),
    (["--family", "jacobian-network,sum"], "--family: jacobian-network runs alone (it takes --inputs and "
                                           "--outputs, not --sizes)"),
    (["--family", "jacobian", "--outputs", "0"], "--outputs: 0 is out of range (1 to 4,096 outputs)"),
    (["--family", "jacobian", "--inputs", "x"], "--inputs: 'x' is not a whole number of inputs"),
])
def test_jacobian_bench_bad_input_exits_2(args, message):
    result = CliRunner().invoke(main, ["bench", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output

"""`derivcmp sweep` and `eval --step` end to end."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from derivcmp.cli import main


def run(*args: str, env=None):
    return CliRunner().invoke(main, list(args), env=env)


def test_sweep_table_draws_the_chart_and_the_summary():
    res = run("sweep", "exp(x)", "--wrt", "x", "--at", "x=1", "--methods", "fd-central,richardson",
              "--steps", "1e-1:1e-12:12")
    assert res.exit_code == 0, res.output
    assert "relative error against step: d/dx of exp(x) at x=1.0" in res.stdout
    assert "o: the method's default step, *: the best step of the grid" in res.stdout
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith(("fd-central ", "richardson "))]
    assert len(lines) == 2
    assert "\x1b[" not in res.stdout


def test_sweep_csv_and_json_give_the_numbers():
    res = run("sweep", "exp(x)", "--at", "x=1", "--methods", "fd-central", "--steps", "1e-2:1e-6:5",
              "--format", "csv")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert [r["default"] for r in rows] == ["yes", "", "", "", "", ""]
    assert float(rows[1]["step"]) == pytest.approx(1e-2)
    assert all(r["status"] == "ok" for r in rows)
    res = run("sweep", "exp(x)", "--at", "x=1", "--methods", "fd-central", "--steps", "1e-2:1e-6:5",
              "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["schema"] == "derivcmp-sweep/1"
    m = doc["methods"][0]
    assert m["name"] == "fd-central" and len(m["points"]) == 5
    assert m["best"]["rel_error"] == min(p["rel_error"] for p in m["points"])
    assert m["error_estimate"] > 0


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_sweep_plot_writes_a_figure(tmp_path, suffix):
    out = tmp_path / f"v.{suffix}"
    res = run("sweep", "sin(x)", "--at", "x=1", "--methods", "fd-forward,fd-central", "--steps",
              "1e-1:1e-14:8", "--plot", str(out), "--format", "csv")
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
    assert f"wrote {out}" in res.stderr


@pytest.mark.parametrize("steps, message", [
    ("1e-1:1e-3", "--steps: expected START:STOP:COUNT (e.g."),
    ("a:1e-3:4", "--steps: START and STOP must be numbers, got"),
    ("1e-1:1e-3:four", "--steps: COUNT must be a whole number, got"),
    ("1e-1:0:5", "--steps: STOP must be a positive finite step, got"),
    ("-1:1e-3:5", "--steps: START must be a positive finite step, got"),
    ("1e-1:1e-3:1", "--steps: COUNT must be between 2 and"),
    ("1e-1:1e-3:100000", "--steps: COUNT must be between 2 and"),
    ("1e-3:1e-3:5", "--steps: START and STOP are the same step"),
])
def test_bad_step_ranges_exit_2_with_a_message(steps, message):
    res = run("sweep", "x", "--at", "x=1", "--steps", steps)
    assert res.exit_code == 2
    assert message in res.stderr
    assert "Traceback" not in res.output


def test_sweep_input_errors(tmp_path, monkeypatch):
    res = run("sweep", "x*y", "--at", "x=1,y=2")
    assert res.exit_code == 2
    assert "sweep: give exactly one --wrt variable (the step is along one axis)" in res.stderr
    res = run("sweep", "x", "--at", "x=1", "--methods", "symbolic")
    assert res.exit_code == 2
    assert "sweep: --methods names no finite-difference method (they are:" in res.stderr
    res = run("sweep", "x", "--at", "x=1", "--plot", str(tmp_path / "v.pdf"))
    assert res.exit_code == 2 and "must end in .png or .svg" in res.stderr
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "matplotlib" else real(name, *a))
    res = run("sweep", "x", "--at", "x=1", "--plot", str(tmp_path / "v.png"))
    assert res.exit_code == 2
    assert "--plot needs matplotlib: pip install 'derivcmp[plot]'" in res.stderr


def test_eval_step_option():
    res = run("eval", "exp(x)", "--at", "x=1", "--methods", "fd-central", "--step", "1e-3", "--no-timing",
              "--format", "json")
    assert res.exit_code == 0, res.output
    m = json.loads(res.stdout)["methods"][0]
    assert m["details"]["steps"]["x"] == (1.0 + 1e-3) - 1.0
    for bad, msg in (("-1", "--step must be a positive finite number, got"), ("x", "is not a number")):
        res = run("eval", "exp(x)", "--at", "x=1", "--step", bad)
        assert res.exit_code == 2 and msg in res.stderr


def test_eval_table_shows_the_own_estimate_and_unresolved():
    res = run("eval", "tanh(x)", "--at", "x=20", "--methods", "fd-central,richardson", "--no-timing",
              env={"COLUMNS": "120"})
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert "own" in lines[2] and "estimate" in lines[3]          # a two-line header at 120 columns
    for name in ("fd-central", "richardson"):
        row = next(x for x in lines if x.startswith(name))
        assert row.split()[-1] == "unresolved"                    # the status, not a grade
    assert "the difference is lost in rounding" in res.stdout

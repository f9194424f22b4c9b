"""Ranges of points (issue 13): parsing, per-point statuses, values equal to
point-by-point evaluation for every method, the sampled reference, the reports."""

from __future__ import annotations

import csv
import io
import json
import math

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from derivcmp import backends
from derivcmp.cli import main
from derivcmp.compare import compare, make_problem
from derivcmp.errors import DerivcmpError, ParseError
from derivcmp.grid import MAX_POINTS, has_range, sample_indices, split_at
from derivcmp.gridrun import compare_grid, make_grid_problem
from derivcmp.problem import OK


def run(*args: str):
    return CliRunner().invoke(main, list(args))


# --- parsing ------------------------------------------------------------------

def test_ranges_parse_linear_log_and_lists():
    fixed, axes = split_at("x=0:1:5, w=2")
    assert fixed == {"w": 2.0}
    assert axes[0].name == "x" and list(axes[0].values) == [0.0, 0.25, 0.5, 0.75, 1.0]
    _, (a,) = split_at("x=1e-3:1e3:7:log")
    assert a.log and a.values[0] == 1e-3 and a.values[-1] == 1e3
    assert np.allclose(np.log10(a.values), [-3, -2, -1, 0, 1, 2, 3])
    _, (b,) = split_at("x=-100:-1:3:log")
    assert np.allclose(b.values, [-100, -10, -1])
    _, (c,) = split_at("x=[1, 2, pi/4]")
    assert list(c.values) == [1.0, 2.0, math.pi / 4]
    assert has_range("x=[1,2]") and has_range("w=1,x=0:1:3") and not has_range("x=(1)")
    # a mapping (a suite's at table): a string range or a list
    fixed, axes = split_at({"x": "0:1:3", "y": [1, 2], "w": 4})
    assert fixed == {"w": 4.0} and [a.name for a in axes] == ["x", "y"]


def test_two_ranges_make_a_cartesian_grid_with_the_others_fixed():
    _, grid, _ = make_grid_problem("w*x + y", "x", "x=0:1:3,y=[10,20],w=2")
    assert grid.shape == (3, 2) and grid.size == 6
    cols = grid.columns()
    assert list(cols["x"]) == [0, 0, 0.5, 0.5, 1, 1]
    assert list(cols["y"]) == [10, 20, 10, 20, 10, 20]
    assert list(cols["w"]) == [2.0] * 6
    assert grid.point(3) == {"w": 2.0, "x": 0.5, "y": 20.0}


@pytest.mark.parametrize(("at", "message", "caret"), [
    ("x=0:1:zz", "COUNT must be a whole number of points (e.g. 101), got 'zz'", "      ^^"),
    ("x=0:1", "a range is START:STOP:COUNT or START:STOP:COUNT:log, got 2 parts for 'x'", "  ^^^"),
    ("x=1:1:5", "START and STOP are the same (1): give one point as x=1", "  ^^^"),
    ("x=-1:1:5:log", "a log range needs START and STOP nonzero and of the same sign, got -1 and 1", "  ^^^^"),
    ("x=0:2:5:log", "a log range needs START and STOP nonzero and of the same sign, got 0 and 2", "  ^^^"),
    ("x=0:1:5:lin", "the fourth part of a range can only be 'log', got 'lin'", "        ^^^"),
    ("x=[1,2", "the list of 'x' has no closing ']'", "      ^"),
    ("x=[]", "the list of 'x' is empty", "  ^^"),
    ("x=[1,,2]", "a number is missing in the range of 'x'", "     ^"),
    ("x=0:1+*2:5", "--at x=...: expected an operand, found '*'", "      ^"),
    ("x=0:1:1", "a range needs at least 2 points, got 1 (give one point as x=VALUE)", "      ^"),
    ("x=0:1:100000000000", "100,000,000,000 points is over the limit of 10,000,000", "      ^^^^^^^^^^^^"),
    ("x=0:y:5", "the value of 'x' must be a number or a constant expression, not 'y'", "    ^"),
    ("x=0:1e400:5", "1e400", None),
])
def test_bad_ranges_give_a_caret_under_the_part(at, message, caret):
    with pytest.raises(ParseError) as err:
        split_at(at)
    text = str(err.value)
    assert message in text
    if caret is not None:
        assert text.splitlines()[1] == "  " + at
        assert text.splitlines()[2] == "  " + caret


def test_grid_cap_and_repeats_are_refused():
    with pytest.raises(DerivcmpError, match="--at: the grid has 16,000,000 points \\(4000 x 4000\\); the limit is 10,000,000"):
        split_at("x=0:1:4000,y=0:1:4000")
    assert MAX_POINTS == 10 ** 7
    with pytest.raises(DerivcmpError, match="'x' is given more than once"):
        split_at("x=0:1:5,x=2")


def test_a_range_needs_one_wrt_variable():
    with pytest.raises(DerivcmpError) as err:
        make_grid_problem("x*y", "x,y", "x=0:1:3,y=1")
    assert str(err.value) == ("a range of points needs a scalar derivative: one --wrt variable (got x, y); "
                              "gradients and Hessians over a grid are not supported")


def test_a_range_needs_a_scalar_expression():
    with pytest.raises(DerivcmpError) as err:
        make_grid_problem("[x, x^2]", "x", "x=0:1:3")
    assert str(err.value) == ("a range of points needs a scalar expression: a list [e1, ..., em] "
                              "(a Jacobian) is evaluated at one point")
    res = run("eval", "[sin(x), cos(x)]", "--at", "x=0:1:3")
    assert res.exit_code == 2 and "a range of points needs a scalar expression" in res.output


def test_bad_range_on_the_command_line_exits_2_with_a_caret():
    res = run("eval", "sin(x)", "--at", "x=0:1:many")
    assert res.exit_code == 2
    assert "COUNT must be a whole number of points" in res.output
    assert "  x=0:1:many\n        ^^^^" in res.output
    assert "Traceback" not in res.output


# --- per-point statuses -----------------------------------------------------------

def _result(c, name):
    return next(r for r in c.results if r.name == name)


def test_one_undefined_point_is_marked_for_that_point_only():
    problem, grid, _ = make_grid_problem("log(x)", "x", "x=[1,2,-1,4]")
    c = compare_grid(problem, grid, "all", timing=False, timeout=None)
    for r in c.results:
        if r.outcome.status != OK:
            continue
        assert list(r.statuses) == ["ok", "ok", "undefined", "ok"], r.name
        assert r.grades[2] is None
        # the three good points keep their values: 1/x
        for i, x in ((0, 1.0), (1, 2.0), (3, 4.0)):
            assert r.outcome.values[i] == pytest.approx(1 / x, rel=1e-6), r.name
        assert r.summary.counts["undefined"] == 1
        assert r.summary.graded == 3


def test_a_grid_crossing_a_domain_edge_and_a_kink():
    # sqrt is undefined below 0 and has no derivative at 0; abs(x-1) has a kink at 1
    problem, grid, _ = make_grid_problem("sqrt(x)*abs(x-1)", "x", "x=-1:2:7")
    c = compare_grid(problem, grid, None, timing=False, timeout=None)
    # at 0 sqrt has only a one-sided derivative: no derivative there
    assert list(c.reference.statuses) == ["undefined", "undefined", "not-differentiable", "ok",
                                          "not-differentiable", "ok", "ok"]
    for r in c.results:
        st = list(r.statuses)
        assert st[:2] == ["undefined"] * 2, r.name
        assert st[2] == st[4] == "not-differentiable", r.name
        assert st[3] == st[5] == st[6] == "ok", r.name
        # the graded points against the closed form d/dx sqrt(x)(1-x) etc.
        for i in (3, 5, 6):
            x = mpmath.mpf(float(grid.columns()["x"][i]))
            exact = mpmath.diff(lambda t: mpmath.sqrt(t) * abs(t - 1), x)
            assert r.outcome.values[i] == pytest.approx(float(exact), rel=1e-6)
            assert r.rel_errors[i] < 1e-6


#: grids with a domain edge (sqrt, log), a kink (abs), a pole, large |x| (tanh at
#: +-30, atan at 1e8, exp near overflow) and tiny |x| (1e-300)
POINT_GRIDS = [
    ("sigmoid(3*x)*x + exp(-x)*sin(3*x) + log(x)", "x=[-0.5, 0.25, 1, 3.5, 100, -300]"),
    ("sqrt(x)*abs(x-1)", "x=[-1, 0, 1e-300, 1e-10, 0.25, 1, 2]"),
    ("log(x) + 1/(x-2)", "x=[-1, 0, 1e-300, 1e-5, 2, 3]"),
    ("tanh(x)", "x=-30:30:13"),
    ("atan(x)*exp(x/1000)", "x=[1e8, -1e8, 1e-300, 0, 700000]"),
]


def _stencil_methods(reg) -> list[str]:
    return [n for n, b in reg.items()
            if getattr(b, "family", "") == "finite-difference" and hasattr(b, "scheme")]


@pytest.mark.parametrize("case", range(len(POINT_GRIDS)))
@pytest.mark.parametrize("name", sorted(backends.registry()))
def test_grid_values_equal_point_by_point_evaluation(name, case):
    """Bit for bit, status and message, with f's arithmetic the same on both sides:
    the fast path on Python floats (``math``) switched off, so a point alone and
    the whole grid both run NumPy's functions."""
    from derivcmp.scalar import ieee_only
    reg = backends.registry()
    if getattr(reg[name], "family", None) == "peer" and name != "autograd":
        pytest.skip("framework peers loop over the points like every other method; one peer is enough here")
    text, at = POINT_GRIDS[case]
    problem, grid, _ = make_grid_problem(text, "x", at)
    from derivcmp.gridrun import _run
    with ieee_only():
        got = _run(reg[name], problem, grid.columns(tuple(problem.point)), None)
        if got.status == "not-applicable":
            return
        prepared = reg[name].prepare(problem)
        # a method with a vectorised form uses it: the stencil methods have one
        assert got.details["grid"] == ("loop" if prepared.evaluate_grid is None else "vectorised")
        if name in _stencil_methods(reg):
            assert got.details["grid"] == "vectorised"
        for i in range(grid.size):
            p, _ = make_problem(text, "x", grid.point(i))
            one = backends.run(reg[name], p, timing=False)
            v = float(one.value) if one.value is not None else math.nan
            assert got.values[i] == v or (math.isnan(v) and math.isnan(got.values[i])), (name, i)
            assert got.statuses[i] == one.status, (name, i, one.status, got.statuses[i])
            if one.status != "ok" and got.messages.get(i):
                assert got.messages[i] == one.message, (name, i)


def test_stencils_over_a_grid_are_vectorised_with_unresolved_points_and_edges():
    """The stencil methods at +-30 of tanh: the difference lost in rounding is
    ``unresolved`` per point (probed at larger steps, at once); sqrt's edge at 0
    needs the one-sided stencil, done by the scalar path for that point alone;
    the other points agree with the closed form within each method's tolerance."""
    reg = backends.registry()
    problem, grid, _ = make_grid_problem("tanh(x)", "x", "x=-30:30:61")
    xs = grid.columns()["x"]
    exact = 1 / np.cosh(xs) ** 2
    for name in _stencil_methods(reg):
        got = backends.run_grid(reg[name], problem, grid.columns(tuple(problem.point)))
        assert got.details["grid"] == "vectorised" and got.details["grid_scalar_points"] == 0, name
        st = np.asarray(got.statuses)
        # from |x| = 16 to 20 tanh is +-1 to the last bit at every step while larger
        # steps see it change: unresolved, never a confident 0 (beyond, the probes
        # up to |x|/2 see a flat f too, as at a single point)
        assert set(st[(np.abs(xs) >= 16) & (np.abs(xs) <= 20)]) == {"unresolved"}, name
        assert got.values[np.flatnonzero(xs == 18)[0]] == 0.0
        assert all("not a derivative" in got.messages[i] for i in np.flatnonzero(st == "unresolved"))
        # near 0, where f' is not small against f, every method is within its tolerance
        ok = np.abs(xs) <= 5
        assert set(st[ok]) == {"ok"}, name
        tol = reg[name].tolerances[1]
        assert np.all(np.abs(got.values[ok] - exact[ok]) <= tol * np.abs(exact[ok])), name
    problem, grid, _ = make_grid_problem("sqrt(x)", "x", "x=0:1:5")
    for name in _stencil_methods(reg):
        got = backends.run_grid(reg[name], problem, grid.columns(tuple(problem.point)))
        xs = grid.columns()["x"]
        assert got.details["grid"] == "vectorised", name
        # central stencils go one-sided at 0: that point alone takes the scalar path
        assert got.details["grid_scalar_points"] == (0 if reg[name].scheme in ("forward", "backward") else 1)
        assert np.allclose(got.values[1:], 0.5 / np.sqrt(xs[1:]), rtol=1e-4), name


def test_stencil_grid_without_the_ieee_switch_agrees_within_the_estimate():
    """On Python floats a point runs ``math``'s functions, the grid NumPy's: an ulp
    of f apart at most, so a value differs by no more than the method's own
    rounding estimate there, and the statuses are the same."""
    reg = backends.registry()
    text = "tanh(x) + sqrt(x + 31)"
    problem, grid, _ = make_grid_problem(text, "x", "x=-30:30:41")
    for name in _stencil_methods(reg):
        got = backends.run_grid(reg[name], problem, grid.columns(tuple(problem.point)))
        for i in range(grid.size):
            p, _ = make_problem(text, "x", grid.point(i))
            one = backends.run(reg[name], p, timing=False)
            assert got.statuses[i] == one.status, (name, i)
            est = one.details["error_estimate"]
            assert abs(got.values[i] - float(one.value)) <= est, (name, i)


def test_higher_order_over_a_grid_matches_the_closed_form():
    problem, grid, _ = make_grid_problem("sin(x)", "x", "x=0:3:4", order=2)
    c = compare_grid(problem, grid, None, timing=False, timeout=None)
    xs = grid.columns()["x"]
    for r in c.results:
        assert np.allclose(r.outcome.values, -np.sin(xs), atol=1e-6), r.name


# --- the reference over a grid ------------------------------------------------------

def test_sample_indices_are_evenly_spaced_and_include_both_ends():
    assert list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]
    idx = sample_indices(1001, 11)
    assert list(idx) == list(range(0, 1001, 100))


def test_a_large_grid_is_graded_on_an_evenly_spaced_sample_and_says_so():
    problem, grid, _ = make_grid_problem("exp(x)", "x", "x=0:1:101")
    c = compare_grid(problem, grid, None, timing=True, timeout=None, reference_points=11)
    assert c.reference.sampled and len(c.reference.indices) == 11
    assert "the reference was computed at 11 evenly spaced points of 101" in c.notes[0]
    for r in c.results:
        # every point has a value; only the sample is graded
        assert np.all(np.isfinite(r.outcome.values))
        assert int(np.sum(np.isfinite(r.rel_errors))) == 11
        assert sum(r.summary.counts[k] for k in ("exact", "accurate", "inaccurate", "wrong")) == 11
        assert r.summary.time_per_point_s is not None and r.summary.time_per_point_s > 0
        # graded errors are right: exp'(x) = exp(x)
        for i in c.reference.indices:
            mpmath.mp.dps = 60
            x = mpmath.mpf(float(grid.columns()["x"][i]))
            err = abs(mpmath.mpf(float(r.outcome.values[i])) - mpmath.exp(x)) / mpmath.exp(x)
            assert r.rel_errors[i] == pytest.approx(float(err), rel=1e-6, abs=1e-300)
            mpmath.mp.dps = 15


def test_a_reference_out_of_time_leaves_the_points_ungraded_and_says_so():
    from derivcmp import deadline
    if not deadline.can_fork():
        pytest.skip("the deadline needs fork")
    problem, grid, _ = make_grid_problem("exp(x)", "x", "x=0:1:5")
    from derivcmp.gridrun import grid_reference
    ref = grid_reference(problem, grid, np.arange(5), 1e-6)
    assert set(ref.statuses) == {"timeout"}
    assert ref.at(0).message == "the reference over the grid gave up after 1e-06 s"
    from derivcmp.gridrun import GridComparison, _run, grade_grid
    reg = backends.registry()
    name = next(iter(reg))
    r = grade_grid(problem, grid, ref, _run(reg[name], problem, grid.columns(("x",)), None))
    assert r.summary.counts["ungraded"] == 5 and r.summary.graded == 0
    c = GridComparison(problem, grid, ref, (r,))
    assert "the reference ran out of time at 5 points: those are ungraded (raise --timeout to wait longer)" in c.notes


def test_grading_over_a_grid_is_the_single_point_grading():
    # (f's arithmetic the same at a point and over the grid: NumPy's functions on
    # both sides, see test_grid_values_equal_point_by_point_evaluation)
    from derivcmp.scalar import ieee_only
    problem, grid, _ = make_grid_problem("tanh(x)", "x", "x=[-20, 0.5, 20]")
    with ieee_only():
        c = compare_grid(problem, grid, None, timing=False, timeout=None)
    for i in range(grid.size):
        p, _ = make_problem("tanh(x)", "x", grid.point(i))
        with ieee_only():
            one = compare(p, None, timing=False, timeout=None)
        for g in one.results:
            r = _result(c, g.name)
            assert r.grades[i] == g.grade
            assert r.rel_errors[i] == pytest.approx(g.rel_error, rel=1e-12, abs=0)


# --- reports ---------------------------------------------------------------------------

def test_csv_has_one_row_per_point_and_method():
    res = run("eval", "log(x)", "--at", "x=[1,2,-1,4]", "--format", "csv", "--no-timing")
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    names = [n for n in backends.registry() if getattr(backends.registry()[n], "default", False)]
    assert len(rows) == 4 * len(names)
    assert list(rows[0]) == ["method", "index", "x", "value", "reference", "abs_error", "rel_error",
                             "status", "grade"]
    bad = [r for r in rows if r["x"] == "-1.0"]
    assert {r["status"] for r in bad} == {"undefined"} and {r["grade"] for r in bad} == {""}
    assert {r["reference"] for r in bad} == {""}
    good = [r for r in rows if r["x"] == "2.0"]
    assert all(float(r["reference"]) == 0.5 for r in good)


def test_json_is_a_derivcmp_grid_document():
    res = run("eval", "sqrt(x)", "--at", "x=0:1:5", "--format", "json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["schema"] == "derivcmp-grid/1"
    assert doc["points"] == 5
    assert doc["ranges"] == [{"name": "x", "spec": "0:1:5", "count": 5, "log": False,
                              "values": [0.0, 0.25, 0.5, 0.75, 1.0]}]
    assert doc["reference"]["status"] == ["not-differentiable", "ok", "ok", "ok", "ok"] or \
        doc["reference"]["status"][0] in ("undefined", "not-differentiable")
    for m in doc["methods"]:
        pts = m["points"]
        assert len(pts["value"]) == len(pts["status"]) == len(pts["rel_error"]) == 5
        assert pts["status"][0] in ("undefined", "not-differentiable")
        assert pts["rel_error"][0] is None
        assert m["summary"]["graded"] == 4
        assert m["summary"]["worst_at"]["x"] in (0.25, 0.5, 0.75, 1.0)
        assert m["time_per_point_s"] > 0


def test_table_fits_80_columns_and_names_the_worst_point():
    res = CliRunner().invoke(main, ["eval", "tanh(x)", "--at", "x=-20:20:41", "--no-timing"],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "d/dx of tanh(x) over x=-20:20:41" in res.stdout
    assert "relative error (log) against x" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) <= 80
    assert "points graded exact, accurate, inaccurate, wrong; no deriv: no derivative there" in res.stdout


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<?xml")])
def test_plot_writes_a_real_figure(tmp_path, suffix, magic):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"err{suffix}"
    res = run("eval", "log(x)", "--at", "x=-1:3:9", "--plot", str(path), "--no-timing")
    assert res.exit_code == 0, res.output
    assert path.read_bytes().startswith(magic)
    assert f"wrote {path}" in res.output


def test_plot_of_a_2d_grid(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "two.png"
    res = run("eval", "sin(w*x)", "--wrt", "x", "--at", "x=0:1:5,w=[1,2]", "--plot", str(path), "--no-timing")
    assert res.exit_code == 0, res.output
    assert "(the worst over w at each x)" in res.stdout
    assert path.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(("args", "message"), [
    (["--plot", "x.png", "--at", "x=1"], "--plot draws a range of points: give one in --at (e.g. --at x=0:1:101)"),
    (["--at", "x=0:1:3", "--plot", "x.pdf"], "--plot: 'x.pdf' must end in .png or .svg"),
    (["--at", "x=0:1:3", "--show", "code"], "--show prints one derivative; it does not go with a range in --at"),
    (["--at", "x=0:1:3", "--format", "markdown"], "a range of points is reported as table, json or csv, not markdown"),
    (["--at", "x=0:1:3", "--runs", "3"], "--runs and --warmup time one point; over a range the whole grid is timed once"),
])
def test_eval_refuses_what_a_range_cannot_do(args, message):
    res = run("eval", "sin(x)", *args)
    assert res.exit_code == 2
    assert message in res.output


# --- suite files --------------------------------------------------------------------------

def test_a_suite_range_is_one_case_per_point(tmp_path):
    from derivcmp import suite
    path = tmp_path / "r.toml"
    path.write_text('[defaults]\nat = { y = 2 }\n\n'
                    '[[case]]\nid = "sin"\nexpr = "sin(x)"\nat = { x = "0:1:3" }\nexpected = "cos(x)"\n\n'
                    '[[case]]\nid = "log"\nexpr = "log(x)*y"\nwrt = "x"\nat = { x = [1, "pi"] }\n')
    loaded = suite.load([str(path)])
    assert loaded.errors == []
    assert [c.id for c in loaded.cases] == ["sin[x=0.0]", "sin[x=0.5]", "sin[x=1.0]",
                                            "log[x=1.0]", f"log[x={math.pi!r}]"]
    assert loaded.cases[1].at == {"x": 0.5}
    assert loaded.cases[4].at == {"y": 2.0, "x": math.pi}
    assert all(c.expected == "cos(x)" for c in loaded.cases[:3])


def test_suite_ranges_that_are_wrong_are_reported_and_the_rest_runs(tmp_path):
    from derivcmp import suite
    path = tmp_path / "bad.toml"
    path.write_text('[[case]]\nid = "a"\nexpr = "x"\nat = { x = "0:1:zz" }\n\n'
                    '[[case]]\nid = "b"\nexpr = "x"\nat = { x = "0:1:5000" }\n\n'
                    '[[case]]\nid = "c"\nexpr = "x"\nat = { x = [1, 2] }\nexpected = 1.0\n\n'
                    '[[case]]\nid = "d"\nexpr = "x"\nat = { x = [] }\n\n'
                    '[[case]]\nid = "e"\nexpr = "x"\nat = { x = [true] }\n\n'
                    '[[case]]\nid = "ok"\nexpr = "x"\nat = { x = "1:2:2" }\n')
    loaded = suite.load([str(path)])
    text = "\n".join(str(d) for d in loaded.errors)
    assert "at: COUNT must be a whole number of points (e.g. 101), got 'zz' (in 'x=0:1:zz')" in text
    assert ("at: the range has 5,000 points; a suite case may have at most 1,000 (each point is "
            "checked as a case of its own)") in text
    assert ('expected: over a range of points give the derivative as an expression string, '
            'e.g. expected = "cos(x)"') in text
    assert text.count('list of \'x\' must hold numbers or strings like "pi/4" (a range of points), '
                      'e.g. x = [1, 2, 5]') == 2
    assert [c.id for c in loaded.cases] == ["ok[x=1.0]", "ok[x=2.0]"]


def test_a_suite_value_of_the_wrong_type_names_ranges():
    from derivcmp.suite import _check_type
    assert _check_type("at", {"x": {"a": 1}}) == ('value of \'x\' must be a number, a string like "pi/4" '
                                                   'or a range like "0:1:101", got a table')


def test_the_grid_entry_points_are_documented():
    import derivcmp
    for name in ("compare_grid", "make_grid_problem"):
        fn = getattr(derivcmp, name)
        assert fn.__doc__ and len(fn.__doc__.split()) > 10, name


def test_an_unresolved_point_is_counted_as_unresolved_not_graded():
    # fd-central at tanh(20): the difference is lost in rounding (as at one point)
    reg = backends.registry()
    name = next(n for n, b in reg.items() if getattr(b, "family", "") == "finite-difference"
                and getattr(b, "scheme", "") == "central")
    problem, grid, _ = make_grid_problem("tanh(x)", "x", "x=[1, 20]")
    c = compare_grid(problem, grid, [name], timing=False, timeout=None)
    (r,) = c.results
    assert list(r.statuses) == ["ok", "unresolved"]
    assert r.summary.counts["unresolved"] == 1 and r.summary.graded == 1
    assert r.summary.worst_index == 0
    assert "not a derivative" in r.messages[1]


def test_the_table_marks_methods_that_loop_and_gives_times_per_point():
    reg = backends.registry()
    one, _ = make_problem("exp(x)", "x", "x=0")
    looped = next(n for n, b in reg.items() if getattr(b, "family", "") == "finite-difference"
                  and b.prepare(one).evaluate_grid is None)
    res = CliRunner().invoke(main, ["eval", "exp(x)", "--at", "x=0:1:5", "--methods", looped],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if line.startswith(looped + " "))
    assert row.rstrip().endswith("*")
    assert "*: the method looped over the points (it has no vectorised form)" in res.stdout
    assert "f itself:" in res.stdout and "per point (NumPy over the grid)" in res.stdout
    res = CliRunner().invoke(main, ["eval", "exp(x)", "--at", "x=0:1:5", "--methods", looped, "--no-timing"],
                             env={"COLUMNS": "80"})
    assert "*: the method looped" not in res.stdout

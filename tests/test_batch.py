"""The batch runner, summaries and CI verdicts, as a library.

Values are checked against closed forms computed here with mpmath; the
verdict logic is checked on results whose errors are set by hand.
"""

from __future__ import annotations

import os
import textwrap
import time
from dataclasses import replace

import mpmath
import pytest
from hang import no_hang

from derivcmp import batch
from derivcmp.batch import BatchRun, CaseResult, check, run_case, run_cases, summarize
from derivcmp.compare import select_methods
from derivcmp.grading import most_accurate
from derivcmp.problem import Comparison, Graded, Outcome, Reference, Timing
from derivcmp.suite import Case, load_toml

SUITE = """
[[case]]
id = "sigmoid-weight"
expr = "1/(1+exp(-w*x))"
wrt = ["w"]
at = { w = 2.0, x = 3.0 }
expected = "x*sigmoid(w*x)*(1-sigmoid(w*x))"

[[case]]
id = "rosenbrock"
expr = "(1-x)^2 + 100*(y-x^2)^2"
at = { x = 0.5, y = 1.5 }

[[case]]
id = "abs-kink"
expr = "abs(x)"
at = { x = 0 }
expect = "not-differentiable"

[[case]]
id = "boom"
expr = "sin(x)*exp(x)"
at = { x = 0.25 }
order = 2
expected = 0.75
"""


@pytest.fixture
def cases(tmp_path):
    p = tmp_path / "suite.toml"
    p.write_text(textwrap.dedent(SUITE), encoding="utf-8")
    loaded = load_toml(p.as_posix())
    assert loaded.diagnostics == []
    return loaded.cases


def sigmoid_dw(w, x):
    with mpmath.workdps(60):
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(w) * x))
        return x * s * (1 - s)


def d2_sin_exp(x):
    with mpmath.workdps(60):
        x = mpmath.mpf(x)
        return 2 * mpmath.cos(x) * mpmath.exp(x)       # (sin e^x)'' = 2 cos x e^x


def crashing_worker(case, methods, timing, timeout):
    """A worker that dies (like a segfault would) on the case 'boom'."""
    if case.id == "boom":
        os._exit(3)
    return run_case(case, methods, timing, timeout)


def hanging_worker(case, methods, timing, timeout):
    if case.id == "boom":
        time.sleep(600)
    return run_case(case, methods, timing, timeout)


def raising_worker(case, methods, timing, timeout):
    if case.id == "boom":
        raise RuntimeError("kaput")
    return run_case(case, methods, timing, timeout)


def interrupting_worker(case, methods, timing, timeout):
    if case.id == "abs-kink":
        raise KeyboardInterrupt
    return run_case(case, methods, timing, timeout)


def test_in_process_run_values_against_closed_forms(cases):
    run = run_cases(cases, timing=False, jobs=1)
    assert not run.interrupted and run.total == 4
    assert [r.case.id for r in run.results] == ["sigmoid-weight", "rosenbrock", "abs-kink", "boom"]
    sig, rosen, kink, boom = run.results
    assert sig.document["id"] == "sigmoid-weight" and sig.document["file"] == cases[0].file
    assert sig.document["schema"] == "derivcmp/2"
    exact = sigmoid_dw(2.0, 3.0)
    with mpmath.workdps(60):
        assert abs(mpmath.mpf(sig.document["reference"]["exact"]) - exact) < 1e-48
    for m in sig.document["methods"]:
        assert abs(m["value"] - float(exact)) <= 1e-9 * float(exact)
    # Rosenbrock gradient: (-2(1-x) - 400x(y-x^2), 200(y-x^2))
    x, y = 0.5, 1.5
    grad = [-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)]
    assert rosen.document["reference"]["value"] == grad
    assert kink.reference_status == "not-differentiable"
    assert sig.expected["ok"] and sig.expected["rel_error"] < 1e-15
    # 0.75 is not (sin e^x)'' at 0.25: the expected check fails, with both numbers
    assert not boom.expected["ok"]
    assert boom.expected["value"] == 0.75
    assert f"{float(d2_sin_exp(0.25))!r}" in boom.expected["message"]
    assert all(m["time"] is None for m in sig.document["methods"])


def test_pool_gives_the_same_results_in_input_order(cases):
    seen = []
    one = run_cases(cases, timing=False, jobs=1)
    two = run_cases(cases * 3, timing=False, jobs=2, on_result=lambda i, r: seen.append(i))
    assert sorted(seen) == list(range(12))
    assert [r.case.id for r in two.results] == [c.id for c in cases] * 3
    for a, b in zip(one.results * 3, two.results, strict=True):
        assert a.document == b.document


def test_a_crashing_worker_becomes_an_error_case_and_the_rest_still_run(cases):
    run = run_cases(cases + cases[:2], timing=False, jobs=2, worker=crashing_worker)
    assert [r.case.id for r in run.results] == ["sigmoid-weight", "rosenbrock", "abs-kink", "boom",
                                                "sigmoid-weight", "rosenbrock"]
    boom = run.results[3]
    assert boom.crashed == "the worker process running this case died (crashed or was killed)"
    assert boom.reference_status == "error"
    assert {m["status"] for m in boom.document["methods"]} == {"error"}
    assert all(r.crashed is None for i, r in enumerate(run.results) if i != 3)
    assert run.results[0].document["reference"]["exact"] == run.results[4].document["reference"]["exact"]
    report = check(run)
    assert [(v.name, v.message) for v in report.failures] == [
        ("reference", boom.crashed), ("symbolic", boom.crashed), ("fd-central", boom.crashed),
        ("ad-reverse", boom.crashed)]


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_exception_in_a_case_becomes_an_error_case(cases, jobs):
    run = run_cases(cases, timing=False, jobs=jobs, worker=raising_worker)
    assert [r.crashed for r in run.results][3].endswith("RuntimeError: kaput")
    assert [r.crashed for r in run.results][:3] == [None, None, None]


def test_ctrl_c_in_process_keeps_the_finished_cases(cases):
    run = run_cases(cases, timing=False, jobs=1, worker=interrupting_worker)
    assert run.interrupted
    assert [r.case.id for r in run.results] == ["sigmoid-weight", "rosenbrock"]


def test_ctrl_c_with_a_pool_stops_promptly(cases):
    def stop(i, r):
        raise KeyboardInterrupt
    with no_hang(120):        # promptly: after the first result, not all 40 cases
        run = run_cases(cases * 10, timing=True, jobs=2, on_result=stop)
    assert run.interrupted and 1 <= len(run.results) < 40


def test_summary_counts_medians_and_most_accurate(cases):
    run = run_cases(cases[:3], timing=False, jobs=1)
    s = summarize(run)
    assert list(s) == list(select_methods(None).names)
    fd = s["fd-central"]
    # the kink is not-differentiable: counted apart, neither ok nor a failure
    assert (fd["cases"], fd["ok"], fd["not_ok"], fd["no_derivative"]) == (3, 2, 0, 1)
    errs = sorted(r.method("fd-central")["rel_error"] for r in run.results[:2])
    assert fd["median_rel_error"] == pytest.approx(sum(errs) / 2)
    assert fd["worst_rel_error"] == errs[-1]
    assert fd["median_eval_s"] is None
    wins = {name: sum(name in most_accurate(r.comparison.results) for r in run.results) for name in s}
    assert {k: v["most_accurate"] for k, v in s.items()} == wins
    assert s["fd-central"]["most_accurate"] == 0


# --- verdicts on hand-made results ------------------------------------------------

def fake_result(cid: str, errors: dict, status="ok", ref="ok", expect="ok", eval_s=None, tol=None,
                file="s.toml"):
    case = Case(id=cid, file=file, line=1, expr="x", at={"x": 1.0}, expect=expect, tolerance=tol or {})
    problem, _ = case.problem()
    results = tuple(Graded(Outcome(m, status, 1.0, timing=None if eval_s is None else Timing(0.0, eval_s[m])),
                           abs_error=e, rel_error=e) for m, e in errors.items())
    return CaseResult(case, Comparison(problem, Reference(ref, 1.0, "1.0"), results))


def verdicts(report):
    return {(v.case.case.id, v.name): (v.passed, v.mark) for v in report.verdicts}


def test_tolerances_and_expected_status():
    run = BatchRun([fake_result("a", {"symbolic": 1e-16, "fd-central": 2e-5, "no-such-method": 0.5}),
                    fake_result("b", {"symbolic": 1e-16}, tol={"symbolic": 1e-17}),
                    fake_result("c", {"symbolic": None}, status="not-differentiable",
                                ref="not-differentiable", expect="not-differentiable"),
                    fake_result("d", {"symbolic": 1e-16}, expect="undefined")], 4, timing=False)
    report = check(run)
    assert verdicts(report) == {
        ("a", "symbolic"): (True, ""), ("a", "fd-central"): (False, ""), ("a", "no-such-method"): (True, ""),
        ("b", "symbolic"): (False, ""), ("c", "reference"): (True, ""), ("c", "symbolic"): (True, ""),
        ("d", "reference"): (False, ""), ("d", "symbolic"): (True, "")}
    msgs = {(v.case.case.id, v.name): v.message for v in report.failures}
    assert msgs == {("a", "fd-central"): "rel error 2.00e-05 > tolerance 1e-05",
                    ("b", "symbolic"): "rel error 1.00e-16 > tolerance 1e-17",
                    ("d", "reference"): "reference is ok, expected undefined"}
    assert not report.passed


def test_baseline_marks_factor_floor_and_missing_cases():
    base_run = BatchRun([fake_result("a", {"symbolic": 1e-17, "fd-central": 1e-8, "ad-reverse": 1e-12}),
                         fake_result("b", {"fd-central": 1e-6}),
                         fake_result("c", {"fd-central": 3e-5}),
                         fake_result("gone", {"symbolic": 0.0})], 4, timing=False)
    baseline = batch.baseline_document(base_run, check(base_run))
    assert baseline["cases"][2]["methods"]["fd-central"]["passed"] is False
    run = BatchRun([fake_result("a", {"symbolic": 1e-16, "fd-central": 2e-7, "ad-reverse": 1e-14}),
                    fake_result("b", {"fd-central": 2e-5}),
                    fake_result("c", {"fd-central": 1e-6}),
                    fake_result("new", {"symbolic": 0.0})], 4, timing=False)
    report = check(run, baseline, factor=10, baseline_path="base.json")
    assert verdicts(report) == {
        ("a", "symbolic"): (True, ""),          # 1e-17 -> 1e-16 is under the 1e-15 floor
        ("a", "fd-central"): (False, "+"),      # 20x worse, still within tolerance
        ("a", "ad-reverse"): (True, "-"),       # 100x better
        ("b", "fd-central"): (False, "!"),      # now over the tolerance
        ("c", "fd-central"): (True, "*"),       # fixed
        ("new", "symbolic"): (True, "")}
    by = {(v.case.case.id, v.name): v for v in report.verdicts}
    assert by[("a", "fd-central")].message == "rel error 2.00e-07 is 20× the baseline 1.00e-08 (limit 10×)"
    assert by[("new", "symbolic")].message.endswith("new (not in the baseline)")
    assert report.missing == [("s.toml", "gone")]
    assert check(run, baseline, factor=30).verdicts[1].passed     # 20x is within a 30x limit


def test_baseline_matches_by_file_name_when_paths_differ():
    base = batch.baseline_document(BatchRun([fake_result("a", {"fd-forward": 1e-8}, file="x/s.toml")], 1))
    run = BatchRun([fake_result("a", {"fd-forward": 1e-6}, file="elsewhere/s.toml")], 1)
    v = check(run, base).verdicts[0]
    assert (v.passed, v.mark, v.baseline_rel_error) == (False, "+", 1e-8)


def test_timing_changes_are_reported_and_fail_only_when_asked():
    t0 = {"symbolic": 1e-6, "ad-reverse": 1e-5}
    base = batch.baseline_document(BatchRun([fake_result(c, {"symbolic": 0.0, "ad-reverse": 0.0},
                                                         eval_s=t0) for c in "abc"], 3, timing=True))
    slower = {"symbolic": 3e-6, "ad-reverse": 1e-5}
    run = BatchRun([fake_result(c, {"symbolic": 0.0, "ad-reverse": 0.0}, eval_s=slower) for c in "abc"], 3)
    report = check(run, base)
    assert report.time_ratios == pytest.approx({"symbolic": 3.0, "ad-reverse": 1.0})
    assert report.passed
    strict = check(run, base, fail_on_slowdown=2.0)
    assert strict.slow_methods == ["symbolic"] and not strict.passed


def test_load_baseline_errors(tmp_path):
    p = tmp_path / "b.json"
    p.write_text("{not json", encoding="utf-8")
    with pytest.raises(batch.DerivcmpError, match=r"is not JSON \(Expecting property name"):
        batch.load_baseline(str(p))
    p.write_text('{"schema": "derivcmp/2"}', encoding="utf-8")
    with pytest.raises(batch.DerivcmpError, match="is not a derivcmp baseline"):
        batch.load_baseline(str(p))
    with pytest.raises(batch.DerivcmpError, match="cannot read"):
        batch.load_baseline(str(tmp_path / "missing.json"))


def test_expected_hessian_of_expressions(tmp_path):
    case = Case(id="h", file="h.toml", line=1, expr="x^2*y^3", at={"x": 1.5, "y": -2.0}, order=2,
                expected=[["2*y^3", "6*x*y^2"], ["6*x*y^2", 6 * 1.5 ** 2 * -2.0]])
    raw = run_case(case, timing=False)
    assert raw["expected"]["ok"], raw["expected"]
    assert raw["expected"]["value"] == [[-16.0, 36.0], [36.0, -27.0]]
    wrong = replace(case, expected=[["2*y^3", "6*x*y"], ["6*x*y^2", "6*x^2*y"]])
    assert not run_case(wrong, timing=False)["expected"]["ok"]


def test_a_case_that_times_out_does_not_stop_the_batch():
    # 8 nested sigmoids, Hessian: about a second for the reference and for symbolic
    slow = Case(id="slow", file="t.toml", line=1, expr="sigmoid(" * 8 + "x*y" + ")" * 8,
                at={"x": 1.0, "y": 2.0}, order=2)
    quick = Case(id="quick", file="t.toml", line=5, expr="x^2", at={"x": 3.0})
    run = run_cases([slow, quick], timing=False, jobs=1, timeout=0.01)
    slow_r, quick_r = run.results
    assert slow_r.reference_status == "timeout" and slow_r.crashed is None
    assert any(m["status"] == "timeout" for m in slow_r.document["methods"])
    assert quick_r.case.id == "quick" and quick_r.crashed is None
    [v] = [v for v in check(run).failures if v.case is slow_r and v.name == "reference"]
    assert v.message.startswith("reference is timeout, expected ok")


def test_a_hanging_case_is_stopped_and_the_others_keep_their_results(cases):
    with no_hang(120):
        run = run_cases(cases, timing=False, jobs=2, timeout=0.1, worker=hanging_worker)
    # budget: 0.1 s for the reference, each method and the expected value
    assert [r.crashed for r in run.results] == [None, None, None,
                                                  "the case did not finish within 3 s and was stopped"]
    # (0.1 s per method is tight on a loaded machine: a cold case may itself time out)
    assert run.results[0].document["reference"]["status"] in ("ok", "timeout")

"""Native finite-difference Jacobians: the vector f at each stencil point (issue 15, item 2).

Truth: the 50-digit reference Jacobian (``compute_reference``) and closed forms
in mpmath; the cost counters against the count the scheme implies (stencil
points a step, the step rule's candidates, each at h and h/2).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import mpmath
import numpy as np
import pytest

from derivcmp import backends
from derivcmp.backends import _jacobian, base
from derivcmp.compare import compare_text, make_problem
from derivcmp.expr import parse, variables
from derivcmp.program import compile_program

ROOT = Path(__file__).resolve().parent.parent
CASES = tomllib.loads((ROOT / "expressions" / "jacobians.toml").read_text())["case"]
#: each stencil's points a step for n variables (first derivative, no centre for central)
POINTS = {"fd-forward": lambda n: n + 1, "fd-backward": lambda n: n + 1, "fd-central": lambda n: 2 * n,
          "fd-central4": lambda n: 4 * n}
STENCILS = tuple(POINTS)


#: each scheme's offsets (first derivative) and order of accuracy
OFFSETS = {"fd-forward": ((0, 1), 1), "fd-backward": ((-1, 0), 1), "fd-central": ((-1, 1), 2),
           "fd-central4": ((-2, -1, 1, 2), 4)}


def _distinct_points(method: str, expr: str, at: dict, wrt: list) -> int:
    """How many distinct points the stencil visits: every variable the expression reads
    moved by k*h for each offset k and each candidate step h of the rule and its half
    (coinciding points once: 2*(h/2) = h in the five-point stencil), and the centre where
    the scheme uses it."""
    from derivcmp.backends.finite import step
    from derivcmp.expr import variables
    offsets, acc = OFFSETS[method]
    read = set(variables(parse(expr)))
    # the centre; also where a variable the expression does not read is moved
    pts = {("centre",)} if 0 in offsets or set(wrt) - read else set()
    for i, w in enumerate(wrt):
        if w not in read:
            continue
        x = float(at[w])
        hs = {step(x, 1, acc)} | ({step(x, 1, acc, relative=True)} if 0 < abs(x) < 1 else set())
        pts |= {(i, k * hh) for h in hs for hh in (h, h / 2) for k in offsets if k}
    return len(pts)


def _candidates(at: dict, wrt: list) -> int:
    """The step rule's candidates: max(|x|, 1) scale, and |x| when some 0 < |x| < 1."""
    return 2 if any(0 < abs(float(at.get(w, 0.0))) < 1 for w in wrt) else 1


def _at(case) -> str:
    return ",".join(f"{k}={v!r}" for k, v in case["at"].items())


@pytest.mark.parametrize("method", STENCILS)
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_shipped_cases_against_the_reference_with_exact_counts(case, method):
    c = compare_text(case["expr"], wrt=",".join(case["wrt"]), at=_at(case), methods=method, timing=False,
                     timeout=None)
    (g,) = c.results
    assert g.outcome.status == "ok", g.outcome.message
    ref = c.reference
    missing = {r["output"] - 1 for r in (ref.details or {}).get("undefined_rows", ())}
    value = np.asarray(g.outcome.value)
    tol = base.entries()[method].tolerance(1)
    for j, row in enumerate(ref.exact):
        if j in missing:
            continue
        for i, s in enumerate(row):
            t = float(mpmath.mpf(s))
            assert abs(value[j, i] - t) <= tol * max(1.0, abs(t)), (j, i, value[j, i], t)
    d = g.outcome.details
    n = len(case["wrt"])
    assert d["jacobian"].startswith("native") and "rows" not in d
    assert d["stencil_evaluations"] == POINTS[method](n)
    assert d["candidates"] == _candidates(case["at"], case["wrt"])
    # each distinct point of every candidate at h and at h/2; nothing else needed on these cases (no entry lost in
    # rounding, no stencil point outside a finite output's domain) but, for a central
    # stencil (no centre point), one evaluation at x to see that an output without an
    # entry has no value there
    program = compile_program(parse(case["expr"]))
    with np.errstate(all="ignore"):
        undefined = not np.all(np.isfinite(program.evaluate({k: float(v) for k, v in case["at"].items()})))
    probe = 1 if undefined and method in ("fd-central", "fd-central4") else 0
    base_cost = _distinct_points(method, case["expr"], case["at"], case["wrt"]) + probe
    if case["id"] in ("sqrt-row-at-edge", "abs-row-at-kink"):
        # x*y at x = 0 (or an output at its kink) has an entry whose numerator is exactly 0
        # while f depends on the variable: larger steps are probed for a lost difference
        # (and sqrt's stencil leaves its domain): counted on top
        assert d["function_evaluations"] > base_cost
    else:
        assert d["function_evaluations"] == base_cost
    assert len(d["error_estimates"]) == len(ref.exact)


def _issue_truth():
    with mpmath.workdps(50):
        x, y, z = mpmath.mpf(1), mpmath.mpf(2), mpmath.mpf("0.5")
        e = mpmath.exp(x * y * z)
        return np.array([[y, x, 0], [mpmath.cos(x), 2 * y, 0], [y * z * e, x * z * e, x * y * e]], dtype=float)


@pytest.mark.parametrize("method", STENCILS)
def test_each_entry_keeps_its_own_honest_estimate(method):
    c = compare_text("[x*y, sin(x) + y^2, exp(x*y*z)]", wrt="x,y,z", at="x=1,y=2,z=0.5", methods=method,
                     timing=False, timeout=None)
    (g,) = c.results
    d = g.outcome.details
    est = np.array(d["error_estimates"], dtype=float)
    err = np.abs(np.asarray(g.outcome.value) - _issue_truth())
    assert est.shape == (3, 3)
    # per entry: the true error within 10x of the entry's own estimate (not overconfident)
    assert np.all(err <= 10 * est + 1e-300), (err, est)
    assert d["error_estimate"] == est.max()
    assert g.overconfident is False
    # the outputs that ignore z: exactly 0, and no digits lost over them
    assert g.outcome.value[0, 2] == 0.0 and g.outcome.value[1, 2] == 0.0


@pytest.mark.parametrize("method", ["fd-forward", "fd-backward", "fd-central"])
def test_native_entries_are_the_scalar_methods_rows(method):
    """Every output's row is what the method gives for that output alone (the same
    points, the same candidate picked per entry), at a fraction of the evaluations."""
    text = "[r*sin(p)*cos(t), r*sin(p)*sin(t), r*cos(p)]"
    problem, _ = make_problem(text, wrt="r,p,t", at="r=1.5,p=0.9,t=-0.4")
    backend = backends.registry()[method]
    with np.errstate(all="ignore"):
        native = backend.prepare(problem)
        nv = native.evaluate(problem.point)
        rows = _jacobian.rows_prepared(backend, problem)
        rv = rows.evaluate(problem.point)
    assert np.allclose(nv, rv, rtol=1e-12, atol=0)
    # 3 outputs by rows: each its own points; natively each distinct point once for all
    summed = {**rows.details, **rows.extra()}["function_evaluations"]
    assert native.details["function_evaluations"] == _distinct_points(method, text, problem.point, ["r", "p", "t"])
    assert native.details["function_evaluations"] < summed


def test_an_undefined_row_is_left_out_and_the_others_graded():
    c = compare_text("[x*y, log(x - 2), abs(y - 2)]", wrt="x,y", at="x=1,y=2",
                     methods="fd-forward,fd-central", timing=False, timeout=None)
    for g in c.results:
        assert g.outcome.status == "ok"
        assert g.outcome.value[0].tolist() == [2.0, 1.0]
        assert np.isnan(g.outcome.value[1]).all() and np.isnan(g.outcome.value[2]).all()
        assert "not graded, no derivative here: output 2" in g.note
        est = g.outcome.details["error_estimates"]
        assert est[1] == [None, None]       # no estimate for an output with no value
    # the central difference of |y - 2| straddles the kink: a finite row that is no derivative
    assert "the method's finite row for output 3 is no derivative" in c.results[1].note


def test_a_stencil_leaving_one_outputs_domain_goes_one_sided_for_that_output_only():
    # log(x - 0.99999) at x = 0.999995: x - h is outside for every candidate step; x*y is not
    c = compare_text("[x*y, log(x - 0.99999)]", wrt="x,y", at="x=0.999995,y=2", methods="fd-central",
                     timing=False, timeout=None)
    (g,) = c.results
    d = g.outcome.details
    assert d["fallback"] == ("one-sided for some outputs (x: forward): a point of the central stencil is "
                             "outside the domain at every step tried")
    v = g.outcome.value
    assert abs(v[0, 0] - 2.0) <= 1e-9 and abs(v[0, 1] - 0.999995) <= 1e-9
    assert v[1, 1] == 0.0
    # the central stencil at 2 candidates for x (x < 1), 1 for y, each at h and h/2: 2*4 + 2*2
    # distinct points; f at x once; one side probe; the one-sided stencil (x at 0, +h, +2h,
    # y at -h, +h) at the same steps: the centre, for x {h, 2h, h/2} per candidate, 2*2 for y
    assert d["function_evaluations"] == (8 + 4) + 1 + 1 + (1 + 2 * 3 + 4)
    # the one-sided entry is far from the derivative 2e5 here and its estimate says so
    assert g.overconfident is False


def test_a_gradient_entry_is_not_spoiled_by_another_variables_points():
    # a nan at x - h times y's zero weight must not make the y entry nan (and so one-sided)
    c = compare_text("log(x - 0.99999) + y", wrt="x,y", at="x=0.999995,y=2", methods="fd-central",
                     timing=False, timeout=None)
    (g,) = c.results
    assert g.outcome.details["fallback"].startswith("one-sided (x: forward)")
    assert abs(g.outcome.value[1] - 1.0) <= 1e-9


def test_an_entry_lost_in_rounding_is_unresolved_and_names_its_output():
    # tanh(20 +- h) == 1.0 in float64, while larger steps see tanh change
    c = compare_text("[x*y, tanh(x)]", wrt="x,y", at="x=20,y=2", methods="fd-central", timing=False,
                     timeout=None)
    (g,) = c.results
    assert g.outcome.status == "unresolved"
    assert g.outcome.message.startswith("output 2: the difference is lost in rounding")
    # the probes at larger steps are counted: more than the 2 * 2n evaluations of one candidate
    assert g.outcome.details["function_evaluations"] > 2 * 4


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_richardson_natively_on_the_shipped_cases(case):
    if "methods" in case and "richardson" not in case["methods"]:
        pytest.skip("richardson is not one of the case's methods")
    c = compare_text(case["expr"], wrt=",".join(case["wrt"]), at=_at(case), methods="richardson",
                     timing=False, timeout=None)
    (g,) = c.results
    assert g.outcome.status == "ok", g.outcome.message
    ref = c.reference
    missing = {r["output"] - 1 for r in (ref.details or {}).get("undefined_rows", ())}
    tol = base.entries()["richardson"].tolerance(1)
    for j, row in enumerate(ref.exact):
        for i, s in enumerate(row if j not in missing else ()):
            t = float(mpmath.mpf(s))
            assert abs(g.outcome.value[j, i] - t) <= tol * max(1.0, abs(t)), (j, i)
    d = g.outcome.details
    assert d["jacobian"].startswith("native") and "rows" not in d
    # the central stencil at every step h0 * 2^-k: 2 distinct points per step and variable
    # the expression reads (the centre too where a variable it ignores is moved), and f at
    # x once where an output has no value there (to tell it from a stencil leaving a domain)
    read = set(variables(parse(case["expr"])))
    program = compile_program(parse(case["expr"]))
    with np.errstate(all="ignore"):
        undefined = not np.all(np.isfinite(program.evaluate({k: float(v) for k, v in case["at"].items()})))
    cost = 2 * d["steps_tried"] * len(read & set(case["wrt"])) + (1 if set(case["wrt"]) - read else 0)
    if case["id"] in ("sqrt-row-at-edge", "abs-row-at-kink"):
        assert d["function_evaluations"] > cost        # lost differences probed, sqrt one-sided
    else:
        assert d["function_evaluations"] == cost + (1 if undefined else 0)


def test_richardson_jacobian_costs_one_evaluation_of_every_output_per_point():
    text = "[x*y, sin(x) + y^2, exp(x*y*z)]"
    problem, _ = make_problem(text, wrt="x,y,z", at="x=1,y=2,z=0.5")
    backend = backends.registry()["richardson"]
    with np.errstate(all="ignore"):
        native = backend.prepare(problem)
        nv = native.evaluate(problem.point)
        rows = _jacobian.rows_prepared(backend, problem)
        rows.evaluate(problem.point)
    assert np.all(np.abs(nv - _issue_truth()) <= 1e-12 * np.maximum(1.0, np.abs(_issue_truth())))
    k = native.details["steps_tried"]
    assert native.details["function_evaluations"] == 2 * k * 3
    # by rows each output evaluated its own 2k points per variable: 3 outputs, 3 times the cost
    assert {**rows.details, **rows.extra()}["function_evaluations"] == 3 * 2 * k * 3

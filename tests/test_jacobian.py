"""Vector-valued expressions [e1, ..., em] and their Jacobians (issue 15).

Truth: closed forms evaluated in mpmath at 50 digits, and sympy's own
Jacobian of the same expressions; never the methods' values against each other.
"""

from __future__ import annotations

import json

import mpmath
import numpy as np
import pytest
from click.testing import CliRunner

from derivcmp import backends
from derivcmp.backends import base
from derivcmp.cli import main
from derivcmp.compare import compare_text, compute_reference, make_problem
from derivcmp.errors import DerivcmpError, ParseError
from derivcmp.expr import Apply, Vector, parse, to_text, variables
from derivcmp.program import compile_program
from derivcmp.report import document

X, Y, Z = 1.0, 2.0, 0.5
TEXT = "[x*y, sin(x) + y^2, exp(x*y*z)]"


def closed_form():
    """The Jacobian of TEXT at (X, Y, Z) by hand, in mpmath."""
    with mpmath.workdps(50):
        x, y, z = mpmath.mpf(X), mpmath.mpf(Y), mpmath.mpf(Z)
        e = mpmath.exp(x * y * z)
        return [[y, x, 0], [mpmath.cos(x), 2 * y, 0], [y * z * e, x * z * e, x * y * e]]


# --- the language ------------------------------------------------------------------------

def test_a_list_is_a_vector_of_scalar_expressions():
    e = parse(TEXT)
    assert isinstance(e, Vector) and len(e.items) == 3
    assert all(not isinstance(i, Vector) for i in e.items)
    assert to_text(e) == TEXT
    assert parse(to_text(e)) == e
    assert variables(e) == ["x", "y", "z"]
    one = parse("[sin(x)]")
    assert isinstance(one, Vector) and one.items == (parse("sin(x)"),)
    # commas inside a call stay the call's
    assert parse("[atan2(y, x), x]").items[0] == parse("atan2(y, x)")


@pytest.mark.parametrize("text, message, column, width, hint", [
    ("[]", "empty list: a vector-valued function needs at least one output", 1, 2, None),
    ("[ ]", "empty list: a vector-valued function needs at least one output", 1, 3, None),
    ("[x, [y]]", "lists cannot be nested: each output is a scalar expression", 5, 1, "use ( ) to group"),
    ("[[x]]", "lists cannot be nested: each output is a scalar expression", 2, 1, "use ( ) to group"),
    ("x + [y]", "a list [...] is only allowed as the whole expression (a function with several outputs)",
     5, 1, "use ( ) to group"),
    ("sin([x])", "a list [...] is only allowed as the whole expression (a function with several outputs)",
     5, 1, "use ( ) to group"),
    ("[x, y,]", "trailing ',' in the list", 6, 1, "remove it, or write the missing output after it"),
    ("[x, y", "unclosed '['", 1, 1, "add the missing ']'"),
    ("[x, y] * 2", "unexpected '*' after the list", 8, 1, "a list [...] must be the whole expression"),
    ("[x, y][0]", "unexpected '[' after the list", 7, 1, "a list [...] must be the whole expression"),
    ("x[0]", "unexpected '['", 2, 1,
     "indexing is not part of the expression language; a list [...] must be the whole expression"),
    ("x]", "unmatched ']'", 2, 1, None),
    ("[x, ]", "trailing ',' in the list", 3, 1, "remove it, or write the missing output after it"),
    ("[x +]", "expected an operand before ']'", 5, 1, None),
    ("[x, , y]", "expected an operand before ','", 5, 1, None),
    ("x, y", "unexpected ',' outside a function call", 2, 1,
     "a function with several outputs is written [e1, e2, ...]"),
])
def test_list_errors_have_a_caret(text, message, column, width, hint):
    with pytest.raises(ParseError) as info:
        parse(text)
    err = info.value
    assert err.message == message
    assert (err.column + 1, err.width) == (column, width)
    assert err.hint == hint
    caret_line = err.render().splitlines()[2]
    assert caret_line == "  " + " " * (column - 1) + "^" * width


def test_shared_subexpressions_across_outputs_are_one_slot():
    program = compile_program(parse("[exp(x*y) + 1, exp(x*y) * z, x*y]"))
    muls = [s for s in program.slots if isinstance(s.node, Apply) and s.node.op == "mul"]
    exps = [s for s in program.slots if isinstance(s.node, Apply) and s.node.op == "exp"]
    assert len(exps) == 1
    assert len(muls) == 2           # x*y once, exp(x*y)*z once
    assert program.outputs[2] == program.slots.index(muls[0])
    got = program.evaluate({"x": 0.5, "y": 2.0, "z": 3.0})
    assert got.tolist() == [np.exp(1.0) + 1, np.exp(1.0) * 3.0, 1.0]
    # the compiled function computes exp(x*y) once and returns every output
    source = program.function(["x", "y", "z"]).source
    assert source.count("exp(") == 1
    assert program.function(["x", "y", "z"]).fn(0.5, 2.0, 3.0) == tuple(got.tolist())


def test_a_vector_has_a_jacobian_only():
    with pytest.raises(DerivcmpError, match=r"--order 2: a vector-valued expression \[\.\.\.\] has a "
                       "Jacobian \\(order 1\\) only; differentiate one output at a time for higher orders"):
        make_problem(TEXT, "x,y,z", "x=1,y=2,z=0.5", order=2)
    problem, _ = make_problem(TEXT, "x,y", "x=1,y=2,z=0.5")
    assert problem.shape == (3, 2)
    problem, _ = make_problem("[x^2]", "x", "x=3")
    assert problem.shape == (1, 1)


# --- the reference --------------------------------------------------------------------------

def test_reference_jacobian_matches_the_closed_form_to_50_digits():
    problem, _ = make_problem(TEXT, "x,y,z", f"x={X},y={Y},z={Z}")
    ref = compute_reference(problem)
    assert ref.status == "ok" and ref.value.shape == (3, 3)
    truth = closed_form()
    with mpmath.workdps(50):
        for j in range(3):
            for i in range(3):
                exact = mpmath.mpf(ref.exact[j][i])
                assert abs(exact - truth[j][i]) <= mpmath.mpf(10) ** -48 * max(1, abs(truth[j][i]))


def test_reference_row_of_an_undefined_output_is_left_out_and_the_rest_graded():
    c = compare_text("[x*y, log(x - 2), sqrt(y)]", wrt="x,y", at="x=1,y=4", methods="ad-reverse",
                     timing=False, timeout=None)
    ref = c.reference
    assert ref.status == "ok"
    assert ref.exact[1] is None and np.isnan(ref.value[1]).all()
    (row,) = ref.details["undefined_rows"]
    assert row["output"] == 2 and row["status"] == "undefined" and "log of a non-positive number" in row["message"]
    assert ref.value[0].tolist() == [4.0, 1.0] and ref.value[2].tolist() == [0.0, 0.25]
    (g,) = c.results
    assert g.outcome.status == "ok" and g.grade == "exact" and g.rel_error == 0.0
    assert np.isnan(g.outcome.value[1]).all()
    assert g.note == "not graded, no derivative here: output 2 (log of a non-positive number (-1.0))"


def test_a_finite_row_where_there_is_no_derivative_is_not_shown():
    # sympy's formula for d|x|/dx is sign(x): 0 at the kink, a finite number that is no derivative
    c = compare_text("[x*y, abs(x - 1)]", wrt="x,y", at="x=1,y=4", methods="symbolic", timing=False,
                     timeout=None)
    assert c.reference.details["undefined_rows"][0]["status"] == "not-differentiable"
    (g,) = c.results
    assert np.isnan(g.outcome.value[1]).all() and g.outcome.value[0].tolist() == [4.0, 1.0]
    assert "the method's finite row for output 2 is no derivative and is not shown" in g.note


def test_every_output_undefined_is_the_scalar_verdict():
    c = compare_text("[log(x - 2), sqrt(-x)]", wrt="x", at="x=1", methods="ad-forward", timing=False,
                     timeout=None)
    assert c.reference.status == "undefined"
    assert c.reference.message.startswith("output 1: log of a non-positive number")
    assert c.results[0].outcome.status in ("undefined", "error")


def test_a_method_nan_row_where_the_derivative_exists_is_an_error(monkeypatch):
    from derivcmp.backends import forward
    real = forward.jacobian_evaluate

    def broken(plan, n):
        evaluate = real(plan, n)

        def bad(point):
            jac = evaluate(point)
            jac[0] = np.nan
            return jac
        return bad
    monkeypatch.setattr(forward, "jacobian_evaluate", broken)
    c = compare_text("[x*y, log(x - 2), x + y]", wrt="x,y", at="x=1,y=4", methods="ad-forward", timing=False,
                     timeout=None)
    (g,) = c.results
    assert g.outcome.status == "error" and g.grade is None
    assert g.outcome.message.startswith("output 1: value is nan")
    assert g.outcome.message.endswith("the derivative of output 1 exists here")


# --- every method ------------------------------------------------------------------------

def _jacobian_methods():
    return [n for n, b in backends.registry().items() if getattr(b, "jacobian", None) in ("native", "rows")]


def test_every_method_declares_how_it_computes_a_jacobian():
    for name, entry in base.entries().items():
        assert getattr(entry.backend, "jacobian", None) in ("native", "rows"), name


@pytest.mark.parametrize("method", _jacobian_methods())
def test_every_method_gives_the_jacobian_within_its_tolerance(method):
    c = compare_text(TEXT, wrt="x,y,z", at=f"x={X},y={Y},z={Z}", methods=method, timing=False, timeout=None)
    (g,) = c.results
    assert g.outcome.status == "ok", g.outcome.message
    assert g.outcome.value.shape == (3, 3)
    tol = base.entries()[method].tolerance(1)
    truth = closed_form()
    for j in range(3):
        for i in range(3):
            t = float(truth[j][i])
            assert abs(g.outcome.value[j, i] - t) <= tol * max(1.0, abs(t)), (j, i)
    # entries that do not depend on an input are exactly 0 for every method
    assert g.outcome.value[0, 2] == 0.0 and g.outcome.value[1, 2] == 0.0 or \
        base.entries()[method].family == "finite-difference"
    assert g.component_rel_error is not None and g.component_rel_error <= 10 * tol


def test_jacobian_against_sympy_on_a_wider_function():
    import sympy
    text = "[x*y*z, atan2(y, x) - z, hypot(x, z)^3, tanh(x - y), 7]"
    xs = sympy.symbols("x y z")
    exprs = [xs[0] * xs[1] * xs[2], sympy.atan2(xs[1], xs[0]) - xs[2], sympy.sqrt(xs[0] ** 2 + xs[2] ** 2) ** 3,
             sympy.tanh(xs[0] - xs[1]), sympy.Integer(7)]
    at = {xs[0]: sympy.Rational(3, 4), xs[1]: sympy.Rational(-1, 2), xs[2]: sympy.Rational(5, 4)}
    truth = np.array(sympy.Matrix(exprs).jacobian(xs).subs(at).evalf(30), dtype=float)
    for method in ("ad-forward", "ad-reverse", "ad-codegen", "symbolic", "fd-central", "ad-taylor"):
        c = compare_text(text, wrt="x,y,z", at="x=0.75,y=-0.5,z=1.25", methods=method, timing=False,
                         timeout=None)
        (g,) = c.results
        assert g.outcome.value.shape == (5, 3)
        assert np.allclose(g.outcome.value, truth, rtol=1e-6 if method.startswith("fd") else 1e-14,
                           atol=1e-12), method
        assert g.outcome.value[4].tolist() == [0.0, 0.0, 0.0]


def test_cost_counters_name_what_was_done():
    m, n = 4, 3
    text = "[x*y, sin(x) + y^2, exp(x*y*z), z]"
    c = compare_text(text, wrt="x,y,z", at="x=1,y=2,z=0.5", timing=False, timeout=None,
                     methods="ad-forward,ad-reverse,ad-codegen,symbolic,fd-forward,fd-central,complex-step")
    d = {g.name: g.outcome.details for g in c.results}
    assert d["ad-forward"]["forward_sweeps"] == n
    assert d["ad-reverse"]["reverse_sweeps"] == m and d["ad-reverse"]["forward_sweeps"] == 1
    assert d["ad-codegen"]["reverse_sweeps"] == m
    assert d["symbolic"]["symbolic_derivatives"] == m * n
    # the complex step: one complex evaluation of every output per input
    assert d["complex-step"]["function_evaluations"] == n and "rows" not in d["complex-step"]
    # the stencils evaluate the vector f, every output at once: n + 1 (forward) or 2n
    # (central) points a step, each distinct point once over the step rule's candidates and
    # their halves (h and h/2 for x and y; z = 0.5 has 2 candidates: eps^(1/2) * 0.5 is
    # exactly half of eps^(1/2), so h, h/2, h/4 for the forward stencil, 4 steps for the
    # central one)
    for fd, points, evals in (("fd-forward", n + 1, 1 + 2 + 2 + 3), ("fd-central", 2 * n, 2 * (2 + 2 + 4))):
        assert "rows" not in d[fd] and d[fd]["jacobian"].startswith("native")
        assert d[fd]["stencil_evaluations"] == points and d[fd]["candidates"] == 2
        assert d[fd]["function_evaluations"] == evals


def test_a_variable_no_output_uses_costs_no_forward_sweep():
    c = compare_text("[x*y, x + y]", wrt="x,y,w", at="x=1,y=2", methods="ad-forward,ad-reverse",
                     timing=False, timeout=None)
    fwd, rev = c.results
    assert fwd.outcome.details["forward_sweeps"] == 2
    assert fwd.outcome.value.tolist() == [[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]]
    assert rev.outcome.value.tolist() == [[2.0, 1.0, 0.0], [1.0, 1.0, 0.0]]


def test_peer_jacobian_when_installed():
    reg = backends.registry()
    peers = [n for n, b in reg.items() if getattr(b, "family", "") == "peer"]
    if not peers:
        pytest.skip("no framework peer is installed (pip install 'derivcmp[autograd]' or jax)")
    truth = np.array(closed_form(), dtype=float)
    for name in peers:
        c = compare_text(TEXT, wrt="x,y,z", at=f"x={X},y={Y},z={Z}", methods=name, timing=False, timeout=None)
        (g,) = c.results
        assert g.outcome.status == "ok", (name, g.outcome.message)
        assert np.allclose(g.outcome.value, truth, rtol=1e-14, atol=0), name
        assert g.outcome.details["reverse_sweeps"] == 3


def test_a_plugin_without_jacobian_support_is_not_applicable():
    class Scalar(base.Method):
        name = "scalar-only"
        family = "automatic"
        description = "a plug-in that knows scalars only"

        def prepare(self, problem):
            raise AssertionError("never called for a vector")
    problem, _ = make_problem("[x, x^2]", "x", "x=1")
    out = backends.run(Scalar(), problem, timing=False)
    assert out.status == "not-applicable"
    assert out.message == "computes derivatives of a scalar expression only, not the Jacobian of a list [...]"


# --- reports and the command line ----------------------------------------------------------

def test_json_document_of_a_jacobian_is_derivcmp_3():
    c = compare_text("[x*y, log(x - 2)]", wrt="x,y", at="x=1,y=2", methods="ad-reverse", timing=False,
                     timeout=None)
    doc = document(c, timing=False)
    assert doc["schema"] == "derivcmp/3"
    assert doc["outputs"] == ["x*y", "log(x - 2)"]
    assert doc["reference"]["value"] == [[2.0, 1.0], [None, None]]
    assert doc["reference"]["undefined_rows"][0]["output"] == 2
    assert doc["methods"][0]["value"] == [[2.0, 1.0], [None, None]]
    json.dumps(doc, allow_nan=False)
    scalar = document(compare_text("x*y", wrt="x,y", at="x=1,y=2", methods="ad-reverse", timing=False,
                                   timeout=None), timing=False)
    assert scalar["schema"] == "derivcmp/2" and "outputs" not in scalar


def test_eval_table_of_a_jacobian_fits_80_columns():
    result = CliRunner().invoke(main, ["eval", "[x*y, sin(x) + y^2, exp(x*y*z), log(x-2)]", "--wrt", "x,y,z",
                                       "--at", "x=1,y=2,z=0.5", "--methods", "ad-forward,ad-reverse,fd-central"],
                                env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Jacobian (4 outputs × 3 inputs) wrt (x, y, z) of [x*y,")
    assert max(len(line) for line in lines) <= 80
    assert "  4: no derivative (undefined): log of a non-positive number (-1.0): log at" in result.output
    assert "4×3 below" in result.output
    assert "1: [2.0, 1.0, 0.0]" in result.output
    assert "3: [2.718281828459045, 1.3591409142295225, 5.43656365691809]" in result.output


def test_eval_csv_of_a_jacobian():
    result = CliRunner().invoke(main, ["eval", "[x*y, x+y]", "--wrt", "x,y", "--at", "x=1,y=2", "--methods",
                                       "ad-reverse", "--format", "csv", "--no-timing"])
    assert result.exit_code == 0
    assert 'ad-reverse,ok,exact,"[[2.0, 1.0], [1.0, 1.0]]"' in result.output


@pytest.mark.parametrize("args, message", [
    (["eval", "[x, x^2]", "--at", "x=1", "--order", "2"],
     "error: --order 2: a vector-valued expression [...] has a Jacobian (order 1) only"),
    (["eval", "[x, [x]]", "--at", "x=1"], "lists cannot be nested"),
    (["swell", "[x]"], "error: swell takes a scalar expression; a list [...] of outputs is for eval, "
                       "check and batch (its Jacobian)"),
    (["sweep", "[x, x^2]", "--at", "x=1"], "error: sweep takes a scalar expression"),
    (["trace", "[x*y]", "--at", "x=1,y=2"], "error: trace takes a scalar expression"),
    (["orders", "[x]", "--at", "x=1"], "error: orders takes a scalar expression"),
])
def test_bad_vector_input_exits_2_with_a_message(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_suite_jacobian_expected_has_m_lists_of_n(tmp_path):
    from derivcmp.suite import load
    f = tmp_path / "j.toml"
    f.write_text('[[case]]\nid = "bad-shape"\nexpr = "[x*y, x]"\nwrt = ["x", "y"]\nat = { x = 1.0, y = 2.0 }\n'
                 'expected = [["y", "x"]]\n', encoding="utf-8")
    loaded = load([str(f)])
    (diag,) = [d for d in loaded.diagnostics if d.severity == "error"]
    assert "expected: the Jacobian is 2×2 (2 outputs, wrt x, y), so give 2 lists of 2" in str(diag)
    f.write_text('[[case]]\nid = "good"\nexpr = "[x*y, x]"\nwrt = ["x", "y"]\nat = { x = 1.0, y = 2.0 }\n'
                 'expected = [["y", "x"], [1, 0]]\n', encoding="utf-8")
    assert [c.id for c in load([str(f)]).cases] == ["good"]

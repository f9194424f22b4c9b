"""The symbolic family: sizes of the derivative's forms, the variants, the
simplification deadline, the timing split, and the gradient that scales.

Operation counts are worked out by hand from the tree sympy writes: an n-ary
Add or Mul is n-1 operations, a power or a function call one, atoms none;
depth counts the edges from the root to the deepest atom.
"""

from __future__ import annotations

import sympy

from derivcmp import symbolic_forms
from derivcmp.backends import SHOW_MAX_CHARS, SHOW_MAX_LINES, base, shown_text
from derivcmp.compare import compare_text
from derivcmp.sympy_bridge import symbol

FAMILY = [n for n, e in base.entries().items() if e.family == "symbolic"]


def _outcomes(text, methods=None, timing=False, **kw):
    c = compare_text(text, methods=methods or FAMILY, timing=timing, timeout=None, **kw)
    return {g.name: g for g in c.results}


def test_the_family_has_its_three_variants():
    assert FAMILY == ["symbolic", "symbolic-cse", "symbolic-simplified"]
    assert [base.entries()[n].backend.default for n in FAMILY] == [True, False, False]


def test_sizes_of_a_small_known_case():
    # f = sin(x^2)*cos(x^2): Mul(sin(Pow), cos(Pow)) = 1 + 2*(1 + 1) = 5 ops, depth 3
    # f' = -2*x*sin(x**2)**2 + 2*x*cos(x**2)**2
    #    = Add(Mul(-2, x, Pow(sin(Pow(x, 2)), 2)), Mul(2, x, Pow(cos(Pow(x, 2)), 2)))
    #    each Mul: 2 + Pow 1 + sin 1 + Pow 1 = 5; Add 1 -> 11 ops; depth Add>Mul>Pow>sin>Pow>x = 5
    # cse: x0 = x**2 (1 op, depth 1); each Mul becomes 2 + 1 + 1 = 4 -> 1 + 4 + 4 + 1 = 10, depth 4
    # simplified: 2*x*cos(2*x**2) = Mul(2, x, cos(Mul(2, Pow(x, 2)))) = 2 + 1 + 1 + 1 = 5, depth 4
    got = _outcomes("sin(x^2)*cos(x^2)", at="x=0.7")
    for name in FAMILY:
        sizes = got[name].outcome.details["sizes"]
        assert sizes["f"] == {"ops": 5, "depth": 3}
        assert sizes["raw"] == {"ops": 11, "depth": 5}
        assert sizes["cse"] == {"ops": 10, "depth": 4}
        assert got[name].outcome.status == "ok" and got[name].rel_error < 1e-15
    assert got["symbolic-simplified"].outcome.details["sizes"]["simplified"] == {"ops": 5, "depth": 4}
    assert "simplified" not in got["symbolic"].outcome.details["sizes"]
    assert [got[n].outcome.details["expression_size"] for n in FAMILY] == [11, 10, 5]


def test_size_counts_without_revisiting_shared_subtrees():
    x = symbol("x")
    assert symbolic_forms.size(x * sympy.cos(x) + sympy.sin(x)) == {"ops": 4, "depth": 3}
    assert symbolic_forms.size(x) == {"ops": 0, "depth": 0}
    # (x+1)^2 nested 40 times: the tree has 2^40 leaves' worth of operations, counted
    # from 40 distinct subtrees: ops(k) = 2*ops(k-1) + 1 (a Mul of two copies)
    e = x + 1
    for _ in range(40):
        e = sympy.Mul(e, e, evaluate=False)
    assert symbolic_forms.size(e) == {"ops": 2 ** 40 - 1 + 2 ** 40, "depth": 41}
    # a list (gradient) sums ops and takes the deepest entry
    assert symbolic_forms.size([x + 1, sympy.sin(sympy.cos(x))]) == {"ops": 3, "depth": 2}


def test_the_cse_variant_evaluates_the_cse_form_and_shows_it():
    got = _outcomes("exp(x^2) + sin(exp(x^2))", methods=["symbolic-cse"], at="x=0.3", show="code")
    o = got["symbolic-cse"].outcome
    text = o.details["show"]["text"]
    assert "x0 = exp(_x0**2)" in text and text.count("exp(") == 1
    assert got["symbolic-cse"].rel_error < 1e-15


def test_simplification_can_change_accuracy():
    # 1 - tanh(x)^2 at x = 20 is 0 in float64; simplified to cosh(x)^-2 it is accurate
    got = _outcomes("tanh(x)", at="x=20")
    assert float(got["symbolic"].outcome.value) == 0.0 and got["symbolic"].rel_error == 1.0
    assert got["symbolic-simplified"].rel_error < 1e-15


def test_simplification_under_its_own_deadline(monkeypatch):
    simplified = base.entries()["symbolic-simplified"].backend
    monkeypatch.setattr(simplified, "simplify_timeout", 0.01)
    got = _outcomes("tanh(1.5*tanh(1.5*tanh(1.5*tanh(x + 0.1) + 0.1) + 0.1) + 0.1)",
                    methods=FAMILY + ["ad-reverse"], at="x=0.3")
    o = got["symbolic-simplified"].outcome
    assert o.status == "timeout"
    assert o.message.startswith("simplification gave up after 0.01 s (the method's own deadline; "
                                "the raw derivative has ")
    assert o.message.endswith(" operations)")
    for name in ("symbolic", "symbolic-cse", "ad-reverse"):
        assert got[name].outcome.status == "ok" and got[name].rel_error < 1e-14


def test_a_failing_simplification_is_an_error_not_a_crash(monkeypatch):
    def boom(entries):
        raise RuntimeError("boom")
    monkeypatch.setattr(symbolic_forms, "simplify_all", boom)
    o = _outcomes("sin(x)", methods=["symbolic-simplified"], at="x=1")["symbolic-simplified"].outcome
    assert o.status == "error"
    assert o.message == "setup failed: ValueError: simplification failed: RuntimeError: boom"


def test_timing_split_in_details_only_with_timing():
    got = _outcomes("sin(x)*exp(x)", at="x=0.5", timing=True)
    phases = {n: list(got[n].outcome.details["setup_split_s"]) for n in FAMILY}
    assert phases == {"symbolic": ["differentiate", "codegen"],
                      "symbolic-cse": ["differentiate", "cse", "codegen"],
                      "symbolic-simplified": ["differentiate", "simplify", "codegen"]}
    for n in FAMILY:
        split = got[n].outcome.details["setup_split_s"]
        assert all(v >= 0 for v in split.values()) and sum(split.values()) <= got[n].outcome.timing.setup_s
    off = _outcomes("sin(x)*exp(x)", at="x=0.5", timing=False)
    assert all("setup_split_s" not in off[n].outcome.details for n in FAMILY)


def test_gradient_differentiates_each_variable_where_it_occurs():
    xs = [symbol(f"x{i}") for i in range(6)]
    f = sum(sympy.sin(xs[i]) * sympy.exp(xs[i + 1]) + xs[i] ** 2 for i in range(5)) + xs[0] * xs[5] * xs[2]
    grad = symbolic_forms.derivative(f, xs, 1)
    assert [sympy.expand(g - sympy.diff(f, s)) for g, s in zip(grad, xs)] == [0] * 6
    hess = symbolic_forms.derivative(f, xs, 2)
    assert [[sympy.expand(hess[i][j] - sympy.diff(f, a, b)) for j, b in enumerate(xs)]
            for i, a in enumerate(xs)] == [[0] * 6] * 6
    # a variable that does not occur: 0
    assert symbolic_forms.derivative(f, [symbol("nope")] + xs[:1], 1)[0] == 0


def test_gradient_and_hessian_values_of_every_variant():
    got = _outcomes("(1-x)^2 + 100*(y-x^2)^2", at="x=-1.2,y=1", order=2)
    for n in FAMILY:
        assert got[n].outcome.value.tolist() == [[1330.0, 480.0], [480.0, 200.0]]


def test_shown_text_is_cut_with_its_size_stated():
    short = shown_text("code", "a\nb")
    assert short == {"form": "code", "text": "a\nb", "lines": 2, "chars": 3, "truncated": False}
    long = shown_text("pretty", "\n".join(str(i) for i in range(1000)))
    assert long["truncated"] and long["lines"] == 1000 and long["text"].count("\n") == SHOW_MAX_LINES - 1
    wide = shown_text("code", "x" * (SHOW_MAX_CHARS * 3))
    assert wide["truncated"] and len(wide["text"]) == SHOW_MAX_CHARS and wide["chars"] == SHOW_MAX_CHARS * 3


def test_a_form_numpy_cannot_print_is_an_error_line(monkeypatch):
    original = sympy.lambdify

    def refuse(*args, **kwargs):
        # only the symbolic methods' code generation (the reference lambdifies too)
        if "cse" in kwargs:
            raise NotImplementedError("no printer for this")
        return original(*args, **kwargs)
    monkeypatch.setattr(sympy, "lambdify", refuse)
    got = _outcomes("sin(x)", methods=FAMILY + ["ad-reverse"], at="x=1")
    assert got["symbolic-cse"].outcome.message == ("setup failed: ValueError: no NumPy code for this form of "
                                                   "the derivative (NotImplementedError)")
    assert got["ad-reverse"].outcome.status == "ok"

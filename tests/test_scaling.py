"""Linear cost in the size of the expression: 10^5-node ASTs through the Python API.

Each stage runs under ``no_hang``, far above its normal time: an O(n^2)
stage (as ``to_text`` on a left-deep sum and ``to_sympy`` built pairwise
were) would take tens of minutes at this size and fail here; the time itself
is measured in ``benchmarks/bench_scaling.py``, not asserted.  The results
are checked against values computed independently, term by term.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
from hang import no_hang

from derivcmp import expr as E
from derivcmp.compare import make_problem
from derivcmp.program import compile_program
from derivcmp.sympy_bridge import to_sympy

TERMS = 10_000          # ~10 nodes a term: 10^5 nodes
DEPTH = 50_000          # 2 nodes a level: 10^5 nodes


def xs(k: int) -> list[float]:
    return [0.1 + 0.9 * ((7 * i) % 13) / 13 for i in range(k)]


@pytest.fixture(scope="module")
def big_sum():
    """f = sum_i sin(x_i)*exp(x_{i+1}) + x_i^2, a left-deep sum."""
    x = [E.Var(f"x{i}") for i in range(TERMS + 1)]
    two = E.Num("2")
    f = None
    for i in range(TERMS):
        t = E.Apply("add", (E.Apply("mul", (E.Apply("sin", (x[i],)), E.Apply("exp", (x[i + 1],)))),
                            E.Apply("powi", (x[i], two))))
        f = t if f is None else E.Apply("add", (f, t))
    return f


@pytest.fixture(scope="module")
def deep_chain():
    """t <- sin(t) - x_{i mod 7}, as deep as it is long."""
    x = [E.Var(f"x{i}") for i in range(7)]
    t: E.Expr = x[0]
    for i in range(DEPTH):
        t = E.Apply("sub", (E.Apply("sin", (t,)), x[i % 7]))
    return t


def test_a_big_sum_goes_through_every_stage(big_sum):
    values = xs(TERMS + 1)
    point = {f"x{i}": v for i, v in enumerate(values)}
    with no_hang(120):
        assert E.size(big_sum) > 99_000
        problem, warnings = make_problem(big_sum, at=point)
        program = compile_program(big_sum)
        text = E.to_text(big_sum)
        back = E.parse(text, max_length=len(text))
    assert warnings == [] and problem.wrt == tuple(point) and problem.text == text
    assert back == big_sum
    # 3 slots per term (sin, exp, x^2 share x_i with their neighbours) + inputs + the sums
    want = math.fsum(math.sin(values[i]) * math.exp(values[i + 1]) + values[i] ** 2 for i in range(TERMS))
    assert program.evaluate(point) == pytest.approx(want, rel=1e-12)


def test_a_big_sum_becomes_one_sympy_add(big_sum):
    sympy.core.cache.clear_cache()      # cold, as the symbolic method runs it
    with no_hang(600):
        sym = to_sympy(big_sum)
    assert isinstance(sym, sympy.Add) and len(sym.args) == 2 * TERMS
    x0, x1, x2 = sympy.symbols("x0 x1 x2", real=True)
    assert sympy.sin(x0) * sympy.exp(x1) in sym.args and x2 ** 2 in sym.args


def test_a_deep_chain_goes_through_every_stage(deep_chain):
    values = xs(7)
    point = {f"x{i}": v for i, v in enumerate(values)}
    with no_hang(120):
        assert E.depth(deep_chain) == 2 * DEPTH + 1
        problem, _ = make_problem(deep_chain, wrt="x0", at=point)
        program = compile_program(deep_chain)
        text = E.to_text(deep_chain)
    t = values[0]
    for i in range(DEPTH):
        t = math.sin(t) - values[i % 7]
    assert program.evaluate(point) == pytest.approx(t, rel=1e-9)
    assert text.count("sin(") == DEPTH and text.startswith("sin(" * DEPTH + "x0)")
    assert problem.text == text and len(program) == 2 * DEPTH + 7
    assert program.active(["x0"])[program.output]


def test_repeated_subtrees_are_placed_once(deep_chain):
    # g + g: the second g is one lookup, not a second walk
    with no_hang(120):
        program = compile_program(E.Apply("add", (deep_chain, deep_chain)))
    assert len(program) == 2 * DEPTH + 7 + 1
    point = {f"x{i}": np.float64(v) for i, v in enumerate(xs(7))}
    assert program.evaluate(point) == 2 * compile_program(deep_chain).evaluate(point)

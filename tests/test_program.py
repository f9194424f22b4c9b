"""program.sweep, the one evaluator, in the float64 and complex value domains.

The truth is sympy: the expression's value and derivative at the exact
binary value of the point, to 30 digits.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from derivcmp.expr import parse
from derivcmp.primitives import COMPLEX_OPS, MissingForm
from derivcmp.program import compile_program, sweep
from derivcmp.sympy_bridge import symbol, to_sympy

CASES = [
    ("1/(1+exp(-w*x))", {"w": 2.0, "x": 3.0}),
    ("sin(x)*exp(y) + x^2 - y/x", {"x": 0.7, "y": -1.3}),
    ("log(1+x^2)*tanh(x) - sqrt(y)*cbrt(x - 3)", {"x": 1.1, "y": 2.5}),
    ("sigmoid(x)*softplus(y) + atan(x/y) + log(x, 3)", {"x": 0.4, "y": 1.7}),
    ("pow(x, y) + x^-2 + 2^x", {"x": 1.3, "y": 0.6}),
]


def exact(text: str, at: dict, wrt: str | None = None) -> float:
    f = to_sympy(parse(text))
    if wrt is not None:
        f = sympy.diff(f, symbol(wrt))
    return float(f.subs({symbol(k): sympy.Rational(v) for k, v in at.items()}).evalf(30))


@pytest.mark.parametrize(("text", "at"), CASES)
def test_float_evaluation_matches_sympy(text, at):
    program = compile_program(parse(text))
    value = program.evaluate(at)
    assert isinstance(value, np.float64)
    assert value == pytest.approx(exact(text, at), rel=1e-14)


@pytest.mark.parametrize(("text", "at"), CASES)
def test_array_inputs_evaluate_elementwise(text, at):
    program = compile_program(parse(text))
    grid = {k: [v, v * 1.25, v * 0.75] for k, v in at.items()}
    values = program.evaluate(grid)
    assert isinstance(values, np.ndarray) and values.dtype == float and values.shape == (3,)
    for i in range(3):
        assert values[i] == program.evaluate({k: g[i] for k, g in grid.items()})


@pytest.mark.parametrize(("text", "at"), CASES)
def test_complex_step_through_the_evaluator_gives_the_derivative(text, at):
    # Im f(x + ih)/h = f'(x) with no cancellation: the ComplexOps column is analytic
    program = compile_program(parse(text))
    h = 1e-30
    for name in program.names:
        inputs = {n: np.complex128(v + (1j * h if n == name else 0)) for n, v in at.items()}
        got = sweep(program, COMPLEX_OPS, inputs)[program.output].imag / h
        assert got == pytest.approx(exact(text, at, wrt=name), rel=1e-13), name


def test_the_complex_evaluator_refuses_a_non_analytic_primitive():
    program = compile_program(parse("abs(x) + sin(x)"))
    with pytest.raises(MissingForm, match="'abs' has no 'cx'"):
        sweep(program, COMPLEX_OPS, {"x": np.complex128(1.0)})


def test_active_slots_follow_the_wrt_variables():
    program = compile_program(parse("sin(x)*y + exp(y)"))
    active = program.active(["x"])
    assert active[program.output]
    by_node = {str(s.node): a for s, a in zip(program.slots, active)}
    assert by_node[str(parse("sin(x)*y"))] and by_node[str(parse("x"))]
    assert not by_node[str(parse("y"))] and not by_node[str(parse("exp(y)"))]
    assert not any(program.active(["z"]))

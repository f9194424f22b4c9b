"""``ad-codegen``: reverse mode by source transformation (Tapenade's approach, in Python).

Setup runs the program once against the code-emitting ops namespace
(``emit.Emitter``): the forward sweep becomes straight-line statements, then
the one backward loop (``reverse.backward``) runs the primitive table's
derivative rules on the emitted values, which emits the adjoint statements.
Second and higher derivatives run that loop again over the emitted adjoint
code (reverse over reverse, by emission): per Hessian row for several
variables, repeatedly for one variable.  The emitter value-numbers what it
emits, folds constants and zero adjoints; unused statements are dropped.  The
result is compiled once (``emit.assemble`` -> ``codegen.build``) and each
evaluation is one call of plain Python on floats, with the NumPy path as the
fallback (``scalar``).

Semantics are ad-reverse's: the same rules, so the same subgradients at kinks;
where f itself is nan or inf the value is nan or inf of the right shape (the
harness then asks ``explain``, the interpreter's diagnosis).  The generated
source is in ``details["code"]``.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from operator import itemgetter
from typing import Any, ClassVar

import numpy as np

from .. import codegen
from ..emit import Code, Emitter, assemble
from ..problem import Problem
from ..program import Program, compile_program, sweep
from . import Prepared
from .base import Method
from .reverse import ReverseMode, backward

CODE_LIMIT = 4000       # characters of generated source kept in details


def _adjoints(em: Emitter, out: Code) -> list[Any]:
    return backward(em.prims, em.args, em.active, em.handles, out.i, em.number(1.0), em, em.is_zero,
                    times=em.chain)


def generate(program: Program, wrt: tuple[str, ...], order: int) -> tuple[codegen.Generated, tuple[str, ...]]:
    """The derivative of ``program`` as a compiled function of the program's variables."""
    names = program.names
    em = Emitter()
    wanted = set(wrt)
    inputs = {n: em.parameter(k, n in wanted) for k, n in enumerate(names)}
    vals = sweep(program, em, inputs)
    out = vals[program.output]
    forward_end = len(em)
    em.strong_zero = True
    zero = em.number(0.0)

    def grad(node: Code | None) -> list[Code]:
        if node is None:
            return [zero] * len(wrt)
        adj = _adjoints(em, node)
        return [adj[inputs[n].i] if n in inputs and inputs[n].i < len(adj) and adj[inputs[n].i] is not None
                else zero for n in wrt]

    if program.vector:
        return _generate_jacobian(em, [vals[o] for o in program.outputs], grad, forward_end, len(wrt),
                                  len(names)), names
    if order == 1:
        roots = grad(out)
    elif len(wrt) == 1:
        node: Code = out
        for _ in range(order - 1):
            node = grad(node)[0]
        (last,) = grad(node)
        roots = [last]
    else:
        rows = [grad(g) for g in grad(out)]
        roots = [c for row in rows for c in row]
    if len(wrt) == 1:
        result: ast.expr = em.ref(roots[0])
    elif order == 1:
        result = ast.List([em.ref(c) for c in roots], ast.Load())
    else:
        m = len(wrt)
        result = ast.List([ast.List([em.ref(c) for c in roots[r * m:(r + 1) * m]], ast.Load())
                           for r in range(m)], ast.Load())
    check = ast.If(test=ast.UnaryOp(ast.Not(), codegen.call("isfinite", em.ref(out))),
                   body=[ast.Return(codegen.call("_undefined", em.ref(out)))], orelse=[])
    body = (em.statements([out] + roots, 0, forward_end) + [check]
            + em.statements([out] + roots, forward_end) + [ast.Return(result)])
    shape = () if len(wrt) == 1 else (len(wrt),) if order == 1 else (len(wrt), len(wrt))

    def undefined(f):
        # as ad-reverse: no derivative where f is nan or overflows
        return np.full(shape, np.nan if np.any(np.isnan(f)) else np.inf)[()]
    return assemble("d", len(names), body, {"_undefined": undefined}), names


def _generate_jacobian(em: Emitter, outs: list[Code], grad, forward_end: int, n: int,
                       nparams: int) -> codegen.Generated:
    """The Jacobian's code: the forward statements once, then one adjoint sweep per
    output; a row is nan or inf where its output is (no derivative there)."""
    rows = [grad(o) for o in outs]
    roots = [c for row in rows for c in row]
    result = ast.List([ast.IfExp(test=codegen.call("isfinite", em.ref(o)),
                                 body=ast.List([em.ref(c) for c in row], ast.Load()),
                                 orelse=codegen.call("_undefined", em.ref(o)))
                       for o, row in zip(outs, rows)], ast.Load())
    body = (em.statements(outs + roots, 0, forward_end) + em.statements(outs + roots, forward_end)
            + [ast.Return(result)])

    def undefined(f):
        return [np.nan if np.isnan(f) else np.inf] * n
    return assemble("d", nparams, body, {"_undefined": undefined})


class CodegenMode(Method):
    name = "ad-codegen"
    #: a Jacobian natively: one generated adjoint sweep per output, in one function
    jacobian = "native"
    family = "automatic"
    default = False
    tolerances: ClassVar[Mapping[int, float]] = {0: 1e-10}
    description = "reverse-mode AD by source transformation: generated adjoint code, compiled once"
    convention = ReverseMode.convention
    conventions = ReverseMode.conventions

    def prepare(self, problem: Problem) -> Prepared:
        program = compile_program(problem.expr)
        gen, names = generate(program, problem.wrt, problem.order)
        fn = gen.fn
        source = gen.source
        details: dict[str, Any] = {
            "program_length": len(program),
            "code_lines": source.count("\n") + 1,
            "code_chars": len(source),
            "code": source if len(source) <= CODE_LIMIT else
            source[:CODE_LIMIT] + f"\n# ... truncated: {len(source)} characters in all",
        }
        if program.vector:
            details["reverse_sweeps"] = len(program.outputs)
        if not names:
            def evaluate(point):
                return fn()
        elif len(names) == 1:
            only = names[0]

            def evaluate(point):
                return fn(point[only])
        else:
            get = itemgetter(*names)

            def evaluate(point):
                return fn(*get(point))

        def explain(point):
            # only on failure: the same rules fail at the same node as on the tape,
            # whose interpreter knows which slot and column that is
            return ReverseMode().prepare(problem).explain(point)
        return Prepared(evaluate, details, explain)


METHODS = (CodegenMode,)

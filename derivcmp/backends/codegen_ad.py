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


def _adjoints(em: Emitter, out: Code, local: Mapping[int, tuple] | None = None) -> list[Any]:
    return backward(em.prims, em.args, em.active, em.handles, out.i, em.number(1.0), em, em.is_zero,
                    times=em.chain, local=local)


def generate(program: Program, wrt: tuple[str, ...], order: int, grid: bool = False
             ) -> tuple[codegen.Generated, tuple[str, ...]]:
    """The derivative of ``program`` as a compiled function of the program's variables.

    ``grid``: the same statements for a scalar derivative over NumPy arrays
    (``grid_function``)."""
    names = program.names
    em = Emitter()
    wanted = set(wrt)
    inputs = {n: em.parameter(k, n in wanted) for k, n in enumerate(names)}
    vals = sweep(program, em, inputs)
    out = vals[program.output]
    forward_end = len(em)
    em.strong_zero = True
    zero = em.number(0.0)
    # over arrays (order 1), a forward node whose primitive gives its value and
    # partial at once (``np_fused``) is emitted as ``tI, pI = _fused_NAME(...)``;
    # the backward sweep reads ``pI`` instead of emitting the rule
    fused: dict[int, tuple] = {}
    if grid and order == 1:
        for i in range(forward_end):
            prim = em.prims[i]
            if prim is not None and prim.np_fused is not None and em.active[i] and em.exprs[i] is not None \
                    and len(em.args[i]) == 1:
                fused[i] = (em._node(None, (i,), False, codegen.name(f"p{i}")),)

    def grad(node: Code | None) -> list[Code]:
        if node is None:
            return [zero] * len(wrt)
        adj = _adjoints(em, node, fused or None)
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
    if grid:
        return grid_function(em.statements([out] + roots), result, em.ref(out), len(names),
                             {i: em.prims[i] for i in fused}), names
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


class _GridChain(ast.NodeTransformer):
    """``a * p if a else 0.0`` (the chain rule's strong zero on floats) -> ``_chain(a, p)``."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.body, ast.BinOp) and isinstance(node.body.op, ast.Mult):
            p = node.body.right
            if isinstance(p, ast.Name) and p.id[:1] == "v" and p.id[1:].isdigit():
                return node.body        # a partial that is an input: finite (--at), so 0 * p is 0
            return codegen.call("_chain", node.body.left, p)
        return node


def _chain(a, p):
    """The chain-rule product over arrays, 0 wherever the adjoint is 0 (as on
    floats); where the partial is finite everywhere 0 * p is 0 already."""
    t = a * p
    if not np.isfinite(p).all():
        t = np.where(a == 0, 0.0, t)
    return t


def _grid_result(d, f):
    """One value per point; nan or inf where f itself is (no derivative there, as at one point)."""
    f = np.asarray(f, dtype=float)
    d = np.asarray(d, dtype=float)
    if d.shape != f.shape:
        d = np.array(np.broadcast_to(d, f.shape))
    if not np.isfinite(f).all():
        d = np.array(d)             # a copy: d may be an input column
        d[np.isinf(f)] = np.inf
        d[np.isnan(f)] = np.nan
    return d


def _value_and_partial(np_fused):
    """A unary primitive's ``np_fused`` as (value, partial) rather than (value, (partial,))."""
    def fn(x):
        value, (partial,) = np_fused(x)
        return value, partial
    return fn


def grid_function(statements: list[ast.stmt], result: ast.expr, out: ast.expr, nparams: int,
                  fused: Mapping[int, Any] | None = None) -> codegen.Generated:
    """The adjoint statements compiled over NumPy arrays: the primitive table's NumPy
    functions, the strong zero per point, no early return (each point is masked);
    ``fused`` forward nodes (index -> primitive) assign their value and partial at once."""
    import copy
    fused = fused or {}
    body = []
    extra: dict[str, Any] = {}
    for st in statements:
        st = _GridChain().visit(copy.deepcopy(st))
        target = st.targets[0].id if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name) else ""
        i = int(target[1:]) if target[:1] == "t" and target[1:].isdigit() else -1
        if i in fused and isinstance(st.value, ast.Call):
            fn = f"_fused_{fused[i].name}"
            extra[fn] = _value_and_partial(fused[i].np_fused)
            st = ast.Assign(targets=[ast.Tuple([ast.Name(id=target, ctx=ast.Store()),
                                                ast.Name(id=f"p{i}", ctx=ast.Store())], ast.Store())],
                            value=codegen.call(fn, *st.value.args))
        body.append(st)
    params = [f"v{k}" for k in range(nparams)]
    prologue = [codegen.assign(p, codegen.call("_array", codegen.name(p))) for p in params]
    body = prologue + body + [ast.Return(codegen.call("_grid_result", result, out))]
    from ..emit import IEEE_NAMESPACE
    return codegen.build(codegen.function("dgrid", params, body),
                         {**IEEE_NAMESPACE, **extra, "_chain": _chain, "_grid_result": _grid_result,
                          "_array": lambda v: np.asarray(v, dtype=float)})


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

        grid_fn: list = []      # the array version, generated on first use (a grid run only)

        def evaluate_grid(columns):
            if not grid_fn:
                grid_fn.append(generate(program, problem.wrt, problem.order, grid=True)[0].fn)
            return grid_fn[0](*[columns[n] for n in names])

        def explain(point):
            # only on failure: the same rules fail at the same node as on the tape,
            # whose interpreter knows which slot and column that is
            return ReverseMode().prepare(problem).explain(point)
        return Prepared(evaluate, details, explain, evaluate_grid=evaluate_grid if len(problem.wrt) == 1 else None)


METHODS = (CodegenMode,)

"""What every peer method shares: the mapping check, the graph builder, setup timing.

A peer maps our AST onto a framework's own operations through ONE mapping,
``OPS``: primitive name -> a function of the loaded framework returning the
framework's operation, or ``Missing(reason)`` where the framework lacks it.
A primitive without an entry is a bug (a generated test fails); a primitive
marked ``Missing`` makes the method ``not-applicable`` for any expression
using it -- never a silent substitute.  Where the framework has no single
operation but an exact identity in its own operations (``log(x, b)`` is
``log(x)/log(b)``, as the primitive table itself defines it), the entry is
``Composed(fn, formula)`` and the formula is shown in the method's details.

The graph is built by ``program.sweep`` with an ops namespace over that
mapping: from our AST, never from text.  Setup (``prepare``) imports and
configures the framework (float64, threads pinned to 1), builds the
derivative function and calls it once -- tracing/compilation for jax.jit,
tf.function and pytensor -- and reports those times in ``details``; the
harness then times evaluation with the same autorange as every method.

Never import a framework at module level here: ``derivcmp methods`` imports
every backend module.
"""

from __future__ import annotations

import importlib.metadata
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...expr import Apply, walk
from ...primitives import PRIMITIVES
from ...problem import Problem
from ...program import Program, compile_program, sweep
from .. import Prepared
from ..base import Method


@dataclass(frozen=True)
class Missing:
    """The framework has no such operation: expressions using it are not-applicable."""

    reason: str


@dataclass(frozen=True)
class Composed:
    """No single operation, but an exact identity in the framework's own operations."""

    make: Callable[[Any], Callable[..., Any]]
    formula: str


Entry = Callable[[Any], Callable[..., Any]] | Missing | Composed


def arithmetic(op: Callable[..., Any]) -> Callable[[Any], Callable[..., Any]]:
    """An operator applied with Python's own syntax (the framework overloads it)."""
    return lambda fw: op


def powi(fw: Any) -> Callable[..., Any]:
    # the exponent of powi is an integer literal (the parser guarantees it):
    # a Python int keeps each framework's integer power, defined for a < 0
    return lambda a, n: a ** int(n)


def missing_entries(ops: Mapping[str, Entry]) -> list[str]:
    """Primitives of the table with no entry in a framework's mapping."""
    return [p.name for p in PRIMITIVES if p.name not in ops]


class MappedOps:
    """The ops namespace ``program.sweep`` runs on: ``o.exp`` is the framework's exp."""

    def __init__(self, ops: Mapping[str, Entry], fw: Any, constant: Callable[[float], Any]):
        self._ops = ops
        self._fw = fw
        self._constant = constant

    def constant(self, slot) -> Any:
        return self._constant(float(slot.value))

    def __getattr__(self, name: str):
        entry = self._ops.get(name)
        if entry is None or isinstance(entry, Missing):
            raise AttributeError(f"no mapping for primitive {name!r}")
        fn = entry.make(self._fw) if isinstance(entry, Composed) else entry(self._fw)
        setattr(self, name, fn)
        return fn


class Peer(Method):
    """The shared part of the five peer methods; a subclass gives the framework."""

    family = "peer"
    tolerances: Mapping[int, float] = {0: 1e-10}
    max_order = 4
    default = False
    #: import name of the framework (also the distribution name for its version)
    module = ""
    distribution = ""
    OPS: Mapping[str, Entry] = {}
    #: a Jacobian natively, by the framework's own jacobian transformation
    #: (``build_jacobian``); a peer without one says so (not-applicable)
    jacobian = "native"

    #: the framework's runtime, once started in a process, does not survive a fork
    #: (its thread pools are gone in the child, which hangs): TensorFlow, JAX
    fork_unsafe = False

    def forkable(self) -> bool:
        """Can this method run in a child forked from this process?  Not once a
        fork-unsafe framework has been imported here (``compare`` then runs it
        in this process, without a deadline); a fresh child imports its own."""
        return not (self.fork_unsafe and self.module in sys.modules)

    def supports(self, problem: Problem) -> str | None:
        reason = super().supports(problem)
        if reason:
            return reason
        gaps = missing_entries(self.OPS)
        if gaps:     # a bug in the mapping, caught by the generated tests
            return f"{self.name} has no mapping for {', '.join(gaps)}"
        for node in walk(problem.expr):
            if isinstance(node, Apply) and isinstance(self.OPS[node.op], Missing):
                return f"{node.primitive.syntax or node.op}: {self.OPS[node.op].reason}"
        return None

    # --- what a framework provides -------------------------------------------------
    def load(self) -> tuple[Any, dict[str, Any]]:
        """Import and configure the framework; return it and details (threads, …)."""
        raise NotImplementedError

    def constant(self, fw: Any) -> Callable[[float], Any]:
        return float

    def build(self, fw: Any, ops: MappedOps, program: Program, problem: Problem
              ) -> tuple[Callable[[np.ndarray, np.ndarray], Any], dict[str, Any]]:
        """A derivative function of (wrt values, other values) -> array-like."""
        raise NotImplementedError

    def build_jacobian(self, fw: Any, ops: MappedOps, program: Program, problem: Problem
                       ) -> tuple[Callable[[np.ndarray, np.ndarray], Any], dict[str, Any]]:
        """The Jacobian of a vector program as a function of (wrt values, other values);
        the details name the transformation and what it costs (``reverse_sweeps``)."""
        raise NotImplementedError

    # --- the shared flow ---------------------------------------------------------------
    def prepare(self, problem: Problem) -> Prepared:
        start = time.perf_counter()
        fw, details = self.load()
        import_s = time.perf_counter() - start
        program = compile_program(problem.expr)
        ops = MappedOps(self.OPS, fw, self.constant(fw))
        wrt = problem.wrt
        others = tuple(n for n in program.names if n not in wrt)
        built = time.perf_counter()
        builder = self.build_jacobian if program.vector else self.build
        derivative, more = _framework_errors(self.name, builder)(fw, ops, program, problem)
        build_s = time.perf_counter() - built
        derivative = _framework_errors(self.name, derivative)
        shape = problem.shape

        def evaluate(point):
            xw = np.array([point[n] for n in wrt], dtype=np.float64)
            xo = np.array([point[n] for n in others], dtype=np.float64)
            return np.asarray(derivative(xw, xo), dtype=np.float64).reshape(shape)[()]

        first = time.perf_counter()
        with np.errstate(all="ignore"):
            evaluate(problem.point)     # warm-up: tracing / compilation happens here
        first_call_s = time.perf_counter() - first
        used = {node.op for node in walk(problem.expr) if isinstance(node, Apply)}
        composed = {n: self.OPS[n].formula for n in sorted(used) if isinstance(self.OPS[n], Composed)}
        details.update(more)
        loaded = sys.modules.get(self.module)
        version = getattr(loaded, "__version__", None) or _version(self.distribution or self.module)
        details.update({"version": version, "dtype": "float64",
                        "import_s": round(import_s, 6), "build_s": round(build_s, 6),
                        "first_call_s": round(first_call_s, 6)})
        if composed:
            details["composed"] = composed
        return Prepared(evaluate, details)


def graph(program: Program, ops: MappedOps, inputs: Mapping[str, Any]) -> Any:
    """The framework value of f, built by the one program evaluator."""
    return sweep(program, ops, inputs)[program.output]


def graphs(program: Program, ops: MappedOps, inputs: Mapping[str, Any]) -> list[Any]:
    """The framework values of every output of a vector program (one sweep)."""
    vals = sweep(program, ops, inputs)
    return [vals[o] for o in program.outputs]


def vector_function(program: Program, ops: MappedOps, problem: Problem, stack: Callable[[list[Any]], Any]):
    """f(wrt values, other values) -> the outputs stacked into one framework vector,
    for transformations that take functions (``jacrev``, ``jacobian``)."""
    def f(xw, xo):
        return stack(graphs(program, ops, inputs_of(problem, program, [xw[i] for i in range(len(problem.wrt))],
                                                    xo)))
    return f


def functional_derivative(grad: Callable, hessian: Callable, program: Program, ops: MappedOps,
                          problem: Problem) -> Callable:
    """The derivative as a function of (wrt values, other values), for frameworks
    whose transformations take functions (autograd, jax): nested ``grad`` for one
    variable, ``grad`` or ``hessian`` of f(vector) for several."""
    if len(problem.wrt) == 1:
        def scalar(s, xo):
            return graph(program, ops, inputs_of(problem, program, [s], xo))
        d = scalar
        for _ in range(problem.order):
            d = grad(d, 0)
        return lambda xw, xo: d(xw[0], xo)

    def f(xw, xo):
        return graph(program, ops, inputs_of(problem, program, xw, xo))
    return grad(f, 0) if problem.order == 1 else hessian(f, 0)


def inputs_of(problem: Problem, program: Program, wrt_values, other_values) -> dict[str, Any]:
    others = [n for n in program.names if n not in problem.wrt]
    inputs = {n: wrt_values[i] for i, n in enumerate(problem.wrt) if n in program.names}
    inputs.update({n: other_values[i] for i, n in enumerate(others)})
    return inputs


class FrameworkError(ValueError):
    """An exception raised inside a framework, as a status line rather than a traceback."""


def _framework_errors(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args):
        try:
            return fn(*args)
        except (FrameworkError, ArithmeticError, MemoryError, RecursionError):
            raise
        except Exception as err:  # each framework has its own exception types
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            # TensorFlow's first line is "in user code:", its last one the reason
            text = (lines[-1] if lines[0].endswith(":") else lines[0]) if lines else ""
            raise FrameworkError(f"{name}: {type(err).__name__}: {text}"[:200]) from err
    return call


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def op(namespace: str, attribute: str) -> Callable[[Any], Callable[..., Any]]:
    """The framework operation ``fw.<namespace>.<attribute>`` (our own constant names)."""
    return lambda fw: getattr(getattr(fw, namespace), attribute)


#: the operators every framework overloads on its values
ARITHMETIC: dict[str, Entry] = {
    "add": arithmetic(lambda a, b: a + b),
    "sub": arithmetic(lambda a, b: a - b),
    "mul": arithmetic(lambda a, b: a * b),
    "div": arithmetic(lambda a, b: a / b),
    "neg": arithmetic(lambda a: -a),
    "pow": arithmetic(lambda a, b: a ** b),
    "powi": powi,
}

LOG_BASE = Composed(lambda fw: (lambda x, b: fw.log(x) / fw.log(b)),
                    "log(x)/log(b), as the primitive table defines log(x, base)")
SECH_MISSING = "has no sech operation"

"""``pytensor``: Theano's successor -- a symbolic graph, ``pytensor.grad``, compiled.

Setup builds the graph of f from our AST, differentiates it symbolically
(``pytensor.grad``; for second order, grad of each gradient entry), rewrites
and compiles it with ``pytensor.function`` (C code through the system
compiler when one is there) and calls it once; evaluation calls the
compiled function (numba or C, as PyTensor's default linker chooses), on
one thread (no OpenMP).

The numbers of the expression enter the compiled function as inputs, one per
distinct value, never as literals: PyTensor renders literals into the Python
source it generates and compiles, and no text derived from user input may
reach ``compile``.  Integer exponents (powi) included: pow of a negative base
with an integral float exponent is defined, as in C.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .common import ARITHMETIC, LOG_BASE, SECH_MISSING, Composed, Missing, Peer, arithmetic, graph, graphs, op

OPS = {
    **ARITHMETIC,
    "exp": op("pt", "exp"), "log": op("pt", "log"), "log2": op("pt", "log2"), "log10": op("pt", "log10"),
    "log1p": op("pt", "log1p"), "expm1": op("pt", "expm1"), "sqrt": op("pt", "sqrt"),
    "cbrt": Missing("pytensor.tensor has no cbrt"), "abs": op("pt", "abs"), "sign": op("pt", "sign"),
    "sin": op("pt", "sin"), "cos": op("pt", "cos"), "tan": op("pt", "tan"),
    "asin": op("pt", "arcsin"), "acos": op("pt", "arccos"), "atan": op("pt", "arctan"),
    "sinh": op("pt", "sinh"), "cosh": op("pt", "cosh"), "tanh": op("pt", "tanh"),
    "sech": Missing(f"pytensor {SECH_MISSING}"),
    "asinh": op("pt", "arcsinh"), "acosh": op("pt", "arccosh"), "atanh": op("pt", "arctanh"),
    "erf": op("pt", "erf"), "erfc": op("pt", "erfc"),
    "sigmoid": op("pt", "sigmoid"), "softplus": op("pt", "softplus"),
    "relu": Composed(lambda fw: (lambda x: fw.pt.maximum(x, 0.0)), "maximum(x, 0)"),
    "log_base": LOG_BASE,
    "powi": arithmetic(lambda a, n: a ** n),     # n is an input here (see above), not an int
    "atan2": op("pt", "arctan2"), "hypot": Missing("pytensor.tensor has no hypot"),
    "max": op("pt", "maximum"), "min": op("pt", "minimum"),
}


class PyTensor(Peer):
    name = "pytensor"
    description = "PyTensor (Theano's successor): pytensor.grad on its graph of f, compiled"
    convention = "PyTensor's own derivative rules at a kink (its subgradient choices)"
    requires = ("pytensor",)
    extra = "pytensor"
    module = "pytensor"
    OPS = OPS

    def load(self):
        import pytensor
        import pytensor.tensor as pt
        fw = SimpleNamespace(pytensor=pytensor, pt=pt, log=pt.log)
        return fw, {"threads": 1, "threads_note": f"openmp={pytensor.config.openmp}",
                    "linker": str(pytensor.config.linker), "cxx": bool(pytensor.config.cxx)}

    def constant(self, fw):
        constants: dict[float, Any] = {}

        def make(v: float):
            if v not in constants:
                constants[v] = fw.pt.dscalar(f"k{len(constants)}")
            return constants[v]
        fw.constants = constants
        return make

    def build(self, fw: Any, ops, program, problem):
        pytensor, pt = fw.pytensor, fw.pt
        wrt, order = problem.wrt, problem.order
        others = [n for n in program.names if n not in wrt]
        xs = [pt.dscalar(f"w{i}") for i in range(len(wrt))]
        os_ = [pt.dscalar(f"c{i}") for i in range(len(others))]
        inputs = {n: xs[i] for i, n in enumerate(wrt) if n in program.names}
        inputs.update({n: os_[i] for i, n in enumerate(others)})
        y = pt.as_tensor_variable(graph(program, ops, inputs))

        def grad(out, wrt_vars):
            return pytensor.grad(out, wrt_vars, disconnected_inputs="ignore", return_disconnected="zero")
        if len(wrt) == 1:
            out = y
            for _ in range(order):
                (out,) = grad(out, xs)
            outputs = out
        elif order == 1:
            outputs = pt.stack(grad(y, xs))
        else:
            outputs = pt.stack([pt.stack(grad(g, xs)) for g in grad(y, xs)])
        ks = list(fw.constants.values())
        values = [float(v) for v in fw.constants]
        fn = pytensor.function(xs + os_ + ks, outputs, on_unused_input="ignore")

        def derivative(xw, xo):
            return fn(*xw, *xo, *values)
        return derivative, {"mode": "pytensor.grad" + " of the gradient" * (order - 1) + ", compiled"}

    def build_jacobian(self, fw: Any, ops, program, problem):
        # pytensor.grad of each output: one reverse pass per row, compiled into one function
        pytensor, pt = fw.pytensor, fw.pt
        wrt = problem.wrt
        others = [n for n in program.names if n not in wrt]
        xs = [pt.dscalar(f"w{i}") for i in range(len(wrt))]
        os_ = [pt.dscalar(f"c{i}") for i in range(len(others))]
        inputs = {n: xs[i] for i, n in enumerate(wrt) if n in program.names}
        inputs.update({n: os_[i] for i, n in enumerate(others)})
        ys = [pt.as_tensor_variable(y) for y in graphs(program, ops, inputs)]

        def grad(out):
            return pytensor.grad(out, xs, disconnected_inputs="ignore", return_disconnected="zero")
        outputs = pt.stack([pt.stack(grad(y)) for y in ys])
        ks = list(fw.constants.values())
        values = [float(v) for v in fw.constants]
        fn = pytensor.function(xs + os_ + ks, outputs, on_unused_input="ignore")

        def derivative(xw, xo):
            return fn(*xw, *xo, *values)
        return derivative, {"mode": "pytensor.grad per output, compiled", "reverse_sweeps": len(ys)}


METHODS = (PyTensor,)

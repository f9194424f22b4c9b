"""``autograd``: HIPS/autograd, reverse mode by tracing NumPy calls on each evaluation.

autograd has no compilation step: every call traces the function again, so
setup is the import and one warm-up call, and the per-call time includes
the trace (that is how autograd is used).
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

from .common import (
    ARITHMETIC,
    LOG_BASE,
    SECH_MISSING,
    Composed,
    Missing,
    Peer,
    functional_derivative,
    op,
    vector_function,
)

OPS = {
    **ARITHMETIC,
    "exp": op("np", "exp"), "log": op("np", "log"), "log2": op("np", "log2"), "log10": op("np", "log10"),
    "log1p": op("np", "log1p"), "expm1": op("np", "expm1"), "sqrt": op("np", "sqrt"),
    "cbrt": Missing("autograd defines no derivative (VJP) of cbrt"), "abs": op("np", "abs"), "sign": op("np", "sign"),
    "sin": op("np", "sin"), "cos": op("np", "cos"), "tan": op("np", "tan"),
    "asin": op("np", "arcsin"), "acos": op("np", "arccos"), "atan": op("np", "arctan"),
    "sinh": op("np", "sinh"), "cosh": op("np", "cosh"), "tanh": op("np", "tanh"),
    "sech": Missing(f"autograd.numpy {SECH_MISSING}"),
    "asinh": op("np", "arcsinh"), "acosh": op("np", "arccosh"), "atanh": op("np", "arctanh"),
    "erf": op("special", "erf"), "erfc": op("special", "erfc"),
    "sigmoid": op("special", "expit"),
    "softplus": Composed(lambda fw: (lambda x: fw.np.logaddexp(0.0, x)), "logaddexp(0, x)"),
    "relu": Composed(lambda fw: (lambda x: fw.np.maximum(x, 0.0)), "maximum(x, 0)"),
    "log_base": LOG_BASE,
    "atan2": op("np", "arctan2"), "hypot": op("np", "hypot"),
    "max": op("np", "maximum"), "min": op("np", "minimum"),
}


class Autograd(Peer):
    name = "autograd"
    description = "HIPS/autograd: reverse mode over traced NumPy (grad, hessian)"
    convention = "autograd's own derivative rules at a kink (its subgradient choices)"
    requires = ("autograd", "scipy")     # autograd.scipy.special needs scipy
    extra = "autograd"
    module = "autograd"
    OPS = OPS

    def load(self):
        import autograd
        import autograd.numpy as anp
        # d(constant)/dx is 0, which is what we report; autograd also warns
        warnings.filterwarnings("ignore", "Output seems independent of input", UserWarning)
        from autograd.scipy import special
        fw = SimpleNamespace(np=anp, special=special, autograd=autograd, log=anp.log)
        return fw, {"threads": 1, "threads_note": "scalar NumPy operations, one thread"}

    def build(self, fw: Any, ops, program, problem):
        ag = fw.autograd
        mode = ("reverse" + " over reverse" * (problem.order - 1) if len(problem.wrt) == 1 or problem.order == 1
                else "autograd.hessian (forward over reverse)")
        return functional_derivative(ag.grad, ag.hessian, program, ops, problem), {"mode": mode}

    def build_jacobian(self, fw: Any, ops, program, problem):
        # autograd.jacobian: one reverse pass (VJP) per output
        anp = fw.np
        f = vector_function(program, ops, problem, lambda vs: anp.stack([v * 1.0 for v in vs]))
        return fw.autograd.jacobian(f, 0), {"mode": "autograd.jacobian: reverse mode, one pass per output",
                                            "reverse_sweeps": len(program.outputs)}


METHODS = (Autograd,)

"""``jax``: JAX's grad/hessian, compiled with jax.jit; float64 enabled inside setup.

The first call traces and compiles (XLA) and is reported as ``first_call_s``
in details; evaluation is the compiled call, including moving the result back
to a NumPy array.  XLA's CPU threads are pinned to one through ``XLA_FLAGS``
when this backend is the first to import jax in the process (it says so
otherwise).  ``jax_enable_x64`` is switched on here, at setup, not when
derivcmp is imported.
"""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace
from typing import Any

from .common import (
    ARITHMETIC,
    LOG_BASE,
    SECH_MISSING,
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
    "cbrt": op("np", "cbrt"), "abs": op("np", "abs"), "sign": op("np", "sign"),
    "sin": op("np", "sin"), "cos": op("np", "cos"), "tan": op("np", "tan"),
    "asin": op("np", "arcsin"), "acos": op("np", "arccos"), "atan": op("np", "arctan"),
    "sinh": op("np", "sinh"), "cosh": op("np", "cosh"), "tanh": op("np", "tanh"),
    "sech": Missing(f"jax.numpy {SECH_MISSING}"),
    "asinh": op("np", "arcsinh"), "acosh": op("np", "arccosh"), "atanh": op("np", "arctanh"),
    "erf": op("special", "erf"), "erfc": op("special", "erfc"),
    "sigmoid": op("nn", "sigmoid"), "softplus": op("nn", "softplus"), "relu": op("nn", "relu"),
    "log_base": LOG_BASE,
    "atan2": op("np", "arctan2"), "hypot": op("np", "hypot"),
    "max": op("np", "maximum"), "min": op("np", "minimum"),
}

_XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


class Jax(Peer):
    name = "jax"
    description = "JAX: jax.jit of jax.grad / jax.hessian / jax.jacrev (compile time reported as setup)"
    convention = "JAX's own derivative rules at a kink (its subgradient choices)"
    requires = ("jax", "jaxlib")
    extra = "jax"
    module = "jax"

    OPS = OPS

    def load(self):
        pinned = "jax" not in sys.modules
        if pinned:
            flags = os.environ.get("XLA_FLAGS", "")
            if "intra_op_parallelism_threads" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} {_XLA_ONE_THREAD}".strip()
        import jax
        import jax.nn
        import jax.numpy as jnp
        from jax.scipy import special
        jax.config.update("jax_enable_x64", True)
        fw = SimpleNamespace(jax=jax, np=jnp, nn=jax.nn, special=special, log=jnp.log)
        return fw, {"threads": 1 if pinned or _XLA_ONE_THREAD in os.environ.get("XLA_FLAGS", "") else None,
                    "threads_note": os.environ.get("XLA_FLAGS", "") or "jax was imported before: not pinned",
                    "device": str(jax.devices()[0])}

    def build(self, fw: Any, ops, program, problem):
        # XLA's compile time grows quickly with the number of scalar operations
        # (seconds at n = 100, minutes at n = 1000 here): the bench shows it
        jax = fw.jax
        mode = ("jit(grad" + " of grad" * (problem.order - 1) + ")" if len(problem.wrt) == 1 or problem.order == 1
                else "jit(hessian): forward over reverse")
        return jax.jit(functional_derivative(jax.grad, jax.hessian, program, ops, problem)), {"mode": mode}

    #: the Jacobian transformations it offers (the bench times each); eval uses jacrev
    jacobian_modes = ("reverse", "forward")
    jacobian_mode = "reverse"

    def build_jacobian(self, fw: Any, ops, program, problem):
        # jacrev: one VJP per output row, batched by vmap; jacfwd: one JVP per input column
        jax, jnp = fw.jax, fw.np
        f = vector_function(program, ops, problem, lambda vs: jnp.stack([jnp.asarray(v, jnp.float64) for v in vs]))
        if self.jacobian_mode == "forward":
            return jax.jit(jax.jacfwd(f, 0)), {"mode": "jit(jacfwd): forward mode, one column per input "
                                               "(vmapped)", "forward_sweeps": len(problem.wrt)}
        return jax.jit(jax.jacrev(f, 0)), {"mode": "jit(jacrev): reverse mode, one row per output (vmapped)",
                                           "reverse_sweeps": len(program.outputs)}


METHODS = (Jax,)

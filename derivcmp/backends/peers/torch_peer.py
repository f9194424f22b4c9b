"""``torch``: PyTorch eager autograd on 0-d float64 tensors.

Each evaluation builds the graph again (eager mode) and runs
``torch.autograd.grad``; second and higher derivatives differentiate the
gradient graph again (``create_graph=True``).  Intra- and inter-op threads
are pinned to one.  The CPU wheel is enough (PyPI's Linux wheel is the CUDA
build: it runs on the CPU, with gigabytes of nvidia-* dependencies).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from .common import ARITHMETIC, LOG_BASE, SECH_MISSING, Missing, Peer, graph, graphs, inputs_of, op

OPS = {
    **ARITHMETIC,
    "exp": op("t", "exp"), "log": op("t", "log"), "log2": op("t", "log2"), "log10": op("t", "log10"),
    "log1p": op("t", "log1p"), "expm1": op("t", "expm1"), "sqrt": op("t", "sqrt"),
    "cbrt": Missing("torch has no real cube root (torch.pow of a negative base is nan)"),
    "abs": op("t", "abs"), "sign": op("t", "sign"),
    "sin": op("t", "sin"), "cos": op("t", "cos"), "tan": op("t", "tan"),
    "asin": op("t", "asin"), "acos": op("t", "acos"), "atan": op("t", "atan"),
    "sinh": op("t", "sinh"), "cosh": op("t", "cosh"), "tanh": op("t", "tanh"),
    "sech": Missing(f"torch {SECH_MISSING}"),
    "asinh": op("t", "asinh"), "acosh": op("t", "acosh"), "atanh": op("t", "atanh"),
    "erf": op("t", "erf"), "erfc": op("t", "erfc"),
    # torch's softplus is linear above its threshold (20): that is its semantics, kept
    "sigmoid": op("t", "sigmoid"), "softplus": op("F", "softplus"), "relu": op("t", "relu"),
    "log_base": LOG_BASE,
    "atan2": op("t", "atan2"), "hypot": op("t", "hypot"),
    "max": op("t", "maximum"), "min": op("t", "minimum"),
}


class Torch(Peer):
    name = "torch"
    description = "PyTorch eager: reverse mode on 0-d float64 tensors (create_graph for 2nd order)"
    convention = "PyTorch's own derivative rules at a kink (its subgradient choices)"
    requires = ("torch",)
    extra = "torch"
    module = "torch"
    OPS = OPS

    def load(self):
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:      # only settable before the first parallel work
            pass
        fw = SimpleNamespace(t=torch, F=F, log=torch.log)
        return fw, {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}

    def constant(self, fw):
        torch = fw.t
        return lambda v: torch.tensor(v, dtype=torch.float64)

    def build(self, fw: Any, ops, program, problem):
        torch = fw.t
        k, order = len(problem.wrt), problem.order
        f64 = torch.float64

        def grads(y, xs, create):
            if not (isinstance(y, torch.Tensor) and y.requires_grad):
                return [torch.zeros((), dtype=f64) for _ in xs]
            got = torch.autograd.grad(y, xs, create_graph=create, retain_graph=True, allow_unused=True)
            return [torch.zeros((), dtype=f64) if g is None else g for g in got]

        def derivative(xw, xo):
            xs = [torch.tensor(v, dtype=f64, requires_grad=True) for v in xw.tolist()]
            others = [torch.tensor(v, dtype=f64) for v in xo.tolist()]
            y = graph(program, ops, inputs_of(problem, program, xs, others))
            if k == 1:
                for i in range(order):
                    (y,) = grads(y, xs, create=i < order - 1)
                return y.detach().numpy(force=True)
            g = grads(y, xs, create=order > 1)
            if order == 1:
                return torch.stack(g).detach().numpy(force=True)
            return torch.stack([torch.stack(grads(gi, xs, create=False)) for gi in g]).detach().numpy(force=True)
        return derivative, {"mode": "eager reverse" + " over reverse" * (order - 1)}

    def build_jacobian(self, fw: Any, ops, program, problem):
        # one eager backward pass per output (torch.autograd.grad), not torch.func.jacrev:
        # jacrev's vmapped pull-back of the stacked outputs sends a zero cotangent through
        # every output, so 0 * inf from sqrt'(0) in one row leaks nan into the others (the
        # per-output pass touches only its own output's graph), and its first call imports
        # torch._dynamo (and triton where installed: that import crashed a process that
        # had TensorFlow loaded too)
        torch = fw.t
        f64 = torch.float64
        m = len(program.outputs)

        def derivative(xw, xo):
            xs = [torch.tensor(v, dtype=f64, requires_grad=True) for v in xw.tolist()]
            others = [torch.tensor(v, dtype=f64) for v in xo.tolist()]
            ys = graphs(program, ops, inputs_of(problem, program, xs, others))
            rows = []
            for y in ys:
                if not (isinstance(y, torch.Tensor) and y.requires_grad):
                    rows.append([0.0] * len(xs))
                    continue
                got = torch.autograd.grad(y, xs, retain_graph=True, allow_unused=True)
                rows.append([0.0 if g is None else g.item() for g in got])
            return np.array(rows, dtype=np.float64)
        return derivative, {"mode": "eager reverse, one backward pass per output", "reverse_sweeps": m}


METHODS = (Torch,)

"""``tensorflow``: GradientTape inside ``tf.function`` (the first call traces it, without autograph).

Float64 tensors throughout; second and higher derivatives by nested tapes.
Intra- and inter-op threads are pinned to one (possible only before
TensorFlow starts its runtime; the details say what it ended up with).
"""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

from .common import ARITHMETIC, LOG_BASE, SECH_MISSING, Composed, Missing, Peer, graph, graphs, inputs_of, op

OPS = {
    **ARITHMETIC,
    "exp": op("m", "exp"), "log": op("m", "log"),
    "log2": op("tnp", "log2"), "log10": op("tnp", "log10"),
    "log1p": op("m", "log1p"), "expm1": op("m", "expm1"), "sqrt": op("m", "sqrt"),
    "cbrt": op("tnp", "cbrt"), "abs": op("m", "abs"), "sign": op("m", "sign"),
    "sin": op("m", "sin"), "cos": op("m", "cos"), "tan": op("m", "tan"),
    "asin": op("m", "asin"), "acos": op("m", "acos"), "atan": op("m", "atan"),
    "sinh": op("m", "sinh"), "cosh": op("m", "cosh"), "tanh": op("m", "tanh"),
    "sech": Missing(f"tf.math {SECH_MISSING}"),
    "asinh": op("m", "asinh"), "acosh": op("m", "acosh"), "atanh": op("m", "atanh"),
    "erf": op("m", "erf"), "erfc": op("m", "erfc"),
    "sigmoid": op("m", "sigmoid"), "softplus": op("m", "softplus"), "relu": op("nn", "relu"),
    "log_base": LOG_BASE,
    # the exponent stays the float64 constant tensor: a Python int would become an int32
    # tensor (and autograph turns float() into a float32 cast); pow of a negative base
    # with an integral float exponent is defined, as in C
    "powi": op("m", "pow"),
    "atan2": op("m", "atan2"), "hypot": Composed(lambda fw: fw.tnp.hypot, "tf.experimental.numpy.hypot"),
    "max": op("m", "maximum"), "min": op("m", "minimum"),
}


class TensorFlow(Peer):
    name = "tensorflow"
    description = "TensorFlow: GradientTape inside tf.function (tracing reported as setup)"
    convention = "TensorFlow's own derivative rules at a kink (its subgradient choices)"
    requires = ("tensorflow",)
    extra = "tensorflow"
    module = "tensorflow"
    distribution = "tensorflow"
    fork_unsafe = True
    OPS = OPS

    def load(self):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        import tensorflow.experimental.numpy as tnp
        try:
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:        # the runtime had started already
            pass
        fw = SimpleNamespace(tf=tf, m=tf.math, nn=tf.nn, tnp=tnp, log=tf.math.log)
        return fw, {"threads": tf.config.threading.get_intra_op_parallelism_threads() or None,
                    "interop_threads": tf.config.threading.get_inter_op_parallelism_threads() or None}

    def constant(self, fw):
        tf = fw.tf
        return lambda v: tf.constant(v, dtype=tf.float64)

    def build(self, fw: Any, ops, program, problem):
        tf = fw.tf
        k, order = len(problem.wrt), problem.order
        n_other = sum(1 for n in program.names if n not in problem.wrt)
        zero = tf.UnconnectedGradients.ZERO

        # autograph=False: the graph builder is plain Python over Python values, and
        # autograph would re-read (and rewrite) derivcmp's own source at trace time
        @tf.function(autograph=False)
        def derivative_tf(xw, xo):
            xs = tf.unstack(xw, num=k)
            others = tf.unstack(xo, num=n_other) if n_other else []

            def f(vs):
                return graph(program, ops, inputs_of(problem, program, vs, others))
            if k == 1:
                return _nested(tf, order, xs[0], lambda v: f([v]))
            if order == 1:
                with tf.GradientTape() as tape:
                    tape.watch(xs)
                    y = f(xs)
                return tf.stack(tape.gradient(y, xs, unconnected_gradients=zero))
            with tf.GradientTape(persistent=True) as outer:
                outer.watch(xs)
                with tf.GradientTape() as inner:
                    inner.watch(xs)
                    y = f(xs)
                g = inner.gradient(y, xs, unconnected_gradients=zero)
            rows = [outer.gradient(gi, xs, unconnected_gradients=zero) for gi in g]
            return tf.stack([tf.stack(r) for r in rows])

        def derivative(xw, xo):
            return derivative_tf(tf.constant(xw, dtype=tf.float64), tf.constant(xo, dtype=tf.float64)).numpy()
        return derivative, {"mode": "tf.function(GradientTape)" + " nested" * (order - 1)}

    def build_jacobian(self, fw: Any, ops, program, problem):
        # GradientTape.jacobian of the stacked outputs (one gradient per output row)
        tf = fw.tf
        k = len(problem.wrt)
        n_other = sum(1 for n in program.names if n not in problem.wrt)
        zero = tf.UnconnectedGradients.ZERO

        @tf.function(autograph=False)
        def jacobian_tf(xw, xo):
            others = tf.unstack(xo, num=n_other) if n_other else []
            with tf.GradientTape() as tape:
                tape.watch(xw)
                xs = tf.unstack(xw, num=k)
                ys = graphs(program, ops, inputs_of(problem, program, xs, others))
                y = tf.stack([tf.convert_to_tensor(v, dtype=tf.float64) for v in ys])
            return tape.jacobian(y, xw, unconnected_gradients=zero)

        def derivative(xw, xo):
            return jacobian_tf(tf.constant(xw, dtype=tf.float64), tf.constant(xo, dtype=tf.float64)).numpy()
        return derivative, {"mode": "tf.function(GradientTape.jacobian)", "reverse_sweeps": len(program.outputs)}


def _nested(tf, order: int, s, f):
    """d^order f / ds^order by nested tapes."""
    if order == 0:
        return f(s)
    with tf.GradientTape() as tape:
        tape.watch(s)
        y = _nested(tf, order - 1, s, f)
    return tape.gradient(y, s, unconnected_gradients=tf.UnconnectedGradients.ZERO)


METHODS = (TensorFlow,)

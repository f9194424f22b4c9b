"""Peer methods: the AD frameworks people use, measured the way every method is.

One module per framework, each with one mapping from the primitive table to
the framework's operations (``common`` explains the contract).  None of them
imports its framework here: that happens in ``prepare``.
"""

from __future__ import annotations

from .autograd_peer import Autograd
from .jax_peer import Jax
from .pytensor_peer import PyTensor
from .tensorflow_peer import TensorFlow
from .torch_peer import Torch

METHODS = (Autograd, Jax, Torch, TensorFlow, PyTensor)

"""The data that flows between stages: plain frozen dataclasses.

A ``Problem`` goes to the reference and to every backend; each backend gives
back an ``Outcome``; ``Comparison`` puts the reference, the outcomes and the
errors (computed here, never by a backend about itself) side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .expr import Expr

OK = "ok"
UNDEFINED = "undefined"
NOT_DIFFERENTIABLE = "not-differentiable"
NOT_APPLICABLE = "not-applicable"
TIMEOUT = "timeout"
ERROR = "error"

MAX_ORDER = 4


@dataclass(frozen=True)
class Problem:
    """An expression, the variables to differentiate by, a point, an order."""

    expr: Expr
    wrt: tuple[str, ...]
    point: Mapping[str, float]
    order: int = 1
    text: str = ""

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the derivative: () scalar, (n,) gradient, (n, n) Hessian."""
        n = len(self.wrt)
        if n == 1:
            return ()
        return (n,) if self.order == 1 else (n, n)


@dataclass(frozen=True)
class Timing:
    setup_s: float
    eval_s: float | None = None
    eval_spread_s: float | None = None
    repeats: int = 0
    number: int = 0


@dataclass(frozen=True)
class Outcome:
    """What one method produced; it knows nothing of the reference."""

    method: str
    status: str
    value: np.ndarray | None = None
    message: str | None = None
    timing: Timing | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reference:
    status: str                         # ok, undefined, not-differentiable, timeout, error
    value: np.ndarray | None = None     # float64 rounding of the exact value
    exact: Any = None                   # same shape as value, strings of `digits` digits
    message: str | None = None
    digits: int = 50
    time_s: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Graded:
    outcome: Outcome
    abs_error: float | None = None
    rel_error: float | None = None
    note: str | None = None
    component_rel_error: float | None = None   # worst component (zeros of the reference: norm-wise)

    @property
    def name(self) -> str:
        return self.outcome.method


@dataclass(frozen=True)
class Comparison:
    problem: Problem
    reference: Reference
    results: tuple[Graded, ...]
    warnings: tuple[str, ...] = ()

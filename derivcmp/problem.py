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

from .expr import Expr, Vector, outputs, to_text

OK = "ok"
UNDEFINED = "undefined"
NOT_DIFFERENTIABLE = "not-differentiable"
NOT_APPLICABLE = "not-applicable"
TIMEOUT = "timeout"
ERROR = "error"
#: a finite difference whose numerator is lost in rounding (f(x+h) == f(x-h) to the
#: last bits) while larger steps show the function changing: the value is not a derivative
UNRESOLVED = "unresolved"

#: the highest derivative order any method may be asked for (each method declares its own)
MAX_ORDER = 30


@dataclass(frozen=True)
class Problem:
    """An expression, the variables to differentiate by, a point, an order."""

    expr: Expr
    wrt: tuple[str, ...]
    point: Mapping[str, float]
    order: int = 1
    text: str = ""
    #: a fixed step for every stencil method (``--step``); None: each method's own rule
    step: float | None = None

    @property
    def vector(self) -> bool:
        """Whether the expression is a list ``[e1, ..., em]``: m outputs, a Jacobian."""
        return isinstance(self.expr, Vector)

    @property
    def outputs(self) -> tuple[Expr, ...]:
        """The output expressions (one for a scalar expression)."""
        return outputs(self.expr)

    def row(self, j: int) -> Problem:
        """Output ``j`` alone: the scalar problem whose gradient is row ``j`` of the Jacobian."""
        expr = self.outputs[j]
        return Problem(expr, self.wrt, self.point, self.order, to_text(expr), self.step)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the derivative: () scalar, (n,) gradient, (n, n) Hessian,
        (m, n) the Jacobian of m outputs (always two axes, even for m or n = 1)."""
        n = len(self.wrt)
        if self.vector:
            return (len(self.outputs), n)
        if n == 1:
            return ()
        return (n,) if self.order == 1 else (n, n)


@dataclass(frozen=True)
class Timing:
    setup_s: float
    eval_s: float | None = None
    eval_spread_s: float | None = None     # interquartile range of the runs
    repeats: int = 0                       # runs measured
    number: int = 0                        # calls per run
    mean_s: float | None = None
    std_s: float | None = None             # standard deviation of the runs
    min_s: float | None = None
    max_s: float | None = None
    warmup: int = 0                        # runs discarded before measuring


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
    grade: str | None = None            # exact / accurate / inaccurate / wrong (grading.py)
    #: a method's own error estimate (``details["error_estimate"]``) more than
    #: 10x below its true error; None where there is no estimate or no true error
    overconfident: bool | None = None
    component_rel_error: float | None = None   # worst component (zeros of the reference: norm-wise)

    @property
    def name(self) -> str:
        return self.outcome.method

    @property
    def message(self) -> str | None:
        """The method's own message and the grader's note, as one line."""
        return "; ".join(m for m in (self.outcome.message, self.note) if m) or None


@dataclass(frozen=True)
class Comparison:
    """The reference and every method's graded outcome for one problem.

    ``to_dict()`` is the ``derivcmp/2`` JSON document; ``to_frame()`` a pandas
    DataFrame, one row per method (``pip install 'derivcmp[pandas]'``).  In a
    terminal with rich, or in Jupyter, a comparison shows as a table.
    """

    problem: Problem
    reference: Reference
    results: tuple[Graded, ...]
    warnings: tuple[str, ...] = ()
    #: one evaluation of f itself at the point, timed like the methods: the
    #: baseline every method's cost is read against (None without timing)
    f_time: Timing | None = None

    def to_dict(self, timing: bool = True) -> dict[str, Any]:
        """The ``derivcmp/2`` document that ``derivcmp eval --format json`` prints."""
        from .report import document
        return document(self, timing)

    def to_frame(self, timing: bool = True):
        """A pandas DataFrame, one row per method, with the columns of the CSV output."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_frame needs pandas: pip install 'derivcmp[pandas]'") from None
        from .report.text import CSV_FIELDS, frame_rows
        return pd.DataFrame(frame_rows(self, timing), columns=CSV_FIELDS).set_index("method")

    @property
    def timed(self) -> bool:
        """Whether the methods were timed (``timing=True``)."""
        return any(g.outcome.timing is not None and g.outcome.timing.mean_s is not None for g in self.results)

    def __rich__(self):
        from .report.terminal import renderable
        return renderable(self, self.timed)

    def _repr_html_(self) -> str:
        from .report.text import to_html
        return to_html(self, self.timed)


@dataclass(frozen=True)
class GridOutcome:
    """What one method produced over every point of a grid (``backends.run_grid``).

    ``status`` is the run's as a whole (``ok`` once it ran; ``not-applicable``,
    ``error``, ``timeout`` for the whole grid); per point, ``values`` (nan where
    the point has no value) and ``statuses`` (``ok``, ``error``, ``unresolved``;
    grading turns an error where the reference has no derivative into
    ``undefined`` / ``not-differentiable``), with ``messages`` for the points
    that are not ``ok``.  ``eval_s``: the whole grid's evaluation time;
    ``vectorised``: whether the method evaluated the grid at once (else a loop).
    """

    method: str
    status: str
    values: np.ndarray | None = None
    statuses: np.ndarray | None = None
    messages: Mapping[int, str] = field(default_factory=dict)
    message: str | None = None
    setup_s: float | None = None
    eval_s: float | None = None
    vectorised: bool = False
    details: Mapping[str, Any] = field(default_factory=dict)

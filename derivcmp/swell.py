"""``derivcmp swell``: how large the n-th derivative grows, next to what AD records.

For n = 1..N the n-th derivative is differentiated once more from the
(n-1)-th, as ``sympy.diff`` writes it, and measured raw, after ``cse`` and
after ``simplify`` (each simplification under its own short deadline: a
``timeout`` cell, not a wait).  Beside it, every available method of the
automatic family that supports order n is prepared on the same problem and
its own details are read: ``tape_length`` (taped AD) and ``code`` (generated
code, counted in lines).  Sizes are ``symbolic_forms.size``: ``ops`` and
``depth``.

The whole run streams from a forked child (``deadline.stream``): rows arrive
as they are made, and at the deadline the child is killed and the rows so far
are the answer, with a note saying where it stopped.

Nothing here prints: ``report.swell`` renders a ``Swell``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import deadline, symbolic_forms
from .deadline import Crashed, Timeout
from .errors import DerivcmpError
from .expr import Expr, parse, variables
from .problem import Problem

SCHEMA = "derivcmp-swell/1"
MAX_ORDER = 50
TIMEOUT = "timeout"


@dataclass(frozen=True)
class Row:
    order: int
    raw: dict[str, int]
    cse: dict[str, int]
    #: sizes, or "timeout" when simplification overran its deadline
    simplified: dict[str, int] | str
    differentiate_s: float
    simplify_s: float
    #: per automatic method: {"tape_length": ..., "code_lines": ...} (what its details give)
    ad: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Swell:
    expression: str
    wrt: str
    max_order: int
    rows: tuple[Row, ...]
    #: None when every order was measured; otherwise why it stopped early
    stopped: str | None = None

    def document(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "expression": self.expression, "wrt": self.wrt,
                "max_order": self.max_order, "rows": [asdict(r) for r in self.rows], "stopped": self.stopped}


def run(expression: str, wrt: str | None, max_order: int, timeout: float | None = 30.0,
        simplify_timeout: float = 2.0) -> tuple[Swell, list[str]]:
    """``derivcmp swell``: parse ``expression``, choose the one variable, measure.

    ``wrt``: the variable (default: the expression's only one).  Returns the
    ``Swell`` and the warnings to show; bad input raises ``DerivcmpError``.
    """
    from .compare import parse_wrt
    if not isinstance(max_order, int) or not 1 <= max_order <= MAX_ORDER:
        raise DerivcmpError(f"--max-order must be between 1 and {MAX_ORDER}, got {max_order!r}")
    expr = parse(expression)
    names = variables(expr)
    if wrt is None:
        if len(names) != 1:
            raise DerivcmpError("swell needs --wrt: the expression has "
                                + (f"{len(names)} variables ({', '.join(names)})" if names else "no variables"))
        wrt = names[0]
    chosen = parse_wrt(wrt)
    if len(chosen) != 1:
        raise DerivcmpError(f"swell measures derivatives by one variable; --wrt gave {len(chosen)}")
    warnings = []
    if chosen[0] not in names:
        warnings.append(f"warning: '{chosen[0]}' does not occur in the expression, so every derivative is 0")
    return measure(expr, expression, chosen[0], max_order, timeout or None, simplify_timeout), warnings


def measure(expr: Expr, text: str, wrt: str, max_order: int, timeout: float | None,
            simplify_timeout: float) -> Swell:
    """Every order up to ``max_order``, or as many as finish within ``timeout`` seconds."""
    rows: list[Row] = []
    stopped = None
    for item in deadline.stream(lambda: _rows(expr, wrt, max_order, simplify_timeout), timeout):
        if isinstance(item, Timeout):
            stopped = (f"stopped at the deadline ({item.seconds:g} s) after order {len(rows)}; "
                       "raise --timeout to go further")
        elif isinstance(item, Crashed):
            stopped = f"stopped after order {len(rows)}: {item.message}"
        else:
            rows.append(item)
    return Swell(text, wrt, max_order, tuple(rows), stopped)


def _rows(expr: Expr, wrt: str, max_order: int, simplify_timeout: float) -> Iterator[Row]:
    import sympy

    from . import sympy_bridge
    names = variables(expr)
    safe = sympy_bridge.safe_names(names + ([wrt] if wrt not in names else []))
    x = sympy_bridge.symbol(safe[wrt])
    current = sympy_bridge.to_sympy(expr, rename=safe)
    automatic = _automatic_methods()
    point = {n: 0.5 for n in safe}
    for order in range(1, max_order + 1):
        t = time.perf_counter()
        current = sympy_bridge.without_dirac(sympy.diff(current, x))
        differentiate_s = time.perf_counter() - t
        t = time.perf_counter()
        got = deadline.call(lambda d=current: symbolic_forms.simplify_all([d]), simplify_timeout,
                            reraise=False)
        simplify_s = time.perf_counter() - t
        simplified = (symbolic_forms.size(got) if isinstance(got, list) else TIMEOUT)
        problem = Problem(expr, (wrt,), point, order)
        yield Row(order, symbolic_forms.size(current), symbolic_forms.cse_size(*symbolic_forms.cse([current])),
                  simplified, differentiate_s, simplify_s, _ad_sizes(automatic, problem))


def _automatic_methods() -> list:
    from .backends.base import entries
    return [e.backend for e in entries().values() if e.family == "automatic" and e.available]


def _ad_sizes(methods: list, problem: Problem) -> dict[str, dict[str, int]]:
    """What each AD method's own details say about its size at this order."""
    out: dict[str, dict[str, int]] = {}
    for m in methods:
        if m.supports(problem):
            continue
        try:
            details = m.prepare(problem).details
        except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError):
            continue
        sizes = {}
        if isinstance(details.get("tape_length"), int):
            sizes["tape_length"] = details["tape_length"]
        if isinstance(details.get("code"), str):
            sizes["code_lines"] = len(details["code"].splitlines())
        if sizes:
            out[m.name] = sizes
    return out

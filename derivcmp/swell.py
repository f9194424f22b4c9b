"""``derivcmp swell``: how large the n-th derivative grows, next to what AD records.

For n = 1..N the n-th derivative is differentiated once more from the
(n-1)-th, as ``sympy.diff`` writes it, and measured raw, after ``cse`` and
after ``simplify`` (each simplification under its own short deadline: a
``timeout`` cell, not a wait).  Beside it, every available method of the
automatic family that supports order n is prepared on the same problem and
its own details are read: ``tape_length`` (taped AD) and ``code`` (generated
code, counted in lines).  Sizes are ``symbolic_forms.size``: ``ops`` and
``depth``.

The whole run streams from a forked child (``forked.stream``): rows arrive as
they are made, and at the deadline the child is killed and the rows so far
are the answer, with a note saying where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from . import forked, symbolic_forms
from .deadline import Crashed, Timeout
from .expr import Expr, variables
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


def measure(expr: Expr, text: str, wrt: str, max_order: int, timeout: float | None,
            simplify_timeout: float) -> Swell:
    """Every order up to ``max_order``, or as many as finish within ``timeout`` seconds."""
    rows: list[Row] = []
    stopped = None
    for item in forked.stream(lambda: _rows(expr, wrt, max_order, simplify_timeout), timeout):
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
        got = forked.call(lambda d=current: symbolic_forms.simplify_all([d]), simplify_timeout)
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


# --- output -------------------------------------------------------------------------

def columns(s: Swell) -> list[tuple[str, list[Any]]]:
    """(header, values) per column: the table, the CSV and the chart share them."""
    rows = s.rows

    def simp(r: Row, key: str):
        return r.simplified if isinstance(r.simplified, str) else r.simplified[key]
    cols: list[tuple[str, list[Any]]] = [
        ("order", [r.order for r in rows]),
        ("raw ops", [r.raw["ops"] for r in rows]), ("raw depth", [r.raw["depth"] for r in rows]),
        ("cse ops", [r.cse["ops"] for r in rows]), ("cse depth", [r.cse["depth"] for r in rows]),
        ("simplified ops", [simp(r, "ops") for r in rows]),
        ("simplified depth", [simp(r, "depth") for r in rows]),
    ]
    methods = list(dict.fromkeys(m for r in rows for m in r.ad))
    for m in methods:
        for key, label in (("tape_length", "tape"), ("code_lines", "code lines")):
            values = [r.ad.get(m, {}).get(key) for r in rows]
            if any(v is not None for v in values):
                cols.append((f"{m} {label}", values))
    cols.append(("diff time", [r.differentiate_s for r in rows]))
    return cols


def to_csv(s: Swell) -> str:
    import csv
    import io
    cols = columns(s)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([h.replace(" ", "_") for h, _ in cols])
    for i in range(len(s.rows)):
        w.writerow(["" if v[i] is None else v[i] for _, v in cols])
    return buf.getvalue()


def chart(s: Swell, width: int = 72, height: int = 18, color: bool = False) -> str:
    """A terminal chart (plotext) of operation counts against order, log scale."""
    import plotext as plt
    plt.clear_figure()
    plt.plotsize(width, height)
    if not color:
        plt.theme("clear")
    cols = columns(s)
    series = [(h, v) for h, v in cols
              if h in ("raw ops", "cse ops", "simplified ops") or h.endswith((" tape", " code lines"))]
    # one letter per series, so the lines stay apart without colour
    for (header, values), marker in zip(series, "rcsabdefg"):
        pts = [(o, v) for o, v in zip(cols[0][1], values) if isinstance(v, int) and v > 0]
        if pts:
            plt.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{marker}: {header}", marker=marker)
    plt.yscale("log")
    plt.xlabel("derivative order")
    plt.title("size of the n-th derivative (operations, log scale)")
    plt.xticks([r.order for r in s.rows])
    return plt.build()

"""Reporters turn a ``Comparison`` into text; they never compute a value.

``document`` builds the ``derivcmp/2`` JSON document (DESIGN.md, "JSON output
(spec)"); ``rows`` the flat per-method rows that the table, CSV and Markdown
reporters share.  Number formatting lives here so every format agrees.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from ..grading import correct_digits
from ..problem import Comparison, Graded, Reference, Timing

SCHEMA = "derivcmp/2"


def finite_or_none(x: Any) -> Any:
    """Floats as JSON numbers, non-finite as null, arrays as (nested) lists."""
    if x is None:
        return None
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return finite_or_none(float(x))
        return [finite_or_none(v) for v in x]
    if isinstance(x, (list, tuple)):
        return [finite_or_none(v) for v in x]
    x = float(x)
    return x if math.isfinite(x) else None


def reference_document(ref: Reference) -> dict[str, Any]:
    return {"value": finite_or_none(ref.value), "digits": ref.digits, "exact": ref.exact,
            "status": ref.status, "message": ref.message}


def method_document(g: Graded, timing: bool = True, f_time: Timing | None = None) -> dict[str, Any]:
    o = g.outcome
    t = o.timing
    time = None
    if timing and t is not None:
        time = {"setup_s": t.setup_s, "eval_s": t.eval_s, "eval_spread_s": t.eval_spread_s,
                "repeats": t.repeats, "mean_s": t.mean_s, "std_s": t.std_s, "min_s": t.min_s,
                "max_s": t.max_s, "runs": t.repeats, "warmup": t.warmup, "eval_over_f": f_multiple(t, f_time)}
    return {"name": o.method, "status": o.status, "grade": g.grade, "message": message(g),
            "value": finite_or_none(o.value), "abs_error": finite_or_none(g.abs_error),
            "rel_error": finite_or_none(g.rel_error),
            "component_rel_error": finite_or_none(g.component_rel_error), "time": time,
            "details": _jsonable(dict(o.details))}


def document(c: Comparison, timing: bool = True) -> dict[str, Any]:
    p = c.problem
    return {"schema": SCHEMA, "expression": p.text, "wrt": list(p.wrt), "order": p.order,
            "at": shown_point(p),
            "reference": reference_document(c.reference),
            "f": _f_document(c.f_time) if timing else None,
            "methods": [method_document(g, timing, c.f_time) for g in c.results]}


def _f_document(t: Timing | None) -> dict[str, Any] | None:
    if t is None or t.eval_s is None:
        return None
    return {"eval_s": t.eval_s, "eval_spread_s": t.eval_spread_s, "repeats": t.repeats}


def f_multiple(t: Timing | None, f_time: Timing | None) -> float | None:
    """A method's evaluation time as a multiple of one evaluation of f."""
    if t is None or t.eval_s is None or f_time is None or not f_time.eval_s:
        return None
    return t.eval_s / f_time.eval_s


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return finite_or_none(x)
    if isinstance(x, np.integer):
        return int(x)
    return x


# --- shared text formatting ----------------------------------------------------

def fmt_value(v: Any, sep: str = ", ") -> str:
    """Shortest round-trip repr for scalars; lists for gradients; rows for Hessians."""
    if v is None:
        return "-"
    a = np.asarray(v, dtype=float)
    if a.ndim == 0:
        return _num(float(a))
    if a.ndim == 1:
        return "[" + sep.join(_num(float(x)) for x in a) + "]"
    return "[" + sep.join(fmt_value(row, sep) for row in a) + "]"


def _num(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def fmt_error(x: float | None) -> str:
    if x is None:
        return "-"
    return "0" if x == 0 else f"{x:.2e}"


def fmt_estimate(g: Graded) -> str:
    """A method's own absolute error estimate (finite differences), ``!`` when overconfident."""
    est = (g.outcome.details or {}).get("error_estimate")
    if est is None:
        return "-"
    return fmt_error(float(est)) + (" !" if g.overconfident else "")


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= scale or unit == "ns":
            return f"{s / scale:.3g} {unit}"
    return f"{s:.3g} s"  # pragma: no cover


def fmt_exact(exact: Any) -> str:
    if exact is None:
        return "-"
    if isinstance(exact, list):
        return "[" + ", ".join(fmt_exact(e) for e in exact) + "]"
    return str(exact)


def rows(c: Comparison, timing: bool = True) -> list[dict[str, str]]:
    """One flat row of strings per method, for table, CSV and Markdown."""
    out = []
    for g in c.results:
        o = g.outcome
        t = o.timing if timing else None
        digits = correct_digits(g.rel_error)
        out.append({
            "method": o.method,
            "status": o.status,
            "grade": g.grade or "",
            "verdict": o.status if o.status != "ok" or g.grade is None else g.grade,
            "value": fmt_value(o.value),
            "abs_error": fmt_error(g.abs_error),
            "rel_error": fmt_error(g.rel_error),
            "estimate": fmt_estimate(g),
            "digits": "-" if digits is None else f"{digits:.1f}",
            "setup": fmt_time(t.setup_s) if t else "-",
            "eval": (f"{fmt_time(t.mean_s)} ± {fmt_time(t.std_s)}"
                     if t and t.mean_s is not None else "-"),
            "message": message(g) or "",
        })
    return out


def csv_number(x: Any) -> str:
    """A CSV cell: the float's repr, or empty for None."""
    return "" if x is None else repr(float(x))


def csv_json(x: Any) -> str:
    """A CSV cell for a value that may be a list (gradient, Hessian): JSON for
    lists, the number or string itself otherwise, empty for None."""
    if isinstance(x, list):
        return json.dumps(x)
    if x is None:
        return ""
    return x if isinstance(x, str) else csv_number(x)


def message(g: Graded) -> str | None:
    """The method's own message and the grader's note, as one line (``Graded.message``)."""
    return g.message


def heading(c: Comparison) -> str:
    return heading_for(c.problem)


def heading_for(p) -> str:
    """``d/dx of EXPR at x=1.0`` for a problem."""
    wrt = ", ".join(p.wrt)
    if len(p.wrt) == 1:
        what = f"d{'' if p.order == 1 else p.order}/d{wrt}{'' if p.order == 1 else '^' + str(p.order)}"
    else:
        what = ("gradient" if p.order == 1 else "Hessian") + f" wrt ({wrt})"
    at = ", ".join(f"{k}={_num(float(v))}" for k, v in shown_point(p).items())
    # one line whatever the user typed: tabs and newlines are spaces here
    return f"{what} of {' '.join(p.text.split())}" + (f" at {at}" if at else "")


def shown_point(p) -> dict[str, float]:
    """The point as the user gave it: a --wrt variable that the expression does
    not use gets a value internally (its derivative is 0), but it is no input."""
    from ..expr import variables
    used = set(variables(p.expr))
    return {k: float(v) for k, v in p.point.items() if k in used}

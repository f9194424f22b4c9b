"""The library entry point: build a problem, run the methods, grade them.

``compare_text("sin(x)", wrt="x", at="x=1")`` is what ``derivcmp eval`` does
minus the printing.  Errors are computed here, in 60-digit arithmetic,
between each method's float value and the reference's exact digits; the
backends never see the reference.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import mpmath
import numpy as np

from . import backends, deadline
from .backends import base as backends_base
from .errors import DerivcmpError, ParseError
from .expr import Expr, parse, variables
from .problem import (
    ERROR,
    MAX_ORDER,
    NOT_DIFFERENTIABLE,
    OK,
    TIMEOUT,
    UNDEFINED,
    Comparison,
    Graded,
    Outcome,
    Problem,
    Reference,
)
from .program import compile_program
from .reference import compute_reference

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def parse_wrt(text: str | Sequence[str]) -> tuple[str, ...]:
    parts = [p.strip() for p in (text.split(",") if isinstance(text, str) else text)]
    if not parts or any(not p for p in parts):
        raise DerivcmpError(f"--wrt: malformed list {text!r}; expected names like 'w' or 'w,x'")
    for p in parts:
        if not _NAME.match(p):
            raise DerivcmpError(f"--wrt: {p!r} is not a variable name")
        if p in ("pi", "e"):
            raise DerivcmpError(f"--wrt: {p!r} is a constant, not a variable")
    dup = sorted({p for p in parts if parts.count(p) > 1})
    if dup:
        raise DerivcmpError(f"--wrt: {', '.join(dup)} given more than once")
    return tuple(parts)


def parse_at(text: str | Mapping[str, float]) -> dict[str, float]:
    """``"w=2,x=3"`` (values may be constant expressions: ``x=pi/4``)."""
    if not isinstance(text, str):
        out = {}
        for k, v in text.items():
            if not isinstance(k, str) or not _NAME.match(k):
                raise DerivcmpError(f"--at: {k!r} is not a variable name")
            out[k] = _constant_value(k, v.strip()) if isinstance(v, str) else _as_float(k, v)
        return out
    out: dict[str, float] = {}
    if not text.strip():
        return out
    for item in _split_top_level(text):
        if not item.strip():
            raise DerivcmpError(f"--at: empty item in {text!r} (a stray comma?)")
        if "=" not in item:
            raise DerivcmpError(f"--at: expected name=value, got {item.strip()!r} (e.g. --at w=2,x=3)")
        name, _, value = item.partition("=")
        name = name.strip()
        if not _NAME.match(name):
            raise DerivcmpError(f"--at: {name!r} is not a variable name (in {item.strip()!r})")
        if name in out:
            raise DerivcmpError(f"--at: {name!r} is given more than once")
        out[name] = _constant_value(name, value.strip())
    return out


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += (ch == "(") - (ch == ")")
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def _constant_value(name: str, text: str) -> float:
    if not text:
        raise DerivcmpError(f"--at: no value given for {name!r}")
    # always the expression language's own grammar: 1e-400, 1_0 and fullwidth
    # digits are rejected here exactly as in an expression
    try:
        expr = parse(text)
    except ParseError as err:
        rendered = err.render()
        raise DerivcmpError(rendered.replace("error: ", f"error: --at {name}=...: ", 1)) from None
    if variables(expr):
        raise DerivcmpError(f"--at: the value of {name!r} must be a number or a constant expression, "
                            f"not {text!r}")
    with np.errstate(all="ignore"):
        value = float(compile_program(expr).evaluate({}))
    return _as_float(name, value)


def _as_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DerivcmpError(f"--at: the value of {name!r} is not a number ({value!r})") from None
    if not math.isfinite(v):
        raise DerivcmpError(f"--at: the value of {name!r} must be finite, got {v}")
    return v


def make_problem(text_or_expr: str | Expr, wrt: str | Sequence[str] | None = None,
                 at: str | Mapping[str, float] | None = None, order: int = 1,
                 source: str | None = None) -> tuple[Problem, list[str]]:
    """Validate everything a user gave; return the problem and any warnings."""
    if isinstance(text_or_expr, str):
        expr = parse(text_or_expr, source=source)
        text = text_or_expr
    else:
        expr = text_or_expr
        from .expr import to_text
        text = to_text(expr)
    names = variables(expr)
    warnings: list[str] = []
    if wrt is None or (isinstance(wrt, str) and not wrt.strip()):
        if not names:
            raise DerivcmpError("the expression has no variables; give --wrt to name one")
        wrt_t = tuple(names)
    else:
        wrt_t = parse_wrt(wrt)
    point = parse_at(at or {})
    missing = [n for n in names if n not in point]
    if missing:
        example = ",".join(f"{n}=..." for n in missing)
        raise DerivcmpError(f"no value for variable{'s' if len(missing) > 1 else ''} "
                            f"{', '.join(repr(m) for m in missing)}; give {'them' if len(missing) > 1 else 'it'} "
                            f"with --at {example}")
    absent = [n for n in wrt_t if n not in names]
    if absent:
        shown = ", ".join(f"'{n}'" for n in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        one = len(absent) == 1
        warnings.append(f"warning: {shown} {'does' if one else 'do'} not occur in the expression, so "
                        f"{'its derivative is' if one else 'their derivatives are'} 0 (a typo?)")
        for n in absent:
            point.setdefault(n, 0.0)
    unused = [n for n in point if n not in names and n not in wrt_t]
    if unused:
        warnings.append(f"warning: --at gives {', '.join(repr(u) for u in unused)}, "
                        "which the expression does not use")
    if not isinstance(order, int) or order < 1:
        raise DerivcmpError(f"--order must be a positive integer, got {order!r}")
    if order > MAX_ORDER:
        raise DerivcmpError(f"--order {order} is too high (the limit is {MAX_ORDER})")
    if order > 2 and len(wrt_t) > 1:
        raise DerivcmpError(f"--order {order} needs a single --wrt variable (orders above 2 "
                            "are supported for one variable only)")
    point = {n: point[n] for n in list(names) + [w for w in wrt_t if w not in names]}
    return Problem(expr, wrt_t, point, order, text), warnings


def select_methods(methods: str | Iterable[str] | None) -> backends_base.Selection:
    """Names, families (``finite-difference``) or ``all``; None for the defaults.

    Methods this installation cannot run are left out with a note each."""
    try:
        return backends_base.select(methods)
    except ValueError as err:
        raise DerivcmpError(f"--methods: {err}") from None


def resolve_methods(methods: str | Iterable[str] | None) -> list[str]:
    """``select_methods`` without the notes."""
    return list(select_methods(methods).names)


def compare(problem: Problem, methods: Sequence[str] | None = None, timing: bool = True,
            warnings: Sequence[str] = (), timeout: float | None = None) -> Comparison:
    """Reference and methods for one problem.

    With ``timeout`` (seconds), the reference and each method run in a child
    process under that deadline; one that overruns reports ``timeout``.
    """
    names = resolve_methods(methods)
    reference = reference_with_deadline(problem, timeout)
    reg = backends.registry()
    results = tuple(grade(reference, run_with_deadline(reg[m], problem, timing, timeout), problem)
                    for m in names)
    return Comparison(problem, reference, results, tuple(warnings))


def reference_with_deadline(problem: Problem, timeout: float | None) -> Reference:
    start = time.perf_counter()
    got = deadline.call(lambda: compute_reference(problem), timeout)
    if isinstance(got, deadline.Timeout):
        return Reference(TIMEOUT, message=f"the reference gave up after {got.seconds:g} s "
                         "(raise --timeout to wait longer); the methods are shown ungraded",
                         time_s=time.perf_counter() - start)
    if isinstance(got, deadline.Crashed):
        return Reference(ERROR, message=f"the reference failed: {got.message}",
                         time_s=time.perf_counter() - start)
    return got


def run_with_deadline(backend, problem: Problem, timing: bool, timeout: float | None) -> Outcome:
    try:
        got = deadline.call(lambda: backends.run(backend, problem, timing), timeout)
    except KeyError as err:
        if "ComplexInfinity" not in str(err):
            raise
        # sympy's formula is complex infinity (x/0, tan(pi/2)): lambdify has no
        # printer for it; the method has no value here
        return Outcome(backend.name, UNDEFINED, message="the formula is infinite here "
                       "(sympy's complex infinity)")
    except RecursionError:
        return Outcome(backend.name, ERROR, message="limit: the expression is nested too deeply "
                       "for this method")
    if isinstance(got, deadline.Timeout):
        return Outcome(backend.name, TIMEOUT, message=f"gave up after {got.seconds:g} s")
    if isinstance(got, deadline.Crashed):
        return Outcome(backend.name, ERROR, message=got.message)
    return got


def compare_text(text: str, wrt=None, at=None, order: int = 1, methods=None,
                 timing: bool = True, timeout: float | None = None) -> Comparison:
    problem, warnings = make_problem(text, wrt, at, order)
    return compare(problem, methods, timing, warnings, timeout)


def grade(reference: Reference, outcome: Outcome, problem: Problem | None = None) -> Graded:
    """Errors of one outcome against the reference, in 60-digit arithmetic."""
    if reference.status == OK:
        if outcome.status != OK:
            return Graded(outcome)
        abs_err, rel_err = errors(outcome.value, reference.exact)
        comp = component_error(outcome.value, reference.exact)
        note = _ok_note(reference)
        if comp > 10 * rel_err and comp > 1e-12:
            hidden = (f"worst component rel error {comp:.2e}: the norm-wise error hides a "
                      "component far less accurate than the largest")
            note = f"{note}; {hidden}" if note else hidden
        return Graded(outcome, abs_err, rel_err, note=note, component_rel_error=comp)
    if reference.status in (UNDEFINED, NOT_DIFFERENTIABLE) and outcome.status in (OK, ERROR):
        if outcome.status == OK:
            entry = backends_base.entries().get(outcome.method)
            convention = getattr(entry.backend, "convention", None) if entry else None
            msg = ("no derivative here; the value is the method's convention"
                   if reference.status == NOT_DIFFERENTIABLE else
                   f"no derivative here ({_first_clause(reference.message)}); "
                   "the value is not a derivative")
            if convention and reference.status == NOT_DIFFERENTIABLE:
                msg += f": {convention}"
        else:
            msg = outcome.message
        return Graded(replace(outcome, status=reference.status, message=msg))
    return Graded(outcome, note=f"reference {reference.status}")


def _first_clause(message: str | None) -> str:
    text = (message or "undefined").split(": ")[0]
    return text if len(text) <= 80 else text[:77] + "..."


def _ok_note(reference: Reference) -> str | None:
    """What to keep in mind when reading an error against this reference."""
    notes = []
    kinks = (reference.details or {}).get("kinks")
    if kinks:
        notes.append(f"kink here ({_first_clause(kinks[0])}) but the derivative exists; "
                     "chain-rule methods may apply their kink convention")
    exact = [mpmath.mpf(s) for s in _flatten(reference.exact)] if reference.exact is not None else []
    if any(0 < abs(v) < TINY for v in exact):
        notes.append("the true value is below float64's normal range (2.2e-308), "
                     "so a float result keeps few or no digits")
    return "; ".join(notes) or None


TINY = float(np.finfo(float).tiny)


def errors(value, exact) -> tuple[float, float]:
    with mpmath.workdps(60):
        vals = np.ravel(np.asarray(value, dtype=float))
        refs = [mpmath.mpf(s) for s in _flatten(exact)]
        abs_err = max((abs(mpmath.mpf(float(v)) - r) for v, r in zip(vals, refs)), default=mpmath.mpf(0))
        scale = max((abs(r) for r in refs), default=mpmath.mpf(0))
        rel_err = abs_err / scale if scale != 0 else abs_err
        return float(abs_err), float(rel_err)


def component_error(value, exact) -> float:
    """The worst component-wise relative error, in 60-digit arithmetic.

    Each component is measured against its own reference value, so a small
    gradient entry computed badly is not hidden by a large one.  A component
    that is exactly 0 in the reference has no relative error of its own: it is
    measured against the max-norm of the reference (the norm-wise floor).
    """
    with mpmath.workdps(60):
        vals = np.ravel(np.asarray(value, dtype=float))
        refs = [mpmath.mpf(s) for s in _flatten(exact)]
        scale = max((abs(r) for r in refs), default=mpmath.mpf(0))
        worst = mpmath.mpf(0)
        for v, r in zip(vals, refs):
            err = abs(mpmath.mpf(float(v)) - r)
            floor = abs(r) if r != 0 else scale
            worst = max(worst, err / floor if floor != 0 else err)
        return float(worst)


def _flatten(x):
    if isinstance(x, list):
        for item in x:
            yield from _flatten(item)
    else:
        yield x


__all__ = [
    "TIMEOUT",
    "compare",
    "compare_text",
    "component_error",
    "errors",
    "grade",
    "make_problem",
    "parse_at",
    "parse_wrt",
    "resolve_methods",
]

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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from . import backends, deadline
from .backends import base as backends_base
from .errors import DerivcmpError, ParseError
from .expr import Expr, Vector, parse, to_text, variables
from .grading import INACCURATE, WRONG, grade_of
from .problem import (
    ERROR,
    MAX_ORDER,
    NOT_DIFFERENTIABLE,
    OK,
    TIMEOUT,
    UNDEFINED,
    UNRESOLVED,
    Comparison,
    Graded,
    Outcome,
    Problem,
    Reference,
    Timing,
)
from .program import compile_program

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
    dup = sorted(p for p, k in Counter(parts).items() if k > 1)
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
        if name in _CONSTANTS:
            raise DerivcmpError(f"--at: {name!r} is the constant {name} ({_CONSTANTS[name]}) in expressions, "
                                "not a variable; give the variable another name")
        if name in out:
            raise DerivcmpError(f"--at: {name!r} is given more than once")
        out[name] = _constant_value(name, value.strip())
    return out


_CONSTANTS = {"e": "2.71828…", "pi": "3.14159…"}


def _split_top_level(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        depth += (ch in "([") - (ch in ")]")     # a list x=[1,2,5] is one item
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
                 source: str | None = None, step: float | None = None) -> tuple[Problem, list[str]]:
    """Validate everything a user gave; return the problem and any warnings.

    Arguments as in ``compare_text``; raises ``DerivcmpError`` (``ParseError``
    for the expression, with its column) on bad input.  ``step``: one fixed step
    for every stencil method (``--step``); None for each method's own rule.
    """
    if isinstance(text_or_expr, str):
        expr = parse(text_or_expr, source=source)
        text = text_or_expr
    else:
        expr = text_or_expr
        text = to_text(expr)
    # sets beside the ordered lists: every test below is linear in the size
    names = variables(expr)
    name_set = set(names)
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
    absent = [n for n in wrt_t if n not in name_set]
    if absent:
        shown = ", ".join(f"'{n}'" for n in absent[:5]) + (f" and {len(absent) - 5} more" if len(absent) > 5 else "")
        one = len(absent) == 1
        warnings.append(f"warning: {shown} {'does' if one else 'do'} not occur in the expression, so "
                        f"{'its derivative is' if one else 'their derivatives are'} 0 (a typo?)")
        for n in absent:
            point.setdefault(n, 0.0)
    wrt_set = set(wrt_t)
    unused = [n for n in point if n not in name_set and n not in wrt_set]
    if unused:
        warnings.append(f"warning: --at gives {', '.join(repr(u) for u in unused)}, "
                        "which the expression does not use")
    if not isinstance(order, int) or order < 1:
        raise DerivcmpError(f"--order must be a positive integer, got {order!r}")
    if order > MAX_ORDER:
        raise DerivcmpError(f"--order {order} is too high (the limit is {MAX_ORDER})")
    if order != 1 and isinstance(expr, Vector):
        raise DerivcmpError(f"--order {order}: a vector-valued expression [...] has a Jacobian "
                            "(order 1) only; differentiate one output at a time for higher orders")
    if order > 2 and len(wrt_t) > 1:
        raise DerivcmpError(f"--order {order} needs a single --wrt variable (orders above 2 "
                            "are supported for one variable only)")
    point = {n: point[n] for n in names + absent}
    if step is not None:
        step = check_step(step)
    return Problem(expr, wrt_t, point, order, text, step), warnings


def scalar_only(problem_or_expr: Problem | Expr, command: str) -> None:
    """Refuse a vector-valued expression in a command that handles one output only."""
    expr = problem_or_expr.expr if isinstance(problem_or_expr, Problem) else problem_or_expr
    if isinstance(expr, Vector):
        raise DerivcmpError(f"{command} takes a scalar expression; a list [...] of outputs "
                            "is for eval, check and batch (its Jacobian)")


def check_step(step) -> float:
    """A finite-difference step: a positive finite number."""
    try:
        h = float(step)
    except (TypeError, ValueError):
        raise DerivcmpError(f"--step: {step!r} is not a number") from None
    if not math.isfinite(h) or h <= 0:
        raise DerivcmpError(f"--step must be a positive finite number, got {step!r}")
    return h


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


#: seconds the reference and each method may take, in the library as on the command line
DEFAULT_TIMEOUT = 10.0


def compare(problem: Problem, methods: str | Sequence[str] | None = None, timing: bool = True,
            warnings: Sequence[str] = (), timeout: float | None = DEFAULT_TIMEOUT,
            show: str | None = None) -> Comparison:
    """Compute the reference and run every method on one problem; grade each.

    ``problem`` comes from ``make_problem``.  ``methods``: names, families
    (``"finite-difference"``) or ``"all"``, as a list or a comma-separated
    string; ``None`` for the default methods.  ``timing``: time setup and
    evaluation (``False`` for values and errors only).  ``timeout``: seconds
    the reference and each method may take, each in a forked child process
    (the CLI's default, 10 s); ``None`` or 0 runs everything in this process
    without a limit.  Returns a ``Comparison``: ``.reference``, ``.results``
    (one ``Graded`` per method: ``.outcome``, ``.rel_error``, ``.grade``),
    ``.to_dict()``, ``.to_frame()``; in a notebook it shows as a table.
    ``show`` (``backends.SHOW_FORMS``) asks each method for its derivative as text.
    """
    timeout = timeout or None
    names = resolve_methods(methods)
    reference = reference_with_deadline(problem, timeout)
    reg = backends.registry()
    results = tuple(grade(reference, symmetric(run_with_deadline(reg[m], problem, timing, timeout, show), problem),
                          problem)
                    for m in names)
    f_time = None
    if timing:
        got = deadline.call(lambda: backends.time_function(problem), timeout)
        f_time = got if isinstance(got, Timing) else None
    return Comparison(problem, reference, results, tuple(warnings), f_time)


_WARM: set[str] = set()


def warm_up(methods: Sequence[str] = ()) -> None:
    """Pay the first-use costs of a run once, in this process, before forking.

    With a timeout, ``compare`` runs the reference and every method in a child
    forked per stage; what the parent has imported and initialised (sympy, its
    lambdify printers and module namespaces, mpmath, NumPy's lazily loaded
    parts) each child shares for free, where each child would otherwise redo
    it and count it as its own setup time.  So the reference and each method
    solve a tiny problem here, once per process.  ``derivcmp eval`` calls
    this; batch workers fork from a server that has imported sympy already.
    A failure here only costs the speed-up.
    """
    if not deadline.can_fork():
        return
    tiny = Problem(parse("exp(x)*sin(x) + x^2/2"), ("x",), {"x": 0.5}, 1, "warm-up")
    reg = backends.registry()
    todo = [("reference", lambda: compute_reference(tiny))]
    # not the framework peers: JAX and TensorFlow start threads, and a child forked
    # from a process with threads may deadlock; they pay their start-up in the child
    todo += [(m, lambda m=m: backends.run(reg[m], tiny, timing=False)) for m in methods
             if m in reg and getattr(reg[m], "family", None) != "peer"]
    for name, fn in todo:
        if name in _WARM:
            continue
        _WARM.add(name)
        try:
            with np.errstate(all="ignore"):
                fn()
        except Exception:  # noqa: BLE001, S112 - an optimisation must never fail a run
            continue


def compute_reference(problem: Problem) -> Reference:
    """``reference.compute_reference``, which imports sympy: only once a run needs it."""
    from . import reference
    return reference.compute_reference(problem)


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


def run_with_deadline(backend, problem: Problem, timing: bool, timeout: float | None,
                      show: str | None = None) -> Outcome:
    got, failed = call_method(backend, lambda: backends.run(backend, problem, timing, show), timeout)
    return Outcome(backend.name, failed[0], message=failed[1]) if failed else got


def call_method(backend, fn, timeout: float | None) -> tuple[object, tuple[str, str] | None]:
    """``fn()`` (a run of ``backend``: one point or a grid) under the deadline: its
    result and None, or None and the (status, message) of its failure."""
    forkable = getattr(backend, "forkable", None)
    if forkable is not None and not forkable():
        # a framework whose runtime this process has started already and that does not
        # survive a fork (a forked child hangs in TensorFlow): here, without a deadline
        timeout = None
    try:
        got = deadline.call(fn, timeout)
    except KeyError as err:
        if "ComplexInfinity" not in str(err):
            raise
        # sympy's formula is complex infinity (x/0, tan(pi/2)): lambdify has no
        # printer for it; the method has no value here
        return None, (UNDEFINED, "the formula is infinite here (sympy's complex infinity)")
    except RecursionError:
        return None, (ERROR, "limit: the expression is nested too deeply for this method")
    if isinstance(got, deadline.Timeout):
        return None, (TIMEOUT, f"gave up after {got.seconds:g} s")
    if isinstance(got, deadline.Crashed):
        return None, (ERROR, got.message)
    return got, None


def compare_text(text: str, wrt: str | Sequence[str] | None = None,
                 at: str | Mapping[str, float] | None = None, order: int = 1,
                 methods: str | Sequence[str] | None = None, timing: bool = True,
                 timeout: float | None = DEFAULT_TIMEOUT, show: str | None = None,
                 step: float | None = None) -> Comparison:
    """What ``derivcmp eval`` does, minus the printing.

    >>> c = compare_text("sin(x)*y", wrt="x", at={"x": 1.0, "y": 2.0}, timing=False)
    >>> c.reference.exact[:12]
    '1.0806046117'

    ``wrt``: ``"x"``, ``"x,y"`` or a list (default: every variable); ``at``:
    ``"x=1,y=2"`` or a dict (values may be constant expressions, ``"pi/4"``);
    ``order``: 1 and up.  ``methods``, ``timing``, ``timeout`` and ``show`` as in
    ``compare``; ``step`` as in ``make_problem``.  Bad input raises ``DerivcmpError`` with the CLI's message.
    """
    problem, warnings = make_problem(text, wrt, at, order, step=step)
    return compare(problem, methods, timing, warnings, timeout, show)


def symmetric(outcome: Outcome, problem: Problem) -> Outcome:
    """A Hessian whose two halves differ only by rounding is made exactly symmetric.

    The true Hessian is symmetric; a method that computes H[i, j] and H[j, i]
    along different paths (reverse-over-reverse) may round them differently in
    the last bits.  A larger asymmetry is left alone: it is a finding.
    """
    v = outcome.value
    if outcome.status != OK or problem.order != 2 or not isinstance(v, np.ndarray) or v.ndim != 2:
        return outcome
    with np.errstate(all="ignore"):
        gap = np.abs(v - v.T)
        if not np.all(np.isfinite(v)) or not np.all(gap <= 8 * EPS * np.maximum(np.abs(v), np.abs(v.T))):
            return outcome
        return replace(outcome, value=0.5 * (v + v.T))


EPS = float(np.finfo(float).eps)


def grade(reference: Reference, outcome: Outcome, problem: Problem | None = None) -> Graded:
    """Errors of one outcome against the reference, in 60-digit arithmetic, and its grade."""
    if problem is not None and problem.vector and reference.status == OK and outcome.status in (OK, UNRESOLVED):
        return _grade_jacobian(reference, outcome, problem)
    if reference.status == OK:
        if outcome.status not in (OK, UNRESOLVED):
            return Graded(outcome)
        abs_err, rel_err = errors(outcome.value, reference.exact)
        flag = overconfident(outcome, abs_err)
        comp = component_error(outcome.value, reference.exact)
        # the grade follows the worst component: a norm-wise error can hide a wrong one
        word = grade_of(max(rel_err, comp))
        notes = [n for n in (_ok_note(reference), _stencil_note(problem, outcome, word)) if n]
        if comp > 10 * rel_err and comp > 1e-12:
            notes.append(f"worst component rel error {comp:.2e}: the norm-wise error hides a "
                         "component far less accurate than the largest")
        if flag:
            est = outcome.details["error_estimate"]
            notes.insert(0, f"overconfident: its own error estimate {est:.1e} is more than "
                            f"{OVERCONFIDENT_FACTOR:g}x below the true error {abs_err:.1e}")
        return Graded(outcome, abs_err, rel_err, note="; ".join(notes) or None, grade=word,
                      overconfident=flag, component_rel_error=comp)
    if reference.status == UNDEFINED and (reference.details or {}).get("overflow") and \
            outcome.status in (OK, UNRESOLVED, ERROR, UNDEFINED):
        # the derivative exists; float64 cannot hold it, so no float value is right
        msg = f"{reference.message}; no float64 value can be right"
        if outcome.message:
            msg = f"{outcome.message}; {msg}"
        return Graded(replace(outcome, status=UNDEFINED, message=msg))
    if reference.status in (UNDEFINED, NOT_DIFFERENTIABLE) and outcome.status in (OK, UNRESOLVED, ERROR):
        if outcome.status in (OK, UNRESOLVED):
            convention = _convention(outcome.method, problem)
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


def _grade_jacobian(reference: Reference, outcome: Outcome, problem: Problem) -> Graded:
    """A Jacobian graded on the rows the reference has, component-wise and norm-wise.

    A row whose output has no derivative at the point (``undefined_rows``) is not
    graded: a method's non-finite row there agrees; a finite one is no derivative,
    is not shown (nan) and is named in the note.  A non-finite row where the
    derivative exists is the method's failure: the outcome is an ``error``.
    """
    missing = {r["output"] - 1: r for r in (reference.details or {}).get("undefined_rows", ())}
    value = np.array(outcome.value, dtype=float)
    defined = [j for j in range(value.shape[0]) if j not in missing]
    failed = [j for j in defined if not np.all(np.isfinite(value[j]))]
    if failed:
        rows = ", ".join(str(j + 1) for j in failed)
        return Graded(replace(outcome, status=ERROR, message=f"{outcome.message}; the derivative of output"
                              f"{'s' if len(failed) > 1 else ''} {rows} exists here"))
    notes = []
    claimed = [j for j in missing if np.all(np.isfinite(value[j]))]
    for j in claimed:
        value[j] = np.nan
    if missing:
        notes.append("not graded, no derivative here: " + "; ".join(
            f"output {j + 1} ({_first_clause(r['message'])})" for j, r in sorted(missing.items())))
    if claimed:
        many = len(claimed) > 1
        notes.append(f"the method's finite row{'s' if many else ''} for output{'s' if many else ''} "
                     f"{', '.join(str(j + 1) for j in claimed)} {'are' if many else 'is'} no derivative "
                     f"and {'are' if many else 'is'} not shown")
    # the harness's "output j: value is nan: ..." for a row the note below explains anyway
    own = [part for part in (outcome.message or "").split("; ")
           if part and not any(part.startswith(f"output {j + 1}: value is ") for j in missing)]
    shown = replace(outcome, value=value, message="; ".join(own) or None)
    graded = grade(replace(reference, exact=[reference.exact[j] for j in defined],
                           details={k: v for k, v in (reference.details or {}).items() if k != "undefined_rows"}),
                   replace(outcome, value=value[defined]), None)
    notes = [n for n in (graded.note, *notes) if n]
    return replace(graded, outcome=shown, note="; ".join(notes) or None)


def _convention(method: str, problem: Problem | None) -> str | None:
    """What the method's value means at a point with no derivative, for this expression.

    A method may declare ``conventions``, (function, clause) pairs
    (``(("abs", "abs'(0) = 0"), ...)``); only the clauses of functions the
    expression uses are shown.  Otherwise its one ``convention`` sentence.
    """
    entry = backends_base.entries().get(method)
    backend = entry.backend if entry else None
    clauses = getattr(backend, "conventions", None)
    if clauses and problem is not None:
        used = {getattr(n, 'op', None) for n in _nodes(problem.expr)}
        head, _, _ = (getattr(backend, "convention", None) or "").partition(":")
        picked = list(dict.fromkeys(text for fn, text in clauses if fn in used))
        if picked:
            return f"{head}: {', '.join(picked)}" if head else ", ".join(picked)
        if head:
            return head        # none of its special cases is in this expression
    return getattr(backend, "convention", None)


def _nodes(expr: Expr):
    stack, seen = [expr], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        stack.extend(getattr(node, "args", ()) or ())


def _stencil_note(problem: Problem | None, outcome: Outcome, word: str | None) -> str | None:
    """Why a finite difference went wrong where the derivative exists: its stencil
    x-h, x, x+h straddles a pole or a jump (the function changes sign with slopes
    of opposite signs on the two halves, or the halves' slopes differ a millionfold)."""
    steps = (outcome.details or {}).get("steps")
    if problem is None or word not in (INACCURATE, WRONG) or not isinstance(steps, Mapping):
        return None
    program = compile_program(problem.expr)
    for name, h in steps.items():
        if name not in problem.point:
            continue
        vals = []
        with np.errstate(all="ignore"):
            for d in (-h, 0.0, h):
                point = dict(problem.point)
                point[name] = point[name] + d
                vals.append(float(program.evaluate(point)))
        if not all(math.isfinite(v) for v in vals):
            continue
        lo, mid, hi = vals
        s1, s2 = mid - lo, hi - mid
        sign_change = min(lo, mid, hi) < 0 < max(lo, mid, hi) and s1 * s2 < 0
        jump = min(abs(s1), abs(s2)) * 1e6 < max(abs(s1), abs(s2))
        if sign_change or jump:
            return (f"the stencil {name} ± h (h = {h:.3g}) straddles a "
                    f"{'sign change' if sign_change else 'jump'} of the function (a pole or a jump "
                    "between the points), so the difference quotient says nothing about the derivative")
    return None


#: an estimate this many times below the true error is ``overconfident``
OVERCONFIDENT_FACTOR = 10.0


def overconfident(outcome: Outcome, abs_error: float) -> bool | None:
    """Is the method's own error estimate (``details["error_estimate"]``, absolute)
    more than ``OVERCONFIDENT_FACTOR`` times below its true error?  None: no estimate."""
    est = (outcome.details or {}).get("error_estimate")
    if est is None or not math.isfinite(abs_error):
        return None
    return bool(abs_error > OVERCONFIDENT_FACTOR * float(est))


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
    import mpmath
    exact = [mpmath.mpf(s) for s in _flatten(reference.exact)] if reference.exact is not None else []
    if any(0 < abs(v) < TINY for v in exact):
        notes.append("the true value is below float64's normal range (2.2e-308), "
                     "so a float result keeps few or no digits")
    return "; ".join(notes) or None


TINY = float(np.finfo(float).tiny)


def errors(value, exact) -> tuple[float, float]:
    import mpmath
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
    import mpmath
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

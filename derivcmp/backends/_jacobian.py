"""Jacobians: what the harness does for a vector-valued expression ``[e1, ..., em]``.

A method declares how it computes a Jacobian with its ``jacobian`` attribute:

``"native"``  its ``prepare`` handles the vector problem itself (one program
              with every output, shared subexpressions evaluated once: n
              forward sweeps, m reverse sweeps, n + 1 evaluations of the
              vector f, ...), returning an (m, n) value
``"rows"``    the harness prepares the method once per output (a scalar
              problem whose gradient is one row) and stacks the rows; the
              cost counters are summed over the rows
None          scalar expressions only: ``not-applicable`` with that reason

Either way an output that has no value at the point (``log(-1)``) gives a row
of nan: the harness keeps the other rows (``undefined_rows``), and the grader
decides against the reference, row by row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: details keys summed over the rows of a row-by-row Jacobian (cost counters)
SUMMED = ("function_evaluations", "f_evaluations", "sweeps", "forward_sweeps", "reverse_sweeps",
          "symbolic_derivatives", "complex_evaluations", "program_length", "tape_length", "code_lines",
          "code_chars", "taylor_sweeps")
#: details keys whose worst row is kept (error estimates)
WORST = ("error_estimate", "truncation_error", "round_off_error", "digits_lost")

NOT_VECTOR = ("computes derivatives of a scalar expression only, not the Jacobian of a list [...]")


def how(backend: Any) -> str | None:
    return getattr(backend, "jacobian", None)


def rows_prepared(backend: Any, problem):
    """The method prepared once per output; its evaluation stacks the gradients as rows."""
    from . import Prepared
    m, n = problem.shape
    parts = [backend.prepare(problem.row(j)) for j in range(m)]

    def evaluate(point):
        out = np.empty((m, n))
        for j, p in enumerate(parts):
            out[j] = np.reshape(np.asarray(p.evaluate(point), dtype=float), (n,))
        return out

    def explain(point):
        for j, p in enumerate(parts):
            if p.explain is not None:
                why = p.explain(point)
                if why:
                    return f"output {j + 1}: {why}"
        return None

    def verdict():
        for j, p in enumerate(parts):
            said = p.verdict() if p.verdict is not None else None
            if said is not None:
                return said[0], f"output {j + 1}: {said[1]}"
        return None

    def extra():
        return merged([{**p.details, **(p.extra() if p.extra else {})} for p in parts])

    def show(form):
        texts = [p.show(form) if p.show else None for p in parts]
        if all(isinstance(t, str) for t in texts):
            return "\n".join(f"output {j + 1}:\n{t}" for j, t in enumerate(texts))
        return None

    any_verdict = any(p.verdict is not None for p in parts)
    return Prepared(evaluate, merged([p.details for p in parts]), explain, verdict if any_verdict else None,
                    extra, show)


def merged(details: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Row details as one: counters summed, error estimates the worst row's, a key
    equal in every row kept once; each row's own under ``rows``."""
    out: dict[str, Any] = {"jacobian": f"by rows: one gradient per output ({len(details)} outputs)"}
    keys = dict.fromkeys(k for d in details for k in d)
    for k in keys:
        vals = [d.get(k) for d in details]
        if k in SUMMED and all(isinstance(v, (int, float)) for v in vals):
            out[k] = sum(vals)
        elif k in WORST and all(isinstance(v, (int, float)) for v in vals):
            out[k] = max(vals)
        elif all(_same(v, vals[0]) for v in vals) and k not in WORST:
            out[k] = vals[0]
    out["rows"] = [dict(d) for d in details]
    return out


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except (ValueError, TypeError):
        return False


def nonfinite_rows(problem, value: np.ndarray, explain=None) -> list[tuple[int, str]]:
    """The rows of a Jacobian with a non-finite entry, each with the reason: the
    output itself has no value there (``log of a negative number at column 5``),
    or the method's own explanation of the non-finite value."""
    from ..program import compile_program, diagnose
    found = []
    for j in range(value.shape[0]):
        if np.all(np.isfinite(value[j])):
            continue
        program = compile_program(problem.outputs[j])
        with np.errstate(all="ignore"):
            why = diagnose(program, program.evaluate_all(problem.point))
        kind = "nan" if np.any(np.isnan(value[j])) else "inf"
        found.append((j, f"value is {kind}: {why}" if why else f"value is {kind}"))
    return found

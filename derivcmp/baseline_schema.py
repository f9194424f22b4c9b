"""Reading a saved baseline: the whole file is validated before any case runs.

A baseline is JSON written by ``check --save-baseline`` (schema
``derivcmp-baseline/1``).  A file that is not UTF-8, not JSON, nested beyond
reason, or has a field of the wrong type is an input error naming the file
and the field, never a traceback in the middle of a run.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import DerivcmpError

SCHEMA = "derivcmp-baseline/1"
MAX_BYTES = 256 * 1024 ** 2

_STATUS = ("ok", "undefined", "not-differentiable", "not-applicable", "timeout", "error")


def load(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as err:
        raise DerivcmpError(f"--baseline: cannot read {path}: {err.strerror or err}") from None
    if len(raw) > MAX_BYTES:
        raise DerivcmpError(f"--baseline: {path} is larger than {MAX_BYTES // 1024 ** 2} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DerivcmpError(f"--baseline: {path} is not UTF-8 text ({err.reason} at byte {err.start})") \
            from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DerivcmpError(f"--baseline: {path} is not JSON ({err.msg} at line {err.lineno})") from None
    except RecursionError:
        raise DerivcmpError(f"--baseline: {path} is nested too deeply to be a baseline") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise DerivcmpError(f"--baseline: {path} is not a derivcmp baseline "
                            f"(expected schema {SCHEMA!r}; write one with --save-baseline)")
    why = problem(data)
    if why:
        raise DerivcmpError(f"--baseline: {path}: {why}")
    return data


def _number_or_null(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def problem(data: dict[str, Any]) -> str | None:
    """The first field that does not match the schema, as ``field: what is wrong``."""
    if "timing" in data and not isinstance(data["timing"], bool):
        return "timing: must be true or false"
    if "environment" in data and not isinstance(data["environment"], dict):
        return "environment: must be an object"
    cases = data.get("cases")
    if not isinstance(cases, list):
        return f"cases: must be a list, got {type(cases).__name__}"
    for i, c in enumerate(cases):
        where = f"cases[{i}]"
        if not isinstance(c, dict):
            return f"{where}: must be an object"
        for key in ("file", "id"):
            if not isinstance(c.get(key), str):
                return f"{where}.{key}: must be a string"
        if "reference_status" in c and c["reference_status"] not in _STATUS:
            return f"{where}.reference_status: must be one of {', '.join(_STATUS)}"
        methods = c.get("methods")
        if not isinstance(methods, dict):
            return f"{where}.methods: must be an object of method name to result"
        for name, m in methods.items():
            at = f"{where}.methods.{name}"
            if not isinstance(m, dict):
                return f"{at}: must be an object"
            if m.get("status") not in _STATUS:
                return f"{at}.status: must be one of {', '.join(_STATUS)}"
            for key in ("rel_error", "eval_s"):
                if not _number_or_null(m.get(key)):
                    return f"{at}.{key}: must be a finite number or null"
                if m.get(key) is not None and m[key] < 0:
                    return f"{at}.{key}: must not be negative"
            if "passed" in m and not isinstance(m["passed"], bool):
                return f"{at}.passed: must be true or false"
    return None

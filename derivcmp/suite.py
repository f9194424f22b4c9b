"""Expression files: find them, read them, validate every case.

Two formats.  TOML suites hold ``[[case]]`` tables (with optional per-file
``[defaults]``); plain-text files hold one expression per line, the variables
and point coming from the command line.  Loading never stops at the first
mistake: every problem becomes a ``Diagnostic`` naming the file and line, and
the cases that are fine are returned to run.

This module only reads and checks input.  It never differentiates anything
(apart from parsing, which validation needs) and never prints.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .backends import base as backends_base
from .compare import make_problem, parse_at, parse_wrt, select_methods
from .errors import DerivcmpError, ParseError
from .expr import parse, variables
from .grid import is_range
from .problem import MAX_ORDER, NOT_DIFFERENTIABLE, OK, UNDEFINED, Problem

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SUFFIXES = (".toml", ".txt")
EXPECT_STATUSES = (OK, UNDEFINED, NOT_DIFFERENTIABLE)

DEFAULT_EXPECTED_TOLERANCE = 1e-12

CASE_KEYS = ("id", "expr", "wrt", "at", "order", "tags", "methods", "tolerance", "expected",
             "expected_tolerance", "expect", "note")
DEFAULT_KEYS = ("wrt", "at", "methods", "order", "tolerance", "tags", "expected_tolerance")


def default_tolerance(method: str, order: int) -> float | None:
    """Relative-error tolerance when neither the case nor the file gives one:
    what the method declares in the registry."""
    entry = backends_base.entries().get(method)
    return entry.tolerance(order) if entry else None


@dataclass(frozen=True)
class Case:
    """One validated case; plain data, cheap to send to a worker process."""

    id: str
    file: str
    line: int
    expr: str
    wrt: tuple[str, ...] | None = None
    at: Mapping[str, float] = field(default_factory=dict)
    order: int = 1
    tags: tuple[str, ...] = ()
    methods: tuple[str, ...] | None = None
    tolerance: Mapping[str, float] = field(default_factory=dict)
    expected: Any = None
    expected_tolerance: float = DEFAULT_EXPECTED_TOLERANCE
    expect: str = OK
    note: str | None = None

    @property
    def source(self) -> str:
        return f"{self.file}:{self.line}"

    def problem(self) -> tuple[Problem, list[str]]:
        return make_problem(self.expr, self.wrt, dict(self.at), self.order, source=self.source)

    def tolerance_for(self, method: str) -> float | None:
        if method in self.tolerance:
            return self.tolerance[method]
        return default_tolerance(method, self.order)


@dataclass(frozen=True)
class Diagnostic:
    """A mistake (``error``: the case does not run) or a ``warning`` in a file."""

    file: str
    line: int | None
    message: str
    severity: str = "error"
    rendered: bool = False      # ``message`` already starts with "file:line: error:"

    def __str__(self) -> str:
        if self.rendered:
            return self.message
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass
class Loaded:
    cases: list[Case] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]


# --- finding files -------------------------------------------------------------

def find_files(paths: Iterable[str | os.PathLike]) -> tuple[list[str], list[Diagnostic]]:
    """Expand directories to their ``*.toml``/``*.txt`` files (sorted, recursive)."""
    files: list[str] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*")
                if f.is_file() and f.suffix in SUFFIXES and not _skipped(f.relative_to(p)))
            if not found:
                problems.append(Diagnostic(_display(p), None, "no *.toml or *.txt suite files here"))
            files.extend(_display(f) for f in found)
        elif p.is_file():
            if p.suffix not in SUFFIXES:
                problems.append(Diagnostic(_display(p), None,
                                           "unknown suite format (expected a .toml or .txt file)"))
            else:
                files.append(_display(p))
        else:
            problems.append(Diagnostic(_display(p), None, "no such file or directory"))
    return list(dict.fromkeys(files)), problems


def _skipped(rel: Path) -> bool:
    name = rel.name.lower()
    return (any(part.startswith(".") for part in rel.parts)
            or name.startswith(("baseline", "readme", "requirements")))


def _display(p: Path) -> str:
    return Path(os.path.normpath(p)).as_posix()


def load(paths: Iterable[str | os.PathLike], wrt: str | None = None, at: str | None = None,
         order: int = 1, tags: Sequence[str] = ()) -> Loaded:
    """Load every case under ``paths``; ``wrt``/``at``/``order`` are for .txt files.

    ``paths``: TOML suites, .txt files (one expression per line) or
    directories of them.  ``tags``, when given, keeps only cases carrying at
    least one of them.  Returns a ``Loaded``: ``.cases`` (``Case`` objects,
    each with ``.problem()``), ``.diagnostics`` (mistakes in the files, with
    file and line; ``.errors`` for the serious ones).  Never raises for a
    mistake in a file.
    """
    files, problems = find_files(paths)
    out = Loaded(diagnostics=list(problems))
    text_defaults = None
    for f in files:
        if f.endswith(".toml"):
            part = load_toml(f)
        else:
            if text_defaults is None:
                text_defaults = _text_defaults(wrt, at, order)
                if isinstance(text_defaults, Diagnostic):
                    out.diagnostics.append(text_defaults)
            if isinstance(text_defaults, Diagnostic):
                continue
            part = load_text(f, *text_defaults)
        out.diagnostics.extend(part.diagnostics)
        out.cases.extend(part.cases)
    if tags:
        wanted = set(tags)
        out.cases = [c for c in out.cases if wanted.intersection(c.tags)]
    return out


def _read(path: str) -> str | Diagnostic:
    try:
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return Diagnostic(path, None, f"not UTF-8 text ({err.reason} at byte {err.start})")
    except OSError as err:
        return Diagnostic(path, None, f"cannot read: {err.strerror or err}")


# --- plain text ----------------------------------------------------------------

def _text_defaults(wrt, at, order):
    try:
        w = parse_wrt(wrt) if wrt else None
        point = parse_at(at or "")
    except DerivcmpError as err:
        return Diagnostic("<command line>", None, str(err))
    return w, point, order


def load_text(path: str, wrt: tuple[str, ...] | None = None, at: Mapping[str, float] | None = None,
              order: int = 1) -> Loaded:
    """One expression per line; ``#`` starts a comment; ids are ``name.txt:LINE``."""
    out = Loaded()
    text = _read(path)
    if isinstance(text, Diagnostic):
        out.diagnostics.append(text)
        return out
    name = Path(path).name
    for lineno, raw in enumerate(text.splitlines(), start=1):
        expr = raw.split("#", 1)[0].strip()
        if not expr:
            continue
        source = f"{path}:{lineno}"
        try:
            names = variables(parse(expr, source=source))
        except ParseError as err:
            out.diagnostics.append(Diagnostic(path, lineno, err.render(), rendered=True))
            continue
        # the --at point is shared by every line: give each only what it uses
        point = {k: v for k, v in (at or {}).items() if k in names or (wrt and k in wrt)}
        case = Case(id=f"{name}:{lineno}", file=path, line=lineno, expr=expr, wrt=wrt, at=point,
                    order=order)
        _validate_problem(case, out)
    return out


def _validate_problem(case: Case, out: Loaded, expected_line: int | None = None) -> None:
    """Build the problem once so that its mistakes are reported at load time."""
    try:
        problem, warnings = case.problem()
    except ParseError as err:
        out.diagnostics.append(Diagnostic(case.file, case.line, err.render(), rendered=True))
        return
    except DerivcmpError as err:
        msg = _field_message(err)
        if case.file.endswith(".toml"):
            msg = re.sub(r"; give (it|them) with --at .*", r"; give \1 in at = { ... }", msg)
        out.diagnostics.append(Diagnostic(case.file, case.line, msg))
        return
    for w in warnings:
        out.diagnostics.append(Diagnostic(case.file, case.line, w.removeprefix("warning: "), "warning"))
    if case.expected is not None:
        why = _check_expected_shape(case.expected, problem)
        if why:
            out.diagnostics.append(Diagnostic(case.file, expected_line or case.line, f"expected: {why}"))
            return
    out.cases.append(case)


def _field_message(err: DerivcmpError) -> str:
    # compare.py words its messages for command-line options ("--at: ..."); in
    # a file the same fields are keys
    msg = str(err)
    return msg.removeprefix("--")


# --- TOML ----------------------------------------------------------------------

_CASE_HEADER = re.compile(r"^\s*\[\[\s*case\s*\]\]")
_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


class _Layout:
    """Line numbers tomllib does not give: found by scanning the text."""

    def __init__(self, text: str):
        self.lines = text.splitlines()
        self.case_lines = [i + 1 for i, s in enumerate(self.lines) if _CASE_HEADER.match(s)]

    def case_line(self, index: int) -> int:
        return self.case_lines[index] if index < len(self.case_lines) else 1

    def key_line(self, key: str, start: int, table: str | None = None) -> int:
        """Line of ``key = ...`` (or ``[table.key]``) in the table whose header is line ``start``."""
        pat = re.compile(r"^\s*(?:\"?%s\"?\s*[=.]|\[\s*%s\.%s\s*\])"
                         % (re.escape(key), re.escape(table or "case"), re.escape(key)))
        for i in range(start, len(self.lines)):     # 0-based: the lines after the header
            if pat.match(self.lines[i]):
                return i + 1
            if _CASE_HEADER.match(self.lines[i]):
                break
        return start

    def top_line(self, key: str) -> int:
        pat = re.compile(r"^\s*(?:\[+\s*%s\b|\"?%s\"?\s*[=.])" % (re.escape(key), re.escape(key)))
        for i, s in enumerate(self.lines):
            if pat.match(s):
                return i + 1
        return 1


def load_toml(path: str) -> Loaded:
    out = Loaded()
    text = _read(path)
    if isinstance(text, Diagnostic):
        out.diagnostics.append(text)
        return out
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        out.diagnostics.append(_toml_syntax(path, text, str(err)))
        return out
    layout = _Layout(text)

    def err(line: int, msg: str) -> None:
        out.diagnostics.append(Diagnostic(path, line, msg))

    for key in data:
        if key not in ("case", "defaults"):
            hint = _did_you_mean(key, ("case", "defaults"))
            err(layout.top_line(key), f"unknown top-level key '{key}'{hint} "
                "(a suite has [defaults] and [[case]] tables)")
    defaults: dict[str, Any] = {}
    if "defaults" in data:
        start = layout.top_line("defaults")
        if not isinstance(data["defaults"], dict):
            err(start, "'defaults' must be a table: [defaults]")
        else:
            defaults = _fields(data["defaults"], DEFAULT_KEYS, "defaults",
                               lambda k: layout.key_line(k, start, "defaults"), err) or {}
    raw_cases = data.get("case", [])
    if not isinstance(raw_cases, list) or not all(isinstance(c, dict) for c in raw_cases):
        err(layout.top_line("case"), "'case' must be an array of tables: [[case]]")
        raw_cases = []
    if "case" not in data:
        err(1, "no [[case]] tables in this file")
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_cases):
        start = layout.case_line(index)
        fields = _fields(raw, CASE_KEYS, "case", lambda k, s=start: layout.key_line(k, s), err)
        if fields is None:
            continue
        missing = [k for k in ("id", "expr") if k not in fields]
        if missing:
            err(start, f"[[case]] is missing the required key{'s' if len(missing) > 1 else ''} "
                + " and ".join(f"'{k}'" for k in missing))
            continue
        cid = fields["id"]
        if cid in seen:
            err(start, f"duplicate case id '{cid}' (first defined at line {seen[cid]})")
            continue
        seen[cid] = start
        for case in _make_case(path, start, fields, defaults, out, lambda k, s=start: layout.key_line(k, s)):
            _validate_problem(case, out, layout.key_line("expected", start))
    return out


def _toml_syntax(path: str, text: str, message: str) -> Diagnostic:
    m = _TOML_POS.search(message)
    if not m:
        line = max(1, len(text.splitlines()))
        return Diagnostic(path, line, f"invalid TOML: {_TOML_POS.sub('', message)}")
    line, col = int(m.group(1)), int(m.group(2))
    src = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
    msg = _TOML_POS.sub("", message)
    rendered = (f"{path}:{line}: error: invalid TOML: {msg} (column {col})\n  {src}\n"
                f"  {' ' * max(0, col - 1)}^")
    return Diagnostic(path, line, rendered, rendered=True)


def _did_you_mean(key: str, choices: Sequence[str]) -> str:
    import difflib
    close = difflib.get_close_matches(key, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


_TYPE_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
               list: "a list", dict: "a table"}


def _type_name(v: Any) -> str:
    return next((n for t, n in _TYPE_NAMES.items() if isinstance(v, t)), type(v).__name__)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _fields(raw: dict, allowed: Sequence[str], table: str, line_of, err) -> dict | None:
    """Type-check the keys of one table; report each mistake; None if any."""
    ok = True
    out: dict[str, Any] = {}
    for key, value in raw.items():
        line = line_of(key)
        if key not in allowed:
            err(line, f"unknown key '{key}' in [{'[case]' if table == 'case' else table}]"
                f"{_did_you_mean(key, allowed)}")
            ok = False
            continue
        problem = _check_type(key, value)
        if problem:
            err(line, f"'{key}' {problem}")
            ok = False
            continue
        out[key] = value
    return out if ok else None


def _check_type(key: str, v: Any) -> str | None:
    """A message (after the key's name) when ``v`` has the wrong type for ``key``."""
    got = f", got {_type_name(v)}"
    if key in ("id", "expr", "note"):
        if not isinstance(v, str):
            return "must be a string" + got
        if key != "note" and not v.strip():
            return "must not be empty"
        if key == "id" and ("\n" in v):
            return "must be one line"
    elif key in ("wrt", "tags", "methods"):
        if isinstance(v, str):
            return None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            return "must be a list of strings" + got
    elif key == "at":
        if not isinstance(v, dict):
            return "must be a table of values, e.g. at = { x = 1.0 }" + got
        for name, x in v.items():
            if isinstance(x, list):
                if not x or not all(_is_number(y) or isinstance(y, str) for y in x):
                    return (f"list of '{name}' must hold numbers or strings like \"pi/4\" "
                            "(a range of points), e.g. x = [1, 2, 5]")
                continue
            if not (_is_number(x) or isinstance(x, str)):
                return (f"value of '{name}' must be a number, a string like \"pi/4\" or a range "
                        f"like \"0:1:101\", got {_type_name(x)}")
            if _is_number(x) and not math.isfinite(x):
                return f"value of '{name}' must be finite, got {x}"
    elif key == "order":
        if not isinstance(v, int) or isinstance(v, bool):
            return "must be an integer" + got
        if not 1 <= v <= MAX_ORDER:
            return f"must be between 1 and {MAX_ORDER}, got {v}"
    elif key == "tolerance":
        if not isinstance(v, dict):
            example = next(iter(backends_base.select(None).names), "method")
            return ("must be a table of method = relative tolerance, "
                    f"e.g. tolerance = {{ \"{example}\" = 1e-6 }}" + got)
        for name, x in v.items():
            if not _is_number(x) or not x >= 0 or not math.isfinite(x):
                return f"for '{name}' must be a non-negative number, got {x!r}"
    elif key == "expected_tolerance":
        if not _is_number(v) or not v >= 0 or not math.isfinite(v):
            return f"must be a non-negative number, got {v!r}"
    elif key == "expect":
        if v not in EXPECT_STATUSES:
            return f"must be one of {', '.join(EXPECT_STATUSES)}, got {v!r}"
    elif key == "expected":
        if not _expected_ok(v, 0):
            return ("must be a number, a string holding a derivative expression, or a list "
                    "(gradient) or list of lists (Hessian) of them" + got)
    return None


def _expected_ok(v: Any, depth: int) -> bool:
    if _is_number(v) or isinstance(v, str):
        return True
    return isinstance(v, list) and depth < 2 and bool(v) and all(_expected_ok(x, depth + 1) for x in v)


def _methods(value, path: str, line: int, what: str, out: Loaded) -> tuple[str, ...] | None:
    """Validated method names (names, families or ``all``); methods this installation
    cannot run are dropped with a warning saying how to install them."""
    items = [m.strip() for m in (value.split(",") if isinstance(value, str) else value)]
    try:
        chosen = select_methods(items)
    except DerivcmpError as err:
        raise DerivcmpError(f"{what}: {_field_message(err).removeprefix('methods: ')}") from None
    for note in chosen.notes:
        out.diagnostics.append(Diagnostic(path, line, f"{what}: {note.removeprefix('note: ')}", "warning"))
    return chosen.names


def _make_case(path: str, line: int, f: dict, d: dict, out: Loaded, line_of) -> list[Case]:
    """Merge the file's defaults under the case and convert every field; a case
    whose ``at`` holds a range (``x = "0:1:101"``, ``x = [1, 2, 5]``) is one case per point."""
    try:
        expr_names = variables(parse(f["expr"], source=f"{path}:{line_of('expr')}"))
    except ParseError as err:
        out.diagnostics.append(Diagnostic(path, line, err.render(), rendered=True))
        return []
    key = "wrt"
    try:
        wrt_raw = f.get("wrt", d.get("wrt"))
        wrt = parse_wrt(wrt_raw) if wrt_raw is not None else None
        # the defaults' point fills in only what this expression uses
        key = "at"
        at: dict[str, float] = {}
        ranged: dict[str, Any] = {}
        given = {k: v for k, v in d.get("at", {}).items() if k in expr_names or (wrt and k in wrt)}
        given.update(f.get("at", {}))
        for k, v in given.items():
            if isinstance(v, list) or (isinstance(v, str) and is_range(v)):
                ranged[k] = v
                at.pop(k, None)
            else:
                at[k] = _point_value(k, v)
                ranged.pop(k, None)
        points = _range_points(ranged) if ranged else None
        key = "methods"
        methods = None
        raw_methods = f.get("methods", d.get("methods"))
        if raw_methods is not None:
            methods = _methods(raw_methods, path, line, "methods", out)
            if not methods:
                raise DerivcmpError("methods: none of the listed methods is available here")
        key = "tolerance"
        tolerance = {**d.get("tolerance", {}), **f.get("tolerance", {})}
        if tolerance:
            _methods(list(tolerance), path, line, "tolerance", Loaded())
    except DerivcmpError as err:
        out.diagnostics.append(Diagnostic(path, line_of(key) if key in f else line, _field_message(err)))
        return []
    tags = [t for src in (d, f) for t in _str_list(src.get("tags", []))]
    expected = f.get("expected")
    if expected is not None:
        why = _parse_expected(expected, f"{path}:{line_of('expected')}")
        if why:
            out.diagnostics.append(Diagnostic(path, line_of("expected"), why, rendered=True))
            return []
    case = Case(id=f["id"], file=path, line=line, expr=f["expr"], wrt=wrt, at=at,
                order=f.get("order", d.get("order", 1)), tags=tuple(dict.fromkeys(tags)),
                methods=methods, tolerance={k: float(v) for k, v in tolerance.items()},
                expected=expected,
                expected_tolerance=float(f.get("expected_tolerance",
                                               d.get("expected_tolerance", DEFAULT_EXPECTED_TOLERANCE))),
                expect=f.get("expect", OK), note=f.get("note"))
    if points is None:
        return [case]
    if expected is not None and not isinstance(expected, str):
        out.diagnostics.append(Diagnostic(path, line_of("expected"), "expected: over a range of points "
                                          "give the derivative as an expression string, e.g. expected = \"cos(x)\""))
        return []
    # a range is one case per point, each checked like any other; the id names the point
    return [replace(case, id=f"{case.id}[{','.join(f'{k}={v!r}' for k, v in pt.items())}]", at={**at, **pt})
            for pt in points]


#: the most points one suite case may range over (each point is a case of its own)
MAX_CASE_POINTS = 1000


def _range_points(ranged: Mapping[str, Any]) -> list[dict[str, float]]:
    """The points of a case's ranges (``grid.split_at`` on the at table), in grid order."""
    from .grid import Grid, split_at
    try:
        fixed, axes = split_at(ranged)
    except ParseError as err:
        raise DerivcmpError(f"at: {err.message.removeprefix('--at: ').removeprefix('--at ')} "
                            f"(in {err.text!r})") from None
    grid = Grid(axes, fixed)
    if grid.size > MAX_CASE_POINTS:
        raise DerivcmpError(f"at: the range has {grid.size:,} points; a suite case may have at most "
                            f"{MAX_CASE_POINTS:,} (each point is checked as a case of its own)")
    return [grid.coordinates(i) for i in range(grid.size)]


def _str_list(v: str | list[str]) -> list[str]:
    return [v] if isinstance(v, str) else list(v)


def _point_value(name: str, v: Any) -> float:
    # the same rules as --at name=value (constant expressions such as pi/4), the
    # key checked as a variable name and a string value parsed whole
    return parse_at({name: v})[name]


def _parse_expected(v: Any, source: str) -> str | None:
    """Parse every expression string inside ``expected``; the first error."""
    if isinstance(v, list):
        return next((e for e in (_parse_expected(x, source) for x in v) if e), None)
    if isinstance(v, str):
        try:
            parse(v, source=source)
        except ParseError as err:
            return err.render().replace(f"{source}: error: ", f"{source}: error: expected: ", 1)
    return None


def _check_expected_shape(v: Any, problem: Problem) -> str | None:
    shape = problem.shape
    if problem.vector:
        m, n = shape
        if not isinstance(v, list) or len(v) != m or not all(isinstance(r, list) and len(r) == n for r in v):
            return (f"the Jacobian is {m}×{n} ({m} output{'s' if m > 1 else ''}, wrt {', '.join(problem.wrt)}), "
                    f"so give {m} list{'s' if m > 1 else ''} of {n}")
        return None
    if shape == ():
        return None if not isinstance(v, list) else "the derivative is a scalar here, so give one value"
    n = shape[0]
    if not isinstance(v, list) or len(v) != n:
        return (f"the {'gradient' if len(shape) == 1 else 'Hessian'} has {n} "
                f"{'entries' if len(shape) == 1 else 'rows'} (wrt {', '.join(problem.wrt)}), "
                f"so give a list of {n}")
    if len(shape) == 2 and not all(isinstance(r, list) and len(r) == n for r in v):
        return f"the Hessian is {n}×{n}, so give {n} lists of {n}"
    if len(shape) == 1 and any(isinstance(r, list) for r in v):
        return "the gradient is a list of numbers, not of lists"
    return None

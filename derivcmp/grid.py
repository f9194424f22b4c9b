"""Ranges of points: ``--at x=a:b:n``, ``x=a:b:n:log``, ``x=[1,2,5]`` and their grid.

``split_at`` separates the ranged variables of an ``--at`` text from the fixed
ones; several ranged variables form their Cartesian grid (``Grid``), the
others stay fixed.  Numbers follow the one ``--at`` grammar (``compare``'s
constant expressions: ``pi/4``, ``1e-3``); a bad range is a ``ParseError``
with a caret under the offending part, like any other ``--at`` error.  This
module parses and lays out points; it never runs a method (``gridrun``) and
never prints (``report/grid.py``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import DerivcmpError, ParseError
from .expr import parse

#: the most points a grid may have (the product of every range's count)
MAX_POINTS = 10 ** 7

_COUNT = re.compile(r"\s*[0-9]+\s*\Z")


@dataclass(frozen=True)
class Axis:
    """One ranged variable: its points, in order, and the text that made them."""

    name: str
    values: np.ndarray
    spec: str
    log: bool = False


@dataclass(frozen=True)
class Grid:
    """The Cartesian product of the axes, the other variables fixed.

    Points are numbered in C order (the last axis varies fastest);
    ``columns()`` gives every variable as one flat array of ``size`` values.
    """

    axes: tuple[Axis, ...]
    fixed: Mapping[str, float]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def columns(self, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Every variable (ranged and fixed) as a flat float64 array over the grid."""
        mesh = np.meshgrid(*[a.values for a in self.axes], indexing="ij")
        out = {a.name: np.ascontiguousarray(m.ravel()) for a, m in zip(self.axes, mesh)}
        for k, v in self.fixed.items():
            if k not in out:
                out[k] = np.full(self.size, float(v))
        return out if names is None else {k: out[k] for k in names}

    def point(self, index: int) -> dict[str, float]:
        """The variables at one point of the grid, by its flat index."""
        at = dict(self.fixed)
        for a, i in zip(self.axes, np.unravel_index(int(index), self.shape)):
            at[a.name] = float(a.values[i])
        return at

    def coordinates(self, index: int) -> dict[str, float]:
        """Only the ranged variables at one point."""
        return {a.name: float(a.values[i]) for a, i in zip(self.axes, np.unravel_index(int(index), self.shape))}


def is_range(value: str) -> bool:
    """Whether an ``--at`` value is a range or a list rather than one number."""
    v = value.strip()
    return v.startswith("[") or ":" in _outside_parens(v)


def _outside_parens(text: str) -> str:
    depth, out = 0, []
    for ch in text:
        depth += (ch in "([") - (ch in ")]")
        if depth == 0:
            out.append(ch)
    return "".join(out)


def has_range(text: str | Mapping | None) -> bool:
    """Whether an ``--at`` text or mapping holds at least one range or list."""
    if not text:
        return False
    if isinstance(text, Mapping):
        return any(isinstance(v, (list, tuple, np.ndarray)) or (isinstance(v, str) and is_range(v))
                   for v in text.values())
    from .compare import _split_top_level
    return any("=" in item and is_range(item.partition("=")[2]) for item in _split_top_level(text))


def split_at(text: str | Mapping) -> tuple[dict[str, float], tuple[Axis, ...]]:
    """The fixed values (``compare.parse_at``) and the ranged axes of an ``--at`` text.

    A mapping (a suite's ``at`` table) may give a range as a string or a list of numbers.
    """
    from .compare import _NAME, _split_top_level, parse_at
    axes: list[Axis] = []
    if isinstance(text, Mapping):
        fixed_items = {}
        for k, v in text.items():
            if isinstance(v, (list, tuple)):
                axes.append(_list_axis(str(k), f"{k}=[{','.join(map(str, v))}]", len(str(k)) + 1,
                                       [str(x) for x in v]))
            elif isinstance(v, str) and is_range(v):
                axes.append(_axis(str(k), f"{k}={v}", len(str(k)) + 1))
            else:
                fixed_items[k] = v
        fixed = parse_at(fixed_items)
    else:
        rest = []
        for item in _split_top_level(text):
            name, eq, value = item.partition("=")
            if eq and is_range(value):
                if not _NAME.match(name.strip()):
                    # parse_at says why, with the same words as for a single value
                    parse_at(f"{name.strip()}=0")
                item_text = item.strip()
                axes.append(_axis(name.strip(), item_text, item_text.index("=") + 1))
            else:
                rest.append(item)
        fixed = parse_at(",".join(rest)) if rest else {}
    seen: set[str] = set(fixed)
    for a in axes:
        if a.name in seen:
            raise DerivcmpError(f"--at: {a.name!r} is given more than once")
        seen.add(a.name)
    total = 1
    for a in axes:
        total *= len(a.values)
    if total > MAX_POINTS:
        raise DerivcmpError(f"--at: the grid has {total:,} points ({' x '.join(str(len(a.values)) for a in axes)}); "
                            f"the limit is {MAX_POINTS:,}")
    return fixed, tuple(axes)


def _fail(message: str, item: str, start: int, width: int) -> ParseError:
    return ParseError(f"--at: {message}", item, start, width)


def _number(name: str, item: str, start: int, part: str) -> float:
    """One endpoint: the ``--at`` grammar (a constant expression), caret inside ``item``."""
    from .compare import _constant_value
    lead = len(part) - len(part.lstrip())
    text = part.strip()
    if not text:
        raise _fail(f"a number is missing in the range of {name!r}", item, start, 1)
    try:
        parse(text)
    except ParseError as err:
        raise ParseError(f"--at {name}=...: {err.message}", item, start + lead + err.column, err.width) from None
    try:
        return _constant_value(name, text)
    except DerivcmpError as err:
        raise _fail(str(err).removeprefix("--at: "), item, start + lead, len(text)) from None


def _axis(name: str, item: str, start: int) -> Axis:
    """``a:b:n``, ``a:b:n:log`` or ``[v1, v2, ...]`` starting at column ``start`` of ``item``."""
    from .compare import _split_top_level
    value = item[start:]
    lead = len(value) - len(value.lstrip())
    body = value.strip()
    if body.startswith("["):
        if not body.endswith("]"):
            raise _fail(f"the list of {name!r} has no closing ']'", item, start + lead + len(body), 1)
        inner = body[1:-1]
        parts, pos = [], start + lead + 1
        for piece in _split_top_level(inner):
            parts.append((pos, piece))
            pos += len(piece) + 1
        if not inner.strip():
            raise _fail(f"the list of {name!r} is empty", item, start + lead, len(body))
        values = [_number(name, item, p, piece) for p, piece in parts]
        return Axis(name, np.array(values, dtype=float), body)
    pieces, pos, spans = body.split(":"), start + lead, []
    for piece in pieces:
        spans.append(pos)
        pos += len(piece) + 1
    if len(pieces) not in (3, 4):
        raise _fail(f"a range is START:STOP:COUNT or START:STOP:COUNT:log, got {len(pieces)} part"
                    f"{'s' if len(pieces) != 1 else ''} for {name!r}", item, start + lead, len(body))
    log = False
    if len(pieces) == 4:
        if pieces[3].strip() != "log":
            raise _fail(f"the fourth part of a range can only be 'log', got {pieces[3].strip()!r}",
                        item, spans[3], max(1, len(pieces[3])))
        log = True
    a = _number(name, item, spans[0], pieces[0])
    b = _number(name, item, spans[1], pieces[1])
    if not _COUNT.match(pieces[2]):
        raise _fail(f"COUNT must be a whole number of points (e.g. 101), got {pieces[2].strip()!r}",
                    item, spans[2], max(1, len(pieces[2])))
    n = int(pieces[2])
    if n < 2:
        raise _fail(f"a range needs at least 2 points, got {n} (give one point as {name}=VALUE)",
                    item, spans[2], max(1, len(pieces[2])))
    if n > MAX_POINTS:
        raise _fail(f"{n:,} points is over the limit of {MAX_POINTS:,}", item, spans[2], len(pieces[2]))
    if a == b:
        raise _fail(f"START and STOP are the same ({a:g}): give one point as {name}={pieces[0].strip()}",
                    item, spans[0], len(pieces[0]) + 1 + len(pieces[1]))
    if log:
        if a == 0 or b == 0 or (a < 0) != (b < 0):
            raise _fail("a log range needs START and STOP nonzero and of the same sign, "
                        f"got {a:g} and {b:g}", item, spans[0], len(pieces[0]) + 1 + len(pieces[1]))
        values = np.geomspace(a, b, n)
        values[0], values[-1] = a, b      # the endpoints exactly as given
    else:
        values = np.linspace(a, b, n)
    if not np.all(np.isfinite(values)):
        raise _fail(f"the range of {name!r} does not fit in float64", item, start + lead, len(body))
    return Axis(name, values, body, log)


def _list_axis(name: str, item: str, start: int, values: list[str]) -> Axis:
    if not values:
        raise _fail(f"the list of {name!r} is empty", item, start, 2)
    pos, out = start + 1, []
    for v in values:
        out.append(_number(name, item, pos, v))
        pos += len(v) + 1
    return Axis(name, np.array(out, dtype=float), item[start:])


def sample_indices(size: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced point indices of a grid of ``size`` (every one if it fits)."""
    if size <= limit:
        return np.arange(size)
    return np.unique(np.round(np.linspace(0, size - 1, limit)).astype(np.int64))


__all__ = ["MAX_POINTS", "Axis", "Grid", "has_range", "is_range", "sample_indices", "split_at"]

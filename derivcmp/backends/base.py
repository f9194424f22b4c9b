"""The method registry: what a method declares, and where methods come from.

A method is a class (or instance) with these attributes -- the whole contract
between a backend and the rest of derivcmp:

``name``         stable identifier (``fd-central``)
``family``       one of ``FAMILIES``
``description``  one line for ``derivcmp methods``
``convention``   what its value means where no derivative exists (a kink, an
                 edge), shown beside such a value; None if it has none
``conventions``  optional (function, clause) pairs splitting ``convention`` so
                 a note names only the functions the expression uses
``tolerances``   default relative-error tolerance for ``check``, by order
                 (key 0: any order not listed); a missing order means "no
                 default: the suite must give one"
``requires``     importable packages it needs (checked without importing them)
``extra``        the pip extra that installs them (``pip install 'derivcmp[jax]'``)
``max_order``    highest derivative order it supports
``default``      part of the default selection of ``eval``/``batch``
``supports(problem)`` -> reason or None; ``prepare(problem)`` -> ``Prepared``

Built-in methods live in the modules of this package, each listing its
classes in a module-level ``METHODS`` tuple; plug-ins add classes through the
entry-point group ``derivcmp.methods`` (an entry point may name a class, an
instance, or a module with ``METHODS``).  Nothing outside a backend's own
module names a method: suites, comparison, batch and tests read this registry.

Importing a backend module must stay cheap (no sympy, no framework import at
module level): ``derivcmp methods`` lists every method without loading them.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FAMILIES = ("symbolic", "finite-difference", "automatic", "peer")
ENTRY_POINT_GROUP = "derivcmp.methods"


class Method:
    """Defaults for the declared attributes; a backend may subclass it or not."""

    name: str = ""
    family: str = ""
    description: str = ""
    convention: str | None = None
    conventions: tuple[tuple[str, str], ...] = ()
    tolerances: Mapping[int, float] = {}
    requires: tuple[str, ...] = ()
    extra: str | None = None
    max_order: int = 4
    default: bool = False

    def supports(self, problem) -> str | None:
        if problem.order > self.max_order:
            return f"orders above {self.max_order} are not supported by {self.name}"
        return None


@dataclass(frozen=True)
class Entry:
    """A registered method and what is known about it without running it."""

    backend: Any
    origin: str                     # "built-in" or the plug-in's entry point

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def family(self) -> str:
        return self.backend.family

    def missing(self) -> list[str]:
        """The required packages that are not installed."""
        return [p for p in getattr(self.backend, "requires", ()) if importlib.util.find_spec(p) is None]

    @property
    def available(self) -> bool:
        return not self.missing()

    def why_unavailable(self) -> str | None:
        missing = self.missing()
        if not missing:
            return None
        extra = getattr(self.backend, "extra", None)
        how = f"pip install 'derivcmp[{extra}]'" if extra else f"pip install {' '.join(missing)}"
        return f"needs {', '.join(missing)}: {how}"

    def tolerance(self, order: int) -> float | None:
        tol = getattr(self.backend, "tolerances", {}) or {}
        return tol.get(order, tol.get(0))


class RegistryError(ValueError):
    """A backend that breaks the contract (a bug in it, reported with its origin)."""


def _as_backends(obj: Any) -> list[Any]:
    if hasattr(obj, "METHODS"):
        return [b for item in obj.METHODS for b in _as_backends(item)]
    if isinstance(obj, type):
        return [obj()]
    return [obj]


def _check(backend: Any, origin: str) -> None:
    for attr in ("name", "family", "description", "supports", "prepare"):
        if not getattr(backend, attr, None):
            raise RegistryError(f"method from {origin} has no {attr!r}")
    if backend.family not in FAMILIES:
        raise RegistryError(f"method {backend.name!r} from {origin}: family {backend.family!r} is not one of "
                            f"{', '.join(FAMILIES)}")


def builtin_modules() -> list[str]:
    from .. import backends as package
    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
            if not m.name.startswith("_") and m.name != "base"]


def _plugins() -> Iterable[tuple[str, Any]]:
    from importlib.metadata import entry_points
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        yield f"plug-in {ep.name} ({ep.value})", ep


def discover() -> dict[str, Entry]:
    """Every method: built-ins first (family order), then plug-ins in entry-point order."""
    found: list[Entry] = []
    for module in builtin_modules():
        for b in _as_backends(importlib.import_module(module)):
            _check(b, module)
            found.append(Entry(b, "built-in"))
    found.sort(key=lambda e: FAMILIES.index(e.family))
    names = {e.name for e in found}
    for origin, ep in _plugins():
        try:
            loaded = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plug-in must not break derivcmp
            _broken.append(f"{origin} could not be loaded: {type(err).__name__}: {err}")
            continue
        for b in _as_backends(loaded):
            try:
                _check(b, origin)
            except RegistryError as err:
                _broken.append(str(err))
                continue
            if b.name in names:
                _broken.append(f"{origin}: method {b.name!r} already exists; ignored")
                continue
            names.add(b.name)
            found.append(Entry(b, origin))
    return {e.name: e for e in found}


_broken: list[str] = []
_ENTRIES: dict[str, Entry] | None = None


def entries() -> dict[str, Entry]:
    global _ENTRIES
    if _ENTRIES is None:
        _ENTRIES = discover()
    return _ENTRIES


def broken_plugins() -> list[str]:
    entries()
    return list(_broken)


def reset() -> None:
    """Forget what was discovered (tests that install a plug-in)."""
    global _ENTRIES
    _ENTRIES = None
    _broken.clear()


@dataclass(frozen=True)
class Selection:
    names: tuple[str, ...]
    notes: tuple[str, ...] = ()


def select(spec: str | Iterable[str] | None) -> Selection:
    """Method names from a ``--methods`` value: names, families, ``all``, or None (the defaults).

    An unknown name raises ``ValueError`` listing the known ones; a known
    method that cannot run here (``all``, a family, or by name) is left out
    with a note saying how to install it.
    """
    reg = entries()
    if spec is None:
        return Selection(tuple(n for n, e in reg.items() if getattr(e.backend, "default", False) and e.available))
    items = [m.strip() for m in (spec.split(",") if isinstance(spec, str) else spec)]
    if not items or any(not m for m in items):
        raise ValueError(f"malformed list {spec!r}")
    wanted: list[str] = []
    for m in items:
        if m == "all":
            wanted.extend(reg)
        elif m in reg:
            # a method's own name wins over a family of the same name
            # ("symbolic"): the family is then its methods by name
            wanted.append(m)
        elif m in FAMILIES:
            wanted.extend(n for n, e in reg.items() if e.family == m)
        else:
            import difflib
            close = difflib.get_close_matches(m, list(reg) + list(FAMILIES), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"unknown method '{m}'{hint} (known: {', '.join(reg)}; families: "
                             f"{', '.join(FAMILIES)}; or all)")
    names, notes = [], []
    for n in dict.fromkeys(wanted):
        why = reg[n].why_unavailable()
        if why:
            notes.append(f"note: method '{n}' is not available in this installation ({why}); skipped")
        else:
            names.append(n)
    return Selection(tuple(names), tuple(notes))

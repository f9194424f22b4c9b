"""Shared fixtures."""

from __future__ import annotations

import pytest

from derivcmp.backends import base
from derivcmp.backends.base import Method


class AbsentMethod(Method):
    """A registered method whose package is not installed (as jax is on a plain install)."""

    name = "absent-peer"
    family = "peer"
    description = "a peer whose package is missing"
    requires = ("derivcmp_test_absent_package",)
    extra = "absent"

    def prepare(self, problem):  # pragma: no cover - never runs: not available
        raise AssertionError("an unavailable method was run")


@pytest.fixture
def absent_method(monkeypatch):
    """The registry with one more method that cannot run here; yields its name."""
    entries = dict(base.entries())
    entries[AbsentMethod.name] = base.Entry(AbsentMethod(), "test")
    monkeypatch.setattr(base, "_ENTRIES", entries)
    yield AbsentMethod.name


def known_methods_text() -> str:
    """How an unknown-method message lists what exists."""
    return (f"(known: {', '.join(base.entries())}; families: {', '.join(base.FAMILIES)}; or all)")


@pytest.fixture(autouse=True, scope="session")
def _patient_simplification():
    """Simplification has its own deadline (5 s by default); on a loaded CI machine
    an ordinary simplification can overrun it, which would turn value tests into
    timeouts.  Tests of the deadline itself set a short one explicitly."""
    # on the classes, so instances made after a registry reset are patient too
    classes = {type(e.backend): type(e.backend).simplify_timeout for e in base.entries().values()
               if hasattr(type(e.backend), "simplify_timeout")}
    for cls in classes:
        cls.simplify_timeout = 120.0
    yield
    for cls, seconds in classes.items():
        cls.simplify_timeout = seconds

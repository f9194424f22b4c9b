"""The method registry: what methods declare, how they are selected, plug-ins.

The plug-in test installs a real distribution the way pip leaves one -- a
``*.dist-info`` folder with ``entry_points.txt`` on the path -- so
``importlib.metadata`` finds it exactly as it would after ``pip install``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import mpmath
import pytest

from derivcmp import backends, compare_text
from derivcmp.backends import base
from derivcmp.errors import DerivcmpError

PACKAGE = Path(__file__).resolve().parent.parent / "derivcmp"


def test_every_builtin_declares_the_contract():
    reg = base.entries()
    assert len(reg) >= 3
    for name, e in reg.items():
        b = e.backend
        assert b.name == name and b.family in base.FAMILIES and b.description
        assert callable(b.supports) and callable(b.prepare)
        assert isinstance(b.max_order, int) and b.max_order >= 1
        # a default tolerance is declared for every order the method supports, or none
        assert all(isinstance(v, float) and v > 0 for v in b.tolerances.values())
    assert base.select(None).names, "no default methods"
    assert set(base.select(None).names) <= set(reg)


def test_selection_by_name_family_and_all():
    reg = base.entries()
    fd = [n for n, e in reg.items() if e.family == "finite-difference"]
    assert list(base.select("finite-difference").names) == fd
    assert list(base.select("all").names) == [n for n, e in reg.items() if e.available]
    first = next(iter(reg))
    assert base.select([first, first]).names == (first,)
    with pytest.raises(ValueError, match=r"unknown method 'nope'.*families: symbolic, finite-difference"):
        base.select("nope")


def test_an_unavailable_method_is_a_note_not_an_error(absent_method):
    chosen = base.select("all")
    assert absent_method not in chosen.names
    assert (f"note: method '{absent_method}' is not available in this installation "
            "(needs derivcmp_test_absent_package: pip install 'derivcmp[absent]'); skipped") in chosen.notes
    # one note per method that cannot run here (peers whose frameworks are not installed too)
    assert len(chosen.notes) == sum(1 for e in base.entries().values() if not e.available)
    assert absent_method not in base.select("peer").names


def test_no_method_name_outside_its_backend_module():
    """Nothing outside a backend's own module names a method: suites, comparison,
    batch and reports read the registry (docstrings may show examples)."""
    own = {n: Path(sys.modules[type(e.backend).__module__].__file__).resolve() for n, e in base.entries().items()}
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
                continue
            for name, home in own.items():
                if home == path.resolve() or name in base.FAMILIES:
                    continue        # its own module; "symbolic" is also a family's name and a word
                if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", node.value):
                    bad.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {name!r}")
    assert bad == []


# --- plug-ins -------------------------------------------------------------------------------

PLUGIN = '''
"""A tiny third-party method: the complex step Im f(x + ih)/h, first order, one variable."""
import numpy as np

from derivcmp.backends import Prepared
from derivcmp.backends.base import Method
from derivcmp.program import compile_program


class ComplexStep(Method):
    name = "plugin-complex-step"
    family = "finite-difference"
    description = "complex step from a plug-in"
    tolerances = {1: 1e-13}
    max_order = 1

    def supports(self, problem):
        if len(problem.wrt) != 1:
            return "one variable only"
        return super().supports(problem)

    def prepare(self, problem):
        program = compile_program(problem.expr)
        (w,) = problem.wrt

        def evaluate(point):
            vals = [None] * len(program.slots)
            for i, s in enumerate(program.slots):
                if s.kind == 0:
                    vals[i] = complex(point[s.name], 1e-200 if s.name == w else 0.0)
                elif s.kind == 1:
                    vals[i] = complex(s.value)
                else:
                    vals[i] = s.prim.cx(*[vals[a] for a in s.args])
            return float(np.imag(vals[program.output]) / 1e-200)
        return Prepared(evaluate, {"step": 1e-200})
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """Lay out the plug-in as pip would install it; yield the site folder."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "derivcmp_demo_plugin.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "derivcmp_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: derivcmp-demo-plugin\nVersion: 0.1\n",
                                   encoding="utf-8")
    (info / "entry_points.txt").write_text(
        "[derivcmp.methods]\ncomplex-step-demo = derivcmp_demo_plugin:ComplexStep\n"
        "broken-demo = derivcmp_demo_plugin_missing:Nothing\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    base.reset()
    yield site
    sys.modules.pop("derivcmp_demo_plugin", None)
    base.reset()


def test_a_plugin_adds_a_method_through_an_entry_point(installed_plugin):
    reg = base.entries()
    assert reg["plugin-complex-step"].origin.startswith("plug-in complex-step-demo")
    assert "plugin-complex-step" in base.select("finite-difference").names
    # a broken entry point is reported, and does not stop the others
    assert any("broken-demo" in p and "ModuleNotFoundError" in p for p in base.broken_plugins())
    c = compare_text("sin(x)*exp(x)", wrt="x", at="x=0.7", methods="plugin-complex-step", timing=False)
    (g,) = c.results
    truth = mpmath.mpf(0.7)
    truth = (mpmath.cos(truth) + mpmath.sin(truth)) * mpmath.exp(truth)
    assert g.outcome.status == "ok" and g.rel_error < 1e-15
    assert abs(float(g.outcome.value) - float(truth)) <= 2e-16 * float(truth)
    # its declared tolerance and its not-applicable answer reach the rest of derivcmp
    from derivcmp.suite import default_tolerance
    assert default_tolerance("plugin-complex-step", 1) == 1e-13
    c = compare_text("x*y", wrt="x,y", at="x=1,y=2", methods="plugin-complex-step", timing=False)
    assert c.results[0].outcome.status == "not-applicable"


def test_a_plugin_through_the_command_line(installed_plugin):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_plugin), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "derivcmp.cli", "methods", "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    listed = {m["name"]: m for m in json.loads(out.stdout)}
    assert listed["plugin-complex-step"]["family"] == "finite-difference"
    assert "broken-demo" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run([sys.executable, "-m", "derivcmp.cli", "eval", "sin(x)", "--at", "x=1", "--no-timing",
                          "--methods", "plugin-complex-step", "--format", "json"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (m,) = doc["methods"]
    assert m["name"] == "plugin-complex-step" and m["status"] == "ok"
    assert m["rel_error"] < 1e-15


def test_compare_rejects_unknown_methods_with_the_known_ones():
    with pytest.raises(DerivcmpError, match="--methods: unknown method 'sybolic'; did you mean 'symbolic'"):
        compare_text("x", at="x=1", methods="sybolic", timing=False)


def test_registry_used_by_the_harness():
    # backends.registry() is the runnable subset of the registry, by name
    assert list(backends.registry()) == [n for n, e in base.entries().items() if e.available]


def test_cli_methods_lists_why_a_method_cannot_run(absent_method):
    from click.testing import CliRunner

    from derivcmp.cli import main
    res = CliRunner().invoke(main, ["methods"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    line = next(x for x in res.output.splitlines() if x.startswith(absent_method))
    assert "no: needs derivcmp_test_absent_package: pip install 'derivcmp[absent]'" in line
    for name, e in base.entries().items():
        assert any(x.startswith(name) and e.family in x for x in res.output.splitlines())
    doc = json.loads(CliRunner().invoke(main, ["methods", "--format", "json"]).output)
    assert [m["name"] for m in doc] == list(base.entries())
    assert {m["name"]: m["available"] for m in doc}[absent_method] is False


def test_cli_asking_only_for_a_missing_method(absent_method):
    from click.testing import CliRunner

    from derivcmp.cli import main
    res = CliRunner().invoke(main, ["eval", "x^2", "--at", "x=1", "--methods", absent_method, "--no-timing"])
    assert res.exit_code == 2
    assert res.stderr == (f"note: method '{absent_method}' is not available in this installation (needs "
                          "derivcmp_test_absent_package: pip install 'derivcmp[absent]'); skipped\n"
                          "error: --methods: none of the chosen methods can run in this installation\n")
    # with 'all', the missing one is a note and the others run
    res = CliRunner().invoke(main, ["eval", "x^2", "--at", "x=1", "--methods", "all", "--no-timing",
                                    "--format", "json"])
    assert res.exit_code == 0 and "note: method 'absent-peer'" in res.stderr
    got = {m["name"]: m["value"] for m in json.loads(res.stdout)["methods"]}
    assert set(got) == set(backends.registry()) and got[next(iter(got))] == pytest.approx(2.0, rel=1e-9)


def test_f_itself_is_timed_as_the_cost_baseline():
    from derivcmp.report import document
    c = compare_text("1/(1+exp(-w*x))", wrt="w", at="w=2,x=3", timing=True, methods="all")
    assert c.f_time is not None and c.f_time.eval_s > 0 and c.f_time.repeats >= 3
    doc = document(c)
    assert doc["f"]["eval_s"] == c.f_time.eval_s and doc["f"]["repeats"] == c.f_time.repeats
    for m, g in zip(doc["methods"], c.results):
        assert m["time"]["eval_over_f"] == pytest.approx(g.outcome.timing.eval_s / c.f_time.eval_s, rel=1e-12)
    off = compare_text("x", at="x=1", timing=False)
    assert off.f_time is None and document(off, timing=False)["f"] is None


def test_the_warm_up_before_forking_leaves_the_framework_peers_alone(monkeypatch):
    """Peers (JAX, TensorFlow) start threads; a child forked after that may deadlock,
    so ``eval``'s warm-up in the parent runs every method but them."""
    cmp = sys.modules["derivcmp.compare"]
    from derivcmp.backends.base import Method

    ran = []

    class Peer(Method):
        name, family, description = "threaded-peer", "peer", "starts threads"

        def prepare(self, problem):
            ran.append(self.name)
            raise AssertionError("a peer was warmed up in the parent")

    class Local(Peer):
        name, family = "local-method", "automatic"

    reg = dict(base.entries())
    reg["threaded-peer"] = base.Entry(Peer(), "test")
    reg["local-method"] = base.Entry(Local(), "test")
    monkeypatch.setattr(base, "_ENTRIES", reg)
    monkeypatch.setattr(cmp, "_WARM", set())
    cmp.warm_up(["threaded-peer", "local-method"])
    assert ran == ["local-method"]

"""Start-up: commands that need no derivative do not import sympy (or mpmath).

sympy costs about half a second to import; ``--help``, ``functions``,
listing the methods and rejecting a malformed expression need neither it
nor mpmath.  Each case runs in a fresh interpreter and reports what it
imported; the command's own exit status and output are checked too.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from derivcmp.cli import main
try:
    main(sys.argv[1:])
    status = 0
except SystemExit as exit:
    status = exit.code
print("\\n" + json.dumps({"status": status, "sympy": "sympy" in sys.modules,
                          "mpmath": "mpmath" in sys.modules}))
"""


def probe(*args: str) -> tuple[dict, str, str]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          timeout=120, check=False)
    *output, last = done.stdout.rstrip("\n").split("\n")
    return json.loads(last), "\n".join(output), done.stderr


@pytest.mark.parametrize(("args", "status", "shows"), [
    (["--help"], 0, "Compare symbolic, finite-difference"),
    (["functions"], 0, "sigmoid"),
    (["eval", "sinn(x)", "--at", "x=1"], 2, "did you mean 'sin'?"),
    (["eval", "2x", "--at", "x=1"], 2, "did you mean 2*x?"),
    (["eval", "x+", "--at", "x=1"], 2, "error:"),
])
def test_commands_without_a_derivative_do_not_import_sympy(args, status, shows):
    got, out, err = probe(*args)
    assert got["status"] == status, err
    assert shows in out + err
    assert "Traceback" not in err
    assert not got["sympy"], f"derivcmp {' '.join(args)} imported sympy"
    assert not got["mpmath"], f"derivcmp {' '.join(args)} imported mpmath"


def test_discovering_the_methods_does_not_import_sympy():
    code = ("import sys\nfrom derivcmp.backends import base\n"
            "names = list(base.entries())\n"
            "print(len(names), 'symbolic' in names, 'sympy' in sys.modules, 'mpmath' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    count, has_symbolic, sympy_loaded, mpmath_loaded = done.stdout.split()
    assert int(count) >= 3 and has_symbolic == "True"
    assert (sympy_loaded, mpmath_loaded) == ("False", "False")


def test_a_run_still_imports_what_it_needs():
    # the other side of the same probe: an actual derivative does load sympy
    got, out, err = probe("eval", "sin(x)", "--at", "x=1", "--no-timing", "--format", "json")
    assert got["status"] == 0, err
    assert got["sympy"]
    doc = json.loads(out)
    assert doc["reference"]["value"] == pytest.approx(0.5403023058681398, rel=1e-15)


CHILDREN = """
import json, sys
from derivcmp import deadline
from derivcmp.cli import main

call = deadline.call
imported = []


def watched(fn, timeout):
    def child():
        before = set(sys.modules)
        result = fn()
        return result, sorted(set(sys.modules) - before)
    got = call(child, timeout)
    if isinstance(got, tuple):
        imported.append(got[1])
        return got[0]
    return got


deadline.call = watched
try:
    main(["eval", "1/(1+exp(-w*x))", "--wrt", "w", "--at", "w=2,x=3", "--no-timing", "--format", "json"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
print()
print(json.dumps({"imported": imported}))
"""


def test_eval_forks_its_children_after_the_warm_up():
    # each stage (the reference, every method) runs in a forked child: what it
    # would import or initialise the parent has done once, before forking
    done = subprocess.run([sys.executable, "-c", CHILDREN], capture_output=True, text=True, timeout=300,
                          check=True)
    *report, last = done.stdout.rstrip("\n").split("\n")
    doc = json.loads("\n".join(report))
    assert doc["reference"]["value"] == pytest.approx(0.0073995278740801434, rel=1e-15)
    assert [m["status"] for m in doc["methods"]] == ["ok"] * len(doc["methods"])
    got = json.loads(last)
    assert len(got["imported"]) == 1 + len(doc["methods"])
    for new in got["imported"]:
        heavy = [m for m in new if m.split(".")[0] in ("sympy", "mpmath", "numpy", "derivcmp")]
        assert heavy == [], heavy

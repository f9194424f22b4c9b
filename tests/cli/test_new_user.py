"""What a new user trips over (issue 9): each finding end to end.

CliRunner runs with ``COLUMNS=80``, an ordinary terminal's width; values are
checked against the 50-digit reference, sympy or mpmath, never against the
tool's own output.
"""

from __future__ import annotations

import json
import subprocess
import sys

import mpmath
import pytest
from click.testing import CliRunner

from derivcmp.backends import base
from derivcmp.cli import main

ENV80 = {"COLUMNS": "80", "NO_COLOR": None}


def run(*args: str, env=None):
    return CliRunner().invoke(main, list(args), env={**ENV80, **(env or {})}, catch_exceptions=False)


def run_json(*args: str) -> dict:
    res = run(*args, "--format", "json", "--no-timing")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def default_methods() -> list[str]:
    return list(base.select(None).names)


# --- 2. expressions that begin with "-" --------------------------------------------

def test_leading_minus_in_a_real_shell_invocation():
    # a real process: the argument vector exactly as a shell hands it over
    out = subprocess.run([sys.executable, "-m", "derivcmp", "eval", "-x^2", "--at", "x=3",
                          "--no-timing", "--format", "json"],
                         check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["expression"] == "-x^2"
    assert mpmath.mpf(doc["reference"]["exact"]) == -6          # d/dx -(x^2) at 3
    for m in doc["methods"]:
        assert m["status"] == "ok" and m["value"] == pytest.approx(-6.0, rel=1e-8)


@pytest.mark.parametrize("args", [
    ["eval", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))", "--wrt", "z", "--at", "y=1,z=0.5"],
    ["eval", "--wrt", "z", "--at", "y=1,z=0.5", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))"],
    ["eval", "--wrt", "z", "-(y*log(sigmoid(z)) + (1-y)*log(1-sigmoid(z)))", "--at", "y=1,z=0.5"],
])
def test_cross_entropy_with_leading_minus_and_options_anywhere(args):
    doc = run_json(*args)
    # d/dz of -log(sigmoid(z)) is sigmoid(z) - 1
    with mpmath.workdps(50):
        truth = 1 / (1 + mpmath.exp(-mpmath.mpf(0.5))) - 1
    assert float(mpmath.mpf(doc["reference"]["exact"])) == pytest.approx(float(truth), rel=1e-15)
    assert [m["name"] for m in doc["methods"]] == default_methods()


def test_unknown_options_are_still_errors():
    res = run("eval", "-x", "--bogus", "--at", "x=1")
    assert res.exit_code == 2 and "No such option '--bogus'" in res.stderr
    res = run("eval", "-x", "-y", "--at", "x=1")
    assert res.exit_code == 2 and "'-y'" in res.stderr


def test_help_still_works_after_a_negative_expression():
    res = run("eval", "-x", "-h")
    assert res.exit_code == 0 and "eval [OPTIONS] EXPRESSION" in res.stdout

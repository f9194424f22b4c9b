"""`derivcmp batch` and `derivcmp check` end to end.

CliRunner for the formats, exit codes and messages; a real subprocess for the
worker pool and for Ctrl-C.  Values are compared with closed forms computed
here in mpmath, never with the tool's own earlier output.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import mpmath
import pytest
from click.testing import CliRunner

from derivcmp.cli import main
from derivcmp.compare import select_methods

SUITE = """
[defaults]
at = { x = 0.5 }

[[case]]
id = "sigmoid-weight"
expr = "1/(1+exp(-w*x))"
wrt = ["w"]
at = { w = 2.0, x = 3.0 }
tags = ["ml"]
expected = "x*sigmoid(w*x)*(1-sigmoid(w*x))"

[[case]]
id = "exp-sin"
expr = "exp(sin(x))"

[[case]]
id = "himmelblau"
expr = "(x^2+y-11)^2 + (x+y^2-7)^2"
at = { y = -1.25 }
tags = ["ml"]

[[case]]
id = "kink"
expr = "abs(x - 0.5)"
expect = "not-differentiable"
"""

BAD = """
[[case]]
id = "fine"
expr = "cos(x)"
at = { x = 1.0 }

[[case]]
id = "typo"
expr = "sinn(x)"
at = { x = 1.0 }

[[case]]
id = "fine"
expr = "x"
at = { x = 1.0 }
colour = "red"
"""


def suite(tmp_path: Path, text: str = SUITE, name: str = "suite.toml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p.as_posix()


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def exact(f) -> mpmath.mpf:
    with mpmath.workdps(60):
        return f()


def closed_forms() -> dict[str, object]:
    def sig():
        s = 1 / (1 + mpmath.exp(-mpmath.mpf(2) * 3))
        return 3 * s * (1 - s)

    def exp_sin():
        x = mpmath.mpf(0.5)
        return mpmath.cos(x) * mpmath.exp(mpmath.sin(x))

    x, y = 0.5, -1.25
    himmel = [4 * x * (x * x + y - 11) + 2 * (x + y * y - 7), 2 * (x * x + y - 11) + 4 * y * (x + y * y - 7)]
    return {"sigmoid-weight": float(exact(sig)), "exp-sin": float(exact(exp_sin)), "himmelblau": himmel}


# --- batch -----------------------------------------------------------------------

def test_batch_json_is_the_spec_document_with_true_values(tmp_path):
    f = suite(tmp_path)
    res = run("batch", f, "--format", "json", "--no-timing", "--jobs", "1")
    assert res.exit_code == 0, res.stderr
    doc = json.loads(res.stdout)
    assert list(doc) == ["schema", "cases", "summary", "environment", "interrupted"]
    assert doc["interrupted"] is False
    assert doc["schema"] == "derivcmp-batch/2"
    assert [c["id"] for c in doc["cases"]] == ["sigmoid-weight", "exp-sin", "himmelblau", "kink"]
    truth = closed_forms()
    for c in doc["cases"]:
        assert c["schema"] == "derivcmp/2" and c["file"] == f
        assert set(c) == {"schema", "expression", "wrt", "order", "at", "reference", "f", "methods", "id", "file"}
        assert c["f"] is None                   # --no-timing: f itself is not timed either
        if c["id"] == "kink":
            assert c["reference"]["status"] == "not-differentiable"
            continue
        assert c["reference"]["value"] == pytest.approx(truth[c["id"]], rel=1e-15, abs=1e-15)
        for m in c["methods"]:
            tol = 1e-6 if m["name"] == "fd-central" else 1e-13
            assert m["value"] == pytest.approx(truth[c["id"]], rel=tol, abs=tol)
            assert m["time"] is None
    assert doc["cases"][2]["wrt"] == ["x", "y"]
    s = doc["summary"]
    assert list(s) == list(select_methods(None).names)
    assert set(s["symbolic"]) == {"cases", "ok", "not_ok", "not_applicable", "no_derivative", "skipped",
                                  "median_rel_error", "worst_rel_error", "worst_case", "median_eval_s",
                                  "most_accurate"}
    assert (s["fd-central"]["ok"], s["fd-central"]["not_ok"], s["fd-central"]["no_derivative"]) == (3, 0, 1)
    fd_errs = sorted(c["methods"][1]["rel_error"] for c in doc["cases"][:3])
    assert s["fd-central"]["median_rel_error"] == fd_errs[1]
    assert s["fd-central"]["worst_rel_error"] == fd_errs[2]
    env = doc["environment"]
    import numpy
    import sympy
    assert env["numpy"] == numpy.__version__ and env["sympy"] == sympy.__version__
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"derivcmp", "machine", "platform"} <= set(env)


def test_batch_table_csv_markdown_and_output_file(tmp_path):
    f = suite(tmp_path)
    table = run("batch", f, "--no-timing", "-j", "1")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert any(re.match(r"sigmoid-weight\s+ok\s+\S+e-1\d", line) for line in lines), table.stdout
    assert any(re.match(r"kink\s+not-diff\s+not-diff", line) for line in lines)
    assert any(re.match(r"fd-central\s+4\s+3\s+0\s+1\s+0\s+0\s", line) for line in lines)
    assert "4 cases in" in table.stdout
    res = run("batch", f, "--no-timing", "-j", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 4 * len(select_methods(None).names)
    sig = [r for r in rows if r["id"] == "sigmoid-weight"]
    assert [r["method"] for r in sig] == list(select_methods(None).names)
    assert float(sig[0]["value"]) == pytest.approx(closed_forms()["sigmoid-weight"], rel=1e-14)
    md = run("batch", f, "--no-timing", "-j", "1", "--format", "markdown").stdout
    assert "| case | reference | symbolic | fd-central | ad-reverse | most accurate |" in md
    assert "| `kink` | not-differentiable | not-diff | not-diff | not-diff | - |" in md
    out = tmp_path / "report.json"
    res = run("batch", f, "--no-timing", "-j", "1", "--format", "json", "--output", str(out))
    assert res.exit_code == 0 and res.stdout == ""
    assert json.loads(out.read_text())["schema"] == "derivcmp-batch/2"


def test_batch_tag_filter_and_methods_override(tmp_path):
    f = suite(tmp_path)
    doc = json.loads(run("batch", f, "--tag", "ml", "--methods", "ad-reverse", "--no-timing", "-j", "1",
                         "--format", "json").stdout)
    assert [c["id"] for c in doc["cases"]] == ["sigmoid-weight", "himmelblau"]
    assert [[m["name"] for m in c["methods"]] for c in doc["cases"]] == [["ad-reverse"]] * 2
    res = run("batch", f, "--tag", "nope", "--no-timing")
    assert res.exit_code == 2 and res.stderr == "error: no case has the tag 'nope'\n"


def test_batch_plain_text_with_command_line_point(tmp_path):
    f = suite(tmp_path, "# smoke\nsin(x)*y\n\nlog(x)\n", "smoke.txt")
    doc = json.loads(run("batch", f, "--at", "x=0.5,y=2", "--wrt", "x", "--no-timing", "-j", "1",
                         "--format", "json").stdout)
    assert [(c["id"], c["at"]) for c in doc["cases"]] == [("smoke.txt:2", {"x": 0.5, "y": 2.0}),
                                                         ("smoke.txt:4", {"x": 0.5})]
    assert doc["cases"][0]["reference"]["value"] == pytest.approx(2 * float(exact(lambda: mpmath.cos(0.5))),
                                                                  rel=1e-15)
    assert doc["cases"][1]["reference"]["value"] == 2.0


def test_batch_malformed_file_reports_each_error_runs_the_rest_and_exits_2(tmp_path):
    bad = suite(tmp_path, BAD, "bad.toml")
    good = suite(tmp_path)
    res = run("batch", bad, good, str(tmp_path / "missing"), "--no-timing", "-j", "1", "--format", "json")
    assert res.exit_code == 2
    assert res.stderr == (
        f"{tmp_path.as_posix()}/missing: error: no such file or directory\n"
        f"{bad}:8: error: unknown function 'sinn' (column 1)\n  sinn(x)\n  ^^^^\ndid you mean 'sin'?\n"
        f"{bad}:15: error: unknown key 'colour' in [[case]]\n"
        "error: 3 input errors (above); the other cases ran\n")
    doc = json.loads(res.stdout)
    assert [(c["file"], c["id"]) for c in doc["cases"]] == [(bad, "fine")] + [
        (good, i) for i in ("sigmoid-weight", "exp-sin", "himmelblau", "kink")]
    assert "Traceback" not in res.stderr


def test_batch_bad_options_exit_2(tmp_path):
    f = suite(tmp_path)
    res = run("batch", f, "--methods", "ad-revers")
    assert res.exit_code == 2 and "unknown method 'ad-revers'; did you mean 'ad-reverse'?" in res.stderr
    assert run("batch", f, "--jobs", "0").exit_code == 2
    assert run("batch").exit_code == 2
    res = run("batch", suite(tmp_path, "x\n", "a.txt"), "--at", "x")
    assert res.exit_code == 2
    assert res.stderr.startswith("<command line>: error: --at: expected name=value, got 'x'")


# --- check -----------------------------------------------------------------------

def test_check_passes_and_writes_junit_markdown_and_baseline(tmp_path):
    f = suite(tmp_path)
    junit, md, base = tmp_path / "j.xml", tmp_path / "s.md", tmp_path / "base.json"
    res = run("check", f, "--no-timing", "-j", "1", "--junit", str(junit), "--markdown", str(md),
              "--save-baseline", str(base))
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "check: PASS" in res.stdout
    root = ET.parse(junit).getroot()
    cases = root.findall("testsuite/testcase")
    names = [c.get("name") for c in cases]
    # one testcase per case x method, plus the expected value and the expected status
    assert names == ["sigmoid-weight[expected]", "sigmoid-weight[symbolic]", "sigmoid-weight[fd-central]",
                     "sigmoid-weight[ad-reverse]", "exp-sin[symbolic]", "exp-sin[fd-central]",
                     "exp-sin[ad-reverse]", "himmelblau[symbolic]", "himmelblau[fd-central]",
                     "himmelblau[ad-reverse]", "kink[reference]", "kink[symbolic]", "kink[fd-central]",
                     "kink[ad-reverse]"]
    assert {c.get("classname") for c in cases} == {f}
    assert root.get("failures") == "0" and root.get("tests") == "14" and root.get("skipped") == "3"
    text = md.read_text()
    assert text.startswith("### ✅ derivcmp check: pass\n")
    assert "| method | cases | ok | not ok | no deriv. | n/a | skipped | median rel error |" in text
    saved = json.loads(base.read_text())
    assert saved["schema"] == "derivcmp-baseline/1" and saved["timing"] is False
    assert [c["id"] for c in saved["cases"]] == ["sigmoid-weight", "exp-sin", "himmelblau", "kink"]
    assert set(saved["environment"]) >= {"derivcmp", "python", "numpy", "sympy", "git_commit", "created"}
    # the same run against its own baseline passes, with no change marks
    again = run("check", f, "--no-timing", "-j", "1", "--baseline", str(base))
    assert again.exit_code == 0
    assert "0 worse (+), 0 better (-), 0 newly failing (!), 0 fixed (*)" in again.stdout


def test_check_fails_on_tolerance_expected_and_status(tmp_path):
    f = suite(tmp_path, """
        [[case]]
        id = "tight"
        expr = "exp(x)"
        at = { x = 1.5 }
        tolerance = { "fd-central" = 1e-14 }

        [[case]]
        id = "hand-derivative"
        expr = "x*sin(x)"
        at = { x = 0.5 }
        expected = "x*cos(x)"

        [[case]]
        id = "status"
        expr = "sqrt(x)"
        at = { x = 0 }
        """)
    junit = tmp_path / "j.xml"
    res = run("check", f, "--no-timing", "-j", "1", "--junit", str(junit), "--format", "markdown")
    assert res.exit_code == 1
    truth = float(exact(lambda: mpmath.sin(0.5) + 0.5 * mpmath.cos(0.5)))
    wrong = float(exact(lambda: 0.5 * mpmath.cos(0.5)))
    assert res.stdout.startswith("### ❌ derivcmp check: FAIL")
    assert f"expected {wrong!r} but the reference is {truth!r}" in res.stdout
    assert "reference is not-differentiable, expected ok" in res.stdout
    fails = {c.get("name"): c.find("failure").get("message")
             for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None}
    assert set(fails) == {"tight[fd-central]", "hand-derivative[expected]", "status[reference]"}
    assert re.fullmatch(r"rel error \d\.\d\de-\d\d > tolerance 1e-14", fails["tight[fd-central]"])


def test_check_against_a_baseline_marks_regressions(tmp_path):
    f = suite(tmp_path)
    base = tmp_path / "base.json"
    assert run("check", f, "--no-timing", "-j", "1", "--save-baseline", str(base)).exit_code == 0
    data = json.loads(base.read_text())
    fd = data["cases"][1]["methods"]["fd-central"]
    true_err = fd["rel_error"]
    fd["rel_error"] = true_err / 1000          # pretend fd-central used to be far better
    data["cases"][0]["methods"]["ad-reverse"]["rel_error"] = 1e-3   # and ad-reverse far worse
    base.write_text(json.dumps(data))
    res = run("check", f, "--no-timing", "-j", "1", "--baseline", str(base))
    assert res.exit_code == 1
    assert re.search(r"^exp-sin\s+ok\s+\S+\s+\+\S+\s+\S+\s+\S+.*FAIL fd-central \+", res.stdout,
                     re.M), res.stdout
    assert re.search(r"^sigmoid-weight\s+ok\s+\S+\s+\S+\s+-\S+", res.stdout, re.M)
    assert "1 worse (+), 1 better (-), 0 newly failing (!), 0 fixed (*)" in res.stdout
    # the baseline is floored at batch.ERROR_FLOOR, so the factor shown may be below 1000
    assert re.search(rf"exp-sin \[fd-central\]: rel error {true_err:.2e} is \S+× the baseline", res.stdout)
    loose = run("check", f, "--no-timing", "-j", "1", "--baseline", str(base), "--factor", "2000")
    assert loose.exit_code == 0


def test_check_bad_baseline_exits_2_before_running(tmp_path):
    f = suite(tmp_path)
    bad = tmp_path / "b.json"
    bad.write_text("[]")
    res = run("check", f, "--baseline", str(bad))
    assert res.exit_code == 2
    assert res.stderr == (f"error: --baseline: {bad} is not a derivcmp baseline (expected schema "
                          "'derivcmp-baseline/1'; write one with --save-baseline)\n")


# --- real processes: the worker pool and Ctrl-C ------------------------------------

def derivcmp_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("derivcmp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "derivcmp"]


def test_parallel_subprocess_matches_serial_in_order(tmp_path):
    f = suite(tmp_path)
    g = suite(tmp_path, SUITE.replace('id = "', 'id = "b-'), "second.toml")
    base = derivcmp_cmd() + ["batch", f, g, "--no-timing", "--format", "json"]
    serial = subprocess.run(base + ["--jobs", "1"], capture_output=True, text=True, timeout=120)
    parallel = subprocess.run(base + ["--jobs", "2"], capture_output=True, text=True, timeout=120)
    assert serial.returncode == parallel.returncode == 0, parallel.stderr
    assert parallel.stderr == ""          # no progress bar when stderr is not a terminal
    a, b = json.loads(serial.stdout), json.loads(parallel.stdout)
    assert [c["id"] for c in b["cases"]] == [c["id"] for c in a["cases"]]
    assert a["cases"] == b["cases"] and a["summary"] == b["summary"]


SLOW = "".join(f"""
[[case]]
id = "c{i}"
expr = "tanh(sin(x)^2 + log1p(x^2) * exp(-x/{i + 1}))"
at = {{ x = {0.1 * (i + 1)} }}
""" for i in range(40))


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal and POSIX signals")
def test_ctrl_c_stops_cleanly_and_reports_the_finished_cases(tmp_path):
    import pty
    f = suite(tmp_path, SLOW, "slow.toml")
    master, slave = pty.openpty()        # stderr a terminal, so the progress bar shows progress
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    proc = subprocess.Popen(derivcmp_cmd() + ["batch", f, "--jobs", "2", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=slave, env=env, text=True)
    os.close(slave)
    seen, deadline = b"", time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
            done = [int(n) for n in re.findall(rb"(\d+)/40", seen)]
            if done and max(done) >= 2:
                break
        assert done and max(done) >= 2, seen[-500:]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        while True:                      # drain what the process wrote to its terminal
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    err = seen.decode("utf-8", "replace")
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    m = re.search(r"interrupted: (\d+) of 40 cases finished; the report covers only those", err)
    assert m, err[-800:]
    assert err.count("interrupted:") == 1          # said once
    doc = json.loads(out)
    assert doc["interrupted"] is True
    assert len(doc["cases"]) == int(m.group(1)) >= 2
    # the finished cases are the first ones, in order, with real values
    ids = [c["id"] for c in doc["cases"]]
    assert set(ids) <= {f"c{i}" for i in range(40)} and ids == sorted(ids, key=lambda s: int(s[1:]))
    assert all(c["methods"][0]["status"] == "ok" for c in doc["cases"])

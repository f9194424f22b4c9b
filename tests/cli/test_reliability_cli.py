"""Issue 8, items 2-4 and 8: no traceback, every input channel validated,
nothing lost, limits stated.  End to end: CliRunner where it suffices, a real
subprocess for /dev/full, signals and ``ulimit -f``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from derivcmp import cli as cli_mod
from derivcmp import files
from derivcmp.cli import main

SUITE = """
[[case]]
id = "square"
expr = "x^2"
at = { x = 1.5 }
methods = ["ad-reverse"]

[[case]]
id = "sine"
expr = "sin(x)"
at = { x = 0.5 }
methods = ["ad-reverse"]
"""


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def suite(tmp_path: Path, text: str = SUITE, name: str = "s.toml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def derivcmp_cmd() -> list[str]:
    exe = shutil.which("derivcmp", path=os.path.dirname(sys.executable))
    return [exe] if exe else [sys.executable, "-m", "derivcmp"]


# --- 2. no traceback ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["inf", "1e300", "nan", "-1", "-inf", "abc"])
@pytest.mark.parametrize("command", ["eval", "batch"])
def test_a_timeout_must_be_a_finite_number_of_seconds(tmp_path, value, command):
    target = ["x", "--at", "x=1"] if command == "eval" else [suite(tmp_path)]
    res = run(command, *target, "--timeout", value)
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "--timeout" in res.output
    if value != "abc":
        assert "must be a finite number of seconds from 0 (no limit)" in res.output


def test_stdout_on_a_full_disk_is_one_line_and_exit_2():
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        out = subprocess.run(derivcmp_cmd() + ["eval", "x^2", "--at", "x=1", "--no-timing"],
                             stdout=full, stderr=subprocess.PIPE, text=True, timeout=120, check=False)
    assert out.returncode == 2
    assert out.stderr.strip() == "error: cannot write the output: No space left on device"


def test_ctrl_c_in_eval_is_one_line_and_exit_130(monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli_mod, "compare", interrupted)
    res = run("eval", "x", "--at", "x=1")
    assert res.exit_code == 130
    assert res.output.strip() == "interrupted"


# --- 3. every input channel validated ---------------------------------------------------

@pytest.mark.parametrize("value, word", [
    ("1e-400", "too small for float64"),
    ("１", "unexpected character"),
    ("1_0", "implicit multiplication"),
    ("1e400", "too large for float64"),
])
def test_at_uses_the_number_grammar_of_the_expression_language(value, word):
    res = run("eval", "x^2", "--at", f"x={value}")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert word in res.output
    # the same literal inside an expression is rejected the same way
    same = run("eval", f"x^2 + {value}", "--at", "x=1")
    assert same.exit_code == 2 and word in same.output


def test_a_toml_at_key_that_is_not_a_name_is_a_diagnostic_for_that_case(tmp_path):
    f = suite(tmp_path, SUITE + '''
[[case]]
id = "bad-key"
expr = "x"
at = { "x=2,y" = "3" }

[[case]]
id = "bad-value"
expr = "x"
at = { x = "1,y=2" }
''')
    res = run("batch", f, "--no-timing", "--format", "json")
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert "'x=2,y' is not a variable name" in res.output
    assert "bad-value" not in json.dumps([c["id"] for c in json.loads(res.stdout)["cases"]])
    ids = [c["id"] for c in json.loads(res.stdout)["cases"]]
    assert ids == ["square", "sine"]        # the other cases ran


@pytest.mark.parametrize("content, field", [
    ('{"schema": "derivcmp-baseline/1", "cases": 5}', "cases: must be a list"),
    ('{"schema": "derivcmp-baseline/1", "cases": [{}]}', "cases[0].file: must be a string"),
    (('{"schema": "derivcmp-baseline/1", "cases": [{"file": "s", "id": "a", "methods": '
      '{"ad-reverse": {"status": "ok", "rel_error": "big"}}}]}'),
     "cases[0].methods.ad-reverse.rel_error: must be a finite number or null"),
    (('{"schema": "derivcmp-baseline/1", "cases": [{"file": "s", "id": "a", "methods": '
      '{"ad-reverse": {"status": "ok", "rel_error": 1e-16, "eval_s": [1]}}}]}'),
     "cases[0].methods.ad-reverse.eval_s: must be a finite number or null"),
    (b'{"schema": "derivcmp-baseline/1", "cases": [\xff]}', "is not UTF-8 text (invalid start byte"),
    ("[" * 100_000 + "]" * 100_000, "is nested too deeply to be a baseline"),
])
def test_a_baseline_is_validated_before_any_case_runs(tmp_path, monkeypatch, content, field):
    base = tmp_path / "base.json"
    if isinstance(content, bytes):
        base.write_bytes(content)
    else:
        base.write_text(content, encoding="utf-8")

    def must_not_run(*a, **k):
        raise AssertionError("a case ran before the baseline was validated")
    monkeypatch.setattr(cli_mod, "_run_suites", must_not_run)
    res = run("check", suite(tmp_path), "--baseline", base, "--no-timing")
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert str(base) in res.output
    assert field in res.output


def test_a_huge_baseline_is_refused_unread(tmp_path, monkeypatch):
    from derivcmp import baseline_schema
    monkeypatch.setattr(baseline_schema, "MAX_BYTES", 10)
    base = tmp_path / "base.json"
    base.write_text('{"schema": "derivcmp-baseline/1", "cases": []}', encoding="utf-8")
    res = run("check", suite(tmp_path), "--baseline", base, "--no-timing")
    assert res.exit_code == 2
    assert f"--baseline: {base} is larger than 0 MiB" in res.output


# --- 4. nothing lost ------------------------------------------------------------------------

def test_a_failed_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    target = tmp_path / "report.json"
    target.write_text("the previous report\n", encoding="utf-8")

    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        files.write_atomic(str(target), "x" * 10_000)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert target.read_text(encoding="utf-8") == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]   # no temp file left


def test_a_write_cut_by_a_file_size_limit_keeps_every_output_and_the_baseline(tmp_path):
    """``ulimit -f`` in a real subprocess: every file the run writes is too big."""
    f = suite(tmp_path)
    outputs = {name: tmp_path / name for name in ("out.json", "junit.xml", "summary.md", "base.json")}
    for p in outputs.values():
        p.write_text("previous\n", encoding="utf-8")
    cmd = derivcmp_cmd() + ["check", f, "--no-timing", "--format", "json", "-o", str(outputs["out.json"]),
                            "--junit", str(outputs["junit.xml"]), "--markdown", str(outputs["summary.md"]),
                            "--save-baseline", str(outputs["base.json"])]

    def limit():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (5, 5))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, preexec_fn=limit, check=False)
    assert "Traceback" not in out.stderr
    assert out.returncode == 2
    for p in outputs.values():
        assert p.read_text(encoding="utf-8") == "previous\n", p.name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(list(outputs) + ["s.toml"])


def test_an_output_that_is_an_input_is_refused(tmp_path):
    f = suite(tmp_path)
    before = Path(f).read_text(encoding="utf-8")
    res = run("batch", f, "-o", f)
    assert res.exit_code == 2
    assert "is one of the inputs" in res.output and "refusing to overwrite it" in res.output
    res = run("check", str(tmp_path), "--junit", f)
    assert res.exit_code == 2 and "--junit" in res.output
    assert Path(f).read_text(encoding="utf-8") == before


def test_save_baseline_refuses_a_run_with_input_errors(tmp_path):
    f = suite(tmp_path, SUITE + '\n[[case]]\nid = "broken"\nexpr = "sin("\n')
    base = tmp_path / "base.json"
    res = run("check", f, "--no-timing", "--save-baseline", base)
    assert res.exit_code == 2
    assert f"not saving {base}: the run had input errors, so it does not cover the whole suite" in res.output
    assert not base.exists()


def test_a_failing_run_does_not_overwrite_its_own_baseline(tmp_path):
    f = suite(tmp_path)
    base = tmp_path / "base.json"
    assert run("check", f, "--no-timing", "--save-baseline", base).exit_code == 0
    doc = json.loads(base.read_text(encoding="utf-8"))
    for c in doc["cases"]:
        c["methods"]["ad-reverse"]["rel_error"] = 0.0
        c["methods"]["ad-reverse"]["passed"] = True
    base.write_text(json.dumps(doc), encoding="utf-8")
    # make the run fail: a tolerance no method meets
    strict = suite(tmp_path, SUITE.replace('methods = ["ad-reverse"]',
                                           'methods = ["fd-central"]\ntolerance = { "fd-central" = 1e-30 }'),
                   "strict.toml")
    saved = base.read_text(encoding="utf-8")
    res = run("check", strict, "--no-timing", "--baseline", base, "--save-baseline", base)
    assert res.exit_code == 1
    assert (f"not saving {base}: this run failed its checks against that same baseline "
            "(use --force-save to replace it anyway)") in res.output
    assert base.read_text(encoding="utf-8") == saved
    res = run("check", strict, "--no-timing", "--baseline", base, "--save-baseline", base, "--force-save")
    assert res.exit_code == 1
    assert base.read_text(encoding="utf-8") != saved


# --- 8. limits stated ---------------------------------------------------------------------------

def test_jobs_beyond_a_few_per_core_are_clamped_with_a_note(tmp_path, monkeypatch):
    import derivcmp.batch as batch_mod
    monkeypatch.setattr(batch_mod, "default_jobs", lambda: 2)
    seen = {}
    real = batch_mod.run_cases

    def spy(cases, methods=None, **kw):
        seen["jobs"] = kw.get("jobs")
        return real(cases, methods, **{**kw, "jobs": 1})
    monkeypatch.setattr(batch_mod, "run_cases", spy)
    res = run("batch", suite(tmp_path), "--jobs", "40", "--no-timing")
    assert res.exit_code == 0, res.output
    assert "note: --jobs 40 is more than 2 per core; using 4" in res.output
    assert seen["jobs"] == 4


# --- 7. grading that cannot hide a wrong component ---------------------------------------------

def test_a_wrong_small_component_is_reported_and_fails_check(tmp_path):
    from derivcmp.compare import compare_text
    c = compare_text("1e10*x + 1e-10*y^2", at="x=1,y=1", timing=False, methods=["fd-central"])
    (g,) = c.results
    # the true gradient is [1e10, 2e-10]; fd-central's y-component is 0.0
    assert float(g.outcome.value[1]) == 0.0
    assert g.rel_error < 1e-10                      # norm-wise: looks like 11.8 digits
    assert g.component_rel_error == 1.0             # component-wise: |0 - 2e-10| / 2e-10
    assert "worst component rel error 1.00e+00" in g.note
    f = suite(tmp_path, '''
[[case]]
id = "hidden"
expr = "1e10*x + 1e-10*y^2"
at = { x = 1, y = 1 }
methods = ["fd-central"]
tolerance = { "fd-central" = 1e-5 }
''')
    res = run("check", f, "--no-timing")
    assert res.exit_code == 1
    assert "rel error 1.00e+00 (worst component) > tolerance 1e-05" in res.output


def test_a_zero_component_of_the_reference_is_measured_against_the_norm():
    from derivcmp.compare import component_error
    assert component_error([1.0, 1e-3], ["1", "0"]) == pytest.approx(1e-3)
    assert component_error([0.0, 0.0], ["0", "0"]) == 0.0


# --- 5. deadlines cover everything a case computes -------------------------------------------------

def test_a_runaway_expected_formula_has_its_own_deadline_and_keeps_the_results(tmp_path, monkeypatch):
    import derivcmp.checks as batch_mod

    def forever(*a, **k):
        while True:
            pass
    monkeypatch.setattr(batch_mod, "_expected_value", forever)
    f = suite(tmp_path, '''
[[case]]
id = "runaway"
expr = "x^2"
at = { x = 1.5 }
expected = "exp(exp(exp(exp(x))))"
methods = ["ad-reverse"]
''')
    res = run("check", f, "--no-timing", "--timeout", "0.5", "--jobs", "1", "--format", "json")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    (case,) = doc["cases"]
    assert case["reference"]["status"] == "ok" and case["reference"]["value"] == 3.0
    assert case["methods"][0]["status"] == "ok" and case["methods"][0]["value"] == 3.0
    from derivcmp.suite import load
    loaded = load([f])
    from derivcmp.compare import compare
    problem, _ = loaded.cases[0].problem()
    out = batch_mod.check_expected(loaded.cases[0], compare(problem, ["ad-reverse"], False), 0.5)
    assert out["status"] == "timeout"
    assert out["message"] == ("expected: its value took more than 0.5 s (its own deadline; "
                              "raise --timeout to wait longer)")


def test_an_expected_formula_that_crashes_its_stage_is_an_error(monkeypatch):
    import derivcmp.checks as batch_mod
    from derivcmp import deadline
    from derivcmp.compare import compare
    from derivcmp.suite import Case

    monkeypatch.setattr(deadline, "call", lambda fn, timeout: deadline.Crashed("ran out of memory"))
    case = Case(id="c", file="f.toml", line=1, expr="x^2", wrt=None, at={"x": 1.5}, expected="2*x")
    problem, _ = case.problem()
    monkeypatch.undo()
    c = compare(problem, ["ad-reverse"], False)
    monkeypatch.setattr(deadline, "call", lambda fn, timeout: deadline.Crashed("ran out of memory"))
    out = batch_mod.check_expected(case, c, 1.0)
    assert out["status"] == "error" and out["message"] == "expected: ran out of memory"


# --- 6. outputs escape what they print ----------------------------------------------------------------

HOSTILE_ID = "evil\x1b[2J\x01<b>`x`|*y*</b>\u202e"


def _toml_escape(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch not in '"\\' else f"\\u{ord(ch):04x}" for ch in text)


def test_a_hostile_id_is_escaped_in_every_format(tmp_path):
    import xml.etree.ElementTree as ET
    f = suite(tmp_path, f'''
[[case]]
id = "{_toml_escape(HOSTILE_ID)}"
expr = "x^2"
at = {{ x = 1.5 }}
methods = ["ad-reverse"]
''')
    junit, md = tmp_path / "j.xml", tmp_path / "s.md"
    res = run("check", f, "--no-timing", "--junit", junit, "--markdown", md)
    assert res.exit_code == 0, res.output
    # terminal: the control characters are shown, not sent
    assert "\x1b" not in res.stdout and "\x01" not in res.stdout and "\u202e" not in res.stdout
    assert "evil\\x1b[2J\\x01" in res.stdout
    # JUnit: well-formed, the id readable
    root = ET.fromstring(junit.read_text(encoding="utf-8"))
    names = [tc.get("name") for tc in root.iter("testcase")]
    assert any(n.startswith("evil\\x1b[2J\\x01<b>") for n in names), names
    # Markdown: no live HTML, no table-breaking pipe, no code span
    text = md.read_text(encoding="utf-8")
    assert "<b>" not in text and "&lt;b&gt;" in text
    assert "`` evil\\x1b[2J\\x01&lt;b&gt;`x`\\|*y*&lt;/b&gt;\\u202e ``" in text


# --- 2. signals: SIGTERM and a second SIGINT ------------------------------------------------------

SLOW = "".join(f"""
[[case]]
id = "c{i}"
expr = "tanh(sin(x)^2 + log1p(x^2) * exp(-x/{i + 1}))"
at = {{ x = {0.1 * (i + 1)} }}
""" for i in range(40))


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.add(k)
            todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
@pytest.mark.parametrize("signals, code, word", [
    (["SIGTERM"], 143, "terminated"),
    (["SIGINT", "SIGINT"], 130, "interrupted"),
])
def test_signals_stop_the_run_report_what_finished_and_leave_no_process(tmp_path, signals, code, word):
    import select
    import signal as sig
    f = suite(tmp_path, SLOW, "slow.toml")
    out_file = tmp_path / "out.json"
    proc = subprocess.Popen(derivcmp_cmd() + ["batch", f, "--jobs", "2", "--format", "json", "-o",
                                              str(out_file), "--no-timing"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wait until the workers are up (the forkserver and its children)
        for _ in range(600):
            if len(_children(proc.pid)) >= 3 or proc.poll() is not None:
                break
            select.select([], [], [], 0.1)
        family = _children(proc.pid)
        for name in signals:
            proc.send_signal(getattr(sig, name))
            select.select([], [], [], 0.05)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err and "Exception ignored" not in err and "KeyboardInterrupt" not in err
    assert f"{word}: " in err and "cases finished; the report covers only those" in err
    doc = json.loads(out_file.read_text(encoding="utf-8"))
    assert doc["schema"] == "derivcmp-batch/2"
    for _ in range(100):           # the workers, forkserver and resource tracker are gone
        if not any(_alive(p) for p in family):
            break
        select.select([], [], [], 0.1)
    assert not any(_alive(p) for p in family), [p for p in family if _alive(p)]

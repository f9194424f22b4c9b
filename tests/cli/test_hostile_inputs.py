"""Fuzzing the input channels of issue 8 (CI-sized; hypothesis): hostile TOML
``at`` tables and ids, hostile baselines.  Whatever comes in, ``batch`` and
``check`` exit 0, 1 or 2 with no traceback, and every format they write stays
well-formed."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcmp.cli import main

_SETTINGS = settings(max_examples=25, deadline=None, database=None,
                     suppress_health_check=list(HealthCheck))

keys = st.one_of(st.sampled_from(["x", "y", "x=2,y", "1x", "pi", "", " x", "x y", "é", "_"]),
                 st.text(min_size=1, max_size=6))
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                   st.sampled_from(["1,y=2", "pi/4", "1e-400", "１", "1_0", "exp(1000)", "x", "", "sin("]),
                   st.text(max_size=8))
ids = st.text(min_size=1, max_size=12)


def toml_string(s: str) -> str:
    return '"' + "".join(ch if ch.isprintable() and ch not in '"\\' else f"\\u{ord(ch):04x}"
                         for ch in s if ord(ch) < 0xD800 or ord(ch) > 0xDFFF) + '"'


def toml_value(v) -> str:
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def _no_traceback(res) -> None:
    assert res.exit_code in (0, 1, 2), (res.exit_code, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert "Traceback" not in res.output


@_SETTINGS
@given(at=st.dictionaries(keys, values, max_size=3), case_id=ids)
def test_hostile_toml_at_tables_and_ids(tmp_path_factory, at, case_id):
    tmp = tmp_path_factory.mktemp("hostile")
    table = ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in at.items())
    suite = tmp / "s.toml"
    suite.write_text(f'[[case]]\nid = {toml_string(case_id)}\nexpr = "x"\nat = {{ {table} }}\n'
                     f'methods = ["ad-reverse"]\n\n[[case]]\nid = "fine"\nexpr = "x^2"\n'
                     f'at = {{ x = 1.5 }}\nmethods = ["ad-reverse"]\n', encoding="utf-8")
    junit = tmp / "j.xml"
    res = CliRunner().invoke(main, ["check", str(suite), "--no-timing", "--format", "json",
                                    "--junit", str(junit), "--timeout", "0"])
    _no_traceback(res)
    if res.exit_code != 2 or res.stdout.startswith("{"):
        doc = json.loads(res.stdout)
        assert "fine" in [c["id"] for c in doc["cases"]]       # the good case always ran
    if junit.exists():
        ET.fromstring(junit.read_text(encoding="utf-8"))          # well-formed


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(allow_nan=False),
                                     st.integers(), st.text(max_size=5)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                   st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                           max_leaves=12)
method_entries = st.dictionaries(st.sampled_from(["status", "rel_error", "eval_s", "passed", "x"]),
                                 json_values, max_size=4)
baseline_cases = st.lists(st.one_of(
    json_values,
    st.fixed_dictionaries({"file": st.one_of(st.just("s.toml"), json_values),
                           "id": st.one_of(st.just("fine"), json_values),
                           "methods": st.one_of(st.dictionaries(st.just("ad-reverse"), method_entries),
                                                json_values)})), max_size=3)


@_SETTINGS
@given(cases=st.one_of(baseline_cases, json_values), extra=st.dictionaries(st.text(max_size=5), json_values,
                                                                          max_size=2))
def test_hostile_baselines(tmp_path_factory, cases, extra):
    tmp = tmp_path_factory.mktemp("baseline")
    suite = tmp / "s.toml"
    suite.write_text('[[case]]\nid = "fine"\nexpr = "x^2"\nat = { x = 1.5 }\nmethods = ["ad-reverse"]\n',
                     encoding="utf-8")
    base = tmp / "b.json"
    base.write_text(json.dumps({**extra, "schema": "derivcmp-baseline/1", "cases": cases}), encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(suite), "--no-timing", "--baseline", str(base),
                                    "--timeout", "0"])
    _no_traceback(res)
    if res.exit_code == 2:
        assert str(base) in res.output

"""Loading expression files: formats, defaults, and one clear message per mistake."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
from conftest import known_methods_text

from derivcmp.suite import Case, default_tolerance, find_files, load, load_text, load_toml


def write(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return p.as_posix()


def messages(loaded) -> list[str]:
    return [str(d) for d in loaded.diagnostics]


def test_toml_case_fields_and_defaults(tmp_path):
    f = write(tmp_path, "s.toml", """
        [defaults]
        at = { x = 1.0, unused = 5 }
        methods = ["symbolic", "ad-reverse"]
        tolerance = { "fd-central" = 1e-6, "symbolic" = 1e-12 }
        tags = ["all"]

        [[case]]
        id = "sigmoid-weight"
        expr = "1/(1+exp(-w*x))"
        wrt = "w"
        at = { w = 2.0, x = 3.0 }
        tags = ["ml"]
        tolerance = { "symbolic" = 1e-13 }
        expected = "x*sigmoid(w*x)*(1-sigmoid(w*x))"
        note = "the README example"

        [[case]]
        id = "tan-pi4"
        expr = "tan(x)"
        at = { x = "pi/4" }
        order = 2
        methods = ["fd-central"]
        expect = "ok"
        """)
    loaded = load_toml(f)
    assert messages(loaded) == []
    a, b = loaded.cases
    assert a == Case(id="sigmoid-weight", file=f, line=7, expr="1/(1+exp(-w*x))", wrt=("w",),
                     at={"x": 3.0, "w": 2.0}, order=1, tags=("all", "ml"),
                     methods=("symbolic", "ad-reverse"),
                     tolerance={"fd-central": 1e-6, "symbolic": 1e-13},
                     expected="x*sigmoid(w*x)*(1-sigmoid(w*x))", note="the README example")
    # the defaults' point fills in only the variables the expression uses
    assert b.at == {"x": math.pi / 4} and b.order == 2 and b.methods == ("fd-central",)
    assert b.line == 17 and b.wrt is None
    assert b.tolerance_for("fd-central") == 1e-6
    assert b.tolerance_for("ad-reverse") == 1e-10        # built-in default


def test_default_tolerances():
    assert default_tolerance("symbolic", 1) == 1e-10
    assert default_tolerance("ad-reverse", 2) == 1e-10
    assert default_tolerance("fd-central", 1) == 1e-5
    assert default_tolerance("fd-central", 2) == 1e-3
    assert default_tolerance("no-such-method", 1) is None


def test_every_mistake_is_reported_with_file_and_line_and_good_cases_survive(tmp_path):
    f = write(tmp_path, "bad.toml", """
        [[case]]
        id = "good"
        expr = "sin(x)"
        at = { x = 1 }

        [[case]]
        id = "typo"
        expr = "x"
        att = { x = 1 }

        [[case]]
        id = "good"
        expr = "cos(x)"
        at = { x = 1 }

        [[case]]
        id = "parse"
        expr = "sinn(x) + 1"
        at = { x = 1 }

        [[case]]
        id = "wrong-type"
        expr = "x"
        at = { x = 1 }
        order = "2"

        [[case]]
        expr = "x"

        [[case]]
        id = "no-point"
        expr = "x*y"
        at = { x = 1 }

        [[case]]
        id = "bad-method"
        expr = "x"
        at = { x = 1 }
        methods = ["ad-revrse"]

        [[case]]
        id = "bad-expected"
        expr = "x^2"
        at = { x = 1 }
        expected = "2x"

        [[case]]
        id = "bad-expect"
        expr = "x"
        at = { x = 1 }
        expect = "maybe"

        [[case]]
        id = "gradient-shape"
        expr = "x*y"
        at = { x = 1, y = 2 }
        expected = [1.0]

        [[case]]
        id = "bool-value"
        expr = "x"
        at = { x = true }
        """)
    loaded = load_toml(f)
    assert [c.id for c in loaded.cases] == ["good"]
    assert messages(loaded) == [
        f"{f}:9: error: unknown key 'att' in [[case]]; did you mean 'at'?",
        f"{f}:11: error: duplicate case id 'good' (first defined at line 1)",
        f"{f}:18: error: unknown function 'sinn' (column 1)\n  sinn(x) + 1\n  ^^^^\ndid you mean 'sin'?",
        f"{f}:25: error: 'order' must be an integer, got a string",
        f"{f}:27: error: [[case]] is missing the required key 'id'",
        f"{f}:30: error: no value for variable 'y'; give it in at = {{ ... }}",
        f"{f}:39: error: methods: unknown method 'ad-revrse'; did you mean 'ad-reverse'? "
        + known_methods_text(),
        f"{f}:45: error: expected: missing operator (implicit multiplication is not allowed) (column 2)"
        "\n  2x\n   ^\ndid you mean 2*x?",
        f"{f}:51: error: 'expect' must be one of ok, undefined, not-differentiable, got 'maybe'",
        f"{f}:57: error: expected: the gradient has 2 entries (wrt x, y), so give a list of 2",
        f"{f}:62: error: 'at' value of 'x' must be a number, a string like \"pi/4\" or a range like "
        "\"0:1:101\", got a boolean",
    ]


def test_toml_syntax_error_shows_line_and_caret(tmp_path):
    f = write(tmp_path, "syntax.toml", """
        [[case]]
        id = "a"
        expr = sin(x)
        """)
    loaded = load_toml(f)
    assert loaded.cases == []
    assert messages(loaded) == [f"{f}:3: error: invalid TOML: Invalid value (column 8)\n"
                                "  expr = sin(x)\n         ^"]


def test_unknown_top_level_key_and_unknown_defaults_key(tmp_path):
    f = write(tmp_path, "top.toml", """
        title = "x"
        [defaults]
        wrt = ["x"]
        point = { x = 1 }

        [[case]]
        id = "a"
        expr = "x"
        at = { x = 1 }
        """)
    assert messages(load_toml(f)) == [
        f"{f}:1: error: unknown top-level key 'title' (a suite has [defaults] and [[case]] tables)",
        f"{f}:4: error: unknown key 'point' in [defaults]",
    ]


def test_unavailable_but_known_method_is_a_warning(tmp_path, absent_method):
    f = write(tmp_path, "m.toml", """
        [[case]]
        id = "a"
        expr = "x^2"
        at = { x = 1 }
        methods = ["absent-peer", "symbolic"]
        """)
    loaded = load_toml(f)
    assert [c.methods for c in loaded.cases] == [("symbolic",)]
    assert messages(loaded) == [f"{f}:1: warning: methods: method 'absent-peer' is not available in this "
                                "installation (needs derivcmp_test_absent_package: "
                                "pip install 'derivcmp[absent]'); skipped"]


def test_plain_text_lines_ids_and_command_line_point(tmp_path):
    f = write(tmp_path, "smoke.txt", """
        # comment
        sin(x)

        x^2 + y   # trailing comment
        sinn(x)
        x*z
        """)
    loaded = load_text(f, None, {"x": 1.0, "y": 2.0}, 1)
    assert [(c.id, c.expr, dict(c.at)) for c in loaded.cases] == [
        ("smoke.txt:2", "sin(x)", {"x": 1.0}),
        ("smoke.txt:4", "x^2 + y", {"x": 1.0, "y": 2.0}),
    ]
    assert messages(loaded) == [
        f"{f}:5: error: unknown function 'sinn' (column 1)\n  sinn(x)\n  ^^^^\ndid you mean 'sin'?",
        f"{f}:6: error: no value for variable 'z'; give it with --at z=...",
    ]


def test_directories_are_searched_sorted_and_missing_paths_reported(tmp_path):
    write(tmp_path, "d/b.toml", '[[case]]\nid = "b"\nexpr = "x"\nat = { x = 1 }\n')
    write(tmp_path, "d/a/z.txt", "x^3\n")
    write(tmp_path, "d/README.md", "not a suite\n")
    write(tmp_path, "d/baseline.txt", "not a suite either\n")
    write(tmp_path, "d/notes.json", "{}\n")
    files, problems = find_files([tmp_path / "d", tmp_path / "nope.toml", tmp_path / "d/notes.json"])
    root = (tmp_path / "d").as_posix()
    assert files == [f"{root}/a/z.txt", f"{root}/b.toml"]
    assert [str(p) for p in problems] == [
        f"{tmp_path.as_posix()}/nope.toml: error: no such file or directory",
        f"{root}/notes.json: error: unknown suite format (expected a .toml or .txt file)",
    ]
    loaded = load([tmp_path / "d"], at="x=2")
    assert [c.id for c in loaded.cases] == ["z.txt:1", "b"]


def test_tag_filter(tmp_path):
    f = write(tmp_path, "t.toml", """
        [[case]]
        id = "a"
        expr = "x"
        at = { x = 1 }
        tags = ["ml"]
        [[case]]
        id = "b"
        expr = "x"
        at = { x = 1 }
        """)
    assert [c.id for c in load([f], tags=["ml"]).cases] == ["a"]
    assert [c.id for c in load([f]).cases] == ["a", "b"]


@pytest.mark.parametrize("value, message", [
    ([[1, 2], [3]], "expected: the Hessian is 2×2, so give 2 lists of 2"),
    (5, "expected: the Hessian has 2 rows (wrt x, y), so give a list of 2"),
])
def test_hessian_expected_shape(tmp_path, value, message):
    f = write(tmp_path, "h.toml", f"""
        [[case]]
        id = "h"
        expr = "x^2*y"
        at = {{ x = 1, y = 2 }}
        order = 2
        expected = {value}
        """)
    assert messages(load_toml(f)) == [f"{f}:6: error: {message}"]


def test_not_utf8(tmp_path):
    p = tmp_path / "bin.toml"
    p.write_bytes(b"id = \xff\n")
    assert messages(load_toml(p.as_posix())) == [
        f"{p.as_posix()}: error: not UTF-8 text (invalid start byte at byte 5)"]

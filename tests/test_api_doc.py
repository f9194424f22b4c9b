"""docs/api.md's example runs, block after block, and its claims hold (issue 9, item 8)."""

from __future__ import annotations

import re
from pathlib import Path

import mpmath

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def test_api_doc_example_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    out = capsys.readouterr().out
    assert "0.0073995278740801434548671272626426154954912068390998" in out
    assert "['sigmoid-weight', 'abs-kink']" in out and "\npass\n" in out
    # tanh'(20) = sech(20)^2 = 1.7e-17; a method that returns 0.0 has no digit right
    doc = namespace["doc"]
    with mpmath.workdps(50):
        truth = mpmath.sech(20) ** 2
    for m in doc["methods"]:
        if m["value"] == 0.0:
            assert m["grade"] == "wrong"
        assert abs(mpmath.mpf(m["rel_error"]) - abs(m["value"] - truth) / truth) < 1e-12


def test_entry_points_are_documented():
    import derivcmp
    for name in ("compare_text", "compare", "make_problem", "load", "run_batch", "summarize", "check"):
        fn = getattr(derivcmp, name)
        assert fn.__doc__ and len(fn.__doc__.split()) > 10, name

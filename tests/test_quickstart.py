"""The README's quick start is what CI runs, word for word (issue 9, item 1)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_quickstart() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.strip()]


def _ci_quickstart() -> list[str]:
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    block = text.split("# QUICKSTART (begin)\n", 1)[1].split("# QUICKSTART (end)", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_ci_runs_exactly_the_readme_quickstart():
    assert _ci_quickstart() == _readme_quickstart()


def test_quickstart_needs_no_activated_environment():
    # a new shell has no activated venv: every command names the .venv's own executable
    for line in _readme_quickstart():
        assert "activate" not in line
        for command in (part.strip().split()[0] for part in line.split("&&")):
            assert command == "python3" or command.startswith(".venv/bin/"), (command, line)

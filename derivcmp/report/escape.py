"""Escaping user text (case ids, expressions, messages) per output format.

A case id is user text: it may hold control characters, ANSI escapes, HTML
or Markdown.  Each format gets it escaped its own way, so that the JUnit XML
stays well-formed, the terminal shows the characters instead of obeying them,
and Markdown renders the text instead of interpreting it.  Nothing here
decides what is printed.
"""

from __future__ import annotations

import html
import re

# C0 and C1 controls (ESC starts ANSI sequences), DEL, and the Unicode line
# separators and bidirectional overrides that reorder what a reader sees
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# what XML 1.0 does not allow at all (tab, newline and carriage return it does)
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _show(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Control characters shown as ``\\x1b`` etc. (terminal, plain text)."""
    return _CONTROL.sub(lambda m: _show(m.group()), str(text))


def xml_safe(text: str) -> str:
    """Characters XML 1.0 forbids shown as ``\\x1b`` etc.; the rest is the
    serializer's business (it escapes ``<`` and ``&``)."""
    return _XML_INVALID.sub(lambda m: _show(m.group()), str(text))


def markdown(text: str) -> str:
    """HTML-inert text for a Markdown table cell: controls shown, ``& < >``
    as entities, ``|`` escaped (it would end the cell), newlines as spaces."""
    text = visible(str(text).replace("\n", " "))
    return html.escape(text, quote=False).replace("|", "\\|")


def markdown_code(text: str) -> str:
    """A code span holding ``text``: the fence is longer than any run of
    backticks in it (a table cell still goes through ``markdown``)."""
    text = visible(str(text).replace("\n", " "))
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def dot_string(text: str) -> str:
    """A Graphviz DOT double-quoted string showing ``text`` literally, its
    lines as centred label lines: controls shown as ``\\x1b``, backslashes
    doubled (Graphviz reads ``\\n``, ``\\N``, ``\\G`` ... in a label as escapes),
    quotes escaped."""
    lines = [visible(line).replace("\\", "\\\\").replace('"', '\\"') for line in str(text).split("\n")]
    return '"' + "\\n".join(lines) + '"'

"""Exceptions that carry a message fit to show a user.

Every error that reaches the command line is a ``DerivcmpError``; the CLI
prints ``str(error)`` on stderr and exits 2.  Nothing here formats tables or
knows about click.
"""

from __future__ import annotations


class DerivcmpError(Exception):
    """Bad input or usage, with a message meant for a person."""


class ParseError(DerivcmpError):
    """An expression that cannot be parsed.

    ``column`` is 0-based into ``text``; ``width`` is how many characters the
    caret underline covers; ``hint`` is an optional suggestion line.
    """

    def __init__(self, message: str, text: str, column: int, width: int = 1,
                 hint: str | None = None, source: str | None = None):
        self.message = message
        self.text = text
        self.column = max(0, min(column, len(text)))
        self.width = max(1, width)
        self.hint = hint
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        """The message, the input and a caret line, then the hint."""
        shown, col = _window(self.text, self.column)
        where = f"{self.source}: " if self.source else ""
        lines = [f"{where}error: {self.message} (column {self.column + 1})",
                 "  " + shown,
                 "  " + " " * col + "^" * min(self.width, max(1, len(shown) - col))]
        if self.hint:
            lines.append(self.hint)
        return "\n".join(lines)


def _window(text: str, column: int, width: int = 76) -> tuple[str, int]:
    """Cut a long input down to a window around ``column`` for display."""
    flat = text.replace("\n", " ").replace("\t", " ")
    if len(flat) <= width:
        return flat, column
    start = max(0, min(column - width // 2, len(flat) - width))
    piece = flat[start:start + width]
    prefix = "..." if start > 0 else ""
    suffix = "..." if start + width < len(flat) else ""
    return prefix + piece + suffix, column - start + len(prefix)

"""Expressions: tokens, the immutable AST, the parser and the printer.

The parser is a hand-written tokenizer (one verbose regex with an INVALID
catch-all) feeding a Pratt loop whose binding powers live in one table.  It
produces frozen dataclasses and nothing else: user text is never evaluated,
never handed to ``eval`` or to sympy's string parsers.  Length and nesting
depth are bounded, and ``RecursionError`` can never escape.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Iterator, Union

from .errors import ParseError
from .primitives import BY_NAME, CONSTANTS, FUNCTION_NAMES, FUNCTIONS, arities

MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_INT_EXPONENT = 10_000


# --- the AST -----------------------------------------------------------------

@dataclass(frozen=True)
class Num:
    """A numeric literal; ``text`` keeps the exact decimal the user wrote."""

    text: str
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def value(self) -> float:
        return float(self.text)


@dataclass(frozen=True)
class Const:
    """``pi`` or ``e``."""

    name: str
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)


@dataclass(frozen=True)
class Var:
    name: str
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)


@dataclass(frozen=True)
class Apply:
    """A primitive (operator or function) applied to arguments."""

    op: str
    args: tuple["Expr", ...]
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def primitive(self):
        return BY_NAME[self.op]


Expr = Union[Num, Const, Var, Apply]


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node once per occurrence, children before parents, no recursion."""
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not isinstance(node, Apply):
            yield node
            continue
        stack.append((node, True))
        for arg in reversed(node.args):
            stack.append((arg, False))


def variables(expr: Expr) -> list[str]:
    """Variable names in order of first appearance (left to right)."""
    seen: dict[str, None] = {}
    for node in walk(expr):
        if isinstance(node, Var):
            seen.setdefault(node.name, None)
    return list(seen)


def size(expr: Expr) -> int:
    return sum(1 for _ in walk(expr))


def depth(expr: Expr) -> int:
    depths: dict[int, int] = {}
    result = 0
    for node in walk(expr):
        d = 1 + max((depths[id(a)] for a in node.args), default=0) if isinstance(node, Apply) else 1
        depths[id(node)] = d
        result = max(result, d)
    return result


# --- tokens ------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<WS>\s+)
  | (?P<NUMBER>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<OP>\*\*|[-+*/^(),])
  | (?P<INVALID>.)
""", re.VERBOSE | re.DOTALL)


@dataclass(frozen=True)
class Token:
    kind: str       # NUMBER NAME OP END
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


_EXPLAIN_CHAR = {
    "=": "'=' is not allowed in an expression (give values with --at)",
    "[": "brackets are not allowed; use ( )",
    "]": "brackets are not allowed; use ( )",
    "{": "braces are not allowed; use ( )",
    "}": "braces are not allowed; use ( )",
    ".": "'.' is only allowed inside a number (attribute access is not part of the language)",
    ":": "':' is not part of the expression language",
    ";": "only one expression is allowed",
    "'": "strings are not part of the expression language",
    '"': "strings are not part of the expression language",
    "!": "'!' is not supported (factorial is not a function here)",
    "%": "'%' is not supported",
    "&": "'&' is not supported",
    "|": "'|' is not supported; use abs(x)",
    "<": "comparisons are not supported",
    ">": "comparisons are not supported",
    "@": "'@' is not supported",
    "#": "comments are not allowed inside an expression",
}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "WS":
            continue
        if kind == "INVALID":
            ch = m.group()
            msg = f"unexpected character {ch!r}"
            hint = _EXPLAIN_CHAR.get(ch)
            if ch == "." and tokens and tokens[-1].kind in ("NAME", "OP") and tokens[-1].text not in "(,":
                hint = "attribute access is not part of the expression language"
            raise ParseError(msg, text, m.start(), 1, hint)
        tokens.append(Token(kind, m.group(), m.start()))
    tokens.append(Token("END", "", len(text)))
    return tokens


# --- the parser ----------------------------------------------------------------

#: binary operators: token -> (left binding power, right binding power, primitive)
_BINARY = {
    "+": (10, 11, "add"),
    "-": (10, 11, "sub"),
    "*": (20, 21, "mul"),
    "/": (20, 21, "div"),
    "^": (40, 39, "pow"),     # right-associative: rbp < lbp
    "**": (40, 39, "pow"),
}
_UNARY_RBP = 30               # -x^2 = -(x^2) since 40 > 30; -x*y = (-x)*y


def parse(text: str, *, source: str | None = None) -> Expr:
    """Parse ``text`` into an AST, or raise ``ParseError`` with a column."""
    if not isinstance(text, str):
        raise TypeError("expression must be a string")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"expression is too long ({len(text)} characters; the limit is {MAX_LENGTH})",
                         text, MAX_LENGTH, 1, source=source)
    if not text.strip():
        raise ParseError("empty expression", text, 0, 1, source=source)
    try:
        return _Parser(text).parse()
    except ParseError as err:
        if source and not err.source:
            err.source = source
            err.args = (err.render(),)
        raise
    except RecursionError:  # pragma: no cover - depth is bounded well below the limit
        raise ParseError(f"expression is nested too deeply (limit {MAX_DEPTH})", text, 0, 1,
                         source=source) from None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0
        self.depth = 0

    # helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def error(self, message: str, tok: Token | None = None, hint: str | None = None,
              start: int | None = None, end: int | None = None) -> ParseError:
        tok = tok or self.tok
        s = tok.start if start is None else start
        e = (tok.end if tok.kind != "END" else tok.start + 1) if end is None else end
        return ParseError(message, self.text, s, max(1, e - s), hint)

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression is nested too deeply (limit {MAX_DEPTH} levels)", tok)

    def parse(self) -> Expr:
        expr = self.expression(0)
        if self.tok.kind != "END":
            raise self.unexpected_after_operand(expr)
        return expr

    def expression(self, rbp: int) -> Expr:
        self.enter(self.tok)
        left = self.nud(self.advance())
        while True:
            tok = self.tok
            if tok.kind == "OP" and tok.text in _BINARY:
                lbp, next_rbp, op = _BINARY[tok.text]
                if lbp <= rbp:
                    break
                self.advance()
                right = self.expression(next_rbp)
                left = _binary(op, left, right, tok, self)
            elif tok.kind in ("NUMBER", "NAME") or (tok.kind == "OP" and tok.text == "("):
                raise self.unexpected_after_operand(left)
            else:
                break
        self.depth -= 1
        return left

    def unexpected_after_operand(self, left: Expr) -> ParseError:
        tok = self.tok
        if tok.kind in ("NUMBER", "NAME") or tok.text == "(":
            prev = self.text[self.tokens[self.pos - 1].start:self.tokens[self.pos - 1].end]
            if tok.text == "(":
                nxt = "(...)"
            else:
                nxt = tok.text
            hint = f"did you mean {prev}*{nxt}?"
            if isinstance(left, Num) and tok.kind == "NAME" and tok.text[:1] in "eE" and not _is_known(tok.text):
                hint += " (an exponent is written 1e-3)"
            return self.error("missing operator (implicit multiplication is not allowed)", tok, hint)
        if tok.text == ")":
            return self.error("unmatched ')'", tok)
        if tok.text == ",":
            return self.error("unexpected ',' outside a function call", tok)
        return self.error(f"unexpected {tok.text!r}", tok)

    def nud(self, tok: Token) -> Expr:
        if tok.kind == "NUMBER":
            if not math.isfinite(float(tok.text)):
                raise self.error(f"number {tok.text} is too large for float64", tok)
            return Num(tok.text, (tok.start, tok.end))
        if tok.kind == "NAME":
            if self.tok.text == "(":
                return self.call(tok)
            if tok.text in CONSTANTS:
                return Const(tok.text, (tok.start, tok.end))
            if tok.text in ("lambda", "import", "__import__") or tok.text.startswith("__"):
                raise self.error(f"{tok.text!r} is not allowed in an expression", tok)
            return Var(tok.text, (tok.start, tok.end))
        if tok.kind == "OP" and tok.text in ("-", "+"):
            if self.tok.kind == "END":
                raise self.error(f"expected an operand after unary {tok.text!r}", self.tok)
            operand = self.expression(_UNARY_RBP)
            if tok.text == "+":
                return operand
            if isinstance(operand, Num):   # -2 is a literal, so x^-2 stays an integer power
                return Num("-" + operand.text, (tok.start, operand.span[1]))
            return Apply("neg", (operand,), (tok.start, operand.span[1]))
        if tok.kind == "OP" and tok.text == "(":
            if self.tok.text == ")":
                raise self.error("empty parentheses", self.tok, start=tok.start, end=self.tok.end)
            inner = self.expression(0)
            if self.tok.text != ")":
                if self.tok.kind == "END":
                    raise self.error("unclosed '('", tok, hint="add the missing ')'")
                raise self.unexpected_after_operand(inner)
            self.advance()
            return inner
        if tok.kind == "END":
            raise self.error("unexpected end of expression; an operand is missing", tok)
        if tok.text == ")":
            raise self.error("unmatched ')'" if not self._open_before(tok) else "expected an operand before ')'", tok)
        if tok.text == ",":
            raise self.error("expected an operand before ','", tok)
        raise self.error(f"expected an operand, found {tok.text!r}", tok)

    def _open_before(self, tok: Token) -> bool:
        balance = 0
        for t in self.tokens:
            if t is tok:
                break
            balance += (t.text == "(") - (t.text == ")")
        return balance > 0

    def call(self, name: Token) -> Expr:
        fname = name.text
        if fname in CONSTANTS:
            raise self.error(f"'{fname}' is a constant, not a function", name,
                             hint=f"did you mean {fname}*(...)?")
        if fname not in FUNCTION_NAMES:
            close = difflib.get_close_matches(fname.lower(), sorted(FUNCTION_NAMES), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "run 'derivcmp functions' to list them"
            raise self.error(f"unknown function '{fname}'", name, hint=hint)
        open_tok = self.advance()       # '('
        self.enter(open_tok)
        args: list[Expr] = []
        if self.tok.text == ")":
            raise self.error(f"{fname}() needs an argument", self.tok, start=name.start, end=self.tok.end)
        while True:
            args.append(self.expression(0))
            if self.tok.text == ",":
                self.advance()
                continue
            if self.tok.text == ")":
                close_tok = self.advance()
                break
            if self.tok.kind == "END":
                raise self.error(f"unclosed '(' in call to {fname}", open_tok, hint="add the missing ')'")
            raise self.unexpected_after_operand(args[-1])
        self.depth -= 1
        span = (name.start, close_tok.end)
        prim = FUNCTIONS.get((fname, len(args)))
        if prim is None:
            want = " or ".join(str(n) for n in arities(fname))
            plural = "s" if arities(fname) != [1] else ""
            raise ParseError(f"{fname}() takes {want} argument{plural}, got {len(args)}",
                             self.text, span[0], span[1] - span[0])
        if prim.name == "pow":
            return _make_pow(args[0], args[1], span, self)
        return Apply(prim.name, tuple(args), span)


def _is_known(name: str) -> bool:
    return name in FUNCTION_NAMES or name in CONSTANTS


def _binary(op: str, left: Expr, right: Expr, tok: Token, parser: _Parser) -> Expr:
    span = (left.span[0], right.span[1])
    if op == "pow":
        return _make_pow(left, right, span, parser)
    return Apply(op, (left, right), span)


def _make_pow(base: Expr, exponent: Expr, span: tuple[int, int], parser: _Parser) -> Expr:
    """``a^n`` with an integer literal ``n`` is ``powi`` (defined for a < 0)."""
    if isinstance(exponent, Num):
        value = exponent.value
        if math.isfinite(value) and value == int(value):
            if abs(value) > MAX_INT_EXPONENT:
                raise ParseError(f"integer exponent {exponent.text} is too large (limit {MAX_INT_EXPONENT})",
                                 parser.text, exponent.span[0], exponent.span[1] - exponent.span[0])
            return Apply("powi", (base, exponent), span)
    return Apply("pow", (base, exponent), span)


# --- the printer -------------------------------------------------------------

_PREC = {"add": 10, "sub": 10, "mul": 20, "div": 20, "neg": 30, "pow": 40, "powi": 40}


def to_text(expr: Expr) -> str:
    """Print with the fewest parentheses that re-parse to the same tree."""
    out: dict[int, tuple[str, int]] = {}
    for node in walk(expr):
        out[id(node)] = _print_node(node, out)
    return out[id(expr)][0]


def _print_node(node: Expr, out) -> tuple[str, int]:
    atom = 100
    if isinstance(node, Num):
        return (node.text, 30 if node.text.startswith("-") else atom)
    if isinstance(node, (Const, Var)):
        return (node.name, atom)
    prim = node.primitive
    parts = [out[id(a)] for a in node.args]
    if node.op in ("add", "sub", "mul", "div"):
        p = _PREC[node.op]
        (ls, lp), (rs, rp) = parts
        left = ls if lp >= p else f"({ls})"
        right = rs if rp > p else f"({rs})"
        return (f"{left} {prim.infix} {right}" if p == 10 else f"{left}*{right}" if node.op == "mul"
                else f"{left}/{right}", p)
    if node.op == "neg":
        (s, sp), = parts
        return (f"-{s}" if sp > 30 else f"-({s})", 30)
    if node.op in ("pow", "powi"):
        (ls, lp), (rs, rp) = parts
        left = ls if lp > 40 else f"({ls})"
        right = rs if rp >= 30 else f"({rs})"
        return (f"{left}^{right}", 40)
    return (f"{prim.syntax}({', '.join(s for s, _ in parts)})", atom)

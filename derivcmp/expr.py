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
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

from .errors import ParseError
from .primitives import BY_NAME, CONSTANTS, FUNCTION_NAMES, FUNCTIONS, arities

MAX_LENGTH = 10_000
MAX_DEPTH = 200
MAX_INT_EXPONENT = 10_000
#: a float needs ~17 significant digits; the cap keeps exact conversions
#: (Fraction, sympy.Rational) cheap and below Python's int-string limit
MAX_NUMBER_LENGTH = 200
#: decimal exponents beyond this are outside float64 for any mantissa we accept
MAX_DECIMAL_EXPONENT = 1000


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


@dataclass(frozen=True, eq=False, repr=False)
class Apply:
    """A primitive (operator or function) applied to arguments.

    ``a+a+...+a`` parses to a tree as deep as it is long, so equality, hashing
    and repr must not recurse: the hash is computed once at construction from
    the children's cached hashes, ``==`` and ``repr`` walk with a stack.
    """

    op: str
    args: tuple[Expr, ...]
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.op, self.args)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # rebuild through __init__, so another process (another hash seed)
        # recomputes the cached hash instead of unpickling a stale one
        return (Apply, (self.op, self.args, self.span))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Apply):
            return NotImplemented
        stack: list[tuple[Expr, Expr]] = [(self, other)]
        while stack:
            a, b = stack.pop()
            if a is b:
                continue
            if isinstance(a, Apply) and isinstance(b, Apply):
                if a._hash != b._hash or a.op != b.op or len(a.args) != len(b.args):
                    return False
                stack.extend(zip(a.args, b.args))
            elif isinstance(a, Apply) or isinstance(b, Apply) or a != b:
                return False
        return True

    def __repr__(self) -> str:
        out: dict[int, str] = {}
        for node in walk(self):
            if isinstance(node, Apply):
                args = ", ".join(out[id(a)] for a in node.args) + ("," if len(node.args) == 1 else "")
                out[id(node)] = f"Apply(op={node.op!r}, args=({args}))"
            else:
                out[id(node)] = repr(node)
        return out[id(self)]

    @property
    def primitive(self):
        return BY_NAME[self.op]


@dataclass(frozen=True)
class Vector:
    """A function with several outputs: ``[e1, e2, ...]``, only as the whole expression.

    An extension of DESIGN.md's expression language (README, "Vector-valued
    expressions"): its items are ordinary (scalar) expressions, never lists.
    """

    items: tuple[Expr, ...]
    span: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)

    @property
    def args(self) -> tuple[Expr, ...]:
        return self.items


Expr = Num | Const | Var | Apply | Vector


def outputs(expr: Expr) -> tuple[Expr, ...]:
    """The output expressions: the items of a ``Vector``, else the expression itself."""
    return expr.items if isinstance(expr, Vector) else (expr,)


def walk(expr: Expr) -> Iterator[Expr]:
    """Every node once per occurrence, children before parents, no recursion."""
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded or not isinstance(node, (Apply, Vector)):
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
        d = 1 + max((depths[id(a)] for a in node.args), default=0) if isinstance(node, (Apply, Vector)) else 1
        depths[id(node)] = d
        result = max(result, d)
    return result


# --- tokens ------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<WS>\s+)
  | (?P<NUMBER>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<OP>\*\*|[-+*/^(),\[\]])
  | (?P<INVALID>.)
""", re.VERBOSE | re.DOTALL | re.ASCII)     # ASCII: \d is [0-9], not any Unicode digit


@dataclass(frozen=True)
class Token:
    kind: str       # NUMBER NAME OP END
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


_EXPLAIN_CHAR = {
    # what a word processor, a PDF or a math keyboard types instead of ASCII
    "²": "did you mean ^2?", "³": "did you mean ^3?", "π": "did you mean pi?",
    "·": "did you mean *?", "×": "did you mean *?", "⋅": "did you mean *?", "÷": "did you mean /?",
    "−": "did you mean - (the ASCII minus)?", "–": "did you mean - (the ASCII minus)?",
    "\u00a0": "a non-breaking space: did you mean a plain space?",
    "\u202f": "a narrow non-breaking space: did you mean a plain space?",
    "=": "'=' is not allowed in an expression (give values with --at)",
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


#: other spellings of our functions, for "did you mean" hints
_ALIASES = {"ln": "log", "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arctan2": "atan2",
            "arcsinh": "asinh", "arccosh": "acosh", "arctanh": "atanh", "logistic": "sigmoid",
            "expit": "sigmoid", "power": "pow", "sgn": "sign", "fabs": "abs", "maximum": "max",
            "minimum": "min"}


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


def parse(text: str, *, source: str | None = None, max_length: int = MAX_LENGTH) -> Expr:
    """Parse ``text`` into an AST, or raise ``ParseError`` with a column.

    ``max_length`` guards the command line; a Python caller parsing a large
    generated expression may raise it (parsing is linear in the length).
    """
    if not isinstance(text, str):
        raise TypeError("expression must be a string")
    if len(text) > max_length:
        raise ParseError(f"expression is too long ({len(text)} characters; the limit is {max_length})",
                         text, max_length, 1, source=source)
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
        self.in_list = False

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
        if self.tok.text == "[":
            return self.vector()
        expr = self.expression(0)
        if self.tok.kind != "END":
            raise self.unexpected_after_operand(expr)
        return expr

    def vector(self) -> Vector:
        """``[e1, e2, ...]``: the whole expression, a function with several outputs."""
        open_tok = self.advance()
        self.in_list = True
        if self.tok.text == "]":
            raise self.error("empty list: a vector-valued function needs at least one output",
                             open_tok, end=self.tok.end)
        items: list[Expr] = []
        while True:
            items.append(self.expression(0))
            tok = self.tok
            if tok.text == ",":
                self.advance()
                if self.tok.text == "]":
                    raise self.error("trailing ',' in the list", tok,
                                     hint="remove it, or write the missing output after it")
                continue
            if tok.text == "]":
                close = self.advance()
                break
            if tok.kind == "END":
                raise self.error("unclosed '['", open_tok, hint="add the missing ']'")
            raise self.unexpected_after_operand(items[-1])
        if self.tok.kind != "END":
            raise self.error(f"unexpected {self.tok.text!r} after the list", self.tok,
                             hint="a list [...] must be the whole expression")
        return Vector(tuple(items), (open_tok.start, close.end))

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
            prev = self.tokens[self.pos - 1]
            if prev.kind == "NUMBER" and tok.kind == "NUMBER" and tok.start == prev.end:
                return self.error(f"malformed number '{prev.text}{tok.text}'", prev, end=tok.end)
            after = self._operand_after(self.pos)
            if prev.kind == "NAME" and prev.text in FUNCTION_NAMES and tok.text != "(":
                hint = f"did you mean {prev.text}({after})?"        # sin x
            else:
                hint = f"did you mean {self._operand_before(self.pos - 1)}*{after}?"
            if isinstance(left, Num) and tok.kind == "NAME" and tok.text[:1] in "eE" and not _is_known(tok.text):
                hint += " (an exponent is written 1e-3)"
            return self.error("missing operator (implicit multiplication is not allowed)", tok, hint)
        if tok.text == ")":
            return self.error("unmatched ')'", tok)
        if tok.text == "," and not self.in_list:
            return self.error("unexpected ',' outside a function call", tok,
                              hint="a function with several outputs is written [e1, e2, ...]")
        if tok.text == "[":
            return self.error("unexpected '['", tok, hint="indexing is not part of the expression language; "
                              "a list [...] must be the whole expression")
        if tok.text == "]" and not self.in_list:
            return self.error("unmatched ']'", tok)
        return self.error(f"unexpected {tok.text!r}", tok)

    def _operand_before(self, i: int) -> str:
        """The source text of the operand ending at token ``i``, for a hint."""
        end = self.tokens[i]
        if end.text != ")":
            return end.text
        balance = 0
        while i >= 0:
            balance += (self.tokens[i].text == ")") - (self.tokens[i].text == "(")
            if balance == 0:
                break
            i -= 1
        name = self.tokens[i - 1] if i > 0 and self.tokens[i - 1].kind == "NAME" else None
        start = name.start if name else self.tokens[i].start
        return _brief(self.text[start:end.end], (name.text if name else "") + "(...)")

    def _operand_after(self, i: int) -> str:
        """The source text of the operand starting at token ``i``, for a hint."""
        first = self.tokens[i]
        if first.kind == "NAME" and self.tokens[i + 1].text == "(":
            i += 1
        elif first.text != "(":
            return first.text
        balance = 0
        for j in range(i, len(self.tokens)):
            balance += (self.tokens[j].text == "(") - (self.tokens[j].text == ")")
            if balance == 0:
                return _brief(self.text[first.start:self.tokens[j].end],
                              (first.text if first.kind == "NAME" else "") + "(...)")
        return (first.text if first.kind == "NAME" else "") + "(...)"

    def nud(self, tok: Token) -> Expr:
        if tok.kind == "NUMBER":
            self.check_number(tok)
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
                text = operand.text[1:] if operand.text.startswith("-") else "-" + operand.text
                return Num(text, (tok.start, operand.span[1]))
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
        if tok.text == "[":
            if self.in_list:
                raise self.error("lists cannot be nested: each output is a scalar expression", tok,
                                 hint="use ( ) to group")
            raise self.error("a list [...] is only allowed as the whole expression "
                             "(a function with several outputs)", tok, hint="use ( ) to group")
        if tok.text == "]":
            raise self.error("expected an operand before ']'" if self.in_list else "unmatched ']'", tok)
        raise self.error(f"expected an operand, found {tok.text!r}", tok)

    def check_number(self, tok: Token) -> None:
        """Reject literals float64 cannot hold, so float backends and the exact
        reference (which reads the decimal text) see the same number."""
        text = tok.text
        if len(text) > MAX_NUMBER_LENGTH:
            raise self.error(f"number literal is too long ({len(text)} characters; "
                             f"the limit is {MAX_NUMBER_LENGTH})", tok)
        mantissa, _, exponent = text.lower().partition("e")
        if exponent and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
            raise self.error(f"the exponent of {text} is out of range "
                             f"(at most {MAX_DECIMAL_EXPONENT} in magnitude)", tok)
        value = float(text)
        if not math.isfinite(value):
            raise self.error(f"number {text} is too large for float64", tok)
        if value == 0 and any(c in "123456789" for c in mantissa):
            raise self.error(f"number {text} is too small for float64 (it would round to 0)", tok)

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
            close = ([_ALIASES[fname.lower()]] if fname.lower() in _ALIASES else
                     difflib.get_close_matches(fname.lower(), sorted(FUNCTION_NAMES), n=1, cutoff=0.6))
            hint = (f"did you mean '{close[0]}'?" if close else
                    f"to multiply, write {fname}*(...); 'derivcmp functions' lists the functions")
            raise self.error(f"unknown function '{fname}'", name, hint=hint)
        open_tok = self.advance()       # '('
        self.enter(open_tok)
        args: list[Expr] = []
        if self.tok.text == ")":
            raise self.error(_arity_message(fname, 0), self.tok, start=name.start, end=self.tok.end)
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
            raise ParseError(_arity_message(fname, len(args)), self.text, span[0], span[1] - span[0])
        if prim.name == "pow":
            return _make_pow(args[0], args[1], span, self)
        return Apply(prim.name, tuple(args), span)


def _arity_message(fname: str, got: int) -> str:
    want = arities(fname)
    plural = "s" if want != [1] else ""
    return f"{fname}() takes {' or '.join(str(n) for n in want)} argument{plural}, got {got}"


def _brief(source: str, short: str, limit: int = 24) -> str:
    """``source`` if it is short enough to quote in a hint, else ``short``."""
    flat = " ".join(source.split())
    return flat if len(flat) <= limit else short


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
        value = Fraction(exponent.text)    # exact: 2.0000000000000001 is not an integer
        if value.denominator == 1:
            if abs(value) > MAX_INT_EXPONENT:
                raise ParseError(f"integer exponent {exponent.text} is too large (limit {MAX_INT_EXPONENT})",
                                 parser.text, exponent.span[0], exponent.span[1] - exponent.span[0])
            return Apply("powi", (base, exponent), span)
    return Apply("pow", (base, exponent), span)


# --- the printer -------------------------------------------------------------

_PREC = {"add": 10, "sub": 10, "mul": 20, "div": 20, "neg": 30, "pow": 40, "powi": 40}


def to_text(expr: Expr) -> str:
    """Print with the fewest parentheses that re-parse to the same tree.

    Linear in the size of the tree: pieces are pushed on a stack and joined
    once, so no string is copied into its parent's (a left-deep sum or a deep
    chain printed bottom-up copies O(n^2) characters).
    """
    out: list[str] = []
    stack: list[Expr | str] = [expr]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        else:
            stack.extend(reversed(_pieces(item)))
    return "".join(out)


_ATOM = 100


def _prec(node: Expr) -> int:
    """How tightly a printed node binds (the parser's binding powers)."""
    if isinstance(node, Num):
        return _PREC["neg"] if node.text.startswith("-") else _ATOM
    if isinstance(node, Apply):
        return _PREC.get(node.op, _ATOM)
    return _ATOM


def _wrap(node: Expr, bare: bool) -> list[Expr | str]:
    return [node] if bare else ["(", node, ")"]


def _pieces(node: Expr) -> list[Expr | str]:
    """A node as strings and child nodes, in order."""
    if isinstance(node, Num):
        return [node.text]
    if isinstance(node, (Const, Var)):
        return [node.name]
    if isinstance(node, Vector):
        parts: list[Expr | str] = ["["]
        for i, a in enumerate(node.items):
            parts.extend([", ", a] if i else [a])
        return [*parts, "]"]
    op, args = node.op, node.args
    if op in ("add", "sub", "mul", "div"):
        p = _PREC[op]
        left, right = args
        sep = f" {node.primitive.infix} " if p == _PREC["add"] else node.primitive.infix
        return [*_wrap(left, _prec(left) >= p), sep, *_wrap(right, _prec(right) > p)]
    if op == "neg":
        return ["-", *_wrap(args[0], _prec(args[0]) > _PREC["neg"])]
    if op in ("pow", "powi"):
        base, exponent = args
        return [*_wrap(base, _prec(base) > _PREC["pow"]), "^", *_wrap(exponent, _prec(exponent) >= _PREC["neg"])]
    parts: list[Expr | str] = [f"{node.primitive.syntax}("]
    for i, a in enumerate(args):
        if i:
            parts.append(", ")
        parts.append(a)
    parts.append(")")
    return parts

"""The expression language of DESIGN.md, "Expression language (spec)".

Expected trees are written out by hand from the spec (precedence,
associativity, integer exponents), never taken from the parser's own output.
Function tests are generated from ``primitives.FUNCTIONS``, so adding a
primitive adds its parser tests.
"""

from __future__ import annotations

import sys
from fractions import Fraction

import pytest
from hang import no_hang
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derivcmp import expr as E
from derivcmp.errors import ParseError
from derivcmp.expr import Apply, Const, Num, Var, depth, parse, size, to_text, variables, walk
from derivcmp.primitives import BY_NAME, FUNCTIONS

# --- tiny constructors for expected trees ------------------------------------

x, y, z = Var("x"), Var("y"), Var("z")


def N(text: str) -> Num:
    return Num(text)


def A(op: str, *args) -> Apply:
    return Apply(op, tuple(args))


def neg(a):
    return A("neg", a)


SPEC_UNARY = ["exp", "log", "log2", "log10", "log1p", "expm1", "sqrt", "cbrt", "abs", "sign",
              "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh",
              "atanh", "erf", "erfc", "sigmoid", "softplus", "relu"]
SPEC_BINARY = ["atan2", "pow", "hypot", "min", "max", "log"]


# --- numbers, names, constants -----------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("2", 2.0), ("2.5", 2.5), (".5", 0.5), ("1e-3", 1e-3), ("2.5E+4", 25000.0),
    ("10", 10.0), ("0", 0.0), ("2.", 2.0), ("1E5", 1e5), ("007", 7.0), ("1e308", 1e308),
    ("4.9e-324", 5e-324),
])
def test_numbers(text, value):
    tree = parse(text)
    assert tree == Num(text)
    assert tree.text == text            # the exact decimal is kept for the reference
    assert tree.value == value


@pytest.mark.parametrize("text", ["x", "w", "alpha", "x1", "_t", "x_2", "CamelCase", "E", "PI",
                                  "sin", "exp", "ex", "x__y"])
def test_names_are_variables(text):
    # a function name not followed by '(' is a variable, as the spec says
    assert parse(text) == Var(text)


@pytest.mark.parametrize("text", ["pi", "e"])
def test_constants(text):
    assert parse(text) == Const(text)
    assert parse(f" {text} ") == Const(text)


def test_whitespace_is_ignored():
    assert parse("  x\t+\n2 ") == A("add", x, N("2"))
    assert parse("sin ( x )") == A("sin", x)


# --- precedence and associativity ------------------------------------------

PRECEDENCE = [
    ("1-2-3", A("sub", A("sub", N("1"), N("2")), N("3"))),
    ("2/3/4", A("div", A("div", N("2"), N("3")), N("4"))),
    ("1+2*3", A("add", N("1"), A("mul", N("2"), N("3")))),
    ("(1+2)*3", A("mul", A("add", N("1"), N("2")), N("3"))),
    ("1-2+3", A("add", A("sub", N("1"), N("2")), N("3"))),
    ("2*3/4", A("div", A("mul", N("2"), N("3")), N("4"))),
    ("2/3*4", A("mul", A("div", N("2"), N("3")), N("4"))),
    ("x^y^z", A("pow", x, A("pow", y, z))),
    ("x**y**z", A("pow", x, A("pow", y, z))),
    ("(x^y)^z", A("pow", A("pow", x, y), z)),
    ("-x^2", neg(A("powi", x, N("2")))),
    ("-x^y", neg(A("pow", x, y))),
    ("2^-x", A("pow", N("2"), neg(x))),
    ("2^-x^y", A("pow", N("2"), neg(A("pow", x, y)))),
    ("x^-y*z", A("mul", A("pow", x, neg(y)), z)),
    ("-x*y", A("mul", neg(x), y)),
    ("-x/y", A("div", neg(x), y)),
    ("x*-y", A("mul", x, neg(y))),
    ("x - -y", A("sub", x, neg(y))),
    ("--x", neg(neg(x))),
    ("-(-x)", neg(neg(x))),
    ("+x", x),
    ("+x*+y", A("mul", x, y)),
    ("-+x", neg(x)),
    ("x**y", A("pow", x, y)),
    ("2**3**x", A("pow", N("2"), A("pow", N("3"), x))),
    ("x*y^z", A("mul", x, A("pow", y, z))),
    ("x^y*z", A("mul", A("pow", x, y), z)),
    ("x+y*z^w", A("add", x, A("mul", y, A("pow", z, Var("w"))))),
    ("-2^2", neg(A("powi", N("2"), N("2")))),   # -(2^2) = -4, not (-2)^2
    ("(-2)^2", A("powi", N("-2"), N("2"))),
    ("-2", N("-2")),
    ("-2*x", A("mul", N("-2"), x)),
    ("x - -2", A("sub", x, N("-2"))),
    ("--2", N("2")),
    ("-(-2)", N("2")),
    ("e^x", A("pow", Const("e"), x)),
    ("2*pi*x", A("mul", A("mul", N("2"), Const("pi")), x)),
    ("sin(x)^2", A("powi", A("sin", x), N("2"))),
    ("-sin(x)", neg(A("sin", x))),
    ("((x))", x),
]


@pytest.mark.parametrize("text, tree", PRECEDENCE, ids=[t for t, _ in PRECEDENCE])
def test_precedence_and_associativity(text, tree):
    assert parse(text) == tree


def test_star_star_is_caret():
    for text in ["x^y", "x^2", "x^-y^z", "2^x^3", "(x+1)^(y-1)"]:
        assert parse(text.replace("^", "**")) == parse(text)


# --- integer literal exponents become powi -----------------------------------

@pytest.mark.parametrize("text, tree", [
    ("x^2", A("powi", x, N("2"))),
    ("x^0", A("powi", x, N("0"))),
    ("x^-2", A("powi", x, N("-2"))),
    ("x^(-2)", A("powi", x, N("-2"))),
    ("x^-(2)", A("powi", x, N("-2"))),
    ("x^+3", A("powi", x, N("3"))),
    ("x^(2)", A("powi", x, N("2"))),
    ("x^2.0", A("powi", x, N("2.0"))),
    ("x^1e3", A("powi", x, N("1e3"))),
    ("x**3", A("powi", x, N("3"))),
    ("pow(x, 2)", A("powi", x, N("2"))),
    ("pow(x, -3)", A("powi", x, N("-3"))),
    ("x^2.5", A("pow", x, N("2.5"))),
    ("x^.5", A("pow", x, N(".5"))),
    ("x^1e-3", A("pow", x, N("1e-3"))),
    # exactly what the user wrote decides, not its nearest double (== 2.0)
    ("x^2.0000000000000001", A("pow", x, N("2.0000000000000001"))),
    ("x^(1/2)", A("pow", x, A("div", N("1"), N("2")))),
    ("x^(2*1)", A("pow", x, A("mul", N("2"), N("1")))),
    ("x^y", A("pow", x, y)),
    ("x^pi", A("pow", x, Const("pi"))),
    ("pow(x, y)", A("pow", x, y)),
    ("x^2^3", A("pow", x, A("powi", N("2"), N("3")))),
    ("(x^2)^3", A("powi", A("powi", x, N("2")), N("3"))),
    (f"x^{E.MAX_INT_EXPONENT}", A("powi", x, N(str(E.MAX_INT_EXPONENT)))),
])
def test_integer_exponents(text, tree):
    assert parse(text) == tree


# --- every function of the table ---------------------------------------------

def _args(n: int) -> list[Var]:
    return [Var(v) for v in "uvw"[:n]]


@pytest.mark.parametrize("key", sorted(FUNCTIONS), ids=[f"{s}/{n}" for s, n in sorted(FUNCTIONS)])
def test_every_function_parses(key):
    name, arity = key
    prim = FUNCTIONS[key]
    args = _args(arity)
    text = f"{name}({', '.join(a.name for a in args)})"
    assert parse(text) == Apply(prim.name, tuple(args))
    # nested and inside an operator
    inner = Apply(prim.name, tuple(args))
    assert parse(f"2*{text}") == A("mul", N("2"), inner)
    assert parse(f"{name}({', '.join(['(' + a.name + ')' for a in args])})") == inner


@pytest.mark.parametrize("key", sorted(FUNCTIONS), ids=[f"{s}/{n}" for s, n in sorted(FUNCTIONS)])
def test_every_function_wrong_arity(key):
    name, _ = key
    allowed = sorted(n for s, n in FUNCTIONS if s == name)
    for n in range(4):
        if n in allowed:
            continue
        args = ", ".join("x" for _ in range(n))
        text = f"{name}({args})"
        with pytest.raises(ParseError) as info:
            parse(text)
        want = " or ".join(map(str, allowed))
        plural = "" if allowed == [1] else "s"
        assert info.value.message == f"{name}() takes {want} argument{plural}, got {n}"
        assert info.value.column == 0
        assert info.value.width == len(text)


def test_spec_function_list_is_in_the_table():
    for name in SPEC_UNARY:
        assert (name, 1) in FUNCTIONS, name
    for name in SPEC_BINARY:
        assert (name, 2) in FUNCTIONS, name


def test_log_with_base_and_pow():
    assert parse("log(x, 2)") == A("log_base", x, N("2"))
    assert parse("log(x, y)") == A("log_base", x, y)
    assert parse("log(x)") == A("log", x)
    assert parse("pow(a, b)") == A("pow", Var("a"), Var("b"))
    assert parse("atan2(y, x)") == A("atan2", y, x)          # argument order kept
    assert parse("max(x, min(y, z))") == A("max", x, A("min", y, z))
    assert parse("hypot(x+1, y)") == A("hypot", A("add", x, N("1")), y)


def test_spans_point_into_the_source():
    text = "1 + sin(x)*y"
    tree = parse(text)
    assert tree.span == (0, len(text))
    mul = tree.args[1]
    assert text[mul.span[0]:mul.span[1]] == "sin(x)*y"
    assert text[slice(*mul.args[0].span)] == "sin(x)"
    assert "x^-2"[slice(*parse("x^-2").args[1].span)] == "-2"


# --- helpers over trees --------------------------------------------------------

def test_variables_size_depth_walk():
    tree = parse("y*sin(x) + y^2 - z")
    assert variables(tree) == ["y", "x", "z"]
    assert size(tree) == 10
    assert depth(tree) == 5          # sub > add > mul > sin > x
    nodes = list(walk(tree))
    assert nodes[-1] is tree
    assert len(nodes) == 10
    assert variables(parse("pi*e + 1")) == []


def test_long_flat_chains_are_deep_trees_but_safe():
    # a+a+...+a is a tree as deep as it is long: hashing, ==, repr and the
    # printer must not recurse (they used to raise RecursionError at ~900 terms)
    n = 2000
    text = "+".join(["x"] * n)
    tree = parse(text)
    assert depth(tree) == n
    assert tree == parse(text)
    assert hash(tree) == hash(parse(text))
    assert tree != parse(text + "+y")
    assert repr(tree).count("Var(name='x')") == n
    assert parse(to_text(tree)) == tree
    assert {tree: 1}[parse(text)] == 1


def test_trees_pickle_and_copy():
    import copy
    import pickle
    tree = parse("atan2(y, x) + sin(x)^2 - -2")
    for clone in (pickle.loads(pickle.dumps(tree)), copy.deepcopy(tree), copy.copy(tree)):
        assert clone == tree and hash(clone) == hash(tree)
        assert clone.span == tree.span


def test_equality_and_hash_follow_structure_not_spans():
    assert parse("x+1") == parse(" x  +  1 ")
    assert hash(parse("x+1")) == hash(parse(" x  +  1 "))
    assert parse("x+1") != parse("x+2")
    assert parse("x+1") != parse("x-1")
    assert parse("2") != parse("2.0")           # literals keep their exact text
    assert parse("sin(x)") != Var("x")
    assert Var("x") != parse("sin(x)")
    assert parse("atan2(x, y)") != parse("atan2(y, x)")
    assert eval(repr(parse("sin(x)+2*x^2")), {"Apply": Apply, "Var": Var, "Num": Num}) == parse("sin(x)+2*x^2")


# --- the printer round-trips ---------------------------------------------------

ROUND_TRIP = [
    "1-2-3", "1-(2-3)", "2/3/4", "2/(3/4)", "x^y^z", "(x^y)^z", "-x^2", "(-x)^2", "2^-x",
    "-x*y", "-(x*y)", "x*-y", "x - -2", "x - -y", "--x", "-(x+y)", "(x+y)*(x-y)", "x/(y*z)",
    "x*(y/z)", "(x*y)/z", "x-(y+z)", "(x-y)+z", "x^(y+1)", "x^(-1)", "x^-1", "(-2)^3", "-2^3",
    "-(2)", "(-x)^y", "x^(y*z)", "(x*y)^z", "sin(x)^2", "log(x, 2)", "pow(x, y)", "pow(x, 3)",
    "atan2(-y, -x)", "max(-x, y^2)", "exp(-x^2/2)/sqrt(2*pi)", "1/(1+exp(-w*x))", "e^x",
    "x^2.5", ".5*x", "1e-3*x", "2.5E+4", "2.", "x^-y^z", "(x^-y)^z", "-(-2)^2", "--2",
    "x^2.0000000000000001", "((x))", "sin(x)(", "-(x^y)^z",
]


@pytest.mark.parametrize("text", [t for t in ROUND_TRIP if t != "sin(x)("])
def test_printer_round_trips(text):
    tree = parse(text)
    printed = to_text(tree)
    assert parse(printed) == tree
    assert to_text(parse(printed)) == printed      # a fixed point


@pytest.mark.parametrize("text, printed", [
    ("1-(2-3)", "1 - (2 - 3)"), ("x^y^z", "x^y^z"), ("(x^y)^z", "(x^y)^z"),
    ("(-x)^2", "(-x)^2"), ("-x^2", "-x^2"), ("x**y", "x^y"), ("pow(x,y)", "x^y"),
    ("log( x , 2 )", "log(x, 2)"), ("((x))", "x"), ("-(x*y)", "-(x*y)"), ("(x*y)/z", "x*y/z"),
])
def test_printer_uses_few_parentheses(text, printed):
    assert to_text(parse(text)) == printed


# random canonical trees: what the parser can produce (neg never wraps a literal,
# pow never has an integer-literal exponent, powi always has one)

_NAMES = st.sampled_from(["x", "y", "z", "w1", "t_2", "alpha", "sin", "E"])
_LITERALS = st.sampled_from(["0", "1", "2", "3", "10", "2.5", ".5", "1e-3", "2.5E+4", "0.1", "2.", "1E5"])
_SIGNED = st.one_of(_LITERALS, _LITERALS.map(lambda t: "-" + t))
_LEAVES = st.one_of(_NAMES.map(Var), st.sampled_from(["pi", "e"]).map(Const), _SIGNED.map(Num))
_FUNCS = [p for p in FUNCTIONS.values() if p.name != "pow"]


def _is_int_literal(node) -> bool:
    return isinstance(node, Num) and Fraction(node.text).denominator == 1


def _extend(children):
    binary = st.tuples(st.sampled_from(["add", "sub", "mul", "div"]), children, children).map(
        lambda t: Apply(t[0], (t[1], t[2])))
    power = st.tuples(children, children).filter(
        lambda t: not _is_int_literal(t[1]) or abs(Fraction(t[1].text)) <= E.MAX_INT_EXPONENT).map(
        lambda t: Apply("powi" if _is_int_literal(t[1]) else "pow", t))
    powi = st.tuples(children, st.sampled_from(["0", "1", "2", "3", "-1", "-2", "10"])).map(
        lambda t: Apply("powi", (t[0], Num(t[1]))))
    negate = children.filter(lambda c: not isinstance(c, Num)).map(lambda c: Apply("neg", (c,)))
    call1 = st.tuples(st.sampled_from([p.name for p in _FUNCS if p.arity == 1]), children).map(
        lambda t: Apply(t[0], (t[1],)))
    call2 = st.tuples(st.sampled_from([p.name for p in _FUNCS if p.arity == 2]), children, children).map(
        lambda t: Apply(t[0], (t[1], t[2])))
    return st.one_of(binary, power, powi, negate, call1, call2)


TREES = st.recursive(_LEAVES, _extend, max_leaves=24)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TREES)
def test_printer_round_trips_random_trees(tree):
    printed = to_text(tree)
    assert parse(printed) == tree, printed


# --- errors: message, column, caret, hint ------------------------------------

def error_of(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text)
    return info.value


def rendered(message: str, text: str, column: int, width: int, hint: str | None = None) -> str:
    lines = [f"error: {message} (column {column + 1})", "  " + text, "  " + " " * column + "^" * width]
    return "\n".join(lines + ([hint] if hint else []))


def test_spec_example_unknown_function():
    err = error_of("sinn(x) + 1")
    assert err.message == "unknown function 'sinn'"
    assert err.column == 0
    assert err.hint == "did you mean 'sin'?"
    assert str(err).splitlines() == [
        "error: unknown function 'sinn' (column 1)",
        "  sinn(x) + 1",
        "  ^^^^",
        "did you mean 'sin'?",
    ]


IMPLICIT = "missing operator (implicit multiplication is not allowed)"

ERRORS = [
    # text, message, column, width, hint
    ("sinn(x) + 1", "unknown function 'sinn'", 0, 4, "did you mean 'sin'?"),
    ("1 + coss(x)", "unknown function 'coss'", 4, 4, "did you mean 'cos'?"),
    ("ln(x)", "unknown function 'ln'", 0, 2, "did you mean 'log'?"),
    ("arctan(x)", "unknown function 'arctan'", 0, 6, "did you mean 'atan'?"),
    ("Sin(x)", "unknown function 'Sin'", 0, 3, "did you mean 'sin'?"),
    ("f(x)", "unknown function 'f'", 0, 1,
     "to multiply, write f*(...); 'derivcmp functions' lists the functions"),
    ("2x", IMPLICIT, 1, 1, "did you mean 2*x?"),
    ("2 x", IMPLICIT, 2, 1, "did you mean 2*x?"),
    ("3xy + 1", IMPLICIT, 1, 2, "did you mean 3*xy?"),
    ("2pi", IMPLICIT, 1, 2, "did you mean 2*pi?"),
    ("2(x)", IMPLICIT, 1, 1, "did you mean 2*(x)?"),
    ("2(x+1)", IMPLICIT, 1, 1, "did you mean 2*(x+1)?"),
    ("x y", IMPLICIT, 2, 1, "did you mean x*y?"),
    ("(x)(y)", IMPLICIT, 3, 1, "did you mean (x)*(y)?"),
    ("(x+1)(x-1)", IMPLICIT, 5, 1, "did you mean (x+1)*(x-1)?"),
    ("sin(x)(y)", IMPLICIT, 6, 1, "did you mean sin(x)*(y)?"),
    ("2sin(x)", IMPLICIT, 1, 3, "did you mean 2*sin(x)?"),
    ("sin x", IMPLICIT, 4, 1, "did you mean sin(x)?"),
    ("x^2 y", IMPLICIT, 4, 1, "did you mean 2*y?"),
    ("2ex", IMPLICIT, 1, 2, "did you mean 2*ex? (an exponent is written 1e-3)"),
    ("1.2.3", "malformed number '1.2.3'", 0, 5, None),
    ("(x", "unclosed '('", 0, 1, "add the missing ')'"),
    ("((x)", "unclosed '('", 0, 1, "add the missing ')'"),
    ("sin(x", "unclosed '(' in call to sin", 3, 1, "add the missing ')'"),
    ("x)", "unmatched ')'", 1, 1, None),
    (")", "unmatched ')'", 0, 1, None),
    ("(x))", "unmatched ')'", 3, 1, None),
    ("", "empty expression", 0, 1, None),
    ("   ", "empty expression", 0, 1, None),
    ("()", "empty parentheses", 0, 2, None),
    ("x*()", "empty parentheses", 2, 2, None),
    ("x+", "unexpected end of expression; an operand is missing", 2, 1, None),
    ("x*", "unexpected end of expression; an operand is missing", 2, 1, None),
    ("x^", "unexpected end of expression; an operand is missing", 2, 1, None),
    ("x^-", "expected an operand after unary '-'", 3, 1, None),
    ("*x", "expected an operand, found '*'", 0, 1, None),
    ("x**", "unexpected end of expression; an operand is missing", 3, 1, None),
    ("x+*y", "expected an operand, found '*'", 2, 1, None),
    ("(+)", "expected an operand before ')'", 2, 1, None),
    ("sin(x,)", "expected an operand before ')'", 6, 1, None),
    ("sin(,x)", "expected an operand before ','", 4, 1, None),
    ("x,y", "unexpected ',' outside a function call", 1, 1,
     "a function with several outputs is written [e1, e2, ...]"),
    ("atan2(x)", "atan2() takes 2 arguments, got 1", 0, 8, None),
    ("sin(x, y)", "sin() takes 1 argument, got 2", 0, 9, None),
    ("log(x, 2, 3)", "log() takes 1 or 2 arguments, got 3", 0, 12, None),
    ("sin()", "sin() takes 1 argument, got 0", 0, 5, None),
    ("pi(2)", "'pi' is a constant, not a function", 0, 2, "did you mean pi*(...)?"),
    ("e(x)", "'e' is a constant, not a function", 0, 1, "did you mean e*(...)?"),
    ("x = 2", "unexpected character '='", 2, 1, "'=' is not allowed in an expression (give values with --at)"),
    ("x.y", "unexpected character '.'", 1, 1, "attribute access is not part of the expression language"),
    ("x[0]", "unexpected '['", 1, 1,
     "indexing is not part of the expression language; a list [...] must be the whole expression"),
    ("'a'", "unexpected character \"'\"", 0, 1, "strings are not part of the expression language"),
    ("__import__('os').system('id')", "unexpected character \"'\"", 11, 1,
     "strings are not part of the expression language"),
    ("lambda x: x", "unexpected character ':'", 8, 1, "':' is not part of the expression language"),
    ("lambda", "'lambda' is not allowed in an expression", 0, 6, None),
    ("__class__", "'__class__' is not allowed in an expression", 0, 9, None),
    ("x; y", "unexpected character ';'", 1, 1, "only one expression is allowed"),
    ("3!", "unexpected character '!'", 1, 1, "'!' is not supported (factorial is not a function here)"),
    ("|x|", "unexpected character '|'", 0, 1, "'|' is not supported; use abs(x)"),
    ("x % 2", "unexpected character '%'", 2, 1, "'%' is not supported"),
    ("x < y", "unexpected character '<'", 2, 1, "comparisons are not supported"),
    ("x # c", "unexpected character '#'", 2, 1, "comments are not allowed inside an expression"),
    ("x $ y", "unexpected character '$'", 2, 1, None),
    ("٣", "unexpected character '٣'", 0, 1, None),          # only ASCII digits are numbers
    ("x²", "unexpected character '²'", 1, 1, "did you mean ^2?"),
    ("1e999", "number 1e999 is too large for float64", 0, 5, None),
    ("x + 2e308", "number 2e308 is too large for float64", 4, 5, None),
    ("1e-999", "number 1e-999 is too small for float64 (it would round to 0)", 0, 6, None),
    ("0e99999", "the exponent of 0e99999 is out of range (at most 1000 in magnitude)", 0, 7, None),
    ("x^100000", "integer exponent 100000 is too large (limit 10000)", 2, 6, None),
    ("x^-100000", "integer exponent -100000 is too large (limit 10000)", 2, 7, None),
    ("x^1e5", "integer exponent 1e5 is too large (limit 10000)", 2, 3, None),
    ("pow(x, 20000)", "integer exponent 20000 is too large (limit 10000)", 7, 5, None),
]


@pytest.mark.parametrize("text, message, column, width, hint", ERRORS, ids=[e[0] or "<empty>" for e in ERRORS])
def test_error_messages(text, message, column, width, hint):
    err = error_of(text)
    assert (err.message, err.column, err.width, err.hint) == (message, column, width, hint)
    assert 0 <= err.column <= len(text)
    assert str(err) == rendered(message, text, column, width, hint)


def test_error_with_a_source_name():
    err = None
    with pytest.raises(ParseError) as info:
        parse("2x", source="suite.toml:case-3")
    err = info.value
    assert str(err).splitlines()[0] == f"suite.toml:case-3: error: {IMPLICIT} (column 2)"


def test_newlines_and_tabs_keep_columns():
    err = error_of("x +\n\t2y")
    assert err.column == 6
    assert str(err).splitlines()[1:3] == ["  x +  2y", "        ^"]


def test_long_input_is_windowed_around_the_caret():
    text = "x + " * 40 + "2y" + " + x" * 40
    err = error_of(text)
    assert err.column == text.index("2y") + 1
    _, shown, caret = str(err).splitlines()[:3]
    assert len(shown) < 90
    # the caret sits under the 'y' of 2y in the shown window
    assert shown[caret.index("^")] == "y"


def test_too_long_input():
    text = "x+" * (E.MAX_LENGTH // 2) + "x"
    assert len(text) > E.MAX_LENGTH
    err = error_of(text)
    assert err.message == f"expression is too long ({len(text)} characters; the limit is {E.MAX_LENGTH})"
    assert err.column == E.MAX_LENGTH
    assert parse("x+" * ((E.MAX_LENGTH - 1) // 2) + "x")     # at the limit it parses


def test_too_long_number_literal():
    text = "1." + "0" * E.MAX_NUMBER_LENGTH
    err = error_of(text)
    assert err.message.startswith("number literal is too long")
    assert err.column == 0


@pytest.mark.parametrize("text", [
    "(" * 500 + "x" + ")" * 500,
    "-" * 1000 + "x",
    "+" * 1000 + "x",
    "^".join(["x"] * 1000),
    "**".join(["x"] * 1000),
    "sin(" * 300 + "x" + ")" * 300,
    "atan2(x, " * 300 + "x" + ")" * 300,
    "(" * 5000,
    "-(" * 3000,
    "2^-" * 2000 + "x",
])
def test_too_deep_nesting_is_a_parse_error(text):
    with no_hang(30):
        err = error_of(text)       # never RecursionError
    assert "nested too deeply" in err.message
    assert 0 <= err.column <= len(text)


def test_nesting_below_the_limit_parses():
    n = E.MAX_DEPTH - 1
    assert parse("(" * n + "x" + ")" * n) == x
    assert depth(parse("-" * n + "x")) == n + 1
    assert depth(parse("^".join(["x"] * 100))) == 100


def test_deep_nesting_from_a_deep_call_stack():
    # even with most of the stack used up by the caller, no RecursionError escapes
    text = "(" * (E.MAX_DEPTH - 5) + "x" + ")" * (E.MAX_DEPTH - 5)
    limit = sys.getrecursionlimit()

    def dive(n):
        if n == 0:
            try:
                return parse(text)
            except ParseError as err:
                return err
        return dive(n - 1)

    outcome = dive(limit - 300)
    assert outcome == x or "nested too deeply" in outcome.message


def test_non_string_input():
    with pytest.raises(TypeError):
        parse(3)


# --- hypothesis: any text is an AST or a ParseError, quickly -------------------

_TOKENS = ["x", "y", "2", ".5", "1e-3", "2.5E+4", "pi", "e", "+", "-", "*", "/", "^", "**", "(", ")",
           ",", " ", "sin", "atan2", "log", "pow", "sinn", "1e999", "2x", "max", "(x)", "-x", ".", "=",
           "e-", "3.", "0", "abs(", "x^", "^-", "2.0", "--", "$"]


def _check_total(text: str) -> None:
    try:
        with no_hang(30):
            tree = parse(text)
    except ParseError as err:
        assert 0 <= err.column <= len(text)
        assert err.width >= 1
        assert str(err).startswith("error: ")
        return
    # what parses also prints and re-parses to the same tree, and powi always
    # holds an integer literal
    assert parse(to_text(tree)) == tree
    for node in walk(tree):
        if isinstance(node, Apply):
            assert node.op in BY_NAME
            assert len(node.args) == BY_NAME[node.op].arity
            if node.op == "powi":
                assert _is_int_literal(node.args[1])
            if node.op == "neg":
                assert not isinstance(node.args[0], Num)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_fails_cleanly(text):
    _check_total(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xy2.5e+-*/^(),  sinpo", max_size=40))
def test_grammar_alphabet_parses_or_fails_cleanly(text):
    _check_total(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=30))
def test_token_soup_parses_or_fails_cleanly(tokens):
    _check_total("".join(tokens))
    _check_total(" ".join(tokens))

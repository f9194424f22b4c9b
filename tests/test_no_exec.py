"""No user text is ever executed: not by derivcmp, not by sympy on its behalf.

Three layers:

* the parser rejects code-shaped input (dunder names, attribute access,
  subscripts, lambdas, strings, calls of unknown functions) as ParseErrors;
* a static scan of derivcmp/**/*.py (``ast``): no call of eval, exec,
  compile, sympify, parse_expr, ``sympy.S(...)``, ``__import__`` or
  importlib; ``sympy.Symbol`` only in ``sympy_bridge.symbol``; ``lambdify``
  only on sympy objects, and only where the symbols are renamed;
* a runtime trap: eval / exec / compile / sympify / parse_expr are wrapped so
  that any call whose text (or code object) contains the user's distinctive
  variable name or number fails the test, then full comparisons (every
  method, reference ok / undefined / at a kink, gradients, Hessians, the CLI,
  a TOML batch) run with those inputs.  lambdify exec's generated code; that
  is allowed only if the generated code does not contain the user's text.
"""

from __future__ import annotations

import ast
import builtins
import sys
import textwrap
import types
from pathlib import Path

import pytest
import sympy
import sympy.parsing.sympy_parser
from click.testing import CliRunner

from derivcmp.cli import main
from derivcmp.compare import compare_text
from derivcmp.errors import ParseError
from derivcmp.expr import parse

SYMPIFY_MODULE = sys.modules["sympy.core.sympify"]     # the attribute of sympy.core is the function
PACKAGE = Path(__file__).resolve().parent.parent / "derivcmp"


# --- the parser refuses code ---------------------------------------------------------

@pytest.mark.parametrize("text", [
    "__import__('os').system('id')",
    "__import__",
    "__builtins__",
    "x.__class__",
    "x.__class__.__mro__[1].__subclasses__()",
    "(1).__class__",
    "sin.__globals__",
    "lambda x: x",
    "lambda",
    "exec('1')",
    "eval('1')",
    "compile('1', 'f', 'eval')",
    "getattr(x, 'y')",
    "open('/etc/passwd')",
    "os.system('id')",
    "x[0]",
    "x[1:2]",
    "sin(x)[0]",
    "{1: 2}",
    "[x for x in y]",
    "x if y else z",
    "x and y",
    "not x",
    "x == 1",
    "x; y",
    "x = 1",
    "f'{x}'",
    "b'x'",
    "x @ y",
    "sympify('x')",
    "Symbol('x')",
    "x\n__import__('os')",
])
def test_code_shaped_input_is_a_parse_error(text):
    with pytest.raises(ParseError) as err:
        parse(text)
    assert 0 <= err.value.column <= len(text)


def test_dunder_names_are_refused_by_name():
    with pytest.raises(ParseError, match="'__class__' is not allowed in an expression"):
        parse("__class__ + 1")
    with pytest.raises(ParseError, match="attribute access is not part of the expression language"):
        parse("x.y")


# --- static scan -----------------------------------------------------------------------

FORBIDDEN_CALLS = {"eval", "exec", "compile", "sympify", "parse_expr", "__import__", "import_module",
                   "parse_latex", "parse_mathematica", "S", "execfile", "runpy"}
SYMBOL_MAKERS = {"Symbol", "symbols", "Dummy", "var"}
#: (file, enclosing function) allowed to construct sympy symbols: the name comes
#: from a Var node, which only the tokenizer's identifier regex can produce
SYMBOL_ALLOWED = {("sympy_bridge.py", "symbol")}


def _call_name(node: ast.Call) -> tuple[str | None, str | None]:
    f = node.func
    if isinstance(f, ast.Name):
        return None, f.id
    if isinstance(f, ast.Attribute):
        base = f.value.id if isinstance(f.value, ast.Name) else None
        return base, f.attr
    return None, None


def _is_text(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or isinstance(node, ast.JoinedStr) \
        or (isinstance(node, ast.BinOp) and (_is_text(node.left) or _is_text(node.right)))


def _scan() -> list[tuple[str, int, str, str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "<module>")]
        while stack:
            node, func = stack.pop()
            for child in ast.iter_child_nodes(node):
                name = child.name if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
                if isinstance(child, ast.Call):
                    base, attr = _call_name(child)
                    found.append((path.relative_to(PACKAGE).as_posix(), child.lineno, name, f"{base}.{attr}",
                                  child))
                stack.append((child, name))
    return found


CALLS = _scan()


def test_the_scan_sees_the_package():
    names = {c[3] for c in CALLS}
    assert "sympy.lambdify" in names and "sympy.Symbol" in names and "re.compile" in names


#: the one audited door for code derivcmp generates from its own trees (an ``ast``
#: tree of our names and numbers only, checked by ``codegen.audit`` first)
GENERATED_CODE_ALLOWED = {("codegen.py", "build", "None.compile"), ("codegen.py", "build", "None.exec")}
#: the registry imports the modules of derivcmp.backends by the names pkgutil lists
IMPORT_ALLOWED = {("backends/base.py", "discover", "importlib.import_module")}


def test_no_eval_exec_compile_sympify_or_parse_expr_anywhere():
    bad = []
    for file, line, func, name, call in CALLS:
        base, attr = name.split(".", 1)
        if attr not in FORBIDDEN_CALLS or (file, func, name) in GENERATED_CODE_ALLOWED | IMPORT_ALLOWED:
            continue
        if attr == "compile" and base == "re" and call.args and _is_text(call.args[0]):
            continue        # a regex from a literal pattern
        bad.append(f"{file}:{line} in {func}: {name}(...)")
    assert bad == []


def test_generated_code_goes_through_one_audited_function():
    seen = {(file, func, name) for file, _, func, name, _ in CALLS if name.split(".", 1)[1] in ("compile", "exec")
            and not name.startswith("re.")}
    assert seen == GENERATED_CODE_ALLOWED


@pytest.mark.parametrize("bad", [
    "def f(x):\n    return 'text'",
    "def f(x):\n    return open(x)",
    "def f(x):\n    return x.__class__",
    "def f(x):\n    import os",
    "def f(x):\n    return [y for y in x]",
    "def f(x):\n    return exp(x, base=2)",
    "def f(Weird):\n    return Weird",
    "def f(x):\n    return lambda: x",
    "def f(x):\n    try:\n        return x\n    finally:\n        return 1",
    "def f(x):\n    try:\n        return x\n    except exp as err:\n        return err",
    "def f(x):\n    try:\n        return x\n    except Exception:\n        return 1",
])
def test_the_audit_refuses_anything_but_straight_line_arithmetic(bad):
    from derivcmp import codegen
    tree = ast.parse(bad).body[0]
    with pytest.raises(codegen.UnsafeTree, match="not|neither|must|only a body|names a namespace entry"):
        codegen.build(tree, {"exp": __import__("math").exp})


def test_the_audit_passes_generated_arithmetic():
    import math

    from derivcmp import codegen
    fn = codegen.function("f", ["v0"], [codegen.assign("v1", codegen.call("exp", codegen.name("v0"))),
                                        ast.Return(ast.BinOp(codegen.name("v1"), ast.Mult(), codegen.number(-2.5)))])
    g = codegen.build(fn, {"exp": math.exp})
    assert g(1.0) == -2.5 * math.e
    assert "v1 = exp(v0)" in g.source and "__builtins__" not in g.source


def test_sympy_symbols_are_made_in_one_place_only():
    bad = [f"{file}:{line} in {func}: {name}" for file, line, func, name, _ in CALLS
           if name.split(".", 1)[1] in SYMBOL_MAKERS and (Path(file).name, func) not in SYMBOL_ALLOWED]
    assert bad == []


def test_lambdify_never_gets_a_string():
    calls = [(f, ln, c) for f, ln, _, name, c in CALLS if name.endswith(".lambdify")]
    assert calls
    for file, line, call in calls:
        assert not any(_is_text(a) for a in call.args), f"{file}:{line}: lambdify of text"
        assert not any(_is_text(k.value) for k in call.keywords if k.arg == "expr"), f"{file}:{line}"


#: where generated code may be built; each passes symbols renamed by
#: ``sympy_bridge.safe_names`` (_x0, _x1, ...), which the runtime trap below checks
LAMBDIFY_ALLOWED = {("backends/symbolic.py", "_prepare"), ("backends/symbolic.py", "_first_bad_node"),
                    ("reference.py", "_fast")}


def test_lambdify_only_where_names_are_renamed():
    where = {(file, func) for file, _, func, name, _ in CALLS if name.endswith(".lambdify")}
    assert where <= LAMBDIFY_ALLOWED, where - LAMBDIFY_ALLOWED


# --- runtime trap ------------------------------------------------------------------------

USER_NAME = "zq_user_var"
USER_NUMBER = "0.73195"                  # sympy keeps it as Rational(14639, 20000)
USER_TOKENS = (USER_NAME, USER_NUMBER, "73195")


def _mentions_user_text(obj, depth: int = 0) -> bool:
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", "replace")
    if isinstance(obj, str):
        return any(t in obj for t in USER_TOKENS)
    if isinstance(obj, types.CodeType) and depth < 20:
        parts = obj.co_names + obj.co_varnames + obj.co_freevars + obj.co_cellvars
        return any(_mentions_user_text(p) for p in parts) or any(
            _mentions_user_text(c, depth + 1) for c in obj.co_consts if isinstance(c, (str, types.CodeType)))
    return False


@pytest.fixture
def trap(monkeypatch):
    """Wrap the ways text can be run; record each call that carries user text."""
    seen: list[str] = []

    def wrap(fn, label, frame_dependent=False):
        def guarded(*args, **kwargs):
            for a in list(args) + list(kwargs.values()):
                if _mentions_user_text(a):
                    seen.append(f"{label} got user text: {str(a)[:300]!r}")
            if frame_dependent and len(args) == 1 and not kwargs:
                # eval(s) / exec(s) without namespaces use the *caller's* frame
                caller = sys._getframe(1)
                args = (args[0], caller.f_globals, caller.f_locals)
            return fn(*args, **kwargs)
        return guarded

    monkeypatch.setattr(builtins, "eval", wrap(builtins.eval, "eval", True))
    monkeypatch.setattr(builtins, "exec", wrap(builtins.exec, "exec", True))
    monkeypatch.setattr(builtins, "compile", wrap(builtins.compile, "compile"))
    sympify = wrap(SYMPIFY_MODULE.sympify, "sympify")
    monkeypatch.setattr(sympy, "sympify", sympify)
    monkeypatch.setattr(SYMPIFY_MODULE, "sympify", sympify)
    monkeypatch.setattr(type(sympy.S), "__call__", staticmethod(sympify))
    parse_expr = wrap(sympy.parsing.sympy_parser.parse_expr, "parse_expr")
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", parse_expr)
    monkeypatch.setattr(sympy, "parse_expr", parse_expr, raising=False)
    return seen


def test_the_trap_springs_on_user_text(trap):
    sympy.sympify(f"{USER_NAME} + 1")
    assert trap and trap[0].startswith("sympify got user text")
    del trap[:]
    builtins.exec(compile(f"{USER_NAME} = 1", "<t>", "exec"), {})  # noqa: S102 - the trap itself
    assert [t.split()[0] for t in trap] == ["compile", "exec"]


def _run(cases):
    """Every method, in-process (no forked deadline: a fork would hide the trap's records)."""
    out = []
    for text, wrt, at, order in cases:
        c = compare_text(text, wrt=wrt, at=at, order=order, methods="all", timing=False, timeout=None)
        out.append(c)
    return out


U = USER_NAME


def test_runtime_trap_ok_undefined_and_kink_paths(trap):
    results = _run([
        (f"{U}^2*sin({USER_NUMBER}*{U}) + exp(-{U}*y)", None, f"{U}=1.5,y={USER_NUMBER}", 1),
        (f"{U}^2*sin({USER_NUMBER}*{U}) + exp(-{U}*y)", None, f"{U}=1.5,y={USER_NUMBER}", 2),
        (f"tanh({USER_NUMBER}*{U})", U, f"{U}={USER_NUMBER}", 3),
        (f"log({U} - 3) + {USER_NUMBER}", U, f"{U}=1", 1),                 # undefined
        (f"abs({U}) + {USER_NUMBER}*{U}", U, f"{U}=0", 1),                 # a kink
        (f"max({U}, {USER_NUMBER})", U, f"{U}={USER_NUMBER}", 1),          # a tie
        (f"sign({U}) * {USER_NUMBER}", U, f"{U}=0", 1),                    # a jump
        (f"{U}^{USER_NUMBER}", U, f"{U}=pi/4", 1),
    ])
    statuses = [c.reference.status for c in results]
    assert statuses[:3] == ["ok"] * 3 and statuses[3] == "undefined" and statuses[4] == "not-differentiable"
    assert trap == []


def test_runtime_trap_failure_explanations(trap):
    # when sympy's formula overflows, the symbolic backend lambdifies each
    # subexpression to find the one that failed: those must be renamed too
    results = _run([(f"exp(1000*{U})", U, f"{U}=1", 1), (f"exp({U}*{U})", U, f"{U}=30", 1)])
    assert [r.reference.status for r in results] == ["undefined", "undefined"]
    sym = [g.outcome for r in results for g in r.results if g.name == "symbolic"]
    assert all("overflow in exp(" in o.message for o in sym)
    assert all(U in o.message for o in sym)       # shown to the user with the user's names
    assert trap == []


def test_runtime_trap_through_the_cli_and_a_batch(trap, tmp_path):
    res = CliRunner().invoke(main, ["eval", f"sin({U})*{USER_NUMBER}", "--at", f"{U}={USER_NUMBER}",
                                    "--no-timing", "--timeout", "0", "--format", "json"])
    assert res.exit_code == 0, res.output
    suite = tmp_path / "s.toml"
    suite.write_text(textwrap.dedent(f"""
        [[case]]
        id = "a"
        expr = "{U}^3 + {USER_NUMBER}"
        at = {{ {U} = "pi/{USER_NUMBER}" }}
        expected = "3*{U}^2"

        [[case]]
        id = "b"
        expr = "log({U})"
        at = {{ {U} = -{USER_NUMBER} }}
        expect = "undefined"
        """))
    res = CliRunner().invoke(main, ["check", str(suite), "--no-timing", "--timeout", "0", "-j", "1",
                                    "--format", "json"])
    assert res.exit_code == 0, res.output
    assert trap == []


def test_runtime_trap_sees_the_generated_code(trap, monkeypatch):
    # the compiled f (fd-central) and ad-codegen's adjoint code go through
    # codegen.build, whose compile/exec the trap wraps: prove they ran under it,
    # from the user's expression, and carried none of the user's text
    from derivcmp import codegen
    built: list[str] = []
    real_build = codegen.build

    def recording_build(function, namespace):
        g = real_build(function, namespace)
        built.append(g.source)
        return g
    monkeypatch.setattr(codegen, "build", recording_build)
    results = _run([(f"{U}^2*sin({USER_NUMBER}*{U}) + exp(-{U}*y)", None, f"{U}=1.5,y=2", 2)])
    names = {r.name for r in results[0].results}
    assert {"fd-central", "ad-codegen"} <= names
    assert any(s.startswith("def f(") for s in built) and any(s.startswith("def d(") for s in built)
    assert not any(U in s for s in built)
    assert trap == []

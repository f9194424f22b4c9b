"""The one audited door from generated code to a Python function.

derivcmp compiles code it generates itself from its own trees (the program
compiler, ``ad-codegen``'s adjoint code): straight-line Python built as an
``ast`` tree, never as text, so no user text can reach it.  ``build``
checks that before compiling:

* only the node types straight-line arithmetic needs (function definition,
  assignment, return, names, calls of names, numbers, arithmetic operators,
  tuples and lists, conditional expressions, comparisons), plus ``if`` and
  ``try``/``except`` for the fast path's switch and fallback
  (``except`` of a namespace name only, never ``as``, no ``finally``);
* every name is one of ours: generated locals match ``[a-z]+[0-9]*`` or
  ``_[a-z0-9_]*`` and callees are keys of the namespace we pass in;
* every constant is an int, float or bool -- there are no strings at all,
  so no variable name, no literal text of the user's can be inside.

This is the only place in derivcmp that calls ``compile`` / ``exec``; the
static scan in ``tests/test_no_exec.py`` allows it here and nowhere else.
The tree's source (``ast.unparse``) is kept for inspection.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

_LOCAL = re.compile(r"(?:[a-z]+[0-9]*|_[a-z0-9_]*)\Z")

_ALLOWED = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Assign, ast.AugAssign, ast.Return,
    ast.Name, ast.Load, ast.Store, ast.Call, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Tuple,
    ast.List, ast.IfExp, ast.Compare, ast.Expr, ast.If, ast.Try, ast.ExceptHandler,
    ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Not,
    ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq,
)


class UnsafeTree(ValueError):
    """Generated code that does not pass the audit (a bug in derivcmp, never input)."""


@dataclass(frozen=True)
class Generated:
    """A compiled function with the tree it came from (``source``: its text, made on demand)."""

    fn: Callable[..., Any]
    tree: ast.Module
    name: str

    @cached_property
    def source(self) -> str:
        return ast.unparse(self.tree)

    def __call__(self, *args):
        return self.fn(*args)


_POSITION = (("lineno", 1), ("col_offset", 0), ("end_lineno", 1), ("end_col_offset", 0))


def audit(tree: ast.AST, namespace: Mapping[str, Any], locate: bool = False) -> None:
    """Raise ``UnsafeTree`` unless ``tree`` is straight-line code over our own names.

    With ``locate``, the same walk gives every node that lacks one a source
    position (what ``ast.fix_missing_locations`` does, in a second walk)."""
    for node in ast.walk(tree):
        if locate and "lineno" in node._attributes and getattr(node, "lineno", None) is None:
            for attr, value in _POSITION:
                setattr(node, attr, value)
        if not isinstance(node, _ALLOWED):
            raise UnsafeTree(f"node type {type(node).__name__} is not allowed in generated code")
        if isinstance(node, ast.Constant):
            if type(node.value) not in (int, float, bool):
                raise UnsafeTree(f"constant {node.value!r} is not a number")
        elif isinstance(node, ast.Name):
            if not (node.id in namespace or _LOCAL.match(node.id)):
                raise UnsafeTree(f"name {node.id!r} is neither generated nor in the namespace")
        elif isinstance(node, ast.arg):
            if not _LOCAL.match(node.arg):
                raise UnsafeTree(f"argument {node.arg!r} is not a generated name")
        elif isinstance(node, ast.FunctionDef):
            if not _LOCAL.match(node.name) or node.decorator_list or node.returns:
                raise UnsafeTree(f"function {node.name!r} is not a plain generated function")
        elif isinstance(node, ast.Try):
            if node.finalbody or node.orelse:
                raise UnsafeTree("try in generated code has only a body and except clauses")
        elif isinstance(node, ast.ExceptHandler):
            if node.name is not None or not (isinstance(node.type, ast.Name) and node.type.id in namespace):
                raise UnsafeTree("except in generated code names a namespace entry, without 'as'")
        elif isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in namespace
                                             or node.keywords):
            raise UnsafeTree("a call must name a function of the namespace, without keywords")


def build(function: ast.FunctionDef, namespace: Mapping[str, Any]) -> Generated:
    """Audit and compile one generated function definition; return it with its source."""
    module = ast.Module(body=[function], type_ignores=[])
    audit(module, namespace, locate=True)
    scope: dict[str, Any] = dict(namespace)
    scope["__builtins__"] = {}
    code = compile(module, filename=f"<derivcmp generated {function.name}>", mode="exec")
    exec(code, scope)  # noqa: S102 - audited above: our own names and numbers only
    return Generated(scope[function.name], module, function.name)


# --- small constructors, so generators read as code ----------------------------------

def name(ident: str) -> ast.Name:
    return ast.Name(id=ident, ctx=ast.Load())


def number(value: float) -> ast.AST:
    """A numeric literal (a negative one as unary minus of its magnitude)."""
    if not isinstance(value, int) or isinstance(value, bool):
        value = float(value)
    if value < 0 or (isinstance(value, float) and value == 0 and str(value).startswith("-")):
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


def call(fn: str, *args: ast.AST) -> ast.Call:
    return ast.Call(func=name(fn), args=list(args), keywords=[])


def assign(target: str, value: ast.AST) -> ast.Assign:
    return ast.Assign(targets=[ast.Name(id=target, ctx=ast.Store())], value=value)


def function(fname: str, params: list[str], body: list[ast.stmt]) -> ast.FunctionDef:
    args = ast.arguments(posonlyargs=[], args=[ast.arg(arg=p) for p in params], vararg=None,
                         kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    kwargs: dict[str, Any] = {}
    if "type_params" in ast.FunctionDef._fields:       # Python 3.12+
        kwargs["type_params"] = []
    return ast.FunctionDef(name=fname, args=args, body=body, decorator_list=[], returns=None, **kwargs)


BINOPS = {"add": ast.Add, "sub": ast.Sub, "mul": ast.Mult, "div": ast.Div}

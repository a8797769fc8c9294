"""Placeholders with the solution's signature, which a problem's tests must tell apart.

Tests that a do-nothing implementation passes check nothing, so every candidate's tests
are also run against two stubs made from its canonical solution: one whose every function
returns ``None``, one whose every function returns its first argument unchanged.  The
solution's other top-level code (imports, helpers, constants) stays as it is; only the
definition of ``name`` is replaced:

* a function keeps its name, parameters, and ``async``; its decorators go (a decorator
  such as ``@contextmanager`` is behaviour, not signature);
* a class keeps its bases and keyword arguments (metaclass), its methods' names and
  parameters, and the ``property``/``staticmethod``/``classmethod`` decorators that shape
  how they are called; its constructor keeps its parameters (a dataclass's fields become
  them) but stores nothing, and class attributes (enum members, constants) go.
"""

from __future__ import annotations

import ast
import copy

from llm_solutions.validation import parse_code

_KEPT_DECORATORS = {"property", "staticmethod", "classmethod"}

#: What each stub does, for rejection messages.
STUB_KINDS = {"none": "returns None", "identity": "returns its input unchanged"}


def _kept_decorator(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _KEPT_DECORATORS
    # ``@area.setter``, ``@area.deleter`` of a property
    return isinstance(node, ast.Attribute) and node.attr in {"setter", "getter", "deleter"}


def _first_input(args: ast.arguments, method: bool) -> str | None:
    positional = [a.arg for a in [*args.posonlyargs, *args.args]]
    if method:
        positional = positional[1:]
    if positional:
        return positional[0]
    if args.vararg is not None:
        return f"({args.vararg.arg}[0] if {args.vararg.arg} else None)"
    return None


def _stub_body(args: ast.arguments, kind: str, method: bool) -> list[ast.stmt]:
    source = _first_input(args, method) if kind == "identity" else None
    return ast.parse(f"return {source or 'None'}").body


def _function(node: ast.FunctionDef | ast.AsyncFunctionDef, kind: str, method: bool) -> ast.stmt:
    stub = copy.deepcopy(node)
    stub.decorator_list = [d for d in stub.decorator_list if method and _kept_decorator(d)]
    is_static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in stub.decorator_list)
    if stub.name == "__init__":
        stub.body = [ast.Pass()]
    else:
        stub.body = _stub_body(stub.args, kind, method and not is_static)
    return stub


def _dataclass_init(node: ast.ClassDef) -> ast.stmt | None:
    """An ``__init__`` taking a dataclass's fields, storing nothing."""
    decorated = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
    fields = [item.target.id for item in node.body
              if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)]
    if not decorated or not fields:
        return None
    params = ", ".join(f"{name}=None" for name in fields)
    return ast.parse(f"def __init__(self, {params}):\n    pass").body[0]


def _class(node: ast.ClassDef, kind: str) -> ast.stmt:
    body: list[ast.stmt] = []
    has_init = False
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            has_init = has_init or item.name == "__init__"
            body.append(_function(item, kind, method=True))
        elif isinstance(item, ast.ClassDef):
            body.append(_class(item, kind))
    if not has_init:
        init = _dataclass_init(node)
        if init is not None:
            body.insert(0, init)
    stub = copy.copy(node)  # name, bases, keywords (and type parameters) as they are
    stub.body = body or [ast.Pass()]
    stub.decorator_list = []
    return stub


def stub_code(code: str, name: str, kind: str) -> str | None:
    """The solution with ``name`` replaced by a stub of ``kind`` (``none`` or
    ``identity``); ``None`` when the code does not parse, does not define ``name``, or the
    stub would be the same as the ``none`` one (no input to return)."""
    tree = parse_code(code)
    if tree is None:
        return None
    body: list[ast.stmt] = []
    replaced = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            if kind == "identity" and _first_input(node.args, method=False) is None:
                return None
            body.append(_function(node, kind, method=False))
            replaced = True
        elif isinstance(node, ast.ClassDef) and node.name == name:
            body.append(_class(node, kind))
            replaced = True
        else:
            body.append(copy.deepcopy(node))
    if not replaced:
        return None
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    return ast.unparse(module)


def stubs(code: str, name: str) -> list[tuple[str, str]]:
    """``(kind, code)`` of every stub the tests must fail."""
    found: list[tuple[str, str]] = []
    for kind in STUB_KINDS:
        stub = stub_code(code, name, kind)
        if stub is not None and stub not in (c for _, c in found):
            found.append((kind, stub))
    return found

"""Static checks of extracted code: does it parse, define the expected name, use only names
it defines?

``validate_code`` returns a plain dict that is stored with every record, so its keys are a
contract.  The undefined-name analysis is deliberately conservative: it resolves names
through Python's scopes without following control flow, so correct code is never flagged,
at the price of missing some use-before-definition mistakes.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

# Names the interpreter binds without any statement in the code.
_IMPLICIT = frozenset(dir(builtins)) | {
    "__name__", "__file__", "__doc__", "__spec__", "__loader__", "__package__", "__builtins__",
    "__annotations__", "__cached__", "__path__", "__module__", "__qualname__", "__class__", "__dict__",
}

_DEF_LINE = re.compile(
    r"^(?:async[ \t]+)?(?:def|class)[ \t]+([A-Za-z_]\w*)|^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.MULTILINE
)
# The fields of each node type that hold statements (or except / case clauses), in the
# order ``ast.iter_child_nodes`` visits them.
_STATEMENT_FIELDS: dict[type, tuple[str, ...]] = {
    ast.Module: ("body",),
    ast.FunctionDef: ("body",), ast.AsyncFunctionDef: ("body",), ast.ClassDef: ("body",),
    ast.For: ("body", "orelse"), ast.AsyncFor: ("body", "orelse"), ast.While: ("body", "orelse"),
    ast.If: ("body", "orelse"), ast.With: ("body",), ast.AsyncWith: ("body",),
    ast.Try: ("body", "handlers", "orelse", "finalbody"), ast.ExceptHandler: ("body",),
    ast.TryStar: ("body", "handlers", "orelse", "finalbody"), ast.Match: ("cases",), ast.match_case: ("body",),
}
_IMPORT_LINE = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+?)[ \t]*(?:#.*)?$", re.MULTILINE)
_FROM_LINE = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+\(?([\w*, \t]+)", re.MULTILINE)


@dataclass(frozen=True)
class Parsed:
    """One parse of some code: its tree, or the error (message and line) that stopped it,
    and whether that error is about indentation (no text added later could fix it)."""

    tree: ast.Module | None
    error: str | None = None
    line: int | None = None
    indentation: bool = False


@lru_cache(maxsize=16)
def parse(code: str) -> Parsed:
    """Parse ``code`` once for everyone: extraction parses the code it returns and
    validation parses it again, so the latest results are kept.  The trees are shared, so
    callers must never change them."""
    try:
        return Parsed(ast.parse(code))
    except SyntaxError as e:
        return Parsed(None, e.msg, e.lineno, isinstance(e, IndentationError))
    except ValueError as e:  # null bytes, on some Python versions
        return Parsed(None, str(e))
    except (RecursionError, MemoryError):
        return Parsed(None, "the code is nested too deeply to parse")


def parse_code(code: str) -> ast.Module | None:
    """The module's syntax tree, or ``None`` when it does not parse (shared: do not change it)."""
    return parse(code).tree


def _target_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [name for element in node.elts for name in _target_names(element)]
    if isinstance(node, ast.Starred):
        return _target_names(node.value)
    return []


def top_level_names(tree: ast.Module) -> list[str]:
    """Names a module defines with def, class or assignment, in order of appearance.

    Bodies of module-level ``if``/``try``/``with``/``for``/``while``/``match`` count (they run
    at import); function and class bodies do not.  Imports are not definitions.
    """
    found: dict[str, None] = {}

    def walk(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = None
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    found.update(dict.fromkeys(_target_names(target)))
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                found.update(dict.fromkeys(_target_names(node.target)))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for field in ("body", "orelse", "finalbody"):
                walk(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                walk(handler.body)
            for case in getattr(node, "cases", []):
                walk(case.body)

    walk(tree.body)
    return list(found)


# Nodes with nothing inside that can read or bind a name.
_LEAVES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.Constant)


class _Scope:
    def __init__(self, kind: str, parent: _Scope | None) -> None:
        self.kind = kind  # "module" | "function" | "class" | "comprehension"
        self.parent = parent
        self.bound: set[str] = set()


class _NameAnalysis(ast.NodeVisitor):
    """Collects every scope's bindings and every name read, then resolves the reads."""

    def __init__(self, tree: ast.Module) -> None:
        self.module = _Scope("module", None)
        self.scope = self.module
        self.loads: list[tuple[str, _Scope]] = []
        self.star_import = False
        self.lazy_annotations = any(
            isinstance(node, ast.ImportFrom) and node.module == "__future__"
            and any(alias.name == "annotations" for alias in node.names)
            for node in tree.body
        )
        try:
            self.visit(tree)
            self.complete = True
        except RecursionError:  # parses, but too deep to walk: report nothing rather than guess
            self.complete = False

    # ``ast.NodeVisitor`` looks each method up by name and walks every field of every node;
    # validation runs on every answer, so methods are looked up once per node type and the
    # leaves that can hold no name (contexts, operators, constants) are skipped.
    _methods: ClassVar[dict[type, Any]] = {}

    def visit(self, node: ast.AST) -> None:
        kind = type(node)
        method = self._methods.get(kind)
        if method is None:
            method = self._methods[kind] = getattr(type(self), f"visit_{kind.__name__}", _NameAnalysis.generic_visit)
        method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, _LEAVES):
                        self.visit(item)
            elif isinstance(value, ast.AST) and not isinstance(value, _LEAVES):
                self.visit(value)

    def undefined(self) -> list[str]:
        if self.star_import or not self.complete:
            return []
        missing: dict[str, None] = {}
        for name, scope in self.loads:
            if name not in _IMPLICIT and not self._resolves(name, scope):
                missing[name] = None
        return list(missing)

    def _resolves(self, name: str, scope: _Scope) -> bool:
        current: _Scope | None = scope
        while current is not None:
            # A class body's names are invisible to the functions and comprehensions in it.
            if (current is scope or current.kind != "class") and name in current.bound:
                return True
            current = current.parent
        return False

    # --- scopes ------------------------------------------------------------------------

    def _in_scope(self, kind: str, nodes: list[Any], bind: Iterable[str] = ()) -> None:
        outer, self.scope = self.scope, _Scope(kind, self.scope)
        self.scope.bound.update(bind)
        for node in nodes:
            self.visit(node)
        self.scope = outer

    def _annotation(self, node: ast.AST | None) -> None:
        if node is not None and not self.lazy_annotations:
            self.visit(node)

    def _arguments(self, args: ast.arguments) -> list[str]:
        """Visit defaults and annotations in the enclosing scope; return the parameter names."""
        for default in [*args.defaults, *args.kw_defaults]:
            if default is not None:
                self.visit(default)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        for param in params:
            self._annotation(param.annotation)
        return [param.arg for param in params]

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.bound.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)
        params = self._arguments(node.args)
        self._annotation(node.returns)
        self._in_scope("function", node.body, params)

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._in_scope("function", [node.body], self._arguments(node.args))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.bound.add(node.name)
        for child in [*node.decorator_list, *node.bases, *node.keywords]:
            self.visit(child)
        self._in_scope("class", node.body)

    def _comprehension(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> None:
        first, *rest = node.generators
        self.visit(first.iter)  # evaluated in the enclosing scope
        parts: list[Any] = [first.target, *first.ifs]
        for generator in rest:
            parts += [generator.iter, generator.target, *generator.ifs]
        parts += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        self._in_scope("comprehension", parts)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    # --- bindings and reads ------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.loads.append((node.id, self.scope))
        elif isinstance(node.ctx, ast.Store):
            self.scope.bound.add(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent  # a walrus in a comprehension binds in the enclosing scope
        scope.bound.add(node.target.id)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.target)
        if self.scope.kind != "function":  # local variable annotations are never evaluated
            self._annotation(node.annotation)
        if node.value is not None:
            self.visit(node.value)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.scope.bound.add(alias.asname or alias.name.partition(".")[0])

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name == "*":
                self.star_import = True
            else:
                self.scope.bound.add(alias.asname or alias.name)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.bound.update(node.names)
        self.module.bound.update(node.names)  # assigned through ``global``, read elsewhere

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.bound.update(node.names)

    def _bind_capture(self, node: ast.ExceptHandler | ast.MatchAs | ast.MatchStar | ast.MatchMapping) -> None:
        name = node.rest if isinstance(node, ast.MatchMapping) else node.name
        if name:
            self.scope.bound.add(name)
        self.generic_visit(node)

    visit_ExceptHandler = visit_MatchAs = visit_MatchStar = visit_MatchMapping = _bind_capture


@lru_cache(maxsize=16)
def _usage(tree: ast.Module) -> tuple[frozenset[str], tuple[str, ...]]:
    # Keyed by the tree object: a tree from ``parse`` is analysed once for extraction and
    # validation together.
    analysis = _NameAnalysis(tree)
    return frozenset(analysis.module.bound), tuple(analysis.undefined())


def undefined_names(tree: ast.Module) -> list[str]:
    """Names read but bound nowhere they could come from, in order of first use.

    Empty when the module has a star import, since any name could come from it, and for
    code nested too deeply to analyse.
    """
    return list(_usage(tree)[1])


def name_usage(tree: ast.Module) -> tuple[set[str], list[str]]:
    """Every name bound at module level (imports included), and ``undefined_names``."""
    bound, undefined = _usage(tree)
    return set(bound), list(undefined)


def _statements(tree: ast.Module) -> Iterator[ast.AST]:
    """The statements of ``tree`` (and the except and case clauses holding them) in the
    order ``ast.walk`` yields them; expressions hold no statements, so they are skipped."""
    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        for field in _STATEMENT_FIELDS.get(type(node), ()):
            todo.extend(getattr(node, field))
        yield node


def _imports(tree: ast.Module) -> tuple[list[str], list[str]]:
    modules: dict[str, None] = {}
    members: dict[str, None] = {}
    for node in _statements(tree):
        if isinstance(node, ast.Import):
            modules.update(dict.fromkeys(alias.name for alias in node.names))
        elif isinstance(node, ast.ImportFrom):
            source = "." * node.level + (node.module or "")
            separator = "" if source.endswith(".") else "."
            members.update(dict.fromkeys(f"{source}{separator}{alias.name}" for alias in node.names))
    return list(modules), list(members)


def _scan_unparsable(code: str) -> tuple[list[str], list[str], list[str]]:
    """Best-effort definitions and imports of code that does not parse, line by line."""
    found = dict.fromkeys(a or b for a, b in _DEF_LINE.findall(code) if not keyword.iskeyword(a or b))
    modules: dict[str, None] = {}
    for group in _IMPORT_LINE.findall(code):
        modules.update(dict.fromkeys(p.split()[0] for p in group.split(",") if p.strip()))
    members: dict[str, None] = {}
    for source, names in _FROM_LINE.findall(code):
        members.update(dict.fromkeys(f"{source}.{p.split()[0]}" for p in names.split(",") if p.strip()))
    return list(found), list(modules), list(members)


def validate_code(code: str, expected_name: str | None = None) -> dict[str, Any]:
    """Check ``code`` without running it; the result is stored with the record.

    ``is_fully_valid`` means: not empty, parses, defines ``expected_name`` at module level
    (when one is given) and reads no undefined name.  For code that does not parse, the
    found names and imports come from a line scan and ``all_names_defined`` is false.
    ``has_expected_name`` is false when no name is expected.
    """
    parsed = parse(code)
    tree, error, line = parsed.tree, parsed.error, parsed.line

    if tree is not None:
        found = top_level_names(tree)
        undefined = undefined_names(tree)
        imports, from_imports = _imports(tree)
    else:
        found, imports, from_imports = _scan_unparsable(code)
        undefined = []
    has_expected = expected_name is not None and expected_name in found
    all_defined = tree is not None and not undefined
    return {
        "is_fully_valid": bool(
            code.strip() and tree is not None and all_defined and (expected_name is None or has_expected)
        ),
        "syntax": {"is_valid": tree is not None, "error": error, "line": line},
        "structure": {
            "has_expected_name": has_expected,
            "expected_name": expected_name,
            "found_names": found,
            "undefined_names": undefined,
            "all_names_defined": all_defined,
        },
        "imports": {
            "has_imports": bool(imports or from_imports),
            "imports": imports,
            "from_imports": from_imports,
        },
        "code_length": len(code),
        "line_count": sum(1 for text in code.splitlines() if text.strip()),
    }

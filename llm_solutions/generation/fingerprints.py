"""What makes two problems the same: normalised text, and code structure with names and
constants normalised.

* ``normal_text``: lower case, words only, so spacing, punctuation and case do not make a
  copy new; ``text_key`` hashes it (exact duplicates) and ``shingles`` cuts it into word
  triples (near duplicates, through MinHash).
* ``structure_key``: the canonical solution's syntax tree without docstrings or type
  annotations, every name the code defines itself (functions, classes, parameters,
  variables, attributes it assigns) replaced by its order of appearance and every
  constant by its type.  Renaming variables or changing the numbers does not make a copy
  new; calling another library function or using another operator does.
* ``signature`` and ``title``: a short line naming a problem, for the list of accepted
  problems a worker is told to avoid.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re

from llm_solutions.validation import parse_code

_WORD = re.compile(r"[a-z0-9_]+")
SHINGLE_WORDS = 3


def normal_text(text: str) -> str:
    """``text`` as lower-case words separated by single spaces."""
    return " ".join(_WORD.findall(text.lower()))


def digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "backslashreplace"), digest_size=16).hexdigest()


def text_key(text: str) -> str:
    """The exact-duplicate key of a problem statement."""
    return digest(normal_text(text))


def shingles(text: str) -> set[bytes]:
    """Word triples of the normalised text (the words themselves for very short texts)."""
    words = normal_text(text).split()
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else {b""}
    return {" ".join(words[i:i + SHINGLE_WORDS]).encode() for i in range(len(words) - SHINGLE_WORDS + 1)}


def _defined_names(tree: ast.AST) -> set[str]:
    """Names the code binds itself (everything else is a builtin or a library's)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.add(node.name)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            found.add(node.attr)
        elif isinstance(node, ast.alias) and node.asname:
            found.add(node.asname)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            found.add(node.name)
    return found


class _Normaliser(ast.NodeTransformer):
    """Replaces the code's own names by their order of appearance, constants by their type,
    and drops docstrings and annotations."""

    def __init__(self, own: set[str]) -> None:
        self.own = own
        self.numbers: dict[str, str] = {}

    def _name(self, name: str) -> str:
        if name not in self.own:
            return name
        if name not in self.numbers:
            self.numbers[name] = f"_{len(self.numbers)}"
        return self.numbers[name]

    def _body(self, body: list[ast.stmt]) -> list[ast.stmt]:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            body = body[1:] or [ast.Pass()]
        return body

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> ast.AST:
        node.name = self._name(node.name)
        node.body = self._body(node.body)
        if not isinstance(node, ast.ClassDef):
            node.returns = None
        self.generic_visit(node)
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        return self._definition(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        return self._definition(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        return self._definition(node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._name(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        node.attr = self._name(node.attr)
        self.generic_visit(node)
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        if node.asname:
            node.asname = self._name(node.asname)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self._name(node.name)
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            self.generic_visit(node)
            return node  # a declared field (dataclass): its annotation is the declaration
        assign = ast.Assign(targets=[node.target], value=node.value)
        self.generic_visit(assign)
        return assign

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        return ast.Constant(value=type(node.value).__name__)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
        return ast.Constant(value="str")


def normalised_dump(tree: ast.Module) -> str:
    """The structure of ``tree`` as text, names and constants normalised (``tree`` itself,
    possibly shared by the parse cache, is not changed)."""
    own = copy.deepcopy(tree)
    normal = _Normaliser(_defined_names(own)).visit(own)
    return ast.dump(normal, annotate_fields=False, include_attributes=False)


def structure_key(code: str) -> str | None:
    """The structural-duplicate key of a canonical solution, ``None`` when it does not parse."""
    tree = parse_code(code)
    if tree is None:
        return None
    body = [node for node in tree.body if not isinstance(node, (ast.Import, ast.ImportFrom))]
    return digest(normalised_dump(ast.Module(body=body, type_ignores=[])))


def definition_keys(tree: ast.AST) -> set[str]:
    """Structure keys of every function and class defined anywhere in ``tree``."""
    keys = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            keys.add(digest(normalised_dump(ast.Module(body=[node], type_ignores=[]))))
    return keys


def signature(code: str, name: str) -> str:
    """``name(a, b)`` for a function, ``class Name(Base): m1, m2`` for a class."""
    tree = parse_code(code)
    for node in tree.body if tree is not None else []:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return f"{name}({ast.unparse(node.args)})"
        if isinstance(node, ast.ClassDef) and node.name == name:
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            methods = [n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            head = f"class {name}({bases})" if bases else f"class {name}"
            return head + (f": {', '.join(methods[:8])}" if methods else "")
    return name


def title(problem_text: str, limit: int = 90) -> str:
    """The problem's first sentence, shortened to ``limit`` characters."""
    first = re.split(r"(?<=[.!?])\s|\n", problem_text.strip(), maxsplit=1)[0].strip()
    return first if len(first) <= limit else first[: limit - 3].rstrip() + "..."

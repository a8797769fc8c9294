"""A candidate piece of code from an answer, and how its extent is made to parse honestly.

``fit`` decides how much of a piece is code.  A piece whose end the model marked (a closed
fence) is taken exactly as written, parsing or not.  A piece whose end was guessed (a fence
never closed, a run of unfenced lines) may lose

- its obviously cut-off last statement, when the answer ends inside it (the parser says
  the input is incomplete, or the error is on the last line), and
- everything from the first top-level line that does not parse onwards, when that line
  starts a new statement: prose after the code, or another piece of code.

Anything else that does not parse is kept as written and reported broken, so a syntax
error in the middle of a function is never trimmed away into a shorter function that
parses.
"""

from __future__ import annotations

import ast
import codeop
import re
from dataclasses import dataclass, field
from functools import cached_property

from llm_solutions.extraction.lines import STRONG_DEFINITION, inside_triple_quotes, looks_like_code
from llm_solutions.validation import name_usage, top_level_names
from llm_solutions.validation import parse as parse_result

# A cut-off answer loses at most its last statement; more than this many lines means the
# piece is broken in the middle, which trimming must not hide.
MAX_TRIMMED_LINES = 40
# Each step drops what one syntax error points at: the statement, then each block header
# it was nested in.  More steps than this is not a cut-off statement but a pile of junk.
_MAX_CUT_OFF_STEPS = 12
# ``compile`` then says "incomplete input" for code that more text could finish (3.11+;
# the flag is missing from the type stubs).
_INCOMPLETE_FLAGS = ast.PyCF_ONLY_AST | codeop.PyCF_ALLOW_INCOMPLETE_INPUT  # type: ignore[attr-defined]
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# An expression statement with one of these does something; one without is a value
# (printed output like ``[1, 2]`` or ``True``).
_ACTIONS = (ast.Call, ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)
# Statements that may provide a name another piece needs; loops, calls and tests never do.
_PROVIDERS = (*_DEFINITIONS, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.If, ast.Try)
_SPACE = re.compile(r"\s+")
# Errors reported at the start of what the end of the text left open; only these (or an
# error on the last line) can mean the text was cut off.
_MAY_BE_UNFINISHED = re.compile(r"never closed|unterminated triple-quoted|unexpected EOF|expected an indented")


def parse(code: str) -> tuple[ast.Module | None, int]:
    """The module, or ``None`` and the line of the syntax error (0 when it has none)."""
    parsed = parse_result(code)
    return parsed.tree, parsed.line or 0


def can_start(line: str) -> bool:
    """Whether ``line`` can begin a statement: it parses, or more lines could finish it."""
    return parse_result(line).tree is not None or _incomplete(line)


def _incomplete(code: str) -> bool:
    try:
        compile(code, "<answer>", "exec", _INCOMPLETE_FLAGS)
    except SyntaxError as e:
        return e.msg == "incomplete input"
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def _starts_statement(lines: list[str], strings: list[bool], index: int) -> bool:
    """Whether line ``index`` is a module-level line (not indented, not inside a string)."""
    line = lines[index]
    return bool(line) and not line[0].isspace() and not strings[index]


def _nonblank(lines: list[str]) -> int:
    return sum(1 for line in lines if line.strip())


def _without_trailing_blanks(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


@dataclass
class Fitted:
    """The part of a piece's lines that is code.

    ``status`` is ``ok`` (parses), ``broken`` (kept as written; ``error_line`` says where it
    fails) or ``empty`` (nothing was left).  ``kept`` counts the input lines used, so a
    scanner can go on after them; ``cut_off`` counts the lines of a cut-off last statement
    that were dropped, ``cut_code`` and ``cut_prose`` the lines dropped after the code that
    looked like code and like prose.
    """

    lines: list[str]
    tree: ast.Module | None
    status: str
    kept: int
    error_line: int = 0
    cut_off: int = 0
    cut_code: int = 0
    cut_prose: int = 0


def fit(lines: list[str], *, open_ended: bool, at_end: bool) -> Fitted:
    """How much of ``lines`` (no blank edges) is code; see the module docstring.

    ``open_ended``: the piece's end was guessed, not marked.  ``at_end``: the answer ends
    inside the piece, so its last statement may be cut off.
    """
    work = lines
    cut_off = cut_code = cut_prose = steps = 0
    first_error = 0
    strings = inside_triple_quotes(lines) if open_ended else []
    while work:
        parsed = parse_result("\n".join(work))
        if parsed.tree is not None:
            return Fitted(work, parsed.tree, "ok", len(work), first_error, cut_off, cut_code, cut_prose)
        error = parsed.line or 0
        first_error = first_error or error
        if not open_ended or error == 0:
            break
        error = min(error, len(work))
        # More text can finish a statement, never repair an indentation error: a function
        # whose last line is mis-indented is broken, not cut off.
        unfinished = not parsed.indentation and error == len(work)
        if _starts_statement(work, strings, error - 1) and not looks_like_code(work[error - 1].strip()):
            boundary = error - 1  # a sentence after the code
        elif at_end and (unfinished or (_MAY_BE_UNFINISHED.search(parsed.error or "")
                                        and _incomplete("\n".join(work)))):
            # Parse errors point at the start of what is unfinished (the open bracket, the
            # string, the block header), so the whole last statement goes at once.
            keep = error - 1
            cut_off += _nonblank(work[keep:])
            work = _without_trailing_blanks(work[:keep])
            steps += 1
            if cut_off > MAX_TRIMMED_LINES or steps > _MAX_CUT_OFF_STEPS:
                break
            continue
        else:
            boundary = next((i for i in range(error - 1, -1, -1) if _starts_statement(work, strings, i)), 0)
        if boundary == 0:
            break
        dropped = work[boundary:]
        if looks_like_code(work[boundary].strip()):
            cut_code += _nonblank(dropped)
        else:
            cut_prose += _nonblank(dropped)
        work = _without_trailing_blanks(work[:boundary])
        at_end = False
    if not work and (cut_off or cut_code or cut_prose):
        return Fitted([], None, "empty", len(lines), first_error)
    return Fitted(lines, None, "broken", len(lines), first_error)


@dataclass(eq=False)
class Piece:
    """One candidate: a fenced block or a run of unfenced lines, fitted.

    ``kind`` is ``python``, ``untagged``, ``other`` (another language) or ``unfenced``;
    ``start`` its first line in the answer (candidates are ordered by it); ``lead`` the prose
    just before it; ``notes`` what was done to it on the way (a language line dropped, a
    fence read off a code line, a cut-off statement, example usage left out).  ``doubtful``
    says lines that may be code were cut from it, so the answer must be reported ambiguous.
    """

    code: str
    tree: ast.Module | None
    kind: str
    start: int
    terminated: bool = True
    trimmed: int = 0
    error_line: int = 0
    lead: str = ""
    notes: list[str] = field(default_factory=list)
    label: str = ""
    doubtful: bool = False  # lines that may be code were cut from it: a model should look

    @property
    def fenced(self) -> bool:
        return self.kind != "unfenced"

    @cached_property
    def defines(self) -> set[str]:
        """Names defined at module level (what validation counts as the expected name)."""
        return set(top_level_names(self.tree)) if self.tree is not None else set()

    @cached_property
    def level(self) -> int:
        """2: defines a function or class; 1: other code; 0: not code (output, prose)."""
        if self.tree is None:
            lines = [line.strip() for line in self.code.split("\n")]
            if any(STRONG_DEFINITION.match(line) for line in lines):
                return 2
            return 1 if any(looks_like_code(line) for line in lines if line) else 0
        level = 0
        todo = list(self.tree.body)
        while todo:  # statements only: what matters is never inside an expression but a call
            node = todo.pop()
            if isinstance(node, _DEFINITIONS):
                return 2
            if level == 0 and not isinstance(node, ast.Pass):
                level = 1 if not isinstance(node, ast.Expr) or _computes(node.value) else 0
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                todo.extend(getattr(node, name, ()))
        return level

    @cached_property
    def imports(self) -> bool:
        return self.tree is not None and any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in self.tree.body)

    def textually_defines(self, name: str) -> bool:
        pattern = rf"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(name)}\b|^{re.escape(name)}[ \t]*[:=]"
        return re.search(pattern, self.code, re.MULTILINE) is not None

    def definition(self, name: str) -> ast.stmt | None:
        """The last module-level statement that defines ``name``."""
        if self.tree is None:
            return None
        for node in reversed(self.tree.body):
            if name in top_level_names(ast.Module(body=[node], type_ignores=[])):
                return node
        return None

    def source(self, node: ast.stmt) -> str:
        """The text of a module-level statement, decorators included."""
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        return "\n".join(self.code.split("\n")[first - 1 : node.end_lineno])

    def is_stub(self, name: str) -> bool:
        """Whether ``name`` is only a signature here: a body of ``pass``, ``...``, a
        docstring or ``raise NotImplementedError``."""
        node = self.definition(name)
        if not isinstance(node, _DEFINITIONS):
            return False
        body = node.body[1:] if _is_docstring(node.body[0]) else node.body
        return all(_is_placeholder(statement) for statement in body)

    def same_definition(self, other: Piece, name: str) -> bool:
        """Whether ``other`` defines ``name`` exactly as this piece does (layout aside)."""
        mine = self.definition(name)
        if mine is None:
            return False
        if other.tree is None:
            return _SPACE.sub("", self.source(mine)) in _SPACE.sub("", other.code)
        theirs = other.definition(name)
        if theirs is None:
            return False
        if self.source(mine) == other.source(theirs):
            return True
        try:
            return ast.dump(mine) == ast.dump(theirs)
        except RecursionError:
            return False

    @cached_property
    def bindings(self) -> dict[str, int]:
        """For each name a module-level statement here could provide, that statement's index."""
        found: dict[str, int] = {}
        if self.tree is None:
            return found
        for index, node in enumerate(self.tree.body):
            if isinstance(node, _PROVIDERS):
                for name in statement_usage(node)[0]:
                    found.setdefault(name, index)
        return found


def statement_usage(node: ast.stmt) -> tuple[set[str], list[str]]:
    """Names one module-level statement binds, and the names it reads without binding."""
    return name_usage(ast.Module(body=[node], type_ignores=[]))


def _computes(expression: ast.expr) -> bool:
    return isinstance(expression, _ACTIONS) or any(isinstance(n, _ACTIONS) for n in ast.walk(expression))


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_placeholder(node: ast.stmt) -> bool:
    if isinstance(node, ast.Pass):
        return True
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return node.value.value is Ellipsis
    if isinstance(node, ast.Raise) and node.exc is not None:
        target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(target, ast.Name) and target.id == "NotImplementedError"
    return False

"""Runs of unfenced code: lines outside any fence that read as Python.

A run starts at a definition, an import, a decorator or a module constant, and goes on
through blank lines, deeper-indented lines, docstring lines and same-indent lines that
look like code (markdown-indented code included).  ``fit`` then decides how much of it
parses; what follows a cut is scanned again, so a sentence between two functions splits
them into two runs instead of losing the second.  Example usage after the code (calls of
the run's functions, prints, asserts, loops, a ``__main__`` block, example data) is left
out of the run and noted, unless the code reads a name it binds.
"""

from __future__ import annotations

import ast

from llm_solutions.extraction.lines import (
    ASSIGN_START,
    CODE_LINE,
    CODE_START,
    STRONG_DEFINITION,
    count_lines,
    inside_triple_quotes,
)
from llm_solutions.extraction.pieces import Piece, can_start, fit
from llm_solutions.validation import name_usage

# Each start that fails costs a parse of its run; an answer with this many code-looking
# starts, or this many lines in runs, that never parse is junk (a degenerate loop), not a
# hidden solution, and the scan stops (the answer is then reported ambiguous).
_MAX_FAILED_STARTS = 200
_MAX_FAILED_LINES = 4000
_PRINTS = frozenset({"print", "pprint"})
_SHORT_RUN = 8  # lines: cheaper to parse than to check the first line separately
_USAGE = (ast.Expr, ast.Assert, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try,
          ast.Assign, ast.AnnAssign, ast.AugAssign)


def code_runs(outside: list[str | None], expected_name: str | None, last_line: int) -> tuple[list[Piece], bool]:
    """The unfenced runs of code in ``outside`` (``None`` marks fenced lines), in order.

    ``last_line`` is the answer's last line with text: a run that reaches it may have been
    cut off.  Runs that parse are returned with ``tree`` set; a run that does not parse is
    returned as written (``tree`` ``None``) only when it starts with a ``def`` or ``class``
    header, so prose that merely starts with such a word is never taken for code.  The
    flag says whether the whole text was scanned (see ``_MAX_FAILED_STARTS``).
    """
    texts = [line or "" for line in outside]
    stripped = [text.strip() for text in texts]
    starts = [bool(text) and bool(CODE_START.match(text) or ASSIGN_START.match(text)) for text in stripped]
    if not any(starts):
        return [], True
    indents = [len(text) - len(text.lstrip(" \t")) for text in texts]
    in_string = inside_triple_quotes(texts)
    runs: list[Piece] = []
    run_end: dict[int, int] = {}  # per indent, where the last run measured ends
    failures = failed_lines = i = 0
    while i < len(texts):
        if failures >= _MAX_FAILED_STARTS or failed_lines >= _MAX_FAILED_LINES:
            return runs, not any(starts[i:])
        if not starts[i] or in_string[i]:
            i += 1
            continue
        strong = bool(STRONG_DEFINITION.match(stripped[i]))
        indent = indents[i]
        end = run_end.get(indent, 0)
        if end <= i:  # a later start inside a measured run ends where that run ends
            end = i + 1
            while end < len(texts) and outside[end] is not None and (
                not stripped[end] or indents[end] > indent or in_string[end]
                or (indents[end] == indent and bool(CODE_LINE.match(stripped[end])))
            ):
                end += 1
            while not stripped[end - 1]:
                end -= 1
            run_end[indent] = end
        # Parsing a long run costs its length, and every start inside it may try: first make
        # sure its first line can begin a statement at all (prose such as "import this
        # module first: it is easy." cannot).
        startable = end - i <= _SHORT_RUN or can_start(stripped[i])
        if not startable and not strong:
            failures += 1
            i += 1
            continue
        lines = [text[min(indent, indents[i + k]):] if stripped[i + k] else "" for k, text in enumerate(texts[i:end])]
        fitted = fit(lines, open_ended=True, at_end=end - 1 >= last_line) if startable else None
        if fitted is not None and fitted.tree is not None:
            # Comment lines after the last statement are markdown headings or remarks.
            last = fitted.tree.body[-1].end_lineno if fitted.tree.body else len(fitted.lines)
            piece = Piece("\n".join(fitted.lines[:last]), fitted.tree, "unfenced", i, terminated=False)
            if fitted.cut_off:
                piece.trimmed = fitted.cut_off
                piece.notes.append(f"answer cut off: its last statement ({count_lines(fitted.cut_off)}) dropped")
            _leave_out_usage(piece, expected_name)
            runs.append(piece)
            i += fitted.kept
        elif strong:  # does not parse, or all of it is a cut-off statement: kept as written
            runs.append(Piece("\n".join(lines), None, "unfenced", i, terminated=False,
                              error_line=fitted.error_line if fitted is not None else 1))
            i = end
        else:
            # The run is broken before its first error line: a start inside that stretch
            # would only meet the same error again.
            failures += 1
            failed_lines += len(lines)
            i = max(i + 1, i + (fitted.error_line if fitted is not None else 1) - 1)
    return runs, True


def _usage_like(node: ast.stmt) -> bool:
    if isinstance(node, ast.If):
        return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(node.test))
    return isinstance(node, _USAGE)


def _leave_out_usage(piece: Piece, expected_name: str | None) -> None:
    """Drop the example usage that ends an unfenced run (see the module docstring).

    The usage is the longest tail of calls, prints, asserts, loops, ``with`` and ``try``
    blocks, ``__main__`` blocks and assignments in which every statement that is not an
    assignment touches ``print`` or a name the run defines or the tail assigns (so
    ``sys.setrecursionlimit(...)`` is configuration, kept), and that binds neither the
    expected name nor a global the code before it reads.  A tail of assignments alone is
    module constants, kept.
    """
    assert piece.tree is not None
    body = piece.tree.body
    start = len(body)
    while start > 1 and _usage_like(body[start - 1]):
        start -= 1
    local = {n.name for n in body[:start] if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    assigned: set[str] = set()
    for index in range(start, len(body)):
        node = body[index]
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            assigned |= _stored(node)
        elif not isinstance(node, (ast.If, ast.Assert)) and not _loaded(node) & (local | assigned | _PRINTS):
            start, assigned = index + 1, set()
    for index in range(len(body) - 1, start - 1, -1):
        bound = _stored(body[index])
        if expected_name in bound or (bound and bound & set(name_usage(ast.Module(body[:index], []))[1])):
            start = index + 1  # the code before reads it as a global
            break
    tail = body[start:]
    if not tail or all(isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) for n in tail):
        return
    if not any(isinstance(n, _DEFINITION_TYPES) for n in body[:start]):
        return
    lines = piece.code.split("\n")
    last = body[start - 1].end_lineno or len(lines)
    dropped = sum(1 for line in lines[last:] if line.strip())
    piece.tree = ast.Module(body=body[:start], type_ignores=[])  # parse trees may be shared: never mutate one
    piece.code = "\n".join(lines[:last]).rstrip()
    piece.notes.append(f"{count_lines(dropped)} of example usage after the code left out")


def _stored(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _loaded(node: ast.stmt) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


_DEFINITION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)

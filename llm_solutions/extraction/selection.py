"""Which candidate is the answer's solution, and what it needs from the rest of the answer.

The main piece is the first complete definition of the expected name: fenced blocks before
unfenced runs, a signature-only stub only when nothing else defines it, and a later block
only when the answer introduces it as the corrected, final or complete version.  Other
pieces that define the name differently compete with it, and the choice is reported as
ambiguous.  Without a definition of the name, the first piece that defines a function or
class is used (else the first other code), and that too is ambiguous.

Joining then adds, statement by statement, what the main piece reads but does not define:
imports, module constants, helper functions and classes, from any other piece that parses
(earlier pieces first, nearest first, then later ones), and what those need in turn.
Nothing else is taken from other pieces: no example usage, no printed output, no tests.
The joined statements keep the answer's order.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from llm_solutions.extraction.pieces import Piece, parse, statement_usage
from llm_solutions.validation import name_usage

_CORRECTION = re.compile(r"\b(?:correct(?:ed|ion)?|fix(?:ed)?|final|updated?|revised|complete|full)\b", re.I)
# Names listed in a reason; more are summarised by a count, so the record stays small.
_MAX_NAMES = 5


@dataclass
class Selection:
    """The code taken from the pieces and how it was chosen."""

    code: str
    main: Piece
    used: list[Piece]
    ambiguous: bool
    reasons: list[str] = field(default_factory=list)


def select(pieces: list[Piece], expected_name: str | None) -> Selection:
    """Choose the main piece among ``pieces`` (answer order) and join what it needs."""
    main, ambiguous, reasons = _main_piece(pieces, expected_name)
    code, used, join_ambiguous, join_reasons = _join(main, pieces)
    if expected_name is None:
        rivals = [p for p in pieces if p not in used and p.level == 2 and p.tree is not None
                  and not (p.defines and p.defines <= main.defines)]
        if rivals:
            ambiguous = True
            reasons.append(f"{len(rivals) + 1} candidates define different things and no name was expected")
    if main.tree is None:
        ambiguous = True
        where = f" at line {main.error_line}" if main.error_line else ""
        reasons.append(f"the chosen code does not parse{where}; kept as written")
    return Selection(code, main, used, ambiguous or join_ambiguous, reasons + join_reasons)


def is_eligible(piece: Piece) -> bool:
    """Whether ``piece`` may be the answer's code: any code in a block, but only definitions
    or imports when unfenced (a lone ``x = 5`` line in prose is not an answer)."""
    return piece.level > 0 and (piece.fenced or piece.level == 2 or piece.imports)


def _order(pieces: list[Piece]) -> list[Piece]:
    """Fenced pieces before unfenced ones, each in answer order."""
    return [p for p in pieces if p.fenced] + [p for p in pieces if not p.fenced]


def _main_piece(pieces: list[Piece], name: str | None) -> tuple[Piece, bool, list[str]]:
    if name:
        parsing = [p for p in pieces if p.tree is not None and name in p.defines]
        if parsing:
            return _first_definition(pieces, parsing, name)
        textual = [p for p in pieces if p.tree is None and p.textually_defines(name)]
        if textual:
            main = _order(textual)[0]
            return main, True, [f"{name} is defined only in code that does not parse"]
    eligible = [p for p in pieces if is_eligible(p)]
    best = max(p.level for p in eligible)
    candidates = [p for p in eligible if p.level == best]
    main = _order([p for p in candidates if p.tree is not None] or candidates)[0]
    if not name:
        return main, False, []
    return main, True, [f"no candidate defines {name}"]


def _first_definition(pieces: list[Piece], parsing: list[Piece], name: str) -> tuple[Piece, bool, list[str]]:
    complete = parsing if len(parsing) == 1 else [p for p in parsing if not p.is_stub(name)] or parsing
    ordered = _order(complete)
    main = ordered[0]
    how = "the first" if main is complete[0] else "the first fenced one"
    for later in ordered[1:]:
        if (later.fenced and later.start > main.start and _CORRECTION.search(later.lead)
                and not main.same_definition(later, name)):
            main, how = later, "the one introduced as the corrected or final version"
    rivals = [p for p in pieces if p is not main and _defines(p, name)
              and not (p.tree is not None and p.is_stub(name)) and not main.same_definition(p, name)]
    if rivals:
        return main, True, [f"{len(rivals) + 1} candidates define {name} differently; used {how}"]
    if len(complete) > 1:
        return main, False, [f"the first of {len(complete)} identical definitions of {name}"]
    if len(complete) < len(parsing):
        return main, False, [f"the only complete definition of {name} (others are stubs)"]
    others = sum(1 for p in pieces if is_eligible(p)) - 1
    return main, False, [f"the only candidate of {others + 1} that defines {name}"] if others else []


def _defines(piece: Piece, name: str) -> bool:
    return name in piece.defines or (piece.tree is None and piece.textually_defines(name))


def _join(main: Piece, pieces: list[Piece]) -> tuple[str, list[Piece], bool, list[str]]:
    """``main``'s code with the statements it needs from other pieces, in answer order."""
    others = [p for p in pieces if p is not main and p.tree is not None]
    if main.tree is None or len(pieces) == 1:
        return main.code, [main], False, []
    have, needed = name_usage(main.tree)
    pending = [(name, main) for name in needed if name not in have]
    if not pending:
        return main.code, [main], False, []
    chosen: dict[int, set[int]] = {}
    joined: list[str] = []
    missing: list[str] = []
    differing: list[str] = []
    while pending:
        name, origin = pending.pop(0)
        if name in have:
            continue
        provider = _provider(name, origin, main, others)
        if provider is None:
            if any(p.tree is None and p.textually_defines(name) for p in pieces):
                missing.append(name)
            continue
        index = provider.bindings[name]
        node = provider.tree.body[index]  # type: ignore[union-attr]
        if any(p is not provider and name in p.bindings and not _same(provider, p, name) for p in others):
            differing.append(name)
        chosen.setdefault(id(provider), set()).add(index)
        joined.append(name)
        bound, reads = statement_usage(node)
        have |= bound
        pending += [(read, provider) for read in reads if read not in have]
    used = [p for p in pieces if p is main or id(p) in chosen]
    parts = [main.code if p is main else _render(p, sorted(chosen[id(p)])) for p in used]
    code = "\n\n".join(parts)
    reasons, ambiguous = [], False
    if joined:
        reasons.append(f"joined {_names(joined)} from other candidates")
    if missing:
        ambiguous = True
        reasons.append(f"{_names(missing)} defined only in code that does not parse")
    if differing:
        ambiguous = True
        reasons.append(f"{_names(differing)} defined differently in several candidates")
    if parse(code)[0] is None:  # the parts parse on their own, so this is a bug: say so
        ambiguous = True
        reasons.append("the joined code does not parse")
    return code, used, ambiguous, reasons


def _provider(name: str, origin: Piece, main: Piece, others: list[Piece]) -> Piece | None:
    """The piece to take ``name`` from: the one that needs it, then earlier pieces (nearest
    first), then later ones."""
    if origin is not main and name in origin.bindings:
        return origin
    before = [p for p in others if p.start < main.start][::-1]
    after = [p for p in others if p.start > main.start]
    return next((p for p in (*before, *after) if name in p.bindings), None)


def _same(piece: Piece, other: Piece, name: str) -> bool:
    """Whether ``other`` binds ``name`` to the same thing ``piece`` does."""
    assert piece.tree is not None and other.tree is not None
    mine, theirs = piece.tree.body[piece.bindings[name]], other.tree.body[other.bindings[name]]
    if isinstance(mine, (ast.Import, ast.ImportFrom)) or isinstance(theirs, (ast.Import, ast.ImportFrom)):
        target = _imported(mine, name)
        return target is not None and target == _imported(theirs, name)
    try:
        return ast.dump(mine) == ast.dump(theirs)
    except RecursionError:
        return False


def _imported(node: ast.stmt, name: str) -> str | None:
    """What an import statement binds ``name`` to (``module.member``), or ``None``."""
    if isinstance(node, ast.Import):
        return next((a.name for a in node.names if (a.asname or a.name.partition(".")[0]) == name), None)
    if isinstance(node, ast.ImportFrom):
        source = "." * node.level + (node.module or "")
        return next((f"{source}:{a.name}" for a in node.names if (a.asname or a.name) == name), None)
    return None


def _render(piece: Piece, indices: list[int]) -> str:
    """The text of the chosen statements of ``piece``; adjacent ones keep what is between them."""
    assert piece.tree is not None
    lines = piece.code.split("\n")
    body = piece.tree.body
    groups: list[list[int]] = []
    for index in indices:
        if groups and groups[-1][-1] == index - 1:
            groups[-1].append(index)
        else:
            groups.append([index])
    chunks = []
    for group in groups:
        first, last = body[group[0]], body[group[-1]]
        start = min([first.lineno, *(d.lineno for d in getattr(first, "decorator_list", []))])
        chunks.append("\n".join(lines[start - 1 : last.end_lineno]))
    return "\n\n".join(chunks)


def _names(names: list[str]) -> str:
    unique = list(dict.fromkeys(names))
    shown = ", ".join(unique[:_MAX_NAMES])
    return shown + (f" and {len(unique) - _MAX_NAMES} more" if len(unique) > _MAX_NAMES else "")

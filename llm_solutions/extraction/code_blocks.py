"""Pull the solution's code out of a model's answer with rules, no model calls.

The steps, in order:

1. Line endings become ``\\n`` and reasoning sections (``<think>``, ``<thinking>``,
   ``<reasoning>``) are removed; see ``strip_reasoning``.
2. Fenced blocks (backtick or tilde fences, indented fences inside lists) are collected.
   Blocks tagged as Python (``python``, ``py``, ``python3``, ``*.py``) and untagged blocks
   are the candidates (tagged ones win ties); blocks of other languages (``bash``,
   ``text``, ``json``) are candidates only when neither exists and they parse as Python
   with a def, class or import.  A fence left open (the answer was cut off) runs to the
   end of the answer; its trailing incomplete lines are dropped when that makes it parse.
3. Without any usable fence, the longest run of lines that parses and contains a def,
   class or import is taken (markdown-indented code included); prose never qualifies.
4. Among candidates, the one defining ``expected_name`` at module level wins (ties: the
   one that parses, then the longest); without one, the longest that parses and defines
   something.
5. Joining: when the winner reads names it does not define, earlier candidates made only
   of imports and definitions that provide some of those names (an "imports" block, a
   helper function) are prepended, in their original order.  Later blocks are never
   joined: after the solution come usage examples and tests.

``extract_code`` never raises; ``ambiguous`` tells the runner when a model-based extractor
could do better.
"""

from __future__ import annotations

import ast
import logging
import re
import textwrap
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from llm_solutions.validation import name_usage, parse_code, top_level_names

if TYPE_CHECKING:
    from llm_solutions.extraction.llm_extractor import LLMExtractionCall

logger = logging.getLogger(__name__)

_REASONING_PAIR = re.compile(
    r"^[ \t]*<(think|thinking|reasoning)>.*?</\1\s*>", re.IGNORECASE | re.DOTALL | re.MULTILINE
)
_REASONING_OPEN = re.compile(r"^[ \t]*<(?:think|thinking|reasoning)>", re.IGNORECASE | re.MULTILINE)
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)\s*>", re.IGNORECASE)

_FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>.*?)[ \t]*$")
_TRIPLE_QUOTE = re.compile(r'"""|\'\'\'')
_PYTHON_TAG = re.compile(r"^(?:python|py|python3|py3|python3\.\d+|\S+\.py)$")

_CODE_START = re.compile(
    r"^(?:(?:async[ \t]+)?def[ \t]+\w|class[ \t]+\w|import[ \t]+\w|from[ \t]+[\w.]+[ \t]+import[ \t]|@\w)"
)
_CODE_LINE = re.compile(
    r"""^(?:
        (?:async|def|class|import|from|if|elif|else|for|while|try|except|finally|with|return
           |raise|assert|pass|break|continue|global|nonlocal|del|yield|match|case)\b
      | [@\#\)\]\}"']
      | [A-Za-z_][\w.]*(?:\[[^\]]*\])?[ \t]*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)
      | [A-Za-z_][\w.]*[ \t]*\(
      | [A-Za-z_]\w*[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]*(?:=.*)?$
    )""",
    re.VERBOSE,
)

# An open fence cut off by max_tokens loses at most its last statement; dropping more than
# this many lines means the block is broken in the middle, which trimming must not hide.
_MAX_TRIMMED_LINES = 40
# Each failed start costs a parse of the rest of the answer; an answer with this many
# code-looking lines that never parse is junk (a degenerate loop), not a hidden solution.
_MAX_FAILED_STARTS = 200
# A block with one of these anywhere is a solution rather than an example or printed output.
_CODE_NODES = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# A block made only of these can be prepended to the solution without running anything.
_DEFINITION_NODES = (*_CODE_NODES, ast.Assign, ast.AnnAssign)


@dataclass
class Extraction:
    """The code taken from one answer and how it was found.

    ``method`` is ``"fenced"``, ``"unterminated_fence"``, ``"unfenced"``, ``"none"`` or, from
    the model-based extractor, ``"llm"``.  ``blocks_found`` counts the fenced blocks of any
    language plus, when no fence held code, the unfenced code runs; ``blocks_used`` how many
    were joined into ``code``.  ``ambiguous`` means a model-based extractor may do better:
    several equally plausible blocks, nothing that parses, or ``code`` does not define the
    expected name.  ``code`` is ``""`` when nothing was found and carries no trailing
    newline.  ``llm`` describes the extraction model's call when one was made.
    """

    code: str
    method: str
    blocks_found: int = 0
    ambiguous: bool = False
    reasoning_stripped: bool = False
    blocks_used: int = 0
    llm: LLMExtractionCall | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["llm"] is None:
            del data["llm"]
        return data


class _Block:
    """One candidate piece of code with what the chooser needs to know about it."""

    def __init__(self, code: str, kind: str, terminated: bool = True) -> None:
        self.code = code
        self.kind = kind  # "python" | "untagged" | "other" | "unfenced"
        self.terminated = terminated
        self.tree = parse_code(code) if code.strip() else None
        self.defines = set(top_level_names(self.tree)) if self.tree else set()
        self.has_code = self.tree is not None and any(isinstance(n, _CODE_NODES) for n in ast.walk(self.tree))

    @cached_property
    def usage(self) -> tuple[set[str], set[str]]:
        """Names bound at module level, and names read but not bound (empty if no parse)."""
        if self.tree is None:
            return set(), set()
        bound, undefined = name_usage(self.tree)
        return bound, set(undefined)


def strip_reasoning(text: str) -> tuple[str, bool]:
    """``text`` with ``\\n`` line endings and without reasoning sections; and whether any was removed.

    Closed ``<think>...</think>`` sections starting a line are removed wherever they are.  A
    closing tag with no opening one (some servers drop the opening tag) removes everything
    before it.  An opening tag that is never closed means the model was cut off while
    thinking: it and everything after it is removed, so such an answer becomes empty.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    stripped, count = _REASONING_PAIR.subn("", text)
    opening = _REASONING_OPEN.search(stripped)
    limit = opening.start() if opening else len(stripped)
    orphans = [m for m in _REASONING_CLOSE.finditer(stripped) if m.start() < limit]
    if orphans:
        stripped, count = stripped[orphans[-1].end():], count + 1
        opening = _REASONING_OPEN.search(stripped)
    if opening is not None:
        stripped, count = stripped[: opening.start()], count + 1
    return stripped, count > 0


def _dedent(lines: list[str], indent: str = "") -> str:
    """Remove a list item's fence indent, then any common indent; drop blank edges."""
    width = len(indent)
    lines = [line[min(width, len(line) - len(line.lstrip(" \t"))):] for line in lines]
    code = textwrap.dedent("\n".join(lines))
    return "\n".join(line.rstrip() if not line.strip() else line for line in code.split("\n")).strip("\n")


def _trim_to_parse(lines: list[str], budget: int | None) -> str | None:
    """The code of ``lines`` without the trailing lines that stop it parsing, or ``None``.

    Jumps straight to the line a syntax error points at, so only a few parses are needed;
    gives up once more than ``budget`` lines would be dropped.
    """
    total = len(lines)
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    while lines:
        code = "\n".join(lines)
        try:
            ast.parse(code)
            return code
        except SyntaxError as e:
            keep = min((e.lineno or len(lines)) - 1, len(lines) - 1)
        except (ValueError, RecursionError, MemoryError):
            keep = len(lines) - 1
        lines = lines[: max(keep, 0)]
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        if budget is not None and total - len(lines) > budget:
            return None
    return None


def _fenced_blocks(lines: list[str]) -> tuple[list[_Block], list[str]]:
    """Every fenced block, and the lines outside fences (fenced ones blanked)."""
    blocks: list[_Block] = []
    outside = list(lines)
    i = 0
    while i < len(lines):
        opening = _FENCE_OPEN.match(lines[i])
        if not opening or (opening["fence"][0] == "`" and "`" in opening["info"]):
            i += 1
            continue
        fence, info = opening["fence"], opening["info"].strip("{}. \t").lower()
        tag = info.split()[0].lstrip(".") if info.split() else ""
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), None)
        body = lines[i + 1 : end if end is not None else len(lines)]
        kind = "python" if _PYTHON_TAG.match(tag) else ("untagged" if not tag else "other")
        block = _Block(_dedent(body, opening["indent"]), kind, terminated=end is not None)
        if block.tree is None and not block.terminated and block.code:
            trimmed = _trim_to_parse(block.code.split("\n"), _MAX_TRIMMED_LINES)
            if trimmed:
                block = _Block(trimmed, kind, terminated=False)
        blocks.append(block)
        stop = end if end is not None else len(lines) - 1
        outside[i : stop + 1] = [""] * (stop + 1 - i)
        i = stop + 1
    return blocks, outside


def _inside_triple_quotes(lines: list[str]) -> list[bool]:
    """For each line, whether it starts inside a triple-quoted string: a docstring's
    unindented continuation lines must not end a run of code."""
    inside: list[bool] = []
    open_quote: str | None = None
    for line in lines:
        inside.append(open_quote is not None)
        for match in _TRIPLE_QUOTE.finditer(line):
            if open_quote is None:
                open_quote = match.group()
            elif match.group() == open_quote:
                open_quote = None
    return inside


def _unfenced_runs(lines: list[str]) -> list[_Block]:
    """Runs of lines that read as Python: from a def/class/import/decorator line onwards,
    through blank, deeper-indented and code-looking lines, cut back until they parse.

    Line facts are computed once and a run's end is shared by the later starts inside it,
    so a long answer of code-looking prose costs linear work plus one quick parse a start.
    """
    stripped = [line.strip() for line in lines]
    indents = [len(line) - len(line.lstrip(" \t")) for line in lines]
    starts = [bool(_CODE_START.match(text)) for text in stripped]
    in_string = _inside_triple_quotes(lines)
    code_like = [bool(_CODE_LINE.match(text)) or inside for text, inside in zip(stripped, in_string, strict=False)]
    run_end: dict[int, int] = {}
    shifted: dict[int, list[str]] = {}
    runs: list[_Block] = []
    failures = 0
    i = 0
    while i < len(lines) and failures < _MAX_FAILED_STARTS:
        if not starts[i]:
            i += 1
            continue
        indent = indents[i]
        end = run_end.get(indent, 0)
        if end <= i:
            end = i + 1
            while end < len(lines) and not (
                stripped[end] and (indents[end] < indent or (indents[end] == indent and not code_like[end]))
            ):
                end += 1
            run_end[indent] = end
        if indent not in shifted:
            shifted[indent] = [line[indent:] for line in lines]
        code = _trim_to_parse(shifted[indent][i:end], None)
        block = _Block(code, "unfenced") if code else None
        if code is None or block is None or not block.has_code:
            failures += 1
            i += 1
            continue
        runs.append(block)
        i += code.count("\n") + 1
        while i < len(lines) and stripped[i] and not starts[i]:
            i += 1
    return runs


def _choose(candidates: list[_Block], expected_name: str | None) -> tuple[_Block, bool]:
    """The block to use and whether the choice is ambiguous."""
    definers = [b for b in candidates if expected_name and expected_name in b.defines]
    if not definers and expected_name:
        definers = [b for b in candidates if b.tree is None and _defines_textually(b.code, expected_name)]
    if definers:
        best = max(definers, key=lambda b: (b.tree is not None, b.kind == "python", len(b.code)))
        return best, best.tree is None
    best = max(candidates, key=lambda b: (b.tree is not None, b.has_code, b.kind == "python", len(b.code)))
    plausible = [b for b in candidates if b.has_code]
    return best, best.tree is None or bool(expected_name) or len(plausible) > 1


def _defines_textually(code: str, name: str) -> bool:
    pattern = rf"^(?:(?:async[ \t]+)?def|class)[ \t]+{re.escape(name)}\b|^{re.escape(name)}[ \t]*[:=]"
    return re.search(pattern, code, re.MULTILINE) is not None


def _join(chosen: _Block, candidates: list[_Block]) -> tuple[str, int]:
    """``chosen``'s code with the earlier definition-only blocks it needs prepended."""
    earlier = candidates[: candidates.index(chosen)]
    needed = chosen.usage[1] if earlier else set()
    parts = [chosen]
    for block in reversed(earlier):
        if not needed:
            break
        if (block.tree is None or not block.tree.body or block.defines & chosen.defines
                or not all(isinstance(node, _DEFINITION_NODES) for node in block.tree.body)):
            continue
        bound, undefined = block.usage
        if bound & needed:
            parts.insert(0, block)
            # Module-level analysis ignores order, so the joined code's undefined names are
            # what each part leaves undefined minus what the other parts bind.
            needed = (needed - bound) | (undefined - set().union(*(p.usage[0] for p in parts)))
    return "\n\n".join(part.code for part in parts), len(parts)


def _extract(text: str, expected_name: str | None) -> Extraction:
    answer, reasoning = strip_reasoning(text)
    lines = answer.split("\n")
    blocks, outside = _fenced_blocks(lines)
    candidates = [b for b in blocks if b.kind in ("python", "untagged") and b.code]
    candidates = candidates or [b for b in blocks if b.kind == "other" and b.has_code]
    if not candidates:
        candidates = _unfenced_runs(outside)
    found = len(blocks) + sum(1 for b in candidates if b.kind == "unfenced")
    if not candidates:
        return Extraction("", "none", found, ambiguous=True, reasoning_stripped=reasoning)
    chosen, ambiguous = _choose(candidates, expected_name)
    code, used = _join(chosen, candidates)
    method = "unfenced" if chosen.kind == "unfenced" else "fenced" if chosen.terminated else "unterminated_fence"
    return Extraction(code, method, found, ambiguous, reasoning, used)


def extract_code(text: str, expected_name: str | None = None) -> Extraction:
    """The solution code in a model's answer; see the module docstring for the rules.

    Never raises: on an unexpected internal error the answer is reported as having no code
    (ambiguous, so a model-based extractor gets a chance) and the error is logged.
    """
    try:
        return _extract(text if isinstance(text, str) else "", expected_name)
    except Exception:  # a bug here must not lose a paid-for answer: the runner stores it raw
        logger.exception("code extraction failed; treating the answer as having no code")
        return Extraction("", "none", ambiguous=True)

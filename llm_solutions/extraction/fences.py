"""Fenced blocks in an answer, read the way models actually write them.

Besides CommonMark's backtick and tilde fences (indented ones inside lists included) this
reads the slips that are common in model answers:

- a closing fence glued to the end of the last code line, or followed by text on its own
  line (a fence, then ``### Example:``), and closing fences of one or two backticks;
- a fence line with a language name while a block is open: the model forgot to close the
  block, so the line closes it and opens the next;
- the language name on the first line inside the block instead of after the fence;
- code on the opening fence line (three backticks, then ``def f():``);
- an opening fence glued to the end of a sentence (``Here it is:`` then the fence);
- fence-like lines inside a Python string (code that writes markdown), which are code;
- CodeLlama's ``[PYTHON]...[/PYTHON]`` (and ``[TESTS]...[/TESTS]``) tags.

An opening fence after a sentence whose info is not a plain language name (a fence, then
``python class``) is malformed: where its block ends cannot be told, so its lines are
neither used nor read as unfenced code, and the answer is reported ambiguous when they
hold code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llm_solutions.extraction.lines import (
    CODE_START,
    LANGUAGE_NAMES,
    PYTHON_TAG,
    count_lines,
    dedent,
    language_word,
    looks_like_code,
)
from llm_solutions.extraction.pieces import Piece, fit

_FENCE_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_GLUED = re.compile(r"^(?P<before>.*?\S)[ \t]*(?P<fence>`{3,}|~{3,})(?P<info>[^`~]*)$")
_FENCE_RUN = re.compile(r"`{3,}|~{3,}")
_BRACKET_OPEN = re.compile(r"^[ \t]*\[(?P<tag>PYTHON|TESTS)\](?P<rest>.*)$", re.IGNORECASE)
_BRACKET_CLOSE = re.compile(r"\[/(?:PYTHON|TESTS)\]", re.IGNORECASE)
_PLAIN_TAG = re.compile(r"^[{.]?[\w+#.-]+}?$")
_TRIPLE_QUOTE = re.compile(r'"""|\'\'\'')


@dataclass
class Fences:
    """What the fence scan found: every block (any language), the lines outside blocks
    (``None`` where a block or a malformed fence was), and the malformed fences' lines."""

    blocks: list[Piece]
    outside: list[str | None]
    malformed: list[int] = field(default_factory=list)
    malformed_code: bool = False


def _kind(tag: str) -> str:
    if not tag:
        return "untagged"
    return "python" if PYTHON_TAG.match(tag) else "other"


class _Scanner:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.found = Fences([], list(lines))
        self.prose: list[str] = []  # the last outside lines with text, for ``Piece.lead``

    def scan(self) -> Fences:
        lines, i = self.lines, 0
        while i < len(lines):
            line = lines[i]
            if "`" not in line and "~" not in line and "[" not in line:
                if line.strip():
                    self.prose = [*self.prose[-1:], line.strip()]
                i += 1
                continue
            opening = _FENCE_LINE.match(line)
            if opening and not (opening["fence"][0] == "`" and "`" in opening["info"]):
                i = self.block(i, len(opening["indent"]), opening["fence"], opening["info"], "")
                continue
            bracket = _BRACKET_OPEN.match(line)
            if bracket:
                i = self.bracket_block(i, bracket["tag"].lower(), bracket["rest"])
                continue
            glued = _GLUED.match(line) if len(_FENCE_RUN.findall(line)) == 1 else None
            if glued:
                i = self.glued(i, glued["before"], glued["fence"], glued["info"].strip())
                continue
            if line.strip():
                self.prose = [*self.prose[-1:], line.strip()]
            i += 1
        return self.found

    def glued(self, i: int, before: str, fence: str, info: str) -> int:
        """A fence at the end of a line of text: an opener, a stray closer, or malformed."""
        if not info and looks_like_code(before.strip()):
            self.found.outside[i] = before  # a closer with nothing open: the line is code
            return i + 1
        tag = language_word(info)
        rest = info[len(info.split()[0]):].strip() if info else ""
        if not info or _PLAIN_TAG.match(info) or (PYTHON_TAG.match(tag) and CODE_START.match(rest)):
            return self.block(i, 0, fence, info, before.strip())
        end = i + 1
        while end < len(self.lines) and not self.lines[end].lstrip().startswith(fence[0] * 3):
            end += 1
        if end < len(self.lines) and not self.lines[end].strip().strip(fence[0]):
            end += 1  # a bare fence closes the malformed block; one with a tag opens the next
        self.found.malformed.append(i)
        if any(looks_like_code(line.strip()) for line in self.lines[i + 1 : end]):
            self.found.malformed_code = True
        self.found.outside[i:end] = [None] * (end - i)
        return end

    def block(self, i: int, indent: int, fence: str, info: str, lead: str) -> int:
        """Read the block opened on line ``i``; return the line to go on from."""
        notes: list[str] = []
        tag, first = self.info(info.strip(), notes)
        # Fence-like lines inside a Python string (code that writes markdown) are code; but a
        # string that never closes is more likely a slip, so then the block is read again.
        body = _Body(self.lines, i, fence, first, strings=_kind(tag) != "other")
        if not body.closed and body.quote is not None:
            body = _Body(self.lines, i, fence, first, strings=False)
        notes += body.notes
        lines, origin, last = body.lines, body.origin, body.last
        if tag == "" and first is None:
            tag = self.language_line(lines, notes, origin)
        rest = self.add(lines, indent, _kind(tag), i, body.closed, lead, notes, tag)
        if rest is not None:
            last = origin[rest] - 1  # the text after the code of a fence never closed is read again
        self.found.outside[i : last + 1] = [None] * (last + 1 - i)
        if body.after is not None:
            self.found.outside[last] = body.after
        return last + 1

    def bracket_block(self, i: int, tag: str, rest: str) -> int:
        """``[PYTHON] ... [/PYTHON]``: code between the tags, on their lines too."""
        body: list[str] = []
        last, after, closed = len(self.lines) - 1, "", False
        for j, text in enumerate([rest, *self.lines[i + 1 :]]):
            if _BRACKET_CLOSE.search(text):
                before, after = _BRACKET_CLOSE.split(text, 1)
                body.append(before)
                last, closed = i + j, True
                break
            body.append(text)
        origin = list(range(i, i + len(body)))
        inner = [index for index, line in enumerate(body) if line.strip()]
        if (len(inner) >= 2 and _FENCE_LINE.match(body[inner[0]].strip())
                and not body[inner[-1]].strip().strip("`~")):
            body, origin = body[inner[0] + 1 : inner[-1]], origin[inner[0] + 1 : inner[-1]]  # a fence inside
        rest_at = self.add(body, 0, "python" if tag == "python" else "other", i, closed, "", [], tag)
        if rest_at is not None:
            last = origin[rest_at] - 1  # the text after the code of tags never closed is read again
        self.found.outside[i : last + 1] = [None] * (last + 1 - i)
        if after.strip():
            self.found.outside[last] = after
        return last + 1

    def info(self, info: str, notes: list[str]) -> tuple[str, str | None]:
        """The language tag and any code written on the opening fence line."""
        if not info:
            return "", None
        if CODE_START.match(info):
            notes.append("code on the opening fence line")
            return "", info
        tag = language_word(info)
        rest = info[len(info.split()[0]):].strip()
        if rest and PYTHON_TAG.match(tag) and CODE_START.match(rest):
            notes.append("code on the opening fence line")
            return tag, rest
        return tag, None

    @staticmethod
    def language_line(body: list[str], notes: list[str], origin: list[int]) -> str:
        """An untagged block whose first line is only a language name: that is its tag."""
        for index, line in enumerate(body):
            if line.strip():
                word = line.strip().lower()
                if word in LANGUAGE_NAMES:
                    del body[index], origin[index]
                    notes.append(f"language line '{line.strip()}' dropped")
                    return word
                return ""
        return ""

    def add(self, body: list[str], indent: int, kind: str, start: int, closed: bool, lead: str,
            notes: list[str], tag: str) -> int | None:
        """Fit and keep one block; for a fence never closed whose code ends before the answer
        does, return the index in ``body`` where the rest (prose, more code) starts."""
        lines = dedent(body, indent)
        fitted = fit(lines, open_ended=not closed, at_end=not closed)
        if fitted.status == "empty":
            fitted.lines, fitted.status = lines, "broken"  # all of it cut off: keep what there is
        piece = Piece("\n".join(fitted.lines), fitted.tree, kind, start, closed, error_line=fitted.error_line,
                      lead=" ".join([*self.prose, lead]).strip(), notes=notes, label=tag)
        self.found.blocks.append(piece)
        self.prose = []
        if fitted.cut_off:
            piece.trimmed += fitted.cut_off
            piece.notes.append(f"answer cut off: its last statement ({count_lines(fitted.cut_off)}) dropped")
        if not (fitted.cut_code or fitted.cut_prose):
            return None
        if fitted.cut_code:
            piece.trimmed += fitted.cut_code
            piece.doubtful = True
            piece.notes.append(f"fence never closed: {count_lines(fitted.cut_code)} after the code do not parse")
        else:
            piece.notes.append(f"fence never closed: {count_lines(fitted.cut_prose)} of prose after the code")
        leading = next(index for index, line in enumerate(body) if line.strip())
        return leading + fitted.kept


class _Body:
    """The lines of a fenced block opened on line ``start``, up to its closing fence.

    ``last`` is the last answer line that belongs to the block, ``after`` the text after a
    closing fence on its line, ``origin`` the answer line of each body line; ``quote`` the
    triple quote left open when the answer ended inside a string (with ``strings``).
    """

    def __init__(self, answer: list[str], start: int, fence: str, first: str | None, strings: bool) -> None:
        char, length = fence[0], len(fence)
        self.lines: list[str] = [first] if first is not None else []
        self.origin: list[int] = [start] if first is not None else []
        self.notes: list[str] = []
        self.closed, self.last = False, len(answer) - 1
        self.after: str | None = None
        self.quote: str | None = None
        for j in range(start + 1, len(answer)):
            text = answer[j]
            if self.quote is None and char in text and self.ends(text, j, char, length):
                return
            self.lines.append(text)
            self.origin.append(j)
            if strings and ('"""' in text or "'''" in text):
                self.quote = _string_state(text, self.quote)

    def ends(self, text: str, j: int, char: str, length: int) -> bool:
        """Whether line ``j`` closes the block (recording how)."""
        stripped = text.strip()
        if stripped[:1] == char:
            run = len(stripped) - len(stripped.lstrip(char))
            rest = stripped[run:].strip()
            if not rest and (run >= length or run < 3):
                self.closed, self.last = True, j
                return True
            if rest and run >= length:
                self.closed = True
                if _PLAIN_TAG.match(rest) or CODE_START.match(rest):
                    self.last = j - 1  # this line opens the next block
                    self.notes.append(f"the fence on line {j + 1} closes the block and opens the next")
                else:
                    self.last, self.after = j, rest
                    self.notes.append(f"text after the closing fence on line {j + 1}")
                return True
        elif stripped.endswith(char * 3) and stripped.rstrip(char):
            self.lines.append(text.rstrip().rstrip(char).rstrip())
            self.origin.append(j)
            self.closed, self.last = True, j
            self.notes.append(f"closing fence glued to the code on line {j + 1}")
            return True
        return False


def _string_state(line: str, quote: str | None) -> str | None:
    """The triple quote open after ``line``, given the one open before it."""
    for match in _TRIPLE_QUOTE.finditer(line):
        if quote is None:
            quote = match.group()
        elif match.group() == quote:
            quote = None
    return quote


def scan_fences(lines: list[str]) -> Fences:
    """Every fenced block of ``lines`` (any language, in order) and the lines outside them."""
    return _Scanner(lines).scan()

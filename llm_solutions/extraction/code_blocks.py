"""Pull the solution's code out of a model's answer with rules, no model calls.

The one rule above the others: **the extractor never drops or changes a line of code
without saying so.**  What it did is recorded in the ``Extraction`` (``trimmed_lines``,
``candidates``, ``chosen``, ``reason``), and whenever it had to guess (several pieces of
code compete, code that does not parse, code lines dropped for any reason but an obviously
cut-off last statement, prose that may be mixed into the code) it sets ``ambiguous``, so
the extraction model decides when one is configured.

The steps, in order:

1. Line endings become ``\\n`` and reasoning sections (``<think>``, ``<thinking>``,
   ``<reasoning>``) are removed; see ``strip_reasoning``.
2. Fenced blocks are read (``fences``): backtick and tilde fences, ``[PYTHON]`` tags, and
   the fence slips models make.  Python-tagged and untagged blocks are candidates; blocks
   in other languages only when there is no other code and they define or import
   something.  A block whose fence is never closed may lose its cut-off last statement or
   the prose after its code (``pieces.fit``); a closed block is taken exactly as written.
3. Lines outside the blocks are read for unfenced code (``runs``), which is a candidate
   too (D5: code written without fences next to a fenced block of printed output).
4. The main candidate is chosen and joined with what it needs from the others
   (``selection``): imports, constants, helpers, and nothing else.

``extract_code`` never raises.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from llm_solutions.extraction.fences import Fences, scan_fences
from llm_solutions.extraction.pieces import Piece
from llm_solutions.extraction.runs import code_runs
from llm_solutions.extraction.selection import is_eligible, select

if TYPE_CHECKING:
    from llm_solutions.extraction.llm_extractor import LLMExtractionCall

logger = logging.getLogger(__name__)

_REASONING_PAIR = re.compile(
    r"^[ \t]*<(think|thinking|reasoning)>.*?</\1\s*>", re.IGNORECASE | re.DOTALL | re.MULTILINE
)
_REASONING_OPEN = re.compile(r"^[ \t]*<(?:think|thinking|reasoning)>", re.IGNORECASE | re.MULTILINE)
_REASONING_CLOSE = re.compile(r"</(?:think|thinking|reasoning)\s*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?(?:think|thinking|reasoning)", re.IGNORECASE)

_UNSCANNED = "too many code-like lines that never parse: the rest of the answer was not read for code"
_AUDIT_FIELDS = ("trimmed_lines", "candidates", "chosen", "reason")


@dataclass
class Extraction:
    """The code taken from one answer and how it was found.

    ``method`` is ``"fenced"``, ``"unterminated_fence"`` (a fence never closed, usually a
    cut-off answer), ``"unfenced"``, ``"no_code"`` or, from the model-based extractor,
    ``"llm"``.  ``blocks_found`` counts the fenced blocks of any language (malformed fences
    included) and the unfenced runs of code; ``blocks_used`` how many pieces were joined
    into ``code``.  ``ambiguous`` means the rules had to guess and a model-based extractor
    may do better.  ``code`` is ``""`` when nothing was found and carries no trailing
    newline.  ``llm`` describes the extraction model's call when one was made.

    The audit fields say what the rules did: ``trimmed_lines`` (code lines dropped from the
    chosen piece), ``candidates`` (pieces of code considered), ``chosen`` (the index of the
    main one among them, in answer order) and ``reason`` (why, in a few words).  They are
    left out of ``to_dict`` when there was nothing to decide (``reason`` empty: one piece
    of code, taken whole), and out of comparisons: two extractions are equal when they
    give the same code the same way.
    """

    code: str
    method: str
    blocks_found: int = 0
    ambiguous: bool = False
    reasoning_stripped: bool = False
    blocks_used: int = 0
    llm: LLMExtractionCall | None = None
    trimmed_lines: int = field(default=0, compare=False)
    candidates: int = field(default=0, compare=False)
    chosen: int | None = field(default=None, compare=False)
    reason: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The record's ``extraction`` field (plus ``code``): JSON-ready and small."""
        # Shallow: every field but ``llm`` is a str, int or bool (asdict's deep copies
        # were a tenth of the time of recording a batch result).
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.llm is None:
            del data["llm"]
        else:
            data["llm"] = asdict(self.llm)
        if not self.reason:
            for name in _AUDIT_FIELDS:
                del data[name]
        return data


def strip_reasoning(text: str) -> tuple[str, bool]:
    """``text`` with ``\\n`` line endings and without reasoning sections; and whether any was removed.

    Closed ``<think>...</think>`` sections starting a line are removed wherever they are.  A
    closing tag with no opening one (some servers drop the opening tag) removes everything
    before it.  An opening tag that is never closed means the model was cut off while
    thinking: it and everything after it is removed, so such an answer becomes empty.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not _ANY_TAG.search(text):
        return text, False
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


def _no_code(blocks_found: int, reasoning: bool, answer: str, fences: Fences, scanned: bool) -> Extraction:
    if reasoning and not answer.strip():
        reason = "the answer is only reasoning"
    elif not scanned:
        reason = _UNSCANNED
    elif fences.malformed:
        reason = f"no code outside a malformed fence (line {fences.malformed[0] + 1})"
    elif fences.blocks:
        count = len(fences.blocks)
        reason = f"no Python code: {count} block{'s' if count != 1 else ''} of other languages, output or nothing"
    else:
        reason = "no code in the answer"
    return Extraction("", "no_code", blocks_found, True, reasoning, reason=reason)


def _extract(text: str, expected_name: str | None) -> Extraction:
    answer, reasoning = strip_reasoning(text)
    lines = answer.split("\n")
    fences = scan_fences(lines)
    last_line = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].strip()), -1)
    runs, scanned = code_runs(fences.outside, expected_name, last_line)
    blocks = fences.blocks
    pieces: list[Piece] = [b for b in blocks if b.kind != "other" and b.code] + runs
    if not any(is_eligible(p) for p in pieces):
        pieces += [b for b in blocks if b.kind == "other" and b.tree is not None and (b.level == 2 or b.imports)]
    pieces.sort(key=lambda p: p.start)
    eligible = [p for p in pieces if is_eligible(p)]
    found = len(blocks) + len(fences.malformed) + sum(1 for r in runs if is_eligible(r))
    if not eligible:
        return _no_code(found, reasoning, answer, fences, scanned)

    chosen = select(pieces, expected_name)
    main = chosen.main
    candidates = [p for p in pieces if is_eligible(p) or p in chosen.used]
    found += sum(1 for r in runs if r in chosen.used and not is_eligible(r))
    reasons = [*chosen.reasons, *main.notes]
    ambiguous = chosen.ambiguous
    if main.kind == "other":
        reasons.append(f"the only code is in a block labelled '{main.label}'")
    if fences.malformed_code:
        ambiguous = True
        where = ", ".join(str(i + 1) for i in fences.malformed)
        reasons.append(f"code under a malformed fence (line {where}) was not used")
    if main.doubtful:
        ambiguous = True
    if not scanned:
        ambiguous = True
        reasons.append(_UNSCANNED)
    method = "unfenced" if main.kind == "unfenced" else "fenced" if main.terminated else "unterminated_fence"
    plain = len(candidates) == 1 and not ambiguous and not reasons and not main.trimmed
    return Extraction(
        chosen.code, method, found, ambiguous, reasoning, len(chosen.used),
        trimmed_lines=main.trimmed, candidates=len(candidates), chosen=candidates.index(main),
        reason="" if plain else "; ".join(reasons),
    )


def extract_code(text: str, expected_name: str | None = None) -> Extraction:
    """The solution code in a model's answer; see the module docstring for the rules.

    Never raises: on an unexpected internal error the answer is reported as having no code
    (ambiguous, so a model-based extractor gets a chance) and the error is logged.
    """
    try:
        return _extract(text if isinstance(text, str) else "", expected_name)
    except Exception:  # a bug here must not lose a paid-for answer: the runner stores it raw
        logger.exception("code extraction failed; treating the answer as having no code")
        return Extraction("", "no_code", ambiguous=True, reason="extraction failed; see the log")

"""Text from models and from tests, made safe to store, send and show.

A model's answer, an exception message or a test's output can hold anything Python's
``str`` can: lone surrogates (``"\\ud800"``), which UTF-8 cannot encode, and control
characters, which a terminal obeys.  Three uses, three treatments:

* stored (JSONL records, JSON reports, cache entries): ``json_text`` keeps every character;
  a lone surrogate is written as the JSON escape ``\\ud800``, so the file is valid UTF-8
  and reads back to the same string;
* sent to a provider (``Request`` messages): ``sendable`` replaces lone surrogates with
  U+FFFD, since no UTF-8 request body can carry them;
* shown on a terminal or in a log: ``visible`` spells out control characters, escape
  sequences and bidirectional overrides (``\\x1b``, ``\\u202e``), so a solution's output
  can neither restyle the terminal nor fake a line of ours.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
# C0 controls except tab and newline, DEL, C1 controls, and the Unicode format characters
# that reorder or hide text (bidi embeddings, overrides and isolates, zero-width marks).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def has_surrogates(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate (a character UTF-8 cannot encode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def escape_surrogates(json_string: str) -> str:
    """A JSON text with each lone surrogate written as its ``\\udXXX`` escape."""
    return _SURROGATE.sub(_escape, json_string) if has_surrogates(json_string) else json_string


def json_text(data: Any, *, indent: int | None = None) -> str:
    """``data`` as JSON that any UTF-8 writer accepts, and that reads back unchanged.

    Non-ASCII text stays readable; only lone surrogates are escaped (they can only occur
    inside JSON strings, where ``\\udXXX`` is a valid escape).  Values JSON cannot hold are
    written as their ``str``.
    """
    return escape_surrogates(json.dumps(data, ensure_ascii=False, default=str, indent=indent))


def sendable(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can be sent as UTF-8."""
    return _SURROGATE.sub("\ufffd", text) if has_surrogates(text) else text


def visible(text: str) -> str:
    """``text`` safe to print: control characters, escape sequences, bidi overrides and lone
    surrogates are spelled out as ``\\x..``/``\\u....``; tabs and newlines are kept."""
    return _INVISIBLE.sub(_escape, text)

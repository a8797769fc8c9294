"""Reading a worker's answer: one JSON object holding a list of problems, item by item.

With a JSON mode the answer is that object.  Without one, models wrap it in prose or a
```json fence, and the problems' own code carries fences inside JSON strings, so a fence
regex would cut the object at the first inner fence.  Instead the JSON decoder itself
finds where the object ends (``raw_decode`` from each ``{`` or ``[``), which reads
strings as strings whatever they contain.

Every item is parsed on its own: when the list as a whole is not valid JSON (a missing
comma, an answer cut off by ``max_tokens``) the items around the broken one are still
read, and only the broken one is reported as malformed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

_DECODER = json.JSONDecoder()
_ITEM_KEYS = frozenset({"name", "problem", "canonical_solution", "tests"})
_RAW_CHARS = 2000


@dataclass
class ItemText:
    """One item of an answer: its position, the decoded value (``None`` when it could not
    be decoded), why not, and its text (kept with a rejection)."""

    index: int
    value: Any
    error: str | None = None
    raw: str = ""


def _looks_like_item(value: Any) -> bool:
    return isinstance(value, dict) and len(_ITEM_KEYS & set(value)) >= 2


def _items_of(document: Any) -> list[Any] | None:
    if isinstance(document, dict):
        for key in ("problems", "items", "data"):
            if isinstance(document.get(key), list):
                return list(document[key])
        if _looks_like_item(document):
            return [document]
        return None
    if isinstance(document, list):
        return list(document)
    return None


def _whole_document(text: str) -> list[Any] | None:
    """The items of the first complete JSON document in ``text`` that holds any."""
    stripped = text.strip()
    try:
        found = _items_of(json.loads(stripped))
        if found is not None:
            return found
    except ValueError:
        pass
    position = 0
    while True:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return None
        start = min(starts)
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        # Inside the answer, only a whole list of problems counts: an inner object or list
        # (one problem, its tests) is not the document.
        if isinstance(value, dict) and not _looks_like_item(value):
            found = _items_of(value)
            if found is not None:
                return found
        if isinstance(value, list) and any(_looks_like_item(v) for v in value):
            return value
        position = start + 1


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n,":
        position += 1
    return position


def _next_item(text: str, position: int) -> tuple[int, Any, int] | None:
    """The next decodable item-like object at or after ``position``: (start, value, end)."""
    while True:
        start = text.find("{", position)
        if start < 0:
            return None
        try:
            value, end = _DECODER.raw_decode(text, start)
        except ValueError:
            position = start + 1
            continue
        if _looks_like_item(value):
            return start, value, end
        position = start + 1


def _salvage(text: str) -> list[ItemText]:
    """Items read one by one from a list that is not valid JSON as a whole."""
    key = text.find('"problems"')
    opening = text.find("[", key if key >= 0 else 0)
    if opening < 0:
        return []
    items: list[ItemText] = []
    position = opening + 1
    while True:
        position = _skip(text, position)
        if position >= len(text) or text[position] == "]":
            return items
        try:
            value, end = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError as e:
            following = _next_item(text, position + 1)
            stop = following[0] if following is not None else len(text)
            items.append(ItemText(len(items), None, f"malformed JSON ({e.msg} at character {e.pos - position + 1} "
                                                    "of the item)", text[position:stop][:_RAW_CHARS]))
            if following is None:
                return items
            position = following[0]
            continue
        items.append(ItemText(len(items), value, None, text[position:end][:_RAW_CHARS]))
        position = end


def parse_items(text: str) -> list[ItemText]:
    """Every item of a worker's answer, in order; undecodable ones with their error.

    An answer with no JSON at all is one malformed item, so it is counted and kept.
    """
    found = _whole_document(text)
    if found is not None:
        return [ItemText(i, value, None, json.dumps(value, ensure_ascii=False)[:_RAW_CHARS])
                for i, value in enumerate(found)]
    salvaged = _salvage(text)
    if salvaged:
        return salvaged
    return [ItemText(0, None, "no JSON list of problems in the answer", text[:_RAW_CHARS])]


def parse_subtopics(text: str) -> list[str]:
    """The planner's sub-topics (distinct, non-empty); empty when the answer holds none."""
    stripped = text.strip()
    candidates: list[Any] = []
    try:
        candidates.append(json.loads(stripped))
    except ValueError:
        position = 0
        while (start := text.find("{", position)) >= 0:
            try:
                candidates.append(_DECODER.raw_decode(text, start)[0])
                break
            except ValueError:
                position = start + 1
    for document in candidates:
        topics = document.get("subtopics") if isinstance(document, dict) else document
        if isinstance(topics, list):
            found = [t.strip() for t in topics if isinstance(t, str) and t.strip()]
            return list(dict.fromkeys(found))
    return []

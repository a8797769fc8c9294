"""Which records become training examples: sources, filters and the text of each example.

Records are read one at a time, upgraded to the current schema version (the session's
prompt table supplies the messages), and each is remembered by where it lies on disk
(session, file, byte offset), so a later pass can read exactly the chosen ones again
without holding any in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from llm_solutions.collection.schema import upgrade
from llm_solutions.collection.session import default_output_dir
from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import ConfigError, SessionError
from llm_solutions.export.redaction import redact

TARGETS = ("code", "answer")
PAIRS = ("any", "same-model", "cross-model")


@dataclass(frozen=True)
class ExportFilters:
    """What to export, and how.

    * ``min_tests_passed``: share of a problem's tests an answer must pass to be an SFT
      example (1.0, the default: passing answers only; 0: any answer that has code);
    * ``models``, ``categories``, ``complexity``: keep only these (empty: all);
    * ``target``: ``code`` (the extracted solution in a fenced block) or ``answer`` (the
      model's whole answer); ``include_reasoning`` puts the reasoning before it in
      ``<think>`` tags;
    * ``pairs``: for DPO, chosen and rejected from ``any`` models, the ``same-model``, or
      different models (``cross-model``);
    * ``val_fraction`` of the problems (never split between the two) go to validation,
      chosen by ``seed``;
    * ``dedupe`` drops a target already exported for the same problem; ``redact``
      replaces anything that looks like a credential.
    """

    min_tests_passed: float = 1.0
    models: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    complexity: tuple[int, ...] = ()
    target: str = "code"
    include_reasoning: bool = False
    pairs: str = "any"
    val_fraction: float = 0.0
    seed: int = 0
    dedupe: bool = True
    redact: bool = True

    def __post_init__(self) -> None:
        for name in ("models", "categories", "complexity"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))
        if self.target not in TARGETS:
            raise ConfigError(f"target '{self.target}' is not known; choose {' or '.join(TARGETS)} (--target)")
        if self.pairs not in PAIRS:
            raise ConfigError(f"pairs '{self.pairs}' is not known; choose one of {', '.join(PAIRS)} (--pairs)")
        if not 0.0 <= self.min_tests_passed <= 1.0:
            raise ConfigError(f"min_tests_passed={self.min_tests_passed} is not valid; use a share from 0 to 1 "
                              "(--min-tests-passed)")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} is not valid; use a share from 0 up to (not "
                              "including) 1 (--val-fraction)")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("models", "categories", "complexity"):
            data[name] = list(data[name])
        return data


@dataclass
class Source:
    """One session to export from."""

    session_id: str
    store: SessionStore
    files: list[Path] = field(default_factory=list)


def open_sources(sessions: list[str | os.PathLike[str]] | str | os.PathLike[str],
                 output_dir: str | os.PathLike[str] | None = None) -> list[Source]:
    """The sessions, by id under ``output_dir`` or by path; every one must exist."""
    items = [sessions] if isinstance(sessions, (str, os.PathLike)) else list(sessions)
    if not items:
        raise ConfigError("name at least one session to export")
    root = Path(output_dir) if output_dir else default_output_dir()
    found: list[Source] = []
    for item in items:
        folder = Path(item)
        store = SessionStore.open(folder.parent, folder.name) if folder.is_dir() else SessionStore.open(root, str(item))
        if any(s.store.path.resolve() == store.path.resolve() for s in found):
            continue  # named twice: exported once
        if not store.record_files():
            raise SessionError(f"session {store.session_id} ({store.path}) holds no records; nothing to export")
        found.append(Source(store.session_id, store, store.record_files()))
    return found


Location = tuple[int, int, int]  # source index, file index, byte offset


def iter_located(sources: list[Source]) -> Iterator[tuple[Location, dict[str, Any]]]:
    """Every whole record of the sources, upgraded, with where it lies (torn lines skipped)."""
    for s_index, source in enumerate(sources):
        for f_index, path in enumerate(source.files):
            offset = 0
            with path.open("rb") as handle:
                for line in handle:
                    at = offset
                    offset += len(line)
                    if not line.endswith(b"\n") or not line.strip():
                        continue
                    try:
                        record = json.loads(line.decode("utf-8", "replace"))
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield (s_index, f_index, at), upgrade(record, source.store.prompts)


class RecordReader:
    """Reads single records back by location (keeps each file open once)."""

    def __init__(self, sources: list[Source]) -> None:
        self.sources = sources
        self._handles: dict[tuple[int, int], IO[bytes]] = {}

    def read(self, where: Location) -> dict[str, Any]:
        s_index, f_index, offset = where
        handle = self._handles.get((s_index, f_index))
        if handle is None:
            handle = self.sources[s_index].files[f_index].open("rb")
            self._handles[(s_index, f_index)] = handle
        handle.seek(offset)
        record = upgrade(json.loads(handle.readline()), self.sources[s_index].store.prompts)
        return record

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()


def share_passed(record: dict[str, Any]) -> float | None:
    """The share of its tests an answer passed; ``None`` when its tests never ran."""
    total = record.get("tests_total")
    passed = record.get("tests_passed")
    if not isinstance(total, int) or isinstance(total, bool) or total <= 0 or not isinstance(passed, int):
        return None
    return passed / total


def passed_all(record: dict[str, Any]) -> bool:
    return record.get("passed_all") is True or share_passed(record) == 1.0


@dataclass
class Example:
    """One record as training text: the prompt, the target, and what describes it."""

    messages: list[dict[str, str]]
    target: str
    reasoning: str | None
    meta: dict[str, Any]
    redactions: int = 0

    @property
    def system(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages if m.get("role") == "system")

    @property
    def user(self) -> str:
        return "\n\n".join(m["content"] for m in self.messages if m.get("role") == "user")

    def completion(self, include_reasoning: bool) -> str:
        """The assistant's text: the target, after the reasoning when asked."""
        if include_reasoning and self.reasoning:
            return f"<think>\n{self.reasoning}\n</think>\n\n{self.target}"
        return self.target

    def key(self) -> int:
        """Identity of (problem, target), for deduplication: 8 bytes of SHA-256."""
        digest = hashlib.sha256(f"{self.meta['task_id']}\x00{self.target}".encode("utf-8", "surrogatepass"))
        return int.from_bytes(digest.digest()[:8], "big")


def skip_reason(record: dict[str, Any], filters: ExportFilters) -> str | None:
    """Why a record is not an example for ``filters`` (``None``: it is), before its text."""
    if filters.models and record.get("model") not in filters.models:
        return "other_model"
    if filters.categories and record.get("category") not in filters.categories:
        return "other_category"
    if filters.complexity and record.get("complexity") not in filters.complexity:
        return "other_complexity"
    if not record.get("llm_call_success") or record.get("raw_response") is None:
        return "failed_call"
    if not isinstance(record.get("messages"), list) or not record["messages"]:
        return "no_prompt"
    if filters.target == "code" and not (record.get("extracted_solution") or "").strip():
        return "no_code"
    return None


# Prompts repeat across records (every sample, every model): each is redacted once.
_PROMPTS_REDACTED: dict[str, tuple[str, int]] = {}
_PROMPT_CACHE_SIZE = 4096


def _redact_prompt(text: str) -> tuple[str, int]:
    found = _PROMPTS_REDACTED.get(text)
    if found is None:
        if len(_PROMPTS_REDACTED) >= _PROMPT_CACHE_SIZE:
            _PROMPTS_REDACTED.clear()
        found = _PROMPTS_REDACTED[text] = redact(text)
    return found


def build_example(record: dict[str, Any], session_id: str, filters: ExportFilters) -> Example:
    """The example of a record that ``skip_reason`` let through."""
    count = 0
    messages = []
    for message in record["messages"]:
        content = str(message.get("content") or "")
        if filters.redact:
            content, found = _redact_prompt(content)
            count += found
        messages.append({"role": str(message.get("role")), "content": content})
    if filters.target == "code":
        target = f"```python\n{str(record['extracted_solution']).strip()}\n```"
    else:
        target = str(record["raw_response"])
    reasoning = record.get("reasoning") if filters.include_reasoning else None
    if filters.redact:
        target, found = redact(target)
        count += found
        if reasoning:
            reasoning, found = redact(str(reasoning))
            count += found
    meta = {
        "task_id": str(record.get("task_id")),
        "model": record.get("model"),
        "category": record.get("category"),
        "complexity": record.get("complexity"),
        "sample": record.get("sample"),
        "tests_passed": record.get("tests_passed"),
        "tests_total": record.get("tests_total"),
        "passed_all": passed_all(record),
        "cost": record.get("cost"),
        "session": session_id,
        "served_model": record.get("served_model"),
        "prompt_rebuilt": bool(record.get("prompt_rebuilt")),
    }
    return Example(messages, target, reasoning, meta, count)

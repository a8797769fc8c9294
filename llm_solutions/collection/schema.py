"""Record schema versions: one reader per version, each upgrading a stored record on read.

Every reader of a session goes through ``upgrade`` (``SessionStore.read_records`` does), so
code that uses records sees the current version whatever wrote them:

* **1.0**: records written before versions existed (no ``schema_version``).  They lack the
  messages sent; the reader rebuilds them from today's prompt templates and the record's
  problem, and says so with ``prompt_rebuilt: true`` (the templates may have changed since).
* **2.0**: ``schema_version`` ``"2.0"``; the messages actually sent are in the session's
  prompt table (``prompts.jsonl``, one line per distinct prompt keyed by its hash) and the
  record names them with ``prompt_id``.  The reader puts them back as ``messages``.

An upgraded record keeps every stored field, gains ``messages`` and, for an old record,
``upgraded_from``.  A record of a version newer than this code is passed on unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from llm_solutions.errors import ConfigError
from llm_solutions.files import read_jsonl, record_line, repair_jsonl
from llm_solutions.prompts import render_prompt

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2.0"
FIRST_VERSION = "1.0"  # what a record without ``schema_version`` is
PROMPTS_FILE = "prompts.jsonl"


def prompt_id(messages: list[dict[str, Any]]) -> str:
    """The key of a prompt in the table: SHA-256 of its canonical JSON (first 24 hex digits)."""
    canonical = json.dumps(messages, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def record_version(record: dict[str, Any]) -> str:
    """The schema version a stored record was written in."""
    version = record.get("schema_version")
    return str(version) if version is not None else FIRST_VERSION


class PromptTable:
    """The session's ``prompts.jsonl``: each distinct prompt once, appended whole.

    ``add`` writes a prompt's line (flushed) before it returns its id, so a record that
    names it is always written after the prompt is on disk: a crash can leave a prompt no
    record uses (harmless), never a record whose prompt is missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._known: dict[str, list[dict[str, Any]]] | None = None
        self._handle: IO[str] | None = None
        self._repaired = False
        self._loaded_size = -1

    def _load(self) -> dict[str, list[dict[str, Any]]]:
        if self._known is None:
            known: dict[str, list[dict[str, Any]]] = {}
            self._loaded_size = self._size()
            if self.path.exists():
                bad: list[str] = []
                for entry in read_jsonl(self.path, bad=bad):
                    if isinstance(entry.get("prompt_id"), str) and isinstance(entry.get("messages"), list):
                        known[entry["prompt_id"]] = entry["messages"]
                if bad:
                    log.warning("%s: %d damaged line(s) ignored", self.path, len(bad))
            self._known = known
        return self._known

    def get(self, key: str) -> list[dict[str, Any]] | None:
        """The messages stored under ``key``, or ``None``."""
        found = self._load().get(key)
        if found is None and self._handle is None and self._size() != self._loaded_size:
            # Read while a collector is still adding prompts: look at the new lines.
            self._known = None
            found = self._load().get(key)
        return found

    def _size(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return -1

    def add(self, messages: list[dict[str, Any]]) -> str:
        """Store ``messages`` unless already stored; returns their id."""
        key = prompt_id(messages)
        known = self._load()
        if key in known:
            return key
        if self._handle is None:
            if not self._repaired and self.path.exists():
                # A torn last line (a crash mid-write) would swallow the next append.
                bad: list[str] = []
                for _ in read_jsonl(self.path, bad=bad):
                    pass
                if bad:
                    repair_jsonl(self.path, self.path.parent / "damaged", "prompts")
                self._repaired = True
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(record_line({"prompt_id": key, "messages": messages}))
        self._handle.flush()
        known[key] = messages
        return key

    def sync(self) -> None:
        if self._handle is not None:
            os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None


def _infer_object(name: Any) -> str:
    # 1.0 records do not say whether the problem asked for a class or a function; the
    # datasets name classes in CamelCase and functions in snake_case.
    text = str(name or "")
    return "class" if text[:1].isupper() else "function"


def _read_1_0(record: dict[str, Any], prompts: PromptTable | None) -> dict[str, Any]:
    """A record written before versions: the messages are rebuilt from today's templates."""
    upgraded = dict(record)
    upgraded["schema_version"] = SCHEMA_VERSION
    upgraded["upgraded_from"] = FIRST_VERSION
    upgraded.setdefault("requested_model", None)
    upgraded.setdefault("request", None)
    upgraded.setdefault("billed", None)  # 1.0 kept only the totals over the billed attempts
    try:
        upgraded["messages"] = [
            {"role": "system", "content": render_prompt("system").strip()},
            {"role": "user", "content": render_prompt(
                "solve", problem=str(record.get("problem") or "").strip(), name=record.get("name") or "",
                object=_infer_object(record.get("name"))).strip()},
        ]
        upgraded["prompt_rebuilt"] = True
    except ConfigError:
        upgraded["messages"] = None  # the templates are gone: the prompt cannot be told
        upgraded["prompt_rebuilt"] = False
    return upgraded


def _read_2_0(record: dict[str, Any], prompts: PromptTable | None) -> dict[str, Any]:
    """A record of this version: its prompt is looked up in the session's prompt table."""
    upgraded = dict(record)
    if "messages" not in upgraded:
        key = upgraded.get("prompt_id")
        found = prompts.get(key) if prompts is not None and isinstance(key, str) else None
        upgraded["messages"] = found
    upgraded.setdefault("prompt_rebuilt", False)
    return upgraded


#: version -> reader to the current version.  A new version adds its reader here and
#: moves the upgrade of the previous ones into it.
READERS: dict[str, Callable[[dict[str, Any], PromptTable | None], dict[str, Any]]] = {
    "1.0": _read_1_0,
    "2.0": _read_2_0,
}


def upgrade(record: dict[str, Any], prompts: PromptTable | None = None) -> dict[str, Any]:
    """``record`` as the current schema version, whatever version stored it."""
    reader = READERS.get(record_version(record))
    return reader(record, prompts) if reader is not None else record


def stored_form(record: dict[str, Any], prompts: PromptTable) -> dict[str, Any]:
    """The line to store for ``record``: its messages go to the prompt table (written
    first) and the record names them by ``prompt_id``."""
    messages = record.get("messages")
    if not isinstance(messages, list):
        return record
    stored = {key: value for key, value in record.items() if key != "messages"}
    stored["prompt_id"] = prompts.add(messages)
    return stored

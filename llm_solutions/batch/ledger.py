"""``batches.json``: every provider batch a session submitted, kept across processes.

An entry is written as an *intent* (state ``submitting``, with its tag and task keys)
before anything is sent, and rewritten once the provider has answered with a batch id, so
a crash between the two leaves an intent that a resume resolves by looking for the tag
(OpenAI metadata, Gemini display name) or, where the provider keeps no label (Anthropic),
for a batch of the same size created after the intent whose request ids are the
intent's.  The file is replaced atomically on every change; a damaged file is set aside
and read as empty (a lost ledger costs at worst a resubmission, never a lost record:
records are the source of truth).

A batch's task keys (up to 100,000) are not in ``batches.json``, which is rewritten at every
change of state: they are written once, before the intent, to ``batches/<tag>.keys`` (one
key a line), and the ledger names that file.  Ledgers that hold the keys inline are read
as well.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.files import read_json, rewrite_lines, write_json_atomic

log = logging.getLogger(__name__)

LEDGER_FILE = "batches.json"
KEYS_DIR = "batches"

#: States a batch can be in, provider-neutral.  ``open`` ones may still produce results.
OPEN_STATES = ("submitting", "in_progress", "cancelling")
ENDED_STATES = ("ended", "expired", "failed", "cancelled")


@dataclass
class Entry:
    """One batch: where it went, what it holds, how far it got.

    ``keys`` are the task keys it holds (each request's ``custom_id`` is its key, or a
    digest of it where the provider forbids the key's characters); ``ingested`` is true
    once every result has been recorded; ``counts`` the provider's last request counts;
    ``unverified`` marks a batch found again after a crash by size and time only, whose
    request ids are checked before its results are recorded.
    """

    tag: str
    provider: str
    model: str
    keys: list[str]
    state: str = "submitting"
    batch_id: str | None = None
    input_file_id: str | None = None
    created: float = field(default_factory=time.time)
    submitted: float | None = None
    expires: float | None = None
    ended: float | None = None
    ingested: bool = False
    results: int = 0
    errors: int = 0
    cost: float = 0.0
    estimate: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    note: str | None = None
    unverified: bool = False

    @property
    def open(self) -> bool:
        """Whether results may still come (or are in hand but not all recorded)."""
        return self.state in OPEN_STATES or (self.state in ENDED_STATES and not self.ingested)

    @property
    def keys_file(self) -> str:
        """Where the keys are kept, relative to the session folder."""
        return f"{KEYS_DIR}/{self.tag}.keys"

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``batches.json`` holds it: the keys' file and count, not the keys."""
        # Field by field: ``asdict`` would copy the (up to 100,000) keys only to drop them.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "keys"}
        data["counts"] = dict(self.counts)
        data["keys_file"], data["requests"] = self.keys_file, len(self.keys)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: Path | None = None) -> Entry:
        """The entry of a ``batches.json`` item; its keys are read from ``folder``'s keys file
        unless the item holds them inline (older ledgers)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "keys" not in known:
            known["keys"] = _read_keys(Path(folder or ".") / str(data.get("keys_file") or ""), data)
        return cls(**known)


def _read_keys(path: Path, data: dict[str, Any]) -> list[str]:
    try:
        keys = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        log.warning("batch %s: its keys file %s is unreadable (%s); its results cannot be matched to tasks, "
                    "which are sent again", data.get("batch_id") or data.get("tag"), path, error)
        return []
    expected = data.get("requests")
    if isinstance(expected, int) and len(keys) != expected:
        log.warning("batch %s: %s holds %d keys, not %d", data.get("batch_id") or data.get("tag"), path,
                    len(keys), expected)
    return keys


def new_tag(session_id: str) -> str:
    """A label unique to one submission, findable on the provider's side."""
    return f"llms-{session_id[-24:]}-{uuid.uuid4().hex[:10]}"


class Ledger:
    """The session's ``batches.json``; every change is written at once, atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / LEDGER_FILE
        self.entries: list[Entry] = []
        data = read_json(self.path) if self.path.exists() else None
        if data is None and self.path.exists():
            aside = self.path.with_name(f"{LEDGER_FILE}.damaged.{int(time.time())}")
            os.replace(self.path, aside)
            log.warning("%s was unreadable; moved to %s (batches will be found again or resubmitted)",
                        self.path, aside)
        items = data.get("batches") if isinstance(data, dict) else None
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict):
                try:
                    self.entries.append(Entry.from_dict(item, self.path.parent))
                except TypeError:
                    log.warning("%s: an unreadable batch entry was skipped", self.path)

    @classmethod
    def exists(cls, folder: Path) -> bool:
        return (Path(folder) / LEDGER_FILE).exists()

    def save(self) -> None:
        write_json_atomic(self.path, {"batches": [e.to_dict() for e in self.entries]})

    def add(self, entry: Entry) -> Entry:
        """Write ``entry``'s keys file, then the ledger with the entry in it."""
        path = self.path.parent / entry.keys_file
        path.parent.mkdir(exist_ok=True)
        rewrite_lines(path, [f"{key}\n" for key in entry.keys])
        self.entries.append(entry)
        self.save()
        return entry

    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries if e.open]

    def keys_in_flight(self) -> set[str]:
        """Task keys held by batches that may still produce (or hold unrecorded) results."""
        return {key for e in self.entries if e.open for key in e.keys}

    def claimed(self) -> set[str]:
        """Batch ids the ledger already knows."""
        return {e.batch_id for e in self.entries if e.batch_id}

    def summary(self) -> dict[str, int]:
        """How many batches are in each state."""
        found: dict[str, int] = {}
        for entry in self.entries:
            found[entry.state] = found.get(entry.state, 0) + 1
        return found

"""The sessions a report or ``stats`` is about: found by id or path, checked before anything is
written, and read only through the session store (which upgrades old records on read)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_solutions.collection.session import default_output_dir
from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import SessionError
from llm_solutions.files import read_json
from llm_solutions.generation.store import REPORT as GENERATION_REPORT

SessionRef = str | os.PathLike[str]


@dataclass
class Source:
    """One session to read."""

    store: SessionStore
    generation: dict[str, Any] | None = None
    dataset: str | None = None

    @property
    def session_id(self) -> str:
        return self.store.session_id

    def records(self) -> Iterator[dict[str, Any]]:
        """The session's records, streamed file by file."""
        return self.store.read_records()


def open_sources(sessions: SessionRef | Sequence[SessionRef],
                 output_dir: SessionRef | None = None) -> list[Source]:
    """The sessions named by id (under ``output_dir``, default ``OUTPUT_DIR`` or
    ``generated``) or by path; a missing or empty one, or one named twice, is a
    ``SessionError`` naming it."""
    items = [sessions] if isinstance(sessions, (str, os.PathLike)) else list(sessions)
    if not items:
        raise SessionError("no session given; name one or more session ids or folders (see --list-sessions)")
    root = Path(output_dir) if output_dir else default_output_dir()
    sources: list[Source] = []
    seen: dict[Path, str] = {}
    for item in items:
        folder = Path(item)
        store = SessionStore(folder) if folder.is_dir() else SessionStore.open(root, str(item))
        where = store.path.resolve()
        if where in seen:
            raise SessionError(f"session {item} is given twice (also as {seen[where]}); name each session once")
        seen[where] = str(item)
        if not store.record_files():
            raise SessionError(f"session {store.session_id} ({store.path}) has no records yet; run or resume "
                               "the collection first (resume_collection.py --list-sessions)")
        dataset, generation = _generation_report(store)
        sources.append(Source(store, generation, dataset))
    ids = [s.session_id for s in sources]
    if len(set(ids)) != len(ids):
        # Two folders of the same name in different output folders: tell them apart by path.
        for source in sources:
            source.store.session_id = str(source.store.path)
    return sources


def _generation_report(store: SessionStore) -> tuple[str | None, dict[str, Any] | None]:
    """The dataset the session was collected on, and its ``generation_report.json`` when
    the dataset came from ``generate``."""
    for name, dig in (("progress.json", ("session_parameters",)),
                      ("summary.json", ("collection_metadata", "session_parameters"))):
        data: Any = store.read_json(name)
        for key in dig:
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict) and data.get("dataset_path"):
            # One folder is stored as a string, several as a list (each may be generated).
            given = data["dataset_path"]
            folders = [str(f) for f in given] if isinstance(given, list) else [str(given)]
            for folder in folders:
                path = Path(folder)
                if not path.is_absolute() and not path.exists():
                    path = store.path.parent.parent / path  # relative to where the run was started, most likely
                report = read_json(path / GENERATION_REPORT) if path.is_dir() else None
                if isinstance(report, dict):
                    return " + ".join(folders), report
            return " + ".join(folders), None
    return None, None

"""``migrate SESSION``: an upgraded copy of a session, written beside it.

The user's files are never rewritten in place: the copy (``<id>_v2`` by default) holds
every record upgraded to the current schema version, the prompts in a prompt table, and
the session's reports and parameters, so it can be resumed, rescored and exported like a
session collected today.  The original is read under its lock (a collector still writing
it is waited for, not copied halfway).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from llm_solutions.collection.schema import SCHEMA_VERSION, record_version, stored_form, upgrade
from llm_solutions.collection.session import default_output_dir
from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import SessionError
from llm_solutions.files import read_jsonl, record_line

# Files copied as they are (the reports are derived from the records, which keep their
# meaning through an upgrade).
_COPIED = ("progress.json", "summary.json", "final_report.json", "cross_model_comparison.json")


@dataclass
class MigrationResult:
    """The new session, and what was upgraded: records by the version they were in."""

    path: Path
    records: int
    by_version: dict[str, int]
    prompts: int


def migrate_session(session: str, output_dir: str | os.PathLike[str] | None = None, *,
                    new_session_id: str | None = None) -> MigrationResult:
    """Write an upgraded copy of ``session`` beside it; returns where and what."""
    root = Path(output_dir) if output_dir else default_output_dir()
    source = SessionStore.open(root, session)
    new_id = new_session_id or f"{source.session_id}_v{SCHEMA_VERSION.split('.')[0]}"
    if (source.path.parent / new_id).exists():
        raise SessionError(f"session {new_id} already exists beside {source.session_id}; remove it or choose "
                           "another --new-session-id")
    source.lock()
    try:
        target = SessionStore.create(source.path.parent, new_id)
        try:
            return _copy(source, target)
        except BaseException:
            shutil.rmtree(target.path, ignore_errors=True)  # half a copy is worth nothing
            raise
    finally:
        source.unlock()


def _copy(source: SessionStore, target: SessionStore) -> MigrationResult:
    by_version: dict[str, int] = {}
    records = 0
    for path in source.record_files():
        relative = path.relative_to(source.path)
        out = target.path / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8") as handle:
            for raw in read_jsonl(path):  # torn lines are left behind, as a resume would
                version = record_version(raw)
                by_version[version] = by_version.get(version, 0) + 1
                upgraded = upgrade(raw, source.prompts)
                # The prompt line is flushed before the record that names it.
                handle.write(record_line(stored_form(upgraded, target.prompts)))
                records += 1
            handle.flush()
            os.fsync(handle.fileno())
        for derived in (path.with_suffix(".csv"), path.parent / "summary.json"):
            if derived.exists() and not (target.path / derived.relative_to(source.path)).exists():
                shutil.copy2(derived, target.path / derived.relative_to(source.path))
    for name in _COPIED:
        if (source.path / name).exists():
            shutil.copy2(source.path / name, target.path / name)
    target.close()
    prompts = sum(1 for _ in read_jsonl(target.prompts.path)) if target.prompts.path.exists() else 0
    return MigrationResult(target.path, records, dict(sorted(by_version.items())), prompts)

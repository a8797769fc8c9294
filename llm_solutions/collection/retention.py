"""Retention: which whole sessions are old enough to remove, and removing them.

A session's age is the time since anything in it last changed (a session started long
ago but resumed yesterday is not old).  Sessions a process is working on are never
candidates, and neither is anything that is not a collection session: the response cache
(``cache.sqlite3``, pruned with ``cache prune``) and generated datasets stay.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from llm_solutions.collection.session import SessionInfo, session_info
from llm_solutions.collection.store import SessionStore, list_session_dirs
from llm_solutions.errors import ConfigError, SessionError

STATUSES = ("completed", "failed", "interrupted", "in_progress", "unknown")


@dataclass
class OldSession:
    """A session that ``find_old_sessions`` selected."""

    info: SessionInfo
    last_change: float
    size: int

    @property
    def age_days(self) -> float:
        return (time.time() - self.last_change) / 86400


def _walk(path: Path) -> tuple[float, int]:
    """The newest modification time and the total size of the files under ``path``
    (the lock file aside: looking at a session takes its lock, which changes nothing)."""
    newest, size = 0.0, 0
    for folder, _, files in os.walk(path):
        for name in files:
            if name == ".lock":
                continue
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            newest = max(newest, stat.st_mtime)
            size += stat.st_size
    return newest or path.stat().st_mtime, size


def _is_collection_session(path: Path) -> bool:
    # A generated dataset folder has JSONL files one level down too; it is not a session.
    return not ((path / "generation").is_dir() or (path / "generation_report.json").exists())


def find_old_sessions(output_dir: Path, older_than: float, statuses: list[str] | None = None,
                      now: float | None = None) -> tuple[list[OldSession], list[str]]:
    """Sessions under ``output_dir`` unchanged for ``older_than`` seconds (and with one of
    ``statuses``, when given), oldest first; and the ids of matching sessions left alone
    because a process is working on them."""
    wanted = set(statuses or [])
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise ConfigError(f"--status {' '.join(unknown)}: not a session status; choose from {', '.join(STATUSES)}")
    now = time.time() if now is None else now
    found: list[OldSession] = []
    busy: list[str] = []
    for path in list_session_dirs(Path(output_dir)):
        if not _is_collection_session(path):
            continue
        last_change, size = _walk(path)
        if now - last_change < older_than:
            continue
        store = SessionStore(path)
        info = session_info(store)
        if wanted and info.status not in wanted:
            continue
        if store.in_use():
            busy.append(info.session_id)
            continue
        found.append(OldSession(info, last_change, size))
    found.sort(key=lambda s: (s.last_change, s.info.session_id))
    return found, busy


def remove_sessions(sessions: list[OldSession]) -> tuple[int, list[str]]:
    """Remove the sessions' folders; returns the bytes freed and the ids kept because a
    process started working on them since they were chosen."""
    freed = 0
    kept: list[str] = []
    for old in sessions:
        store = SessionStore(old.info.path)
        try:
            store.lock()
        except SessionError:
            kept.append(old.info.session_id)
            continue
        try:
            shutil.rmtree(old.info.path)
        finally:
            store.unlock()
        freed += old.size
    return freed, kept

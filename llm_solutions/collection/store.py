"""The session folder on disk: the only place that writes or reads session files.

Layout of ``<output_dir>/<session_id>/``::

    <model>/<category>.jsonl   one complete JSON line per finished task (source of truth)
    <model>/<category>.csv     regenerated from the JSONL at the end of each run
    progress.json              live counters; rewritten atomically, may lag the JSONL
    prompts.jsonl              the prompt table: each distinct prompt sent, once (``schema``)
    summary.json, final_report.json, cross_model_comparison.json
    .lock                      held (flock) by the process working on the session
    damaged/                   torn lines and unreadable files moved aside, never deleted

Records are appended as one ``write`` of a whole line and flushed before the task counts
as done, so a crash can at worst leave one torn last line, which ``read_records`` moves
aside so that its task runs again.  A record's prompt goes to ``prompts.jsonl`` before the
record itself, and every record read is upgraded to the current schema version
(``llm_solutions.collection.schema``), so readers never need to know which version wrote it.
"""

from __future__ import annotations

import csv
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from llm_solutions.collection.schema import PROMPTS_FILE, PromptTable, stored_form, upgrade
from llm_solutions.errors import SessionError
from llm_solutions.files import (
    read_json,
    read_jsonl,
    record_line,
    repair_jsonl,
    rewrite_lines,
    write_json_atomic,
)

log = logging.getLogger(__name__)

CSV_COLUMNS = [
    "task_id", "model", "category", "complexity", "sample", "llm_call_success", "error_type", "error",
    "is_fully_valid", "syntax_valid", "passed_all", "tests_passed", "tests_total", "execution_time",
    "input_tokens", "output_tokens", "cached_tokens", "cost", "cache_hit", "timestamp", "problem",
    "extracted_solution", "raw_response",
]


def safe_name(name: str) -> str:
    """A model or category name usable as a file name (``openrouter/x`` -> ``openrouter_x``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "_"


SESSION_ID = re.compile(r"[A-Za-z0-9._-]+")


def check_output_dir(output_dir: Path, session_id: str | None = None) -> None:
    """Refuse, before anything is written, an output folder that cannot hold sessions."""
    path = Path(output_dir)
    if session_id is not None and not SESSION_ID.fullmatch(session_id):
        raise SessionError(f"session id '{session_id}' may only use letters, digits, '.', '_' and '-'")
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise SessionError(f"--output-dir {path}: {existing} is a file, not a folder; choose another --output-dir")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SessionError(f"--output-dir {path}: {existing} is not writable; choose another --output-dir")


def _failed_call(line: str) -> bool:
    """Whether a records line is a whole record of a failed call (torn lines are
    ``read_records``' business)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and not record.get("llm_call_success", False)


class SessionStore:
    """Reads and writes one session folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.session_id = self.path.name
        self._handles: dict[Path, IO[str]] = {}
        self._lock_handle: IO[str] | None = None
        self.prompts = PromptTable(self.path / PROMPTS_FILE)

    # --- creation and locking ----------------------------------------------------------

    @classmethod
    def create(cls, output_dir: Path, session_id: str | None = None) -> SessionStore:
        """Make a new session folder; an existing one is never reused or overwritten."""
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        if session_id is None:
            stamp = int(time.time())
            while (output_dir / f"session_{stamp}").exists():
                stamp += 1
            session_id = f"session_{stamp}"
        if not SESSION_ID.fullmatch(session_id):
            raise SessionError(f"session id '{session_id}' may only use letters, digits, '.', '_' and '-'")
        path = output_dir / session_id
        try:
            path.mkdir()
        except FileExistsError:
            if _is_empty_leftover(path):
                # A run killed between making the folder and its first checkpoint: nothing
                # in it to resume, so starting it again loses nothing.
                return cls(path)
            raise SessionError(
                f"session {path} already exists; resume it with resume_collection.py {session_id} "
                "or choose another --session-id"
            ) from None
        return cls(path)

    @classmethod
    def open(cls, output_dir: Path, session_id: str) -> SessionStore:
        """An existing session; a missing one gets an error listing the sessions there are."""
        path = Path(session_id) if os.sep in session_id else Path(output_dir) / session_id
        if not path.is_dir():
            existing = [p.name for p in list_session_dirs(Path(output_dir))]
            listing = ", ".join(existing[-10:]) if existing else "none"
            raise SessionError(
                f"session '{session_id}' not found in {output_dir}; existing sessions: {listing} "
                "(see --list-sessions, or pass --output-dir)"
            )
        return cls(path)

    def lock(self) -> None:
        """Take the session's lock, or refuse: two processes must never write one session.

        ``flock`` locks die with their process, so a crashed run never blocks a resume.
        """
        handle = (self.path / ".lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SessionError(
                f"session {self.session_id} is in use by {holder}; wait for it to finish or stop it first"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock_handle = handle
        # Temp files of a writer that was killed mid-write (ours hold the lock now).
        for stale in [*self.path.glob(".*.tmp"), *self.path.glob("*/.*.tmp")]:
            stale.unlink(missing_ok=True)

    def in_use(self) -> bool:
        """Whether another process holds the session's lock (is writing it now)."""
        try:
            self.lock()
        except SessionError:
            return True
        self.unlock()
        return False

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    # --- records -----------------------------------------------------------------------

    def model_folder(self, model: str) -> Path:
        """The folder of one model's records (and its CSVs and summary)."""
        return self.path / safe_name(model)

    def records_file(self, model: str, category: str) -> Path:
        return self.model_folder(model) / f"{safe_name(category)}.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as a single complete line and flush it to the OS.

        Its ``messages`` are stored once per session in the prompt table, written before
        the record that names them.
        """
        path = self.records_file(record["model"], record["category"])
        record = stored_form(record, self.prompts)
        handle = self._handles.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a", encoding="utf-8")
            self._handles[path] = handle
        handle.write(record_line(record))
        handle.flush()

    def sync(self) -> None:
        """fsync appended records, so they also survive a power loss, not only a crash."""
        self.prompts.sync()  # first: a record never names a prompt that is lost
        for handle in self._handles.values():
            os.fsync(handle.fileno())

    def close(self) -> None:
        self.prompts.close()
        for handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()

    def record_files(self) -> list[Path]:
        return sorted(p for p in self.path.glob("*/*.jsonl") if p.parent.name != "damaged")

    def fingerprint(self) -> dict[str, list[int]]:
        """Each records file's size and modification time: equal fingerprints mean the
        records did not change, so counts kept with one still hold (``session_info``)."""
        found = {}
        for path in self.record_files():
            try:
                stat = path.stat()
            except OSError:
                continue
            found[f"{path.parent.name}/{path.name}"] = [stat.st_size, stat.st_mtime_ns]
        return found

    def read_records(self, repair: bool = False) -> Iterator[dict[str, Any]]:
        """Every stored record, file by file (see ``read_records_file``)."""
        for path in self.record_files():
            yield from self.read_records_file(path, repair=repair)

    def read_records_file(self, path: Path, repair: bool = False) -> Iterator[dict[str, Any]]:
        """The records of one JSONL file, upgraded to the current schema version.

        A line that is not valid JSON, or lacks its newline, can only be a write cut short
        by a crash.  With ``repair`` it is moved into ``damaged/`` and removed from the
        file, so its task runs again; without, it is skipped with a warning.
        """
        bad: list[str] = []
        for record in read_jsonl(path, bad=bad):
            yield upgrade(record, self.prompts)
        if bad:
            if repair:
                self._set_aside(path)
            else:
                log.warning("%s: %d damaged line(s) ignored", path, len(bad))

    def _set_aside(self, path: Path) -> None:
        handle = self._handles.pop(path, None)
        if handle is not None:
            handle.close()
        aside, moved = repair_jsonl(path, self.path / "damaged", f"{path.parent.name}__{path.stem}")
        log.warning("%s: moved %d torn line(s) to %s; their tasks will run again", path, moved, aside)

    def rewrite(self, path: Path, lines: list[str]) -> None:
        """Replace a records file atomically with the given lines."""
        handle = self._handles.pop(path, None)
        if handle is not None:
            handle.close()
        rewrite_lines(path, lines)

    def remove_failed(self) -> int:
        """Move records of failed calls into ``damaged/`` so ``--retry-failed`` can redo them
        (streaming: the files are never held whole in memory)."""
        moved = 0
        for path in self.record_files():
            stamp = int(time.time() * 1000)
            aside = self.path / "damaged" / f"{path.parent.name}__{path.stem}.failed.{stamp}.jsonl.bak"
            tmp = path.with_name(f".{path.name}.tmp")
            failed = 0
            handle = self._handles.pop(path, None)
            if handle is not None:
                handle.close()
            aside.parent.mkdir(exist_ok=True)
            with path.open(encoding="utf-8", errors="replace") as source, tmp.open("w", encoding="utf-8") as keep, \
                    aside.open("w", encoding="utf-8") as out:
                for line in source:
                    if _failed_call(line):
                        out.write(line)
                        failed += 1
                    else:
                        keep.write(line)
                keep.flush()
                os.fsync(keep.fileno())
            if failed:
                os.replace(tmp, path)
                moved += failed
            else:
                tmp.unlink()
                aside.unlink()
        return moved

    # --- derived files -----------------------------------------------------------------

    def reports_stale(self) -> bool:
        """Whether a report or CSV is missing or older than the records it is made from
        (a run killed after its last record but before its reports were rewritten)."""
        newest = max((p.stat().st_mtime for p in self.record_files()), default=0.0)
        reports = [self.path / name for name in ("summary.json", "final_report.json", "cross_model_comparison.json")]
        reports += [p.with_suffix(".csv") for p in self.record_files()]
        return any(not p.exists() or p.stat().st_mtime < newest for p in reports)

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        write_json_atomic(path, data)
        return path

    def read_json(self, name: str) -> Any | None:
        return read_json(self.path / name)

    def write_csvs(self, on_record: Callable[[dict[str, Any]], None] | None = None) -> list[Path]:
        """Regenerate every ``<model>/<category>.csv`` from its JSONL, one file at a time.

        ``on_record`` sees every record on the way, so reports can be built in the same
        pass over the files instead of a second one.
        """
        written = []
        for path in self.record_files():
            out = path.with_suffix(".csv")
            tmp = out.with_name(f".{out.name}.tmp")
            # A lone surrogate in an answer becomes the text \udXXX rather than an error.
            with tmp.open("w", encoding="utf-8", errors="backslashreplace", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
                writer.writeheader()
                for record in self.read_records_file(path):
                    writer.writerow(flatten_record(record))
                    if on_record is not None:
                        on_record(record)
            os.replace(tmp, out)
            written.append(out)
        return written


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record as one flat row (CSV, DataFrame)."""
    validation = record.get("validation") or {}
    row = dict(record)
    row["is_fully_valid"] = validation.get("is_fully_valid")
    row["syntax_valid"] = (validation.get("syntax") or {}).get("is_valid")
    return row


def _is_empty_leftover(path: Path) -> bool:
    names = {p.name for p in path.iterdir()} if path.is_dir() else {"?"}
    return names <= {".lock"}


def list_session_dirs(output_dir: Path) -> list[Path]:
    """Session folders under ``output_dir``, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.iterdir() if p.is_dir() and (
        (p / "progress.json").exists() or (p / "summary.json").exists() or any(p.glob("*/*.jsonl"))
    )]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


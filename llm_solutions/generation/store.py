"""The output folder of a generation: the dataset, and beside it what resuming needs.

Layout of ``--output DIR``::

    <category>.jsonl          accepted problems, the dataset (``--dataset DIR`` reads these)
    generation_report.json    what was generated, rejected, called and spent
    generation/               not read as problems by ``load_dataset`` (no *.jsonl at the top)
      state.json              plan, sub-topics, counters, seed, batches in flight (atomic)
      journal.jsonl           every batch before it is sent, every call, every batch done
      rejected.jsonl          every rejected candidate with its reason
      damaged/                torn lines found on resume, moved aside, never deleted
      cache.sqlite3           the response cache, unless another one is configured
      .lock                   held (flock) by the process generating

Problems, rejections and journal events are appended as whole lines and flushed at once
(``llm_solutions.files``), so a crash leaves at worst one torn last line per file, which
the next run moves aside.  The state file is replaced atomically.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from llm_solutions.errors import SessionError
from llm_solutions.files import LineAppender, read_json, read_jsonl, repair_jsonl, write_json_atomic

log = logging.getLogger(__name__)

WORK_DIR = "generation"
REPORT = "generation_report.json"


class GenerationStore:
    """Reads and writes one generation's output folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.work = self.root / WORK_DIR
        self.state_file = self.work / "state.json"
        self.journal_file = self.work / "journal.jsonl"
        self.rejected_file = self.work / "rejected.jsonl"
        self.damaged = self.work / "damaged"
        self._lines = LineAppender()
        self._lock: IO[str] | None = None

    # --- before anything exists --------------------------------------------------------

    @staticmethod
    def holds_generation(root: Path) -> bool:
        return (Path(root) / WORK_DIR / "state.json").is_file()

    @classmethod
    def check_new(cls, root: Path) -> None:
        """Refuse, before anything is written, a folder a new generation cannot use."""
        root = Path(root)
        if cls.holds_generation(root):
            raise SessionError(f"--output {root} already holds a generation; continue it with --resume, "
                               "or choose another --output")
        if root.exists() and not root.is_dir():
            raise SessionError(f"--output {root} is a file, not a folder; choose another --output")
        if root.is_dir() and (any(root.glob("*.jsonl")) or (root / WORK_DIR).exists()):
            raise SessionError(f"--output {root} already holds other files (*.jsonl or generation/); "
                               "choose an empty or new folder")
        existing = root
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise SessionError(f"--output {root}: {existing} is not a writable folder; choose another --output")

    @classmethod
    def check_existing(cls, root: Path) -> None:
        if not cls.holds_generation(root):
            raise SessionError(f"--output {root} holds no generation to resume (no {WORK_DIR}/state.json); "
                               "start one without --resume")

    # --- opening -----------------------------------------------------------------------

    def create(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)

    def lock(self) -> None:
        """Take the folder's lock, or refuse: two processes must never generate into it."""
        handle = (self.work / ".lock").open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SessionError(f"{self.root} is being generated into by {holder}; wait for it or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._lock = handle
        for stale in [*self.work.glob(".*.tmp"), *self.root.glob(".*.tmp")]:
            stale.unlink(missing_ok=True)  # a writer killed mid-write left it; ours hold the lock now

    def close(self) -> None:
        self._lines.close()
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # --- lines -------------------------------------------------------------------------

    def problems_file(self, category: str) -> Path:
        return self.root / f"{category}.jsonl"

    def _read(self, path: Path) -> Iterator[dict[str, Any]]:
        """Records of one file; a torn last line is moved into ``damaged/``."""
        if not path.is_file():
            return
        bad: list[str] = []
        yield from read_jsonl(path, bad=bad)
        if bad:
            self._lines.release(path)
            label = path.stem if path.parent == self.root else f"{WORK_DIR}__{path.stem}"
            aside, moved = repair_jsonl(path, self.damaged, label)
            log.warning("%s: moved %d torn line(s) to %s", path, moved, aside)

    def problems(self, category: str) -> Iterator[dict[str, Any]]:
        return self._read(self.problems_file(category))

    def rejections(self) -> Iterator[dict[str, Any]]:
        return self._read(self.rejected_file)

    def events(self) -> Iterator[dict[str, Any]]:
        return self._read(self.journal_file)

    def append_problem(self, record: dict[str, Any]) -> None:
        self._lines.append(self.problems_file(record["category"]), record)

    def append_rejection(self, record: dict[str, Any]) -> None:
        self._lines.append(self.rejected_file, record)

    def journal(self, event: dict[str, Any]) -> None:
        self._lines.append(self.journal_file, event)

    def sync(self) -> None:
        self._lines.sync()

    # --- documents ---------------------------------------------------------------------

    def read_state(self) -> dict[str, Any]:
        state = read_json(self.state_file)
        if not isinstance(state, dict) or not isinstance(state.get("plan"), dict):
            raise SessionError(f"{self.state_file} is not a generation state file; it cannot be resumed")
        return state

    def write_state(self, state: dict[str, Any]) -> None:
        write_json_atomic(self.state_file, state)

    def write_report(self, report: dict[str, Any]) -> Path:
        path = self.root / REPORT
        write_json_atomic(path, report)
        return path

"""A pass of ``evaluate`` or ``rescore`` over a session's records that survives being killed.

A pass rewrites every records file of a session (``evaluate``: in place; ``rescore``: into
a new session).  While it runs, the session being written holds:

* ``.pass.json``: what the pass is (``kind``, and the parameters its results depend on),
  which files it has finished, and the size and time of each source file it started (a
  source file changed since, say by a resumed collection, has its partial results dropped:
  their line numbers may no longer point at the same records);
* ``<model>/.<category>.jsonl.partial``: for the file in progress, one line per record
  already processed, ``{"line": <index in the source file>, "record": {...}}``, appended
  whole and flushed as each result arrives (in any order).

Killed at any point, the pass resumes where it stopped: finished files are skipped, and a
partial file's records are not processed again.  A file is finished by writing its records
in their original order (read back from the partial file by offset, so memory stays flat)
and replacing the old file atomically; only then is it marked done and the partial file
removed, so a crash in between at worst processes that one file again.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import SessionError
from llm_solutions.files import read_json, read_jsonl, record_line, set_aside, write_json_atomic

log = logging.getLogger(__name__)

PASS_FILE = ".pass.json"
PARTIAL_SUFFIX = ".partial"


class PartialFile:
    """The processed records of one records file of an unfinished pass."""

    def __init__(self, path: Path, damaged: Path) -> None:
        self.path = path
        self._damaged = damaged
        self._handle: IO[str] | None = None

    def done_lines(self) -> set[int]:
        """Source line indices already processed (a torn last line is moved aside)."""
        if not self.path.exists():
            return set()
        good: list[str] = []
        bad: list[str] = []
        done = {int(item["line"]) for item in read_jsonl(self.path, good, bad)}
        if bad:
            aside = set_aside(self.path, good, bad, self._damaged, f"{self.path.parent.name}__{self.path.name}")
            log.warning("%s: moved %d torn line(s) to %s; those records are processed again", self.path,
                        len(bad), aside)
        return done

    def append(self, line: int, record: dict[str, Any]) -> None:
        """Add one processed record as a single complete line, flushed to the OS."""
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(record_line({"line": line, "record": record}))
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def assemble(self, target: Path, total: int) -> None:
        """Write ``target`` atomically with the ``total`` processed records in source order."""
        self.close()
        offsets: list[int | None] = [None] * total
        tmp = target.with_name(f".{target.name}.tmp")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()  # a file without records has nothing partial to read
        with self.path.open("rb") as partial:
            offset = 0
            for raw in partial:
                line = json.loads(raw)["line"]
                if 0 <= line < total:
                    offsets[line] = offset
                offset += len(raw)
            missing = sum(1 for o in offsets if o is None)
            if missing:
                raise SessionError(f"{self.path}: {missing} record(s) of {target.name} were never processed; "
                                   "run the command again to finish them")
            with tmp.open("w", encoding="utf-8") as out:
                for place in offsets:
                    assert place is not None
                    partial.seek(place)
                    out.write(record_line(json.loads(partial.readline())["record"]))
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, target)


class PassJournal:
    """``.pass.json`` of a session being written by an ``evaluate`` or ``rescore`` pass."""

    def __init__(self, store: SessionStore, kind: str, parameters: dict[str, Any],
                 done: list[str] | None = None, sources: dict[str, list[int]] | None = None) -> None:
        self.store = store
        self.kind = kind
        self.parameters = parameters
        self.done = list(done or [])
        self.sources = dict(sources or {})

    @property
    def path(self) -> Path:
        return self.store.path / PASS_FILE

    @classmethod
    def read(cls, store: SessionStore) -> PassJournal | None:
        """The unfinished pass of ``store``, or ``None`` when there is none."""
        data = read_json(store.path / PASS_FILE)
        if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
            return None
        return cls(store, data["kind"], dict(data.get("parameters") or {}), list(data.get("done") or []),
                   dict(data.get("sources") or {}))

    def save(self) -> None:
        write_json_atomic(self.path, {"kind": self.kind, "parameters": self.parameters, "done": self.done,
                                      "sources": self.sources})

    def begin_file(self, relative: str, source: Path) -> PartialFile:
        """The partial file for processing ``source`` into ``relative``; its earlier results
        are kept only if ``source`` is unchanged since they were made."""
        partial = self.partial(relative)
        stat = source.stat()
        now = [stat.st_size, stat.st_mtime_ns]
        if self.sources.get(relative) not in (None, now) and partial.path.exists():
            log.warning("%s changed since it was partly processed; its records are processed again", source)
            partial.path.unlink()
        self.sources[relative] = now
        self.save()
        return partial

    def partial(self, relative: str) -> PartialFile:
        """The partial file of the records file at ``relative`` (``<model>/<category>.jsonl``)."""
        path = self.store.path / relative
        return PartialFile(path.with_name(f".{path.name}{PARTIAL_SUFFIX}"), self.store.path / "damaged")

    def partial_records(self) -> Iterator[int]:
        """How many processed records each partial file holds (for progress counts)."""
        for path in self.store.path.glob(f"*/.*{PARTIAL_SUFFIX}"):
            with path.open("rb") as handle:
                yield sum(1 for _ in handle)

    def finish_file(self, relative: str) -> None:
        """Mark a records file finished (its partial file is removed after)."""
        self.done.append(relative)
        self.sources.pop(relative, None)
        self.save()
        partial = self.partial(relative)
        partial.path.unlink(missing_ok=True)

    def discard(self) -> None:
        """Forget an unfinished pass: its partial results and its journal."""
        for path in self.store.path.glob(f"*/.*{PARTIAL_SUFFIX}"):
            path.unlink()
        self.path.unlink(missing_ok=True)
        self.done = []
        self.sources = {}

    def finish(self) -> None:
        """The pass is complete: nothing is left to resume."""
        self.path.unlink(missing_ok=True)

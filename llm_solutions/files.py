"""Files that survive crashes: JSON lines appended whole, JSON documents replaced atomically.

Two kinds of file, two rules:

* JSON lines (session records, generated problems, journals): each record is one complete
  line written with one ``write`` and flushed, so a crash can at worst leave one torn last
  line.  ``read_jsonl`` tells whole lines from torn ones, and ``set_aside`` moves the torn
  ones into a folder of damaged lines (never deleting them) and rewrites the file
  atomically without them.
* JSON documents (progress, state, reports): ``write_json_atomic`` writes a temp file,
  fsyncs it and renames it over the old one, so a reader sees the old file or the new
  one, never half of one.

Text goes through ``llm_solutions.text.json_text``, so any string a model or a test
produced (lone surrogates included) is stored and reads back unchanged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from llm_solutions.text import json_text


def record_line(record: dict[str, Any]) -> str:
    """One record as the JSONL line stored for it (any text, lone surrogates included)."""
    return json_text(record) + "\n"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(json_text(data, indent=2))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        # A write that failed (disk full) must not leave its temp file behind.
        tmp.unlink(missing_ok=True)


def write_json_stream(path: Path, head: dict[str, Any], key: str, items: Iterable[Any]) -> None:
    """Write ``{**head, key: [items...]}`` like ``write_json_atomic``, one item at a time,
    so that a long list is never held whole in memory."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            opening = json_text(head, indent=2).rstrip()
            handle.write(opening[:-1].rstrip() + ("," if head else "") + f"\n  {json.dumps(key)}: [")
            first = True
            for item in items:
                handle.write(("\n    " if first else ",\n    ") + json_text(item))
                first = False
            handle.write("\n  ]\n}\n" if not first else "]\n}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or ``None`` when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_jsonl(path: Path, good: list[str] | None = None, bad: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The records of one JSONL file, in order.

    A line that is not valid JSON, or lacks its newline, can only be a write cut short by
    a crash: it is not yielded but added to ``bad``; the whole lines are added to ``good``
    (both optional), so a caller can ``set_aside`` the bad ones afterwards.
    """
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if bad is not None:
                    bad.append(line)
                continue
            if not line.endswith("\n"):
                if bad is not None:
                    bad.append(line)  # parsed, but the newline never made it: not a whole write
                continue
            if good is not None:
                good.append(line)
            yield record


def rewrite_lines(path: Path, lines: list[str]) -> None:
    """Replace a JSONL file atomically with the given lines."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        out.writelines(lines)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def set_aside(path: Path, good: list[str], bad: list[str], damaged: Path, label: str) -> Path:
    """Move ``bad`` lines into ``damaged/<label>.<ms>.txt`` and rewrite ``path`` with ``good``.

    The damaged lines are kept, never deleted: a user can still see what a crash cut short.
    """
    damaged.mkdir(parents=True, exist_ok=True)
    aside = damaged / f"{label}.{int(time.time() * 1000)}.txt"
    aside.write_text("".join(line if line.endswith("\n") else line + "\n" for line in bad), encoding="utf-8")
    rewrite_lines(path, good)
    return aside


def _whole(line: str) -> bool:
    """A line a finished write left: valid JSON with its newline."""
    if not line.endswith("\n"):
        return False
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def repair_jsonl(path: Path, damaged: Path, label: str) -> tuple[Path, int]:
    """Move the torn lines of ``path`` into ``damaged/<label>.<ms>.txt`` and rewrite it
    without them, streaming, so a large file is never held in memory.  Returns the file
    the lines were moved to and how many there were."""
    damaged.mkdir(parents=True, exist_ok=True)
    aside = damaged / f"{label}.{int(time.time() * 1000)}.txt"
    tmp = path.with_name(f".{path.name}.tmp")
    moved = 0
    with path.open(encoding="utf-8", errors="replace") as source, tmp.open("w", encoding="utf-8") as out, \
            aside.open("w", encoding="utf-8") as kept_aside:
        for line in source:
            if not line.strip():
                continue
            if _whole(line):
                out.write(line)
            else:
                kept_aside.write(line if line.endswith("\n") else line + "\n")
                moved += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return aside, moved


class LineAppender:
    """Appends records to JSONL files, one complete line per ``write``, flushed at once.

    Files stay open between appends (one handle per path); ``sync`` fsyncs them so the
    lines also survive a power loss, not only a crash of this process.
    """

    def __init__(self) -> None:
        self._handles: dict[Path, IO[str]] = {}

    def append(self, path: Path, record: dict[str, Any]) -> None:
        """Append ``record`` to ``path`` as one line and flush it to the OS."""
        handle = self._handles.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("a", encoding="utf-8")
            self._handles[path] = handle
        handle.write(record_line(record))
        handle.flush()

    def release(self, path: Path) -> None:
        """Close the handle of ``path`` (before the file is rewritten)."""
        handle = self._handles.pop(path, None)
        if handle is not None:
            handle.close()

    def sync(self) -> None:
        for handle in self._handles.values():
            os.fsync(handle.fileno())

    def close(self) -> None:
        for handle in self._handles.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._handles.clear()

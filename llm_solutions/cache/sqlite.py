"""The SQLite cache backend: one file, safe for several collector processes at once.

All SQLite calls run on one dedicated thread with its own connection, so the event loop
never blocks on disk.  The file is in WAL mode (readers never wait for writers) with a
busy timeout; every write is a single statement, which takes the write lock at once and
so always goes through SQLite's busy handler instead of failing with "database is
locked".  Lock errors that still surface (the first switch to WAL while another process
opens the file) are retried with backoff.  WAL needs a local file system, not NFS.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from llm_solutions.cache.backend import (
    COLUMNS,
    DEFAULT_TABLE,
    CacheBackend,
    CacheEntry,
    CacheTotals,
    Selection,
    expired_condition,
    expired_params,
)
from llm_solutions.errors import ConfigError

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 30.0
# How long lock errors that escape the busy timeout are retried before giving up.
LOCK_RETRY_SECONDS = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {table} (
    cache_key TEXT PRIMARY KEY NOT NULL,
    model TEXT NOT NULL,
    model_name TEXT NOT NULL,
    provider TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL,
    has_raw INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    payload TEXT NOT NULL
)
"""
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS {table}_model ON {table} (model)",
    "CREATE INDEX IF NOT EXISTS {table}_expires ON {table} (expires_at)",
    "CREATE INDEX IF NOT EXISTS {table}_created ON {table} (created_at)",
)


def _is_lock_error(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "locked" in text or "busy" in text


def _retry_locked(action: Callable[[], T]) -> T:
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as e:
            if not _is_lock_error(e) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class SQLiteBackend(CacheBackend):
    """Cache entries in one SQLite file (created with its folder on first use)."""

    name = "sqlite"

    def __init__(self, path: str, table: str = DEFAULT_TABLE) -> None:
        self.path = path
        self.table = table
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm-solutions-cache")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    @classmethod
    async def open(cls, path: str, table: str = DEFAULT_TABLE) -> SQLiteBackend:
        """Open (and create when missing) the cache file; a ``ConfigError`` if it cannot be used."""
        backend = cls(path, table)
        try:
            await backend._call(backend._connect)
        except (sqlite3.Error, OSError) as e:
            await backend.close()
            raise ConfigError(
                f"cannot use cache file {path} ({e}); choose another --cache-url or move the file away"
            ) from None
        return backend

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise RuntimeError("the SQLite cache is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *args)

    # --- runs on the cache thread ------------------------------------------------------

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            _retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            # NORMAL in WAL mode loses nothing when a process dies, only on power loss.
            conn.execute("PRAGMA synchronous = NORMAL")
            _retry_locked(lambda: conn.execute(_SCHEMA.format(table=self.table)))
            for index in _INDEXES:
                statement = index.format(table=self.table)
                _retry_locked(lambda statement=statement: conn.execute(statement))  # type: ignore[misc]
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _execute(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> sqlite3.Cursor:
        assert self._conn is not None
        conn = self._conn
        return _retry_locked(lambda: conn.execute(sql, params))

    def _get(self, key: str) -> CacheEntry | None:
        row = self._execute(
            f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE cache_key = ?", (key,)
        ).fetchone()
        return CacheEntry.from_row(row) if row else None

    def _put(self, entry: CacheEntry) -> None:
        marks = ", ".join("?" for _ in COLUMNS)
        self._execute(
            f"INSERT OR REPLACE INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({marks})", entry.row()
        )

    def _put_many(self, entries: list[CacheEntry]) -> None:
        assert self._conn is not None
        conn = self._conn
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT OR REPLACE INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({marks})"
        rows = [entry.row() for entry in entries]

        def write() -> None:
            # One transaction for the lot: one commit instead of one per answer.
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, rows)

        _retry_locked(write)

    def _delete_where(self, condition: str, params: list[Any]) -> int:
        return self._execute(f"DELETE FROM {self.table} WHERE {condition}", params).rowcount

    def _totals(self, now: float, ttl_seconds: float | None) -> CacheTotals:
        count, size, with_raw, oldest, newest = self._execute(
            f"SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(payload AS BLOB))), 0), "
            f"COALESCE(SUM(has_raw), 0), MIN(created_at), MAX(created_at) FROM {self.table}"
        ).fetchone()
        expired = self._execute(
            f"SELECT COUNT(*) FROM {self.table} WHERE {expired_condition('?', ttl_seconds)}",
            expired_params(now, ttl_seconds),
        ).fetchone()[0]
        per_model = {
            f"{provider}/{model}": n
            for provider, model, n in self._execute(
                f"SELECT provider, model, COUNT(*) FROM {self.table} GROUP BY provider, model "
                "ORDER BY provider, model"
            ).fetchall()
        }
        storage = None
        if self.path != ":memory:":
            storage = sum(
                p.stat().st_size
                for p in (Path(self.path), Path(self.path + "-wal"), Path(self.path + "-shm"))
                if p.exists()
            )
        return CacheTotals(
            entries=count,
            payload_bytes=int(size),
            storage_bytes=storage,
            with_raw=int(with_raw),
            expired=expired,
            oldest=oldest,
            newest=newest,
            per_model=per_model,
        )

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # --- the async interface -----------------------------------------------------------

    async def get(self, key: str) -> CacheEntry | None:
        return await self._call(self._get, key)

    async def put(self, entry: CacheEntry) -> None:
        await self._call(self._put, entry)

    async def put_many(self, entries: list[CacheEntry]) -> None:
        await self._call(self._put_many, entries)

    async def delete(self, key: str) -> int:
        return await self._call(self._delete_where, "cache_key = ?", [key])

    async def prune(self, selection: Selection) -> int:
        condition, params = selection.where("?")
        return await self._call(self._delete_where, condition, params)

    async def totals(self, now: float, ttl_seconds: float | None = None) -> CacheTotals:
        return await self._call(self._totals, now, ttl_seconds)

    async def close(self) -> None:
        if self._closed:
            return
        try:
            await self._call(self._close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=True)

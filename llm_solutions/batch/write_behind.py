"""``WriteBehind``: the cache backend batch ingestion stores answers through.

Recording a downloaded batch stores tens of thousands of answers in a row; one commit per
answer made the cache the slowest step of ingestion.  This backend keeps the answers it
is given and writes them ``group`` at a time in one call (``CacheBackend.put_many``, one
transaction on SQLite), and whatever is left when the collector calls ``flush`` (after
every batch, and before it stops).  A full group is written in the background while the
next one fills (at most one write in flight), so recording never waits on the disk.  A
crash loses at most the last two groups' cache entries, never a record: a batch's results
are recorded again from the batch on resume.
"""

from __future__ import annotations

import asyncio
import logging

from llm_solutions.cache.backend import CacheBackend, CacheEntry, CacheTotals, Selection

log = logging.getLogger(__name__)


class WriteBehind(CacheBackend):
    """Puts go to ``backend`` in groups; everything else goes straight through."""

    def __init__(self, backend: CacheBackend, group: int = 256) -> None:
        self.backend = backend
        self.group = group
        self.name = backend.name
        self._pending: dict[str, CacheEntry] = {}
        self._writing: dict[str, CacheEntry] = {}  # the group being written in the background
        self._write: asyncio.Task[None] | None = None
        self._warned = False

    async def get(self, key: str) -> CacheEntry | None:
        return self._pending.get(key) or self._writing.get(key) or await self.backend.get(key)

    async def put(self, entry: CacheEntry) -> None:
        self._pending[entry.key] = entry
        if len(self._pending) >= self.group:
            await self._settle()
            self._writing, self._pending = self._pending, {}
            self._write = asyncio.ensure_future(self._put_many(list(self._writing.values())))

    async def flush(self) -> None:
        """Write every entry held back (the group in flight included)."""
        await self._settle()
        if self._pending:
            entries, self._pending = list(self._pending.values()), {}
            await self._put_many(entries)

    async def _settle(self) -> None:
        if self._write is not None:
            await self._write
            self._write = None
            self._writing = {}

    async def _put_many(self, entries: list[CacheEntry]) -> None:
        try:
            await self.backend.put_many(entries)
        except Exception as error:  # noqa: BLE001 - a cache failure never stops recording
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "the cache could not store %d batch answer(s) (%s); their records are kept",
                    len(entries), error)

    async def delete(self, key: str) -> int:
        await self._settle()
        self._pending.pop(key, None)
        return await self.backend.delete(key)

    async def prune(self, selection: Selection) -> int:
        await self.flush()
        return await self.backend.prune(selection)

    async def totals(self, now: float, ttl_seconds: float | None = None) -> CacheTotals:
        await self.flush()
        return await self.backend.totals(now, ttl_seconds)

    async def close(self) -> None:
        """Flush only: the backend belongs to the session's cache, which closes it."""
        await self.flush()

    def describe(self) -> str:
        return self.backend.describe()

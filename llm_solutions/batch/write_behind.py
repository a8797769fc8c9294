"""``WriteBehind``: the cache backend batch ingestion stores answers through.

Recording a downloaded batch stores tens of thousands of answers in a row; one commit per
answer made the cache the slowest step of ingestion.  This backend keeps the answers it
is given and writes them ``group`` at a time in one call (``CacheBackend.put_many``, one
transaction on SQLite), and whatever is left when the collector calls ``flush`` (after
every batch, and before it stops).  A crash loses at most the last group's cache entries,
never a record: a batch's results are recorded again from the batch on resume.
"""

from __future__ import annotations

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
        self._warned = False

    async def get(self, key: str) -> CacheEntry | None:
        return self._pending.get(key) or await self.backend.get(key)

    async def put(self, entry: CacheEntry) -> None:
        self._pending[entry.key] = entry
        if len(self._pending) >= self.group:
            await self.flush()

    async def flush(self) -> None:
        """Write every entry held back."""
        if not self._pending:
            return
        entries, self._pending = list(self._pending.values()), {}
        try:
            await self.backend.put_many(entries)
        except Exception as error:  # noqa: BLE001 - a cache failure never stops recording
            level = logging.DEBUG if self._warned else logging.WARNING
            self._warned = True
            log.log(level, "the cache could not store %d batch answer(s) (%s); their records are kept",
                    len(entries), error)

    async def delete(self, key: str) -> int:
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

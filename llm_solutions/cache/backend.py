"""The storage interface every cache backend implements, and the data it moves.

A backend stores ``CacheEntry`` rows by key and knows nothing about requests or
completions; ``ResponseCache`` turns those into entries.  Both backends use the same
table layout (``COLUMNS``) so that selection SQL is shared here.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TABLE = "llm_solutions_cache"

#: Table columns, in the order ``CacheEntry.row()`` gives them.
COLUMNS = (
    "cache_key",
    "model",
    "model_name",
    "provider",
    "created_at",
    "expires_at",
    "has_raw",
    "output_tokens",
    "payload",
)


@dataclass(frozen=True)
class CacheEntry:
    """One stored answer: the key, what to prune it by, and the answer as JSON text.

    ``model`` is the wire id (``api_model``), ``model_name`` the table name that stored it.
    Times are Unix seconds; ``expires_at`` is ``None`` for entries that never expire.
    """

    key: str
    model: str
    model_name: str
    provider: str
    created_at: float
    expires_at: float | None
    has_raw: bool
    output_tokens: int
    payload: str

    def row(self) -> tuple[Any, ...]:
        """The column values in ``COLUMNS`` order."""
        return (
            self.key,
            self.model,
            self.model_name,
            self.provider,
            self.created_at,
            self.expires_at,
            int(self.has_raw),
            self.output_tokens,
            self.payload,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> CacheEntry:
        """The entry from column values in ``COLUMNS`` order."""
        key, model, model_name, provider, created, expires, has_raw, tokens, payload = row
        return cls(
            key=key,
            model=model,
            model_name=model_name,
            provider=provider,
            created_at=float(created),
            expires_at=None if expires is None else float(expires),
            has_raw=bool(has_raw),
            output_tokens=int(tokens),
            payload=payload if isinstance(payload, str) else bytes(payload).decode("utf-8"),
        )


@dataclass(frozen=True)
class Selection:
    """Which entries a prune removes.  Conditions combine with AND.

    ``expired_at``: entries whose ``expires_at`` has passed at that time, or, when
    ``ttl_seconds`` is given too, that are older than that TTL.  ``model`` matches the wire
    id or the table name.  An empty selection matches nothing unless ``everything``.
    """

    expired_at: float | None = None
    ttl_seconds: float | None = None
    model: str | None = None
    created_before: float | None = None
    everything: bool = False

    @property
    def is_empty(self) -> bool:
        """True when no condition is set."""
        return self.expired_at is None and self.model is None and self.created_before is None

    def where(self, placeholder: str) -> tuple[str, list[Any]]:
        """The SQL condition and its parameters, with the driver's ``placeholder``."""
        if self.is_empty:
            return ("1=1", []) if self.everything else ("1=0", [])
        clauses: list[str] = []
        params: list[Any] = []
        if self.expired_at is not None:
            clauses.append(expired_condition(placeholder, self.ttl_seconds))
            params.extend(expired_params(self.expired_at, self.ttl_seconds))
        if self.model is not None:
            clauses.append(f"(model = {placeholder} OR model_name = {placeholder})")
            params.extend([self.model, self.model])
        if self.created_before is not None:
            clauses.append(f"created_at < {placeholder}")
            params.append(self.created_before)
        return " AND ".join(clauses), params


def expired_condition(placeholder: str, ttl_seconds: float | None) -> str:
    """SQL true for entries expired at a time (see ``expired_params``)."""
    stored = f"(expires_at IS NOT NULL AND expires_at <= {placeholder})"
    return f"({stored} OR created_at <= {placeholder})" if ttl_seconds is not None else stored


def expired_params(now: float, ttl_seconds: float | None) -> list[Any]:
    """Parameters of ``expired_condition``."""
    return [now, now - ttl_seconds] if ttl_seconds is not None else [now]


@dataclass
class CacheTotals:
    """What a cache holds, for ``llm-solutions cache stats``.

    ``payload_bytes`` is the stored answers' size; ``storage_bytes`` what the store takes
    on disk (file sizes for SQLite, table data and indexes for MySQL).  ``per_model`` counts
    entries per ``provider/model``.
    """

    entries: int = 0
    payload_bytes: int = 0
    storage_bytes: int | None = None
    with_raw: int = 0
    expired: int = 0
    oldest: float | None = None
    newest: float | None = None
    per_model: dict[str, int] = field(default_factory=dict)


class CacheBackend(abc.ABC):
    """Async key-value storage of cache entries, safe for concurrent use.

    ``put`` is an upsert: a later entry for a key replaces the earlier one.
    """

    name: str = ""

    @abc.abstractmethod
    async def get(self, key: str) -> CacheEntry | None:
        """The entry stored under ``key``, or ``None``."""

    @abc.abstractmethod
    async def put(self, entry: CacheEntry) -> None:
        """Store ``entry``, replacing any entry with the same key."""

    async def put_many(self, entries: list[CacheEntry]) -> None:
        """Store several entries (a backend may write them in one transaction)."""
        for entry in entries:
            await self.put(entry)

    @abc.abstractmethod
    async def delete(self, key: str) -> int:
        """Remove the entry under ``key``; returns how many were removed (0 or 1)."""

    @abc.abstractmethod
    async def prune(self, selection: Selection) -> int:
        """Remove the selected entries; returns how many were removed."""

    @abc.abstractmethod
    async def totals(self, now: float, ttl_seconds: float | None = None) -> CacheTotals:
        """Counts and sizes; ``expired`` counts entries expired at ``now`` (and ``ttl_seconds``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; the backend cannot be used afterwards."""

    def describe(self) -> str:
        """Where the entries live, safe to print (no password)."""
        return self.name

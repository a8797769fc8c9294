"""The response cache the collection runner calls around every model call.

Only ``llm_solutions.calls.Caller`` uses it, around every model call::

    cache = await open_cache(settings)          # None when caching is off
    hit = await cache.lookup(config, request, sample)
    if hit is not None:
        completion = hit.completion             # no API call, no cost
    else:
        completion = ...                        # limiter, retries, provider
        await cache.store(config, request, sample, completion)
    ...
    summary["cache"] = cache.stats_dict()
    await cache.close()

A storage failure in the middle of a run (disk full, database gone) never stops the
collection: it is logged, counted in ``stats.errors`` and treated as a miss or a skipped
write.  Failing to open the cache is a ``ConfigError`` instead, before any money is spent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from llm_solutions.cache.backend import CacheBackend, CacheEntry
from llm_solutions.cache.key import cache_key
from llm_solutions.cache.settings import CacheSettings
from llm_solutions.models.base import Completion, Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.text import escape_surrogates

log = logging.getLogger(__name__)

# Response headers are per call (rate-limit hints, request ids) and would mislead the
# limiter on a hit, so they are never stored.
_NOT_STORED = {"headers"}


@dataclass(frozen=True)
class CacheHit:
    """A cached answer: ``completion`` as stored (``raw`` is ``None`` for text-only
    entries, ``headers`` always empty), when it was stored, and the USD it saved.

    ``paid_by`` is the session that paid for the answer and ``paid`` what it paid: a hit
    on an answer the asking session paid for itself (in a run killed before its record was
    written) saves nothing, and the caller counts ``paid`` as that session's spend."""

    completion: Completion
    key: str
    created_at: float
    cost_saved: float
    paid_by: str | None = None
    paid: float = 0.0


@dataclass
class ModelCacheStats:
    """Lookups and writes for one model in this session."""

    hits: int = 0
    misses: int = 0
    writes: int = 0


@dataclass
class CacheSessionStats:
    """What the cache did in this session.

    ``skipped_writes`` are answers not stored on purpose (empty, or fewer output tokens
    than ``min_completion_tokens``); ``errors`` are storage failures, each also logged.
    """

    hits: int = 0
    misses: int = 0
    writes: int = 0
    skipped_writes: int = 0
    errors: int = 0
    cost_saved: float = 0.0
    input_tokens_saved: int = 0
    output_tokens_saved: int = 0
    per_model: dict[str, ModelCacheStats] = field(default_factory=dict)

    def model(self, name: str) -> ModelCacheStats:
        """The counters of one model, created on first use."""
        return self.per_model.setdefault(name, ModelCacheStats())


def _jsonable(value: Any) -> Any:
    # Provider payloads are dicts, but an SDK object slipping into ``raw`` must not lose
    # the answer: store its dump, or its text as a last resort.
    for method in ("model_dump", "to_dict"):
        dump = getattr(value, method, None)
        if callable(dump):
            return dump()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def encode_completion(completion: Completion, with_raw: bool, paid_by: str | None = None, paid: float = 0.0) -> str:
    """The completion as stored: JSON, without headers, and without ``raw`` unless asked;
    with the session that paid for it, and how much, when known."""
    data: dict[str, Any] = {f.name: getattr(completion, f.name) for f in fields(Completion)
                            if f.name not in _NOT_STORED}
    if not with_raw:
        data["raw"] = None
    if paid_by is not None:
        data["_paid_by"], data["_paid"] = paid_by, round(paid, 10)
    # Lone surrogates in an answer are escaped, so every backend can store the payload.
    return escape_surrogates(json.dumps(data, ensure_ascii=False, default=_jsonable))


def _payer(payload: str) -> tuple[str | None, float]:
    try:
        data = json.loads(payload)
        paid_by = data.get("_paid_by")
        return (str(paid_by) if paid_by else None), float(data.get("_paid") or 0.0)
    except (ValueError, TypeError, AttributeError):
        return None, 0.0


def decode_completion(payload: str) -> Completion:
    """The stored completion; ``ValueError`` when the payload is not a stored completion."""
    data = json.loads(payload)
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise ValueError("cache payload is not a completion")
    return Completion.from_dict(data)


class ResponseCache:
    """Reuses answers across runs and sessions; see the module docstring for the protocol.

    ``clock`` returns Unix seconds; tests inject one to check expiry without waiting.
    """

    def __init__(
        self,
        backend: CacheBackend,
        settings: CacheSettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.clock = clock
        self.stats = CacheSessionStats()
        self._warned = False

    def key(self, config: ModelConfig, request: Request, sample: int, identity: dict[str, Any] | None = None) -> str:
        """The cache key of one answer under this cache's key settings."""
        return cache_key(
            config,
            request,
            sample,
            params=self.settings.key_params,
            algorithm=self.settings.hash_algorithm,
            digest_size=self.settings.digest_size,
            identity=identity,
        )

    def _storage_failed(self, action: str, error: Exception) -> None:
        self.stats.errors += 1
        # One warning per session is enough to tell the user; the rest go to debug.
        level = logging.DEBUG if self._warned else logging.WARNING
        self._warned = True
        log.log(
            level,
            "response cache %s failed on %s (%s: %s); going on without it for this call",
            action,
            self.backend.describe(),
            type(error).__name__,
            error,
        )

    def _min_tokens(self, config: ModelConfig) -> int:
        # The threshold weeds out truncated or empty chat answers; a vector has no output
        # tokens at all, so embedding entries are kept and reused whatever it says.
        return 0 if config.kind == "embedding" else self.settings.min_completion_tokens

    def _usable(self, entry: CacheEntry, now: float, config: ModelConfig) -> bool:
        settings = self.settings
        if entry.expires_at is not None and now >= entry.expires_at:
            return False
        if settings.ttl_seconds is not None and now - entry.created_at >= settings.ttl_seconds:
            return False
        if settings.store_raw_response and settings.refresh_if_missing_raw and not entry.has_raw:
            return False
        return entry.output_tokens >= self._min_tokens(config)

    def _miss(self, config: ModelConfig) -> None:
        self.stats.misses += 1
        self.stats.model(config.name).misses += 1

    async def lookup(self, config: ModelConfig, request: Request, sample: int, *, session: str | None = None,
                     identity: dict[str, Any] | None = None, key: str | None = None) -> CacheHit | None:
        """The stored answer for this request and sample, or ``None`` (a miss).

        ``identity`` is what else names the model's answers (a self-hosted server's
        address); ``session`` the asking session, so that its own earlier spend is not
        counted as a saving; ``key``, when given, is ``self.key(...)`` of the same
        arguments, computed once by a caller that also stores the answer.

        Misses: caching disabled, ``force_override_cache``, no entry, an entry past its TTL,
        one without raw payload when ``refresh_if_missing_raw`` (and raw storage) is on, one
        below ``min_completion_tokens`` (a chat model's; embedding vectors are exempt), or a
        storage failure.
        """
        if not self.settings.enabled:
            return None
        if self.settings.force_override_cache:
            self._miss(config)
            return None
        key = key or self.key(config, request, sample, identity)
        try:
            entry = await self.backend.get(key)
        except Exception as e:  # noqa: BLE001 - any storage failure is a miss, never a crash
            self._storage_failed("read", e)
            self._miss(config)
            return None
        if entry is None or not self._usable(entry, self.clock(), config):
            self._miss(config)
            return None
        try:
            completion = decode_completion(entry.payload)
        except ValueError as e:
            self._storage_failed("decode", e)
            self._miss(config)
            return None
        completion.headers = {}
        paid_by, paid = _payer(entry.payload)
        cost = 0.0 if session is not None and paid_by == session else config.price(completion)
        stats = self.stats
        stats.hits += 1
        stats.model(config.name).hits += 1
        stats.cost_saved += cost
        if cost:
            stats.input_tokens_saved += completion.input_tokens
            stats.output_tokens_saved += completion.output_tokens
        return CacheHit(completion=completion, key=key, created_at=entry.created_at, cost_saved=cost,
                        paid_by=paid_by, paid=paid)

    async def store(self, config: ModelConfig, request: Request, sample: int, completion: Completion, *,
                    identity: dict[str, Any] | None = None, paid_by: str | None = None, paid: float = 0.0,
                    key: str | None = None) -> bool:
        """Store a successful answer; ``True`` when it was written.

        ``paid_by`` (a session id) and ``paid`` (USD) are kept with it; see ``CacheHit``.

        Not written: caching disabled, empty text, fewer output tokens than
        ``min_completion_tokens`` (chat answers only: an embedding has none), or a storage
        failure (logged, counted in ``errors``).
        """
        if not self.settings.enabled:
            return False
        if not (completion.text or "").strip() or completion.output_tokens < self._min_tokens(config):
            self.stats.skipped_writes += 1
            return False
        with_raw = self.settings.store_raw_response and completion.raw is not None
        now = self.clock()
        ttl = self.settings.ttl_seconds
        entry = CacheEntry(
            key=key or self.key(config, request, sample, identity),
            model=config.api_model,
            model_name=config.name,
            provider=config.provider,
            created_at=now,
            expires_at=None if ttl is None else now + ttl,
            has_raw=with_raw,
            output_tokens=completion.output_tokens,
            payload=encode_completion(completion, with_raw, paid_by, paid),
        )
        try:
            await self.backend.put(entry)
        except Exception as e:  # noqa: BLE001 - a failed write must not lose the answer in hand
            self._storage_failed("write", e)
            return False
        self.stats.writes += 1
        self.stats.model(config.name).writes += 1
        return True

    def stats_dict(self) -> dict[str, Any]:
        """This session's cache numbers for ``summary.json`` (no password in it)."""
        stats = self.stats
        lookups = stats.hits + stats.misses
        return {
            "enabled": self.settings.enabled,
            "location": self.backend.describe(),
            "force_override_cache": self.settings.force_override_cache,
            "hits": stats.hits,
            "misses": stats.misses,
            "hit_rate": round(stats.hits / lookups, 4) if lookups else 0.0,
            "writes": stats.writes,
            "skipped_writes": stats.skipped_writes,
            "errors": stats.errors,
            "cost_saved_usd": round(stats.cost_saved, 6),
            "input_tokens_saved": stats.input_tokens_saved,
            "output_tokens_saved": stats.output_tokens_saved,
            "per_model": {name: asdict(m) for name, m in sorted(stats.per_model.items())},
        }

    async def close(self) -> None:
        """Close the backend's connections."""
        await self.backend.close()

    async def __aenter__(self) -> ResponseCache:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open_backend(settings: CacheSettings) -> CacheBackend:
    """The backend ``settings.url`` names, connected and with its table created."""
    if settings.backend == "mysql":
        from llm_solutions.cache.mysql import MySQLBackend, MySQLTarget

        password = settings.password.reveal() if settings.password is not None else None
        target = MySQLTarget.from_url(settings.url, password=password)
        return await MySQLBackend.open(
            target, pool_size=settings.pool_size, connect_timeout=settings.connect_timeout
        )
    from llm_solutions.cache.sqlite import SQLiteBackend

    return await SQLiteBackend.open(settings.sqlite_path)


async def open_cache(
    settings: CacheSettings, *, clock: Callable[[], float] = time.time
) -> ResponseCache | None:
    """The cache for a run, or ``None`` when caching is disabled.

    Raises ``ConfigError`` (one line, no password) when the cache cannot be opened.
    """
    if not settings.enabled:
        return None
    return ResponseCache(await open_backend(settings), settings, clock=clock)

"""The limiters of one collection run: one per provider and key.

Providers throttle per key (OpenAI per organisation, Anthropic per workspace), so every
model using the same provider, key and base URL shares one ``ProviderLimiter``.  A model
whose row in the table sets its own ``rpm``, ``tpm`` or ``max_concurrent`` is throttled
separately by the provider (OpenAI and Gemini limit each model), so it gets a limiter of
its own.  Limits come from the table (``Registry.limits``); command-line values replace
them for every limiter.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llm_solutions.limits.rate_limiter import LimiterSnapshot, ProviderLimiter
from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import Registry


class LimiterPool:
    """Builds and holds the ``ProviderLimiter`` of each (provider, key) a run uses.

    ``rpm``, ``tpm`` and ``max_concurrent`` override the table when given;
    ``limiter_options`` are passed to every ``ProviderLimiter`` (tuning, ``wall_clock``).
    Limiters wait on asyncio primitives, so a pool belongs to one event loop.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_concurrent: int | None = None,
        **limiter_options: Any,
    ) -> None:
        self.registry = registry
        self.rpm = rpm
        self.tpm = tpm
        self.max_concurrent = max_concurrent
        self._options = limiter_options
        self._limiters: dict[tuple[str, str, str, str], ProviderLimiter] = {}

    def limits(self, model: BaseModel) -> tuple[float, float | None, int]:
        """(rpm, tpm, max_concurrent) for the model: the overrides, else the table's."""
        rpm, tpm, max_concurrent = self.registry.limits(model.config)
        return (
            self.rpm if self.rpm is not None else rpm,
            self.tpm if self.tpm is not None else tpm,
            self.max_concurrent if self.max_concurrent is not None else max_concurrent,
        )

    def limiter_for(self, model: BaseModel) -> ProviderLimiter:
        """The limiter this model's requests go through, built on first use."""
        config = model.config
        own_limits = any(v is not None for v in (config.rpm, config.tpm, config.max_concurrent))
        key = (
            config.provider,
            _fingerprint(model.api_key),
            model.base_url or "",
            config.name if own_limits else "",
        )
        limiter = self._limiters.get(key)
        if limiter is None:
            rpm, tpm, max_concurrent = self.limits(model)
            limiter = ProviderLimiter(
                self._label(key), rpm, tpm, max_concurrent, **self._options
            )
            self._limiters[key] = limiter
        return limiter

    def _label(self, key: tuple[str, str, str, str]) -> str:
        # The provider's name, made unique without ever showing a key: "openai/gpt-4o"
        # for a model's own limiter, "openai#2" for a second key or base URL.
        provider, _, _, model_name = key
        label = f"{provider}/{model_name}" if model_name else provider
        taken = {limiter.name for limiter in self._limiters.values()}
        number = 2
        unique = label
        while unique in taken:
            unique = f"{label}#{number}"
            number += 1
        return unique

    @property
    def limiters(self) -> list[ProviderLimiter]:
        return list(self._limiters.values())

    def snapshots(self) -> dict[str, LimiterSnapshot]:
        """Each limiter's state, by label."""
        return {limiter.name: limiter.snapshot() for limiter in self._limiters.values()}

    def status(self) -> dict[str, str]:
        """One short state per limiter for a progress line: ``{"openai": "240/min"}``."""
        return {name: snapshot.describe() for name, snapshot in self.snapshots().items()}


def _fingerprint(api_key: str | None) -> str:
    # Keys identify limiters but are never kept in them, so no repr or log can leak one.
    if not api_key:
        return ""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]

"""The limiters of one collection run: one per provider and key.

Providers throttle per key (OpenAI per organisation, Anthropic per workspace), so every
model using the same provider, key and base URL shares one ``ProviderLimiter``.  A model
whose row in the table sets its own ``rpm``, ``tpm`` or ``max_concurrent`` is throttled
separately by the provider (OpenAI and Gemini limit each model), so it gets a limiter of
its own.  Limits come from the table (``Registry.limits``); command-line values replace
them for every limiter.  The table also says what the provider counts against its token
limit (``ProviderConfig.token_accounting``), and the base URL names the server in
messages about reaching it.  The safety margin kept under every limit is 1% unless
``LLM_SOLUTIONS_RATE_MARGIN`` (a percentage) says otherwise.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.limits.rate_limiter import LimiterSnapshot, ProviderLimiter
from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import Registry
from llm_solutions.settings import environment

_MARGIN_VARIABLE = "LLM_SOLUTIONS_RATE_MARGIN"


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
        if "margin" not in limiter_options:
            self._options["margin"] = configured_margin()
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
            options = {"token_accounting": self._accounting(model), "target": model.base_url, **self._options}
            limiter = ProviderLimiter(self._label(key), rpm, tpm, max_concurrent, **options)
            self._limiters[key] = limiter
        return limiter

    def _accounting(self, model: BaseModel) -> str:
        # Models built outside the table (test doubles, notebooks) may name no provider row.
        provider = self.registry.providers.get(model.config.provider)
        return provider.token_accounting if provider is not None else "usage"

    def abandon(self, model: BaseModel, error: BaseException) -> int:
        """Make the queued requests of a stopped model raise ``error`` at once."""
        return sum(limiter.abandon(model.name, error) for limiter in self._limiters.values())

    def abandon_all(self, error: BaseException) -> int:
        """Make every queued request, of any model, raise ``error`` at once (the run stops)."""
        return sum(limiter.abandon_all(error) for limiter in self._limiters.values())

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


def configured_margin() -> float:
    """The margin kept under every limit: ``LLM_SOLUTIONS_RATE_MARGIN`` percent, else 1%."""
    text = environment.read(_MARGIN_VARIABLE)
    if text is None:
        return 0.01
    try:
        percent = float(text.removesuffix("%"))
    except ValueError:
        percent = -1.0
    if not 0.0 <= percent <= 20.0:
        raise ConfigError(f"{_MARGIN_VARIABLE}={text} is not valid; use a percentage from 0 to 20, such as 1 "
                          "(the share of each rate limit left unused so a sliding window never sees one too many)")
    return percent / 100.0


def _fingerprint(api_key: str | None) -> str:
    # Keys identify limiters but are never kept in them, so no repr or log can leak one.
    if not api_key:
        return ""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]

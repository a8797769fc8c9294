"""What a run works with, opened together and closed together: the models and their SDK
clients, the caller (limits, retries, cache, budget) and the scorer (extraction model,
sandbox, here or on a Ray cluster).  ``collect``, ``resume`` and ``rescore`` open them the
same way."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from llm_solutions.cache.response_cache import open_cache
from llm_solutions.cache.settings import cache_settings
from llm_solutions.calls import Budget, Caller
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.evaluation.evaluator import SolutionEvaluator, open_evaluator
from llm_solutions.extraction.llm_extractor import LLMExtractor, describe_fallback
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, build_models, close_models
from llm_solutions.scoring import Scorer

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything a run calls while it runs; ``models`` answer, the rest serves them."""

    models: list[BaseModel]
    caller: Caller
    scorer: Scorer
    owned_models: list[BaseModel] = field(default_factory=list)
    evaluator: SolutionEvaluator | None = None

    def limiter_status(self) -> dict[str, str]:
        """The providers' request rates or pauses, and on Ray each node's throughput."""
        status = self.caller.pool.status()
        if self.evaluator is not None:
            status.update(self.evaluator.status())
        return status

    def report(self) -> dict[str, Any]:
        """What the services did in this process, for ``summary.json``."""
        data: dict[str, Any] = {"api_calls": self.caller.requests_sent}
        if self.caller.cache is not None:
            data["cache"] = self.caller.cache.stats_dict()
        data.update(self.scorer.report())
        if self.evaluator is not None:
            data["evaluation_isolation"] = self.evaluator.summary()
        return data

    async def close(self) -> None:
        if self.evaluator is not None:
            await self.evaluator.close()
        if self.caller.cache is not None:
            await self.caller.cache.close()
        await close_models(self.owned_models)


async def open_services(
    settings: CollectionSettings,
    registry: Registry,
    configs: list[ModelConfig],
    *,
    models: list[BaseModel] | None = None,
    budget: Budget | None = None,
) -> Services:
    """Open what a run needs: ``configs`` are the answering models (built here, unless
    ``models`` are given: those are used as they are and not closed)."""
    # The SDK's own timeout matches ours, so neither cuts the other's request short.
    owned = build_models(registry, configs, timeout=settings.request_timeout) if models is None else []
    pool = LimiterPool(registry, rpm=settings.rpm, tpm=settings.tpm, max_concurrent=settings.provider_concurrency)
    caller = Caller(pool, policy=RetryPolicy(max_attempts=settings.max_attempts), timeout=settings.request_timeout,
                    budget=budget)
    services = Services(models=list(models) if models is not None else list(owned), caller=caller, scorer=Scorer(),
                        owned_models=list(owned))
    try:
        if settings.execute:
            services.evaluator = open_evaluator(settings.sandbox_limits(), ray=settings.ray)
            # Probed (or the cluster reached) now, before the cache creates its file: a
            # missing sandbox or an unreachable cluster fails before anything is on disk.
            await services.evaluator.describe_isolation()
        caller.cache = await open_cache(cache_settings(settings.cache, output_dir=settings.output_dir))
        services.scorer = Scorer(evaluator=services.evaluator, extractor=_open_extractor(settings, registry, services))
    except BaseException:
        await services.close()
        raise
    return services


def _open_extractor(settings: CollectionSettings, registry: Registry, services: Services) -> LLMExtractor | None:
    if not settings.extraction_model:
        return None
    config = registry.get(settings.extraction_model)
    if not registry.has_key(config):
        log.warning(describe_fallback(config.name, registry.api_key_env(config)))
        return None
    [model] = build_models(registry, [config], timeout=settings.request_timeout)
    # Owned (closed at the end), but never one of the answering models: its calls are
    # extraction calls, not tasks of the session.
    services.owned_models.append(model)
    return LLMExtractor(model, services.caller)

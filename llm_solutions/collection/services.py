"""The services a run uses, opened together and closed together: models and their SDK
clients, the rate-limited sender, the response cache, the LLM extractor and the sandbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from llm_solutions.cache.response_cache import ResponseCache, open_cache
from llm_solutions.cache.settings import cache_settings
from llm_solutions.collection.plan import Plan
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.dataset import Problem
from llm_solutions.evaluation.evaluator import Evaluator
from llm_solutions.evaluation.isolation import describe_isolation
from llm_solutions.extraction import Extraction, extract_code
from llm_solutions.extraction.llm_extractor import LLMExtractor, describe_fallback
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.limits.sender import LimiterPool, Sender
from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import build_models, close_models

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything ``CollectionRunner`` calls while it runs."""

    models: list[BaseModel]
    sender: Sender
    pool: LimiterPool
    cache: ResponseCache | None = None
    evaluator: Evaluator | None = None
    extractor: LLMExtractor | None = None
    owned_models: list[BaseModel] = field(default_factory=list)
    isolation: dict[str, Any] | None = None

    async def extract(self, text: str, problem: Problem) -> dict[str, Any]:
        """Regex extraction, and the LLM extractor where the regex result is unclear."""
        found: Extraction = extract_code(text, problem.name)
        if self.extractor is not None and (found.ambiguous or not found.code):
            found = await self.extractor.extract(text, problem, found)
        return found.to_dict()

    def limiter_status(self) -> dict[str, str]:
        return self.pool.status()

    def report(self) -> dict[str, Any]:
        """What the services did, for ``summary.json``."""
        data: dict[str, Any] = {}
        if self.cache is not None:
            data["cache"] = self.cache.stats_dict()
        if self.extractor is not None:
            data["llm_extraction"] = self.extractor.stats_dict()
        if self.isolation is not None:
            data["evaluation_isolation"] = self.isolation
        return data

    async def close(self) -> None:
        if self.evaluator is not None:
            await self.evaluator.close()
        if self.cache is not None:
            await self.cache.close()
        await close_models(self.owned_models)


async def open_services(
    plan: Plan, settings: CollectionSettings, *, models: list[BaseModel] | None = None
) -> Services:
    """Open what the run needs; a model list passed in is used as it is and not closed."""
    registry = plan.registry
    # The SDK's own timeout matches ours, so neither cuts the other's request short.
    owned = build_models(registry, plan.configs, timeout=settings.request_timeout) if models is None else []
    pool = LimiterPool(registry, rpm=settings.rpm, tpm=settings.tpm, max_concurrent=settings.max_concurrent)
    sender = Sender(pool, RetryPolicy(max_attempts=settings.max_attempts), timeout=settings.request_timeout)
    services = Services(models=models if models is not None else owned, sender=sender, pool=pool, owned_models=owned)
    try:
        services.cache = await open_cache(cache_settings(settings.cache, output_dir=settings.output_dir))
        if settings.execute:
            services.isolation = describe_isolation()
            services.evaluator = Evaluator()
        if settings.extraction_model:
            services.extractor = _open_extractor(plan, settings, services)
    except BaseException:
        await services.close()
        raise
    return services


def _open_extractor(plan: Plan, settings: CollectionSettings, services: Services) -> LLMExtractor | None:
    registry = plan.registry
    config = registry.get(settings.extraction_model)
    if not registry.has_key(config):
        log.warning(describe_fallback(config.name, registry.api_key_env(config)))
        return None
    [model] = build_models(registry, [config], timeout=settings.request_timeout)
    services.owned_models.append(model)
    return LLMExtractor(model, services.sender.send, price=lambda c: config.cost(c.input_tokens, c.output_tokens, c.cached_tokens))

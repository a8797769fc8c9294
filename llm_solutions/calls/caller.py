"""``Caller``: the one path every model call takes, whatever it is for.

For each call, in this order:

1. the budget: once the session's spend has reached ``--max-cost`` no new call is sent
   (``CallResult.refused``);
2. the response cache: a stored answer is returned at no cost;
3. the provider's rate limiter, a per-attempt timeout, and retries with backoff for
   errors another attempt can fix (``limits.RetryPolicy``);
4. the provider (``BaseModel.generate``: the wire mapping, nothing else);
5. the cache stores a usable answer;
6. every billed attempt is priced (``ModelConfig.price``) and counted in the budget,
   including answers the provider billed but that cannot be used (empty, refused).

Collection answers, LLM code extraction, and later dataset generation, embeddings and
batch results all go through here, so "every dollar counted once" and "never pay twice
for an answer" hold for all of them.  Provider errors come back inside the
``CallResult``; only bugs (non-provider exceptions) and cancellation propagate.
"""

from __future__ import annotations

import asyncio
import logging

from llm_solutions.cache.response_cache import ResponseCache
from llm_solutions.calls.budget import Budget
from llm_solutions.calls.result import CallResult
from llm_solutions.errors import ProviderError, QuotaExhaustedError, RateLimitError, RequestTimeoutError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request, Usage
from llm_solutions.models.tokens import request_tokens

log = logging.getLogger(__name__)

#: What a call is for; recorded with spend so a session can say where its money went.
PURPOSES = ("answer", "extraction", "generation", "embedding")


class Caller:
    """Calls models within their providers' limits, through the cache, within the budget.

    ``timeout`` is the per-attempt limit in seconds (reasoning models can think for
    minutes, so it is generous by default); ``cache`` ``None`` means no caching;
    ``budget`` defaults to one without a limit (spend is still counted).
    ``requests_sent`` counts the requests that reached a provider, retries included.
    """

    def __init__(
        self,
        pool: LimiterPool,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = 600.0,
        cache: ResponseCache | None = None,
        budget: Budget | None = None,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.pool = pool
        self.policy = policy or RetryPolicy()
        self.timeout = timeout
        self.cache = cache
        self.budget = budget or Budget()
        self.requests_sent = 0

    async def call(
        self,
        model: BaseModel,
        request: Request,
        *,
        purpose: str = "answer",
        sample: int = 0,
        gated: bool = True,
    ) -> CallResult:
        """Ask ``model``; the answer or the error comes back in a ``CallResult``.

        ``sample`` numbers repeated answers to the same request (part of the cache key).
        ``gated=False`` lets a call through after the budget is spent: for calls that
        finish work already paid for (extracting the code of an answer in hand), which
        are still counted.
        """
        if purpose not in PURPOSES:
            raise ValueError(f"unknown call purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
        result = CallResult(model=model.name, purpose=purpose)
        if gated and self.budget.exhausted:
            result.refused = True
            result.message = f"not sent: {self.budget.describe()}"
            return result
        config = model.config
        if self.cache is not None:
            hit = await self.cache.lookup(config, request, sample)
            if hit is not None:
                result.completion = hit.completion
                result.cache_hit = True
                result.cost_saved = hit.cost_saved
                return result
        await self._send(model, request, result)
        if result.ok and self.cache is not None and result.completion is not None:
            await self.cache.store(config, request, sample, result.completion)
        return result

    async def _send(self, model: BaseModel, request: Request, result: CallResult) -> None:
        """Attempts until one succeeds or retrying cannot help; fills ``result``."""
        limiter = self.pool.limiter_for(model)
        estimate = request_tokens(request)
        while True:
            result.attempts += 1
            self.requests_sent += 1
            try:
                completion = await self._attempt(limiter, model, request, estimate)
            except ProviderError as error:
                self._bill(model, result, error.completion)
                result.completion = error.completion
                result.error = error
                result.message = _describe(error, model)
                if isinstance(error, QuotaExhaustedError):
                    log.warning("%s", result.message)
                    return
                delay = self.policy.next_delay(error, result.attempts, result.waited)
                if delay is None:
                    return
                log.debug(
                    "%s: attempt %d/%d failed (%s: %s), retrying in %.1f s",
                    model.name, result.attempts, self.policy.max_attempts, error.kind, error, delay,
                )
                await asyncio.sleep(delay)
                result.waited += delay
                continue
            self._bill(model, result, completion)
            result.completion = completion
            result.error = None
            result.message = None
            return

    def _bill(self, model: BaseModel, result: CallResult, completion: Completion | None) -> None:
        if completion is None:
            return
        cost = model.config.price(completion)
        result.usage = result.usage + Usage.of(completion)
        result.cost += cost
        self.budget.add(cost, result.purpose)

    async def _attempt(
        self, limiter: ProviderLimiter, model: BaseModel, request: Request, estimate: int
    ) -> Completion:
        async with limiter.permit(estimate) as permit:
            try:
                async with asyncio.timeout(self.timeout):
                    completion = await model.generate(request)
            except TimeoutError:
                raise RequestTimeoutError(
                    f"{model.name}: no answer within {self.timeout:g} s", provider=model.provider
                ) from None
            except RateLimitError as error:
                limiter.record_rate_limit(permit, error)
                raise
            limiter.record_success(permit, completion)
            return completion


def _describe(error: ProviderError, model: BaseModel) -> str:
    """The error as one line; a spent quota says the same thing for every provider."""
    if isinstance(error, QuotaExhaustedError):
        # The provider's wording varies ("insufficient_quota", "credit balance is too low").
        return (
            f"{model.name}: quota exhausted ({error}); no more requests go to this model in this "
            "session - check the plan or billing, or resume after the quota resets"
        )
    return str(error)

"""Send one request through the rate limiter, with a timeout and retries.

``Sender.send`` is the only way the collection runner calls a model: it waits for the
provider's limiter, calls ``model.generate`` under a per-request timeout (a hung
connection must never stall a session), tells the limiter how it went, and retries per
the ``RetryPolicy``.  Provider modules only raise our typed errors; everything about
waiting lives here and in the limiter.
"""

from __future__ import annotations

import asyncio
import logging
import math

from llm_solutions.errors import ProviderError, QuotaExhaustedError, RateLimitError, RequestTimeoutError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
# Chat formats add a few tokens per message (role markers); counting them keeps estimates
# of many short messages from falling below the truth.
TOKENS_PER_MESSAGE = 4


def estimate_tokens(request: Request) -> int:
    """Tokens a request may use: its prompt at ~4 characters a token, plus ``max_tokens``.

    This is what the token bucket charges before sending; the real usage settles it after.
    """
    chars = sum(len(str(m.get("content") or "")) for m in request.messages)
    return math.ceil(chars / CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * len(request.messages) + request.max_tokens


class Sender:
    """Sends requests to models within their providers' limits, retrying what can succeed.

    ``timeout`` is the per-attempt limit in seconds; reasoning models can think for
    minutes, so it is generous by default.
    """

    def __init__(self, pool: LimiterPool, policy: RetryPolicy | None = None, *, timeout: float = 600.0) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.pool = pool
        self.policy = policy or RetryPolicy()
        self.timeout = timeout

    async def send(self, model: BaseModel, request: Request) -> Completion:
        """The model's answer, or the last ``ProviderError`` once retrying cannot help.

        The error raised carries ``attempts`` (calls made) and ``total_wait`` (seconds
        slept between them).  Errors that stop the model (``AuthenticationError``,
        ``QuotaExhaustedError``) and requests the provider refused as sent are raised
        after the first attempt.
        """
        limiter = self.pool.limiter_for(model)
        estimate = estimate_tokens(request)
        attempts = 0
        waited = 0.0
        while True:
            attempts += 1
            try:
                completion = await self._attempt(limiter, model, request, estimate)
                completion.attempts = attempts
                return completion
            except ProviderError as error:
                error.attempts = attempts  # type: ignore[attr-defined]
                error.total_wait = waited  # type: ignore[attr-defined]
                if isinstance(error, QuotaExhaustedError):
                    _explain_quota(error, model)
                    log.warning("%s", error)
                    raise
                delay = self.policy.next_delay(error, attempts, waited)
                if delay is None:
                    raise
                log.debug(
                    "%s: attempt %d/%d failed (%s: %s), retrying in %.1f s",
                    model.name, attempts, self.policy.max_attempts, error.kind, error, delay,
                )
                await asyncio.sleep(delay)
                waited += delay

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


def _explain_quota(error: QuotaExhaustedError, model: BaseModel) -> None:
    # The provider's wording varies ("insufficient_quota", "credit balance is too low");
    # say once, the same way for all, what happened and what to do.
    if getattr(error, "_explained", False):
        return
    error.message = (
        f"{model.name}: quota exhausted ({error.message}); no more requests go to this model "
        "in this session - check the plan or billing, or resume after the quota resets"
    )
    error.args = (error.message,)
    error._explained = True  # type: ignore[attr-defined]

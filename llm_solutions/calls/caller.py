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

An error that stops a model (a bad key, a spent quota, a server that stayed
unreachable) stops it for every call: its requests still queued in the limiter, or
waiting to retry, come back at once as ``CallResult.stopped`` instead of being sent.

Collection answers, LLM code extraction, and later dataset generation, embeddings and
batch results all go through here, so "every dollar counted once" and "never pay twice
for an answer" hold for all of them.  Provider errors come back inside the
``CallResult``; only bugs (non-provider exceptions) and cancellation propagate.
"""

from __future__ import annotations

import asyncio
import logging
import time

from llm_solutions.cache.response_cache import ResponseCache
from llm_solutions.calls.budget import Budget
from llm_solutions.calls.result import CallResult
from llm_solutions.errors import AuthenticationError, ProviderError, QuotaExhaustedError, RequestTimeoutError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request, Usage
from llm_solutions.models.failures import ConnectionFailedError, one_line
from llm_solutions.models.tokens import request_prompt_tokens

log = logging.getLogger(__name__)

#: What a call is for; recorded with spend so a session can say where its money went.
PURPOSES = ("answer", "extraction", "generation", "embedding")


class ModelStopped(Exception):
    """Raised into a stopped model's queued requests; never leaves the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Halted(ModelStopped):
    """Raised into every queued request when the whole run stops (Ctrl-C, the budget)."""


class _NotSent(Exception):
    """The limiter refused to send at all (its provider was given up on)."""

    def __init__(self, error: ProviderError) -> None:
        super().__init__(str(error))
        self.error = error


class Caller:
    """Calls models within their providers' limits, through the cache, within the budget.

    ``timeout`` is the per-attempt limit in seconds (reasoning models can think for
    minutes, so it is generous by default); ``cache`` ``None`` means no caching;
    ``budget`` defaults to one without a limit (spend is still counted).
    ``requests_sent`` counts the requests that reached a provider, retries included;
    ``stopped`` maps each stopped model to why.
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
        self.session_id: str | None = None  # the session paying, recorded with cached answers
        self.stopped: dict[str, str] = {}
        self.halted: str | None = None  # why no more requests go out at all
        self._halt_event: asyncio.Event | None = None
        self._stop_errors: dict[str, ProviderError] = {}
        self._stop_events: dict[str, asyncio.Event] = {}

    async def call(
        self,
        model: BaseModel,
        request: Request,
        *,
        purpose: str = "answer",
        sample: int = 0,
        gated: bool = True,
        cached: bool = True,
    ) -> CallResult:
        """Ask ``model``; the answer or the error comes back in a ``CallResult``.

        ``sample`` numbers repeated answers to the same request (part of the cache key).
        ``gated=False`` lets a call through after the budget is spent: for calls that
        finish work already paid for (extracting the code of an answer in hand), which
        are still counted.  ``cached=False`` skips the response cache for this call (a batch
        of embeddings, cached input by input by ``calls.embedding``).
        """
        if purpose not in PURPOSES:
            raise ValueError(f"unknown call purpose {purpose!r}; use one of {', '.join(PURPOSES)}")
        result = CallResult(model=model.name, purpose=purpose)
        started = time.monotonic()
        await self._call(model, request, result, sample=sample, gated=gated, cached=cached)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s", _call_line(model, request, result, sample, time.monotonic() - started))
        return result

    async def _call(self, model: BaseModel, request: Request, result: CallResult, *, sample: int,
                    gated: bool, cached: bool) -> None:
        purpose = result.purpose
        if gated and self.budget.exhausted:
            result.refused = True
            result.message = f"not sent: {self.budget.describe()}"
            return
        config = model.config
        cache = self.cache if cached else None
        identity = await model.cache_identity() if cache is not None else {}
        # The key is hashed once for the lookup and the store (it canonicalises the messages).
        key = cache.key(config, request, sample, identity) if cache is not None and cache.settings.enabled else None
        if cache is not None:
            hit = await cache.lookup(config, request, sample, session=self.session_id, identity=identity, key=key)
            if hit is not None:
                result.completion = hit.completion
                result.cache_hit = True
                result.cost_saved = hit.cost_saved
                if self.session_id is not None and hit.paid_by == self.session_id:
                    # Paid for by this session in a run killed before its record was
                    # written: it is this session's spend, not a saving.
                    result.cost = hit.paid
                    result.usage = Usage.of(hit.completion)
                    result.recovered = True
                    self.budget.add(hit.paid, purpose)
                return
        if model.name in self.stopped:
            self._mark_stopped(result, model, self.stopped[model.name])
            return
        if self.halted is not None:
            self._mark_halted(result)
            return
        await self._send(model, request, result)
        if result.ok and cache is not None and result.completion is not None:
            await cache.store(config, request, sample, result.completion, identity=identity,
                              paid_by=self.session_id, paid=result.cost, key=key)

    def stop(self, model: BaseModel, reason: str, error: ProviderError | None = None) -> None:
        """Stop ``model`` for the session: its queued and waiting calls end now, unsent,
        with ``error`` (what stopped it) as theirs."""
        if model.name in self.stopped:
            return
        self.stopped[model.name] = reason
        if error is not None:
            self._stop_errors[model.name] = error
        self._stop_event(model.name).set()
        self.pool.abandon(model, ModelStopped(reason))

    def halt(self, reason: str) -> int:
        """Send nothing more, for any model: calls waiting on a limiter or between retries
        end now, unsent, with ``stopped`` set (their tasks stay to do on resume); calls in
        flight finish.  Returns how many waiting calls were ended."""
        if self.halted is not None:
            return 0
        self.halted = reason
        if self._halt_event is not None:
            self._halt_event.set()
        return self.pool.abandon_all(Halted(reason))

    def _mark_halted(self, result: CallResult) -> None:
        result.stopped = True
        result.message = f"not sent: {self.halted}"

    def _stop_event(self, name: str) -> asyncio.Event:
        event = self._stop_events.get(name)
        if event is None:
            event = self._stop_events[name] = asyncio.Event()
        return event

    def _mark_stopped(self, result: CallResult, model: BaseModel, reason: str) -> None:
        result.stopped = True
        result.error = self._stop_errors.get(model.name, result.error)
        result.message = f"not sent: {model.name} was stopped ({reason})"

    async def _send(self, model: BaseModel, request: Request, result: CallResult) -> None:
        """Attempts until one succeeds or retrying cannot help; fills ``result``."""
        limiter = self.pool.limiter_for(model)
        estimate = limiter.reservation(model.name, request_prompt_tokens(request), request.max_tokens)
        counted = 0  # attempts that count toward the policy's limit
        while True:
            try:
                completion = await self._attempt(limiter, model, request, estimate, result)
            except Halted:
                self._mark_halted(result)
                return
            except ModelStopped as stop:
                self._mark_stopped(result, model, stop.reason)
                return
            except _NotSent as refused:
                result.error = refused.error
                result.message = self._describe(refused.error, model)
                result.stopped = True  # nothing was sent: no answer to record
                self.stop(model, result.message, refused.error)
                return
            except ProviderError as error:
                self._bill(model, result, error.completion)
                # A server that cannot be reached while it is known to be down: the
                # attempt was its probe, not one of this task's tries.
                counted += 0 if isinstance(error, ConnectionFailedError) and limiter.down else 1
                result.completion = error.completion
                result.error = error
                result.message = self._describe(error, model)
                if error.stops_model:
                    if model.name not in self.stopped:
                        # Said once per model, here: whoever reads the result gets the message.
                        log.error("%s; no more requests go to %s this session", result.message, model.name)
                    self.stop(model, result.message, error)
                    return
                delay = self.policy.next_delay(error, max(1, counted), result.waited)
                if delay is None:
                    return
                log.debug(
                    "%s: attempt %d/%d failed (%s: %s), retrying in %.1f s",
                    model.name, result.attempts, self.policy.max_attempts, error.kind, one_line(str(error), 300),
                    delay,
                )
                if await self._sleep_unless_stopped(model, delay):
                    if self.halted is not None:
                        self._mark_halted(result)
                    else:
                        self._mark_stopped(result, model, self.stopped[model.name])
                    return
                result.waited += delay
                continue
            self._bill(model, result, completion)
            result.completion = completion
            result.error = None
            result.message = None
            return

    def _describe(self, error: ProviderError, model: BaseModel) -> str:
        registry = getattr(self.pool, "registry", None)
        key_variable = None
        if registry is not None and model.config.provider in registry.providers:
            key_variable = registry.api_key_env(model.config)
        return _describe(error, model, key_variable)

    async def _sleep_unless_stopped(self, model: BaseModel, delay: float) -> bool:
        """Sleep ``delay`` seconds; True when the model (or the run) was stopped meanwhile."""
        event = self._stop_event(model.name)
        if self._halt_event is None:
            self._halt_event = asyncio.Event()
            if self.halted is not None:
                self._halt_event.set()
        halt = self._halt_event
        if not event.is_set() and not halt.is_set():
            waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(halt.wait())]
            try:
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        return event.is_set() or halt.is_set()

    def _bill(self, model: BaseModel, result: CallResult, completion: Completion | None) -> None:
        if completion is None:
            return
        cost = model.config.price(completion)
        result.usage = result.usage + Usage.of(completion)
        result.cost += cost
        result.billed_attempts += 1
        result.billed.append({**Usage.of(completion).to_dict(), "cost": round(cost, 8),
                              "latency": round(completion.latency, 4), "finish_reason": completion.finish_reason})
        self.budget.add(cost, result.purpose)

    async def _attempt(
        self, limiter: ProviderLimiter, model: BaseModel, request: Request, estimate: int, result: CallResult
    ) -> Completion:
        try:
            permit = await limiter.acquire(estimate, model=model.name)
        except ProviderError as error:
            raise _NotSent(error) from error
        try:
            result.attempts += 1
            self.requests_sent += 1
            try:
                async with asyncio.timeout(model.config.timeout or self.timeout):
                    completion = await model.generate(request)
            except TimeoutError:
                seconds = model.config.timeout or self.timeout
                timeout = RequestTimeoutError(f"{model.name}: no answer within {seconds:g} s",
                                              provider=model.provider)
                limiter.record_error(permit, timeout)
                raise timeout from None
            except ProviderError as error:
                limiter.record_error(permit, error)
                raise
            limiter.record_success(permit, completion)
            return completion
        finally:
            limiter.release(permit)


def _call_line(model: BaseModel, request: Request, result: CallResult, sample: int, seconds: float) -> str:
    """One call as one DEBUG line: who, which task, how it went, what it used and cost.
    Never the prompt, the answer or a header (a key could be in one)."""
    task = request.metadata.get("task_id") if isinstance(request.metadata, dict) else None
    if result.cache_hit:
        status = "cache hit"
    elif result.ok:
        status = "ok"
    elif result.refused or result.stopped:
        status = "not sent"
    else:
        status = f"failed ({result.error.kind if result.error is not None else 'error'})"
    usage = result.usage if not result.cache_hit or result.completion is None else Usage.of(result.completion)
    return (f"call {model.name} task={task or '-'} sample={sample} purpose={result.purpose} status={status} "
            f"attempts={result.attempts} time={seconds:.2f}s tokens={usage.input_tokens}+{usage.output_tokens} "
            f"cost=${result.cost:.6f}")


def _describe(error: ProviderError, model: BaseModel, key_variable: str | None = None) -> str:
    """The error as one line; a spent quota says the same thing for every provider, and a
    refused key names the variable to fix."""
    if isinstance(error, AuthenticationError):
        where = f"check {key_variable} (environment or .env)" if key_variable else "check the model's API key"
        return f"{one_line(str(error))} - the key was refused: {where}, then resume"
    if isinstance(error, QuotaExhaustedError):
        # The provider's wording varies ("insufficient_quota", "credit balance is too low").
        return (
            f"{model.name}: quota exhausted ({error}); no more requests go to this model in this "
            "session - check the plan or billing, or resume after the quota resets"
        )
    return one_line(str(error))

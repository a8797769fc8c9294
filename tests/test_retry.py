"""Retries in the caller: what is retried, how long it waits, and what stops at once.

The model is a scripted test double: each call takes the next step of its script (a
completion, an error to raise, or a hang), so every scenario is exact.  Timing runs on a
virtual-time loop (``tests/support/virtual_time.py``) except for the cancellation tests,
which use real time with short waits.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import pytest
from support.virtual_time import run_virtual

from llm_solutions.errors import (
    AuthenticationError,
    BadRequestError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
    RequestTimeoutError,
    TransientError,
)
from llm_solutions.calls import Caller, CallResult
from llm_solutions.limits import LimiterPool, RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.registry import Registry

HANG = "hang"


class ScriptModel(BaseModel):
    """Plays a script: a step is a ``Completion``, a ``ProviderError`` to raise, or ``HANG``.

    A step may be a ``(delay, step)`` pair to take ``delay`` seconds first; the last step
    repeats.  ``calls`` holds the loop time of every call.
    """

    provider = "scripted"

    def __init__(self, config: ModelConfig, script: list[Any]) -> None:
        super().__init__(config, api_key="key")
        self.script = script
        self.calls: list[float] = []

    async def generate(self, request: Request) -> Completion:
        self.calls.append(asyncio.get_running_loop().time())
        step = self.script[min(len(self.calls) - 1, len(self.script) - 1)]
        if isinstance(step, tuple):
            delay, step = step
            await asyncio.sleep(delay)
        if step == HANG:
            await asyncio.Event().wait()
        if isinstance(step, ProviderError):
            raise step
        return step


OK = Completion(text="```python\nprint(1)\n```", input_tokens=10, output_tokens=5)


def registry(rpm: int = 60_000, max_concurrent: int = 16) -> Registry:
    provider = ProviderConfig(name="scripted", model_class="x:Y", rpm=rpm, tpm=10_000_000, max_concurrent=max_concurrent)
    return Registry(providers={"scripted": provider}, models={"m": ModelConfig(name="m", provider="scripted")})


def sender(policy: RetryPolicy | None = None, *, timeout: float = 60.0, **limits: Any) -> Caller:
    policy = policy or RetryPolicy(rng=random.Random(7))
    return Caller(LimiterPool(registry(**limits)), policy=policy, timeout=timeout)


def model(*script: Any) -> ScriptModel:
    return ScriptModel(ModelConfig(name="m", provider="scripted"), list(script))


REQUEST = Request(messages=({"role": "user", "content": "solve it"},), max_tokens=64)


def send(caller: Caller, the_model: ScriptModel) -> tuple[CallResult, float]:
    """Run one call on virtual time; its result, and the time it took."""

    async def body():
        return await caller.call(the_model, REQUEST), asyncio.get_running_loop().time()

    return run_virtual(body())


# --- the policy --------------------------------------------------------------------------


def test_backoff_is_exponential_with_full_jitter_within_bounds():
    policy = RetryPolicy(base_delay=1.0, max_delay=10.0, rng=random.Random(1))
    for attempt in range(1, 9):
        cap = min(10.0, 2 ** (attempt - 1))
        delays = [policy.backoff(attempt) for _ in range(200)]
        assert all(0.0 <= d <= cap for d in delays)
        assert max(delays) > 0.8 * cap and min(delays) < 0.2 * cap  # spread over the range
    assert RetryPolicy(jitter=0.0).backoff(4) == 8.0
    assert RetryPolicy(jitter=0.0, max_delay=5.0).backoff(10) == 5.0


def test_backoff_is_deterministic_under_a_seed():
    first = RetryPolicy(rng=random.Random(42))
    second = RetryPolicy(rng=random.Random(42))
    assert [first.backoff(n) for n in range(1, 7)] == [second.backoff(n) for n in range(1, 7)]


def test_only_retryable_errors_are_retried():
    policy = RetryPolicy(rng=random.Random(3))
    assert policy.next_delay(TransientError("502"), 1, 0.0) is not None
    assert policy.next_delay(RequestTimeoutError("slow"), 1, 0.0) is not None
    assert policy.next_delay(RateLimitError("429"), 1, 0.0) is not None
    for error in (BadRequestError("no"), AuthenticationError("key"), QuotaExhaustedError("gone"), ProviderError("?")):
        assert policy.next_delay(error, 1, 0.0) is None


def test_the_servers_hint_is_a_lower_bound_within_the_budget():
    policy = RetryPolicy(max_total_wait=100.0, rng=random.Random(3))
    assert policy.next_delay(RateLimitError("429", retry_after=30.0), 1, 0.0) >= 30.0
    assert policy.next_delay(RateLimitError("429", headers={"retry-after-ms": "4500"}), 1, 0.0) >= 4.5
    assert policy.next_delay(TransientError("503", headers={"Retry-After": "7"}), 1, 0.0) >= 7.0
    assert policy.next_delay(RateLimitError("429", retry_after=30.0), 1, 80.0) is None  # over budget
    # reset headers explain a 429, not a 500
    reset = {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "50s"}
    assert policy.next_delay(RateLimitError("429", headers=reset), 1, 0.0) >= 50.0
    assert policy.next_delay(TransientError("500", headers=reset), 1, 0.0) < 50.0


# --- the caller --------------------------------------------------------------------------


def test_transient_failures_are_retried_until_success():
    the_model = model(TransientError("502"), RequestTimeoutError("slow"), OK)
    result, _ = send(sender(), the_model)
    assert result.completion is OK and result.ok and len(the_model.calls) == 3 and result.attempts == 3


def test_non_retryable_errors_are_raised_at_once():
    the_model = model(BadRequestError("bad body", status=400), OK)
    result, elapsed = send(sender(), the_model)
    assert isinstance(result.error, BadRequestError) and not result.ok
    assert len(the_model.calls) == 1 and result.attempts == 1 and result.waited == 0.0
    assert elapsed < 0.01


def test_attempts_are_bounded_and_reported():
    the_model = model(TransientError("503"))
    result, elapsed = send(sender(RetryPolicy(max_attempts=4, rng=random.Random(5))), the_model)
    assert isinstance(result.error, TransientError)
    assert len(the_model.calls) == 4 and result.attempts == 4
    assert 0.0 < result.waited <= 1 + 2 + 4
    assert elapsed == pytest.approx(result.waited, abs=0.01)


def test_total_wait_is_bounded():
    policy = RetryPolicy(max_attempts=100, max_total_wait=30.0, base_delay=4.0, max_delay=60.0, jitter=0.0)
    the_model = model(TransientError("503"))
    result, elapsed = send(sender(policy), the_model)
    # waits 4, 8, 16 (28 s), then only the 2 s left of the budget
    assert result.waited == pytest.approx(30.0) and result.attempts == 5
    assert elapsed == pytest.approx(30.0, abs=0.01)


def test_rate_limit_waits_the_hint_then_succeeds():
    the_model = model(RateLimitError("429", retry_after=12.0), OK)
    the_sender = sender()
    result, _ = send(the_sender, the_model)
    assert result.completion is OK
    assert the_model.calls[1] - the_model.calls[0] >= 12.0
    [limiter] = the_sender.pool.limiters
    # A lone 429 with nothing to show it was ours costs a fifth of the rate, not half of
    # it, and pauses only the request that got it.
    assert limiter.rate == pytest.approx(0.8 * 0.99 * 60_000)
    assert limiter.snapshot().pause_remaining == 0


def test_a_429_at_an_empty_bucket_pauses_the_provider_for_the_hint():
    empty = {"x-ratelimit-limit-requests": "60000", "x-ratelimit-remaining-requests": "0",
             "x-ratelimit-reset-requests": "1m0s"}
    the_model = model(RateLimitError("429", retry_after=12.0, headers=empty), OK)
    the_sender = sender()
    result, _ = send(the_sender, the_model)
    assert result.ok and the_model.calls[1] - the_model.calls[0] >= 12.0


@pytest.mark.parametrize("error", [QuotaExhaustedError("daily limit reached", status=429), AuthenticationError("bad key")])
def test_errors_that_stop_the_model_are_raised_at_once(error, caplog):
    the_model = model(error, OK)
    with caplog.at_level(logging.WARNING, logger="llm_solutions.calls"):
        result, elapsed = send(sender(), the_model)
    assert result.error is error and result.attempts == 1 and len(the_model.calls) == 1
    assert elapsed < 0.01
    if isinstance(error, QuotaExhaustedError):
        assert result.message.startswith("m: quota exhausted (daily limit reached")
        assert "no more requests go to this model" in caplog.text


def test_a_hung_request_times_out_and_is_retried():
    the_model = model(HANG, OK)
    result, elapsed = send(sender(timeout=30.0), the_model)
    assert result.completion is OK and len(the_model.calls) == 2
    assert elapsed >= 30.0


def test_a_request_that_always_hangs_ends_as_a_timeout_error():
    the_model = model(HANG)
    result, _ = send(sender(RetryPolicy(max_attempts=2, rng=random.Random(1)), timeout=5.0), the_model)
    assert isinstance(result.error, RequestTimeoutError) and result.error.retryable
    assert result.attempts == 2 and "no answer within 5 s" in result.message


def test_retry_and_pause_logging(caplog):
    empty = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "0",
             "x-ratelimit-reset-requests": "30s"}
    the_model = model(RateLimitError("429\n  try later", retry_after=3.0, provider="scripted"),
                      RateLimitError("429", retry_after=3.0, headers=empty), OK)
    with caplog.at_level(logging.DEBUG, logger="llm_solutions"):
        send(sender(), the_model)
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    # each line says what happened, the rate change and the pause actually taken, on one line
    assert ("INFO", "scripted: lone 429 (429 try later; no evidence either way); rate 59400 -> 47520/min; "
                    "the request waits 3.0 s") in messages
    assert ("INFO", "scripted: 429, requests limit hit (headers: 6000 per 30.0 s); requests rate 47520 -> "
                    "11880/min, limit 12000/min learned; pausing 3.0 s (the server's hint)") in messages
    assert any(level == "DEBUG" and "attempt 1/6 failed (rate_limit: 429 try later" in text for level, text in messages)
    assert all("\n" not in text for _, text in messages)


# --- cancellation (real time, short) -----------------------------------------------------


@pytest.mark.parametrize("where", ["generate", "pause", "queue", "backoff"])
async def test_cancellation_never_hangs_and_frees_the_limiter(where):
    the_sender = sender(rpm=60, max_concurrent=1)  # one request a second, one at a time
    hanging = model(HANG)
    failing = model(TransientError("503"))
    limiter = the_sender.pool.limiter_for(hanging)
    blocker = None
    if where == "pause":
        permit = await limiter.acquire(1)
        empty = {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0"}
        limiter.record_rate_limit(permit, RateLimitError("429", retry_after=3600.0, headers=empty))
        limiter.release(permit)
    if where == "queue":
        blocker = asyncio.create_task(the_sender.call(hanging, REQUEST))  # holds the only slot
        await asyncio.sleep(0.05)
    target = failing if where == "backoff" else hanging
    if where == "backoff":
        the_sender.policy = RetryPolicy(base_delay=3600.0, jitter=0.0)
    task = asyncio.create_task(the_sender.call(target, REQUEST))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    for t in (task, blocker):
        if t is not None:
            t.cancel()
    results = await asyncio.gather(*(t for t in (task, blocker) if t), return_exceptions=True)
    assert time.monotonic() - started < 1.0
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert limiter.in_flight == 0  # the slot came back
    assert limiter.snapshot().queued == 0

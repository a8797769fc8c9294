"""Rate limiting: header parsing, the adaptive provider limiter and the limiter pool.

Most tests run on a virtual-time event loop (``tests/support/virtual_time.py``): minutes
of rate limiting take milliseconds and event times are exact.  A few run on real time at
small scales to show the same behaviour outside the simulation.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from support.virtual_time import run_virtual

from llm_solutions.errors import RateLimitError
from llm_solutions.limits import LimiterPool, ProviderLimiter
from llm_solutions.models.tokens import request_tokens as estimate_tokens
from llm_solutions.headers import (
    parse_duration,
    parse_reset,
    parse_retry_after,
    quota_windows,
    retry_delay,
)
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.registry import Registry

NOW = 1_750_000_000.0  # a fixed wall-clock time for headers that carry dates


def now() -> float:
    return asyncio.get_running_loop().time()


def request(prompt: str = "x" * 400, max_tokens: int = 100) -> Request:
    return Request(messages=({"role": "user", "content": prompt},), max_tokens=max_tokens)


async def send_many(limiter: ProviderLimiter, count: int, *, hold: float = 0.0, estimate: int = 1) -> list[float]:
    """Send ``count`` requests through the limiter at once; the times they went out."""
    sent: list[float] = []

    async def one() -> None:
        async with limiter.permit(estimate) as permit:
            sent.append(now())
            await asyncio.sleep(hold)
            limiter.record_success(permit, Completion(text="ok"))

    await asyncio.gather(*(one() for _ in range(count)))
    return sorted(sent)


# --- headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6m0s", 360.0), ("1.5s", 1.5), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0s", 0.0), ("12", 12.0),
     ("2m59.56s", 179.56), ("abc", None), ("5x", None), ("", None), ("-3", None), ("1s junk", None)],
)
def test_parse_duration_reads_openai_durations(text, seconds):
    result = parse_duration(text)
    assert result == pytest.approx(seconds) if seconds is not None else result is None


def test_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("12", NOW) == 12.0
    assert parse_retry_after(formatdate(NOW + 30, usegmt=True), NOW) == pytest.approx(30.0)
    assert parse_retry_after(formatdate(NOW - 30, usegmt=True), NOW) == 0.0  # already past
    assert parse_retry_after("soon", NOW) is None


def test_reset_reads_rfc3339_timestamps_and_epoch_times():
    stamp = datetime.fromtimestamp(NOW + 42, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert parse_reset(stamp, NOW) == pytest.approx(42.0)
    assert parse_reset(str(int((NOW + 7) * 1000)), NOW) == pytest.approx(7.0)  # OpenRouter: epoch ms
    assert parse_reset(str(int(NOW + 9)), NOW) == pytest.approx(9.0)
    assert parse_reset("1.5s", NOW) == 1.5


def test_retry_delay_prefers_explicit_hints():
    assert retry_delay({"retry-after-ms": "250", "retry-after": "1"}, NOW) == 0.25
    assert retry_delay({"retry-after": "3"}, NOW) == 3.0
    date = formatdate(NOW + 20, usegmt=True)
    assert retry_delay({"retry-after": date}, NOW) == pytest.approx(20.0)


def test_retry_delay_falls_back_to_the_exhausted_buckets_reset():
    openai = {
        "x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s",
        "x-ratelimit-remaining-tokens": "5000", "x-ratelimit-reset-tokens": "6m0s",
    }
    assert retry_delay(openai, NOW) == 1.5  # the requests bucket is empty, tokens are not
    openai["x-ratelimit-remaining-requests"] = "7"
    assert retry_delay(openai, NOW) == 1.5  # nothing marked empty: the shortest reset
    openai["x-ratelimit-remaining-tokens"] = "0"
    assert retry_delay(openai, NOW) == 360.0
    assert retry_delay(openai, NOW, resets=False) is None  # a 500 is not explained by resets
    stamp = datetime.fromtimestamp(NOW + 12, tz=UTC).isoformat().replace("+00:00", "Z")
    anthropic = {"anthropic-ratelimit-tokens-remaining": "0", "anthropic-ratelimit-tokens-reset": stamp}
    assert retry_delay(anthropic, NOW) == pytest.approx(12.0)
    assert retry_delay({}, NOW) is None


def test_quota_windows_cover_openai_anthropic_and_openrouter():
    headers = {
        "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "499",
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-remaining-tokens": "29000",
        "anthropic-ratelimit-input-tokens-remaining": "10", "anthropic-ratelimit-output-tokens-remaining": "20",
        "x-ratelimit-remaining": "3", "x-ratelimit-reset": str(int((NOW + 2) * 1000)),
        "x-ratelimit-remaining-images": "junk",
    }
    found = sorted(
        (w.dimension, w.remaining, w.limit, None if w.reset is None else round(w.reset, 6))
        for w in quota_windows(headers, NOW)
    )
    assert found == [
        ("input_tokens", 10.0, None, None),
        ("output_tokens", 20.0, None, None),
        ("requests", 3.0, None, 2.0),
        ("requests", 499.0, 500.0, 0.12),
        ("tokens", 29000.0, None, None),
    ]


# --- admission -------------------------------------------------------------------------


def test_estimate_counts_prompt_characters_and_max_tokens():
    assert estimate_tokens(request("x" * 400, max_tokens=100)) == 100 + 4 + 100


def test_no_burst_at_start_and_the_rate_holds_for_a_minute():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=1000)
        sent = await send_many(limiter, 700)
        first_second = sum(1 for t in sent if t < 1.0)
        first_minute = sum(1 for t in sent if t < 60.0)
        return first_second, first_minute, sent

    first_second, first_minute, sent = run_virtual(body())
    assert first_second <= 11  # 10 per second, plus at most one for timer slack
    assert 599 <= first_minute <= 601
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps[2:]) == pytest.approx(0.1, abs=1e-4)  # evenly spaced, not bunched


async def test_no_burst_in_real_time():
    limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)  # 10 per second
    started = time.monotonic()
    sent: list[float] = []

    async def one() -> None:
        async with limiter.permit(1):
            sent.append(time.monotonic() - started)

    tasks = [asyncio.create_task(one()) for _ in range(50)]
    await asyncio.sleep(0.55)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert 4 <= len(sent) <= 8  # ~6 in 0.55 s at 10/s; 50 at once would be a burst
    assert limiter.in_flight == 0


def test_token_bucket_charges_the_estimate_and_settles_real_usage():
    async def body():
        # 60k tokens/min = 1000/s; the bucket holds a quarter minute (15k).
        limiter = ProviderLimiter("p", rpm=100_000, tpm=60_000, max_concurrent=100)
        bucket = limiter._tokens
        permit = await limiter.acquire(5000)
        assert bucket.level == pytest.approx(5000)
        limiter.record_success(permit, Completion(text="ok", input_tokens=800, output_tokens=200))
        limiter.release(permit)
        assert bucket.level == pytest.approx(1000)  # 4000 unused tokens handed back
        permit = await limiter.acquire(1000)
        limiter.record_success(permit, Completion(text="ok", input_tokens=2000, output_tokens=1000))
        limiter.release(permit)
        assert bucket.level == pytest.approx(4000, abs=1)  # 2000 over the estimate charged
        assert limiter.snapshot().tokens_last_minute == 4000

        # Bucket full: further 5000-token requests go out one per 5 s of refill.
        await asyncio.sleep(10)
        times = []
        for _ in range(5):
            permit = await limiter.acquire(5000)
            times.append(now())
            limiter.release(permit)  # no settle: the estimate stays charged
        return times

    times = run_virtual(body())
    assert times[:3] == pytest.approx([10.0] * 3, abs=0.01)
    assert [b - a for a, b in itertools.pairwise(times[2:])] == pytest.approx([5.0, 5.0], abs=0.01)


def test_cancelled_waiters_leave_the_buckets_as_they_were():
    async def body():
        limiter = ProviderLimiter("p", rpm=60, tpm=60_000, max_concurrent=10)  # 1 request/s
        first = await limiter.acquire(15_000)  # fills the token bucket
        waiting_for_tokens = asyncio.create_task(limiter.acquire(5000))
        await asyncio.sleep(0.1)
        waiting_for_tokens.cancel()
        level_after_tokens_cancel = limiter._tokens.level
        await asyncio.sleep(20)  # tokens drain; the next request waits on the request rate only
        limiter.release(first)
        second = await limiter.acquire(5000)
        waiting_for_rate = asyncio.create_task(limiter.acquire(3000))
        await asyncio.sleep(0.1)
        before = limiter._tokens.level
        waiting_for_rate.cancel()
        await asyncio.gather(waiting_for_tokens, waiting_for_rate, return_exceptions=True)
        limiter.release(second)
        return level_after_tokens_cancel, before, limiter._tokens.level, limiter.in_flight

    after_cancel, before, after, in_flight = run_virtual(body())
    assert after_cancel == pytest.approx(15_000 - 100, abs=1)  # nothing taken back that was not charged
    assert before - after == pytest.approx(3000, abs=1)  # charged, then handed back on cancel
    assert in_flight == 0


def test_concurrency_cap_is_never_exceeded():
    async def body():
        limiter = ProviderLimiter("p", rpm=60_000, max_concurrent=3)
        peak = 0

        async def one() -> None:
            nonlocal peak
            async with limiter.permit(1):
                peak = max(peak, limiter.in_flight)
                await asyncio.sleep(1.0)

        await asyncio.gather(*(one() for _ in range(20)))
        return peak, now(), limiter.in_flight

    peak, elapsed, in_flight = run_virtual(body())
    assert peak == 3
    assert elapsed == pytest.approx(7.0, abs=0.1)  # ceil(20/3) rounds of 1 s
    assert in_flight == 0


# --- adaptation ------------------------------------------------------------------------


def test_429_pauses_for_the_hint_and_halves_the_rate_once_per_event():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        permits = [await limiter.acquire(1) for _ in range(3)]  # in flight together
        error = RateLimitError("slow down", retry_after=5.0)
        for permit in permits:
            limiter.record_rate_limit(permit, error)
            limiter.release(permit)
        rate_after = limiter.rate
        snapshot = limiter.snapshot()
        hit = now()
        permit = await limiter.acquire(1)
        waited = now() - hit
        limiter.record_rate_limit(permit, RateLimitError("again", headers={"Retry-After-Ms": "2000"}))
        return rate_after, snapshot, waited, limiter.rate, limiter.snapshot().pause_remaining

    rate_after, snapshot, waited, rate_second, pause_second = run_virtual(body())
    assert rate_after == 300  # halved once, not three times
    assert snapshot.pause_remaining == pytest.approx(5.0) and snapshot.describe() == "paused 5s"
    assert waited == pytest.approx(5.0, abs=1e-4)
    assert rate_second == 150  # a request sent after the decrease is a new event
    assert pause_second == pytest.approx(2.0)


def test_429_headers_that_state_the_limit_set_the_rate_just_below_it():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100, window_seconds=1.0, min_window=5)
        permit = await limiter.acquire(1)
        # A sliding window of 300 per minute, full: it refills at 300/min.
        headers = {
            "x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m0s", "retry-after": "2",
        }
        limiter.record_rate_limit(permit, RateLimitError("429", headers=headers))
        limiter.release(permit)
        after_429 = limiter.rate
        sent = await send_many(limiter, 50)
        return after_429, limiter.rate, sent[0]

    after_429, later, first_after = run_virtual(body())
    assert first_after >= 2.0  # the retry-after pause
    assert after_429 == pytest.approx(270)  # 90% of what the headers state, not half of 600
    assert later == pytest.approx(270 + 9 * 3)  # nine windows of 5, each 1% of the stated 300


def test_429s_despite_a_rate_under_the_stated_limit_still_halve_it():
    async def body():
        limiter = ProviderLimiter("p", rpm=250, max_concurrent=100)
        headers = {
            "x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m0s", "retry-after-ms": "100",
        }
        permit = await limiter.acquire(1)
        limiter.record_rate_limit(permit, RateLimitError("429", headers=headers))
        limiter.release(permit)
        return limiter.rate

    # 250/min is under 90% of the stated 300, yet failed: the numbers cannot be trusted.
    assert run_virtual(body()) == 125


def test_a_long_wait_under_the_stated_limit_pauses_without_halving_once_a_minute():
    async def body():
        limiter = ProviderLimiter("p", rpm=250, max_concurrent=100)
        # A full sliding window: 300/min sustainable, but nothing until 20 s from now.
        headers = {
            "x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1m0s", "retry-after": "20",
        }
        rates = []
        for _ in range(2):
            permit = await limiter.acquire(1)
            limiter.record_rate_limit(permit, RateLimitError("429", headers=headers))
            limiter.release(permit)
            rates.append((limiter.rate, limiter.snapshot().pause_remaining))
        return rates

    (first_rate, first_pause), (second_rate, _) = run_virtual(body())
    assert (first_rate, first_pause) == (250, pytest.approx(20.0))  # paused, rate kept
    assert second_rate == 125  # the same again within a minute: the numbers are not enough


def test_pause_holds_back_requests_already_queued():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        probe = await limiter.acquire(1)
        sent = asyncio.create_task(send_many(limiter, 30))
        await asyncio.sleep(0.55)  # ~6 sent, the rest queued in the bucket
        limiter.record_rate_limit(probe, RateLimitError("slow down", retry_after=10.0))
        limiter.release(probe)
        return await sent

    sent = run_virtual(body())
    during_pause = [t for t in sent if 0.6 < t < 10.55]
    after = [t for t in sent if t >= 10.55]
    assert during_pause == []
    assert sum(1 for t in after if t < 11.55) <= 6  # resumes at 5/s, not all at once


def test_sustained_success_recovers_to_the_ceiling_and_not_above():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100, window_seconds=1.0, min_window=5)
        permit = await limiter.acquire(1)
        limiter.record_rate_limit(permit, RateLimitError("slow down", retry_after=0.5))
        limiter.release(permit)
        rates = [limiter.rate]

        async def one() -> None:
            async with limiter.permit(1) as permit:
                limiter.record_success(permit, Completion(text="ok"))
                rates.append(limiter.rate)

        await asyncio.gather(*(one() for _ in range(1000)))
        return rates

    rates = run_virtual(body())
    assert rates[0] == 300
    assert rates == sorted(rates)  # only ever up
    assert rates[-1] == 600 and max(rates) == 600
    steps = [round(b - a, 6) for a, b in itertools.pairwise(rates) if b > a]
    # 5% of the ceiling per window below the rate that failed, 1% close to it
    assert steps == [30.0] * 7 + [6.0] * 15


def test_steps_are_sized_by_the_rate_that_failed_not_the_ceiling():
    async def body():
        limiter = ProviderLimiter("p", rpm=6000, max_concurrent=100, window_seconds=1.0, min_window=5)
        for _ in range(2):  # the second 429 comes from a request sent after the first
            permit = await limiter.acquire(1)
            limiter.record_rate_limit(permit, RateLimitError("slow down", retry_after=0.1))
            limiter.release(permit)
        before = limiter.rate
        await send_many(limiter, 30)  # one window: 1500/min for 1 s
        return before, limiter.rate

    before, after = run_virtual(body())
    assert before == 1500  # 6000 -> 3000 -> 1500, which failed at 3000
    assert after - before == pytest.approx(150)  # 5% of 3000, not 5% of the 6000 ceiling


def test_success_without_rate_pressure_does_not_raise_the_rate():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100, window_seconds=1.0, min_window=5)
        permit = await limiter.acquire(1)
        limiter.record_rate_limit(permit, RateLimitError("slow down", retry_after=0.5))
        limiter.release(permit)
        await asyncio.sleep(1)
        for _ in range(50):  # one request a second: far below 300/min
            await send_many(limiter, 1)
            await asyncio.sleep(1)
        return limiter.rate

    assert run_virtual(body()) == 300


def test_low_remaining_without_a_limit_spaces_out_what_is_left():
    async def body():
        limiter = ProviderLimiter("p", rpm=6000, max_concurrent=100)
        permit = await limiter.acquire(1)
        headers = {"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "10s"}
        limiter.record_success(permit, Completion(text="ok", headers=headers))
        limiter.release(permit)
        rate = limiter.snapshot().rate
        return await send_many(limiter, 3), rate

    sent, rate = run_virtual(body())
    assert rate == pytest.approx(6.0)  # the one request left, spread over the 10 s
    assert 9.0 <= sent[0] and sent[-1] <= 10.2  # then the reset, and full speed again


def test_low_remaining_with_a_limit_drops_to_the_refill_rate_before_any_429():
    async def body():
        limiter = ProviderLimiter("p", rpm=1200, max_concurrent=100)
        permit = await limiter.acquire(1)
        # A 10-request bucket with 1 left and full again in 4.5 s refills at 2 per second.
        headers = {
            "x-ratelimit-limit-requests": "10", "x-ratelimit-remaining-requests": "1",
            "x-ratelimit-reset-requests": "4.5s",
        }
        limiter.record_success(permit, Completion(text="ok", headers=headers))
        limiter.release(permit)
        return limiter.rate, await send_many(limiter, 11)

    rate, sent = run_virtual(body())
    assert rate == pytest.approx(0.95 * 120)
    assert sent[-1] - sent[0] >= 4.5  # ~2 per second, not 20


def test_exhausted_remaining_pauses_until_the_reset():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100, wall_clock=lambda: NOW)
        permit = await limiter.acquire(1)
        reset = datetime.fromtimestamp(NOW + 8, tz=UTC).isoformat()
        headers = {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": reset}
        limiter.record_success(permit, Completion(text="ok", headers=headers))
        limiter.release(permit)
        start = now()
        await limiter.acquire(1)
        return now() - start, limiter.rate

    waited, rate = run_virtual(body())
    assert waited == pytest.approx(8.0, abs=0.01)
    assert rate == 600  # a warning, not a 429: no decrease


def test_low_token_remaining_converts_to_request_pacing():
    async def body():
        limiter = ProviderLimiter("p", rpm=6000, max_concurrent=100)
        permit = await limiter.acquire(1)
        headers = {"anthropic-ratelimit-input-tokens-remaining": "500", "anthropic-ratelimit-input-tokens-reset": ""}
        headers["x-ratelimit-remaining-tokens"] = "3000"
        headers["x-ratelimit-reset-tokens"] = "30s"
        limiter.record_success(permit, Completion(text="ok", input_tokens=800, output_tokens=200, headers=headers))
        limiter.release(permit)
        return limiter.snapshot().rate

    # 3000 tokens left for 30 s at ~1000 tokens a request: 3 requests per 30 s.
    assert run_virtual(body()) == pytest.approx(6.0)


# --- the pool ----------------------------------------------------------------------------


class Quiet(BaseModel):
    provider = "p"

    async def generate(self, request: Request) -> Completion:
        return Completion(text="ok")


def registry() -> Registry:
    providers = {
        "p": ProviderConfig(name="p", model_class="x:Y", rpm=500, tpm=100_000, max_concurrent=8),
        "q": ProviderConfig(name="q", model_class="x:Y", rpm=50, tpm=10_000, max_concurrent=2),
    }
    models = {
        "a": ModelConfig(name="a", provider="p"),
        "b": ModelConfig(name="b", provider="p"),
        "own": ModelConfig(name="own", provider="p", rpm=30),
        "c": ModelConfig(name="c", provider="q"),
    }
    return Registry(providers=providers, models=models)


def test_pool_shares_a_limiter_per_provider_and_key():
    reg = registry()

    async def body():
        pool = LimiterPool(reg)
        a = pool.limiter_for(Quiet(reg.models["a"], api_key="k1"))
        b = pool.limiter_for(Quiet(reg.models["b"], api_key="k1"))
        other_key = pool.limiter_for(Quiet(reg.models["a"], api_key="k2"))
        own = pool.limiter_for(Quiet(reg.models["own"], api_key="k1"))
        c = pool.limiter_for(Quiet(reg.models["c"], api_key="k1"))
        return pool, a, b, other_key, own, c

    pool, a, b, other_key, own, c = run_virtual(body())
    assert a is b and a is not other_key and a is not own
    assert (a.ceiling, a.tpm, a.max_concurrent) == (500, 100_000, 8)
    assert own.ceiling == 30 and c.max_concurrent == 2
    assert {lim.name for lim in pool.limiters} == {"p", "p#2", "p/own", "q"}
    assert "k1" not in repr(pool.limiters) and "k1" not in str(pool._limiters)


def test_pool_overrides_replace_the_table_and_status_reads_well():
    reg = registry()

    async def body():
        pool = LimiterPool(reg, rpm=120, max_concurrent=4)
        a = pool.limiter_for(Quiet(reg.models["a"]))
        c = pool.limiter_for(Quiet(reg.models["c"]))
        permit = await c.acquire(1)
        c.record_rate_limit(permit, RateLimitError("slow", retry_after=8))
        c.release(permit)
        return a, c, pool.status()

    a, c, status = run_virtual(body())
    assert (a.ceiling, a.tpm, a.max_concurrent) == (120, 100_000, 4)
    assert c.ceiling == 120 and c.tpm == 10_000
    assert status == {"p": "120/min", "q": "paused 8s"}

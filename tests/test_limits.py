"""Rate limiting: header parsing, the limiter's parts (bucket, ledger, queue, rate
controller), admission, the reading of 429s and quota headers, and the limiter pool.

Most tests run on a virtual-time event loop (``tests/support/virtual_time.py``): minutes
of rate limiting take milliseconds and event times are exact.  One runs on real time at a
small scale to show the same behaviour outside the simulation.  Whole scenarios against
a simulated provider are in ``test_limiter_scenarios.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime
from email.utils import formatdate

import pytest
from support.virtual_time import run_virtual

from llm_solutions.errors import RateLimitError, TransientError
from llm_solutions.headers import (
    parse_duration,
    parse_reset,
    parse_retry_after,
    quota_windows,
    retry_delay,
)
from llm_solutions.limits import LimiterPool, ProviderLimiter
from llm_solutions.limits.bucket import LeakyBucket
from llm_solutions.limits.control import RateController
from llm_solutions.limits.window import SlidingWindow
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.registry import Registry
from llm_solutions.models.tokens import request_tokens as estimate_tokens

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


def test_proxy_prefixed_hints_and_buckets_are_read():
    # LiteLLM passes the upstream's headers on under a prefix; its own may be there too.
    assert retry_delay({"llm_provider-retry-after": "10"}, NOW) == 10.0
    assert retry_delay({"retry-after": "1", "llm_provider-retry-after": "10"}, NOW) == 10.0
    assert retry_delay({"retry-after-ms": "250", "llm_provider-retry-after-ms": "4000"}, NOW) == 4.0
    proxied = {"llm_provider-x-ratelimit-limit-requests": "50", "llm_provider-x-ratelimit-remaining-requests": "0",
               "llm_provider-x-ratelimit-reset-requests": "6s", "x-ratelimit-remaining-requests": "900"}
    found = sorted((w.remaining, w.limit, w.reset) for w in quota_windows(proxied, NOW))
    assert found == [(0.0, 50.0, 6.0), (900.0, None, None)]
    assert retry_delay(proxied, NOW) == 6.0  # the proxied bucket is the empty one


# --- the parts ---------------------------------------------------------------------------


def test_leaky_bucket_spaces_amounts_and_follows_a_new_rate():
    bucket = LeakyBucket(2.0, 1.0, now=0.0)
    assert bucket.delay(1.0, 0.0) == 0.0
    bucket.add(1.0, 0.0)
    assert bucket.delay(1.0, 0.0) == pytest.approx(0.5)
    assert bucket.delay(5.0, 0.0) == pytest.approx(0.5)  # larger than it holds: waits for empty, then goes
    bucket.retune(1.0, 1.0, 0.25)  # half drained at the old rate, the rest at the new
    assert bucket.level(0.25) == pytest.approx(0.5) and bucket.delay(1.0, 0.25) == pytest.approx(0.5)
    bucket.add(-3.0, 0.25)
    assert bucket.level(0.25) == 0.0


def test_sliding_window_admits_only_what_keeps_a_minute_within_the_limit():
    window = SlidingWindow()
    entries = [window.add(1.0, float(t)) for t in range(10)]  # one a second
    assert window.used(9.0) == 10 and window.delay(1.0, 10.0, 9.0) == pytest.approx(51.0)  # the first ages out
    window.settle(entries[0], 0.0)  # refused: never counted
    assert window.delay(1.0, 10.0, 9.0) == 0.0
    assert window.counted(0.0, 4.5, 9.0) == 4 and window.sent(0.0, 4.5, 9.0) == 5
    assert window.used(70.0) == 0 and window.delay(50.0, 10.0, 70.0) == 0.0  # over the limit: goes when empty


def test_rate_controller_learns_a_limit_recovers_and_probes_above_it():
    control = RateController(1200, margin=0.01, window=2.0, probe_after=30.0)
    assert control.rate == pytest.approx(1188)
    control.cut_to_limit(10.0, 300.0)
    assert (control.limit, control.rate) == (300.0, pytest.approx(297))
    control.cut(11.0, 0.5)
    rises = []
    t = 11.0
    while control.rate < 297 * 0.999:
        t += 0.5
        if control.success(t):
            rises.append((t, round(control.rate, 1)))
    # x1.5 per 2-s window (or a tenth of the cap), never past the learned limit
    assert rises == [(13.0, 222.8), (15.0, 297.0)]
    assert control.success(30.0) is None  # at the limit: quiet for 30 s before probing
    probe = control.success(45.5)
    assert probe and "probing above 300/min" in probe[0] and control.limit == pytest.approx(303)
    assert control.success(50.0) is None  # one probe step every 15 s
    control.success(60.5)
    assert control.limit == pytest.approx(303 * 1.02) and control.probing
    control.cut_to_limit(61.0, 301.0)  # the probe found it about where it was
    assert control.limit == 301.0 and not control.probing
    for t in range(62, 400, 1):  # far above any limit now: probing reaches the ceiling, which forgets it
        control.success(float(t))
    assert control.limit is None and control.rate == pytest.approx(1188)


def test_rate_controller_learns_nothing_from_an_outage_or_an_estimate_above_its_rate():
    control = RateController(600)
    control.cut_to_limit(1.0, None)  # nothing got through: halve, learn nothing
    assert control.limit is None and control.rate == pytest.approx(297)
    control.cut_to_limit(2.0, 5000.0)  # the evidence says there is room: back off, learn nothing
    assert control.limit is None and control.rate == pytest.approx(297 * 0.7)
    assert control.lower_to(3.0, 590.0) is None  # the headers state about what we send: nothing to learn
    assert control.lower_to(3.0, 100.0) and control.limit == 100.0


# --- admission ---------------------------------------------------------------------------


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
    assert first_minute == 594  # 1% under the limit
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert min(gaps[2:]) == pytest.approx(60 / 594, abs=1e-4)  # evenly spaced, not bunched


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


def test_a_sliding_minute_never_sees_more_than_the_limit_even_at_small_limits():
    async def body():
        limiter = ProviderLimiter("p", rpm=50, max_concurrent=1000)
        return await send_many(limiter, 200)

    sent = run_virtual(body())
    most = max(sum(1 for t in sent if start <= t < start + 60.0) for start in sent)
    assert most == 49  # 50 per minute, 1% margin: the 51st never comes within 60 s of the first


def test_tokens_reserve_the_prompt_plus_what_recent_answers_used():
    async def body():
        limiter = ProviderLimiter("p", rpm=100_000, tpm=60_000, max_concurrent=100)
        before = limiter.reservation("m", 100, 4096)
        for output in [150, 200, 180, 900, 210, 190, 170, 160, 220, 205]:
            permit = await limiter.acquire(before, model="m")
            limiter.record_success(permit, Completion(text="ok", input_tokens=100, output_tokens=output))
            limiter.release(permit)
        other = limiter.reservation("other-model", 100, 4096)
        capped = limiter.reservation("m", 100, 150)
        openai = ProviderLimiter("o", rpm=100, tpm=60_000, token_accounting="max_tokens")
        return before, limiter.reservation("m", 100, 4096), other, capped, openai.reservation("m", 100, 4096)

    before, learned, other, capped, openai = run_virtual(body())
    assert before == 100 + 4096  # nothing known yet
    assert learned == 100 + 220  # the 90th percentile of this model's answers (the 900 is an outlier)
    assert other == 100 + 4096 and capped == 100 + 150  # per model, and never above max_tokens
    assert openai == 100 + 4096  # a provider that counts max_tokens is reserved max_tokens


def test_tokens_are_settled_against_real_usage():
    async def body():
        limiter = ProviderLimiter("p", rpm=100_000, tpm=60_000, max_concurrent=100)  # 1,000 tokens/s
        permit = await limiter.acquire(600)
        ledger = limiter._admission.token_window
        assert ledger.used(now()) == 600
        limiter.record_success(permit, Completion(text="ok", input_tokens=100, output_tokens=150))
        limiter.release(permit)
        settled = ledger.used(now())
        refused = await limiter.acquire(500)
        limiter.record_rate_limit(refused, RateLimitError("429"))  # never counted on the server
        limiter.release(refused)
        held = ProviderLimiter("o", rpm=100_000, tpm=60_000, token_accounting="max_tokens")
        kept = await held.acquire(4196)
        held.record_success(kept, Completion(text="ok", input_tokens=100, output_tokens=150))
        held.release(kept)
        return settled, ledger.used(now()), held._admission.token_window.used(now())

    settled, after_429, kept = run_virtual(body())
    assert settled == 250 and after_429 == 250
    assert kept == 4196  # OpenAI holds max_tokens whatever the answer used


def test_a_large_reservation_never_serialises_requests():
    async def body():
        # 6,000 tokens/min: the pace holds 4 s of tokens (400); a reservation of 4,100
        # is charged at most half of that, so two requests are always in flight.
        limiter = ProviderLimiter("p", rpm=100_000, tpm=6_060, max_concurrent=8)
        first = await limiter.acquire(4100)
        second = await asyncio.wait_for(limiter.acquire(1000), 0.01)
        return first.sent_at, second.sent_at

    first, second = run_virtual(body())
    assert first == pytest.approx(0.0, abs=1e-3) and second == pytest.approx(0.0, abs=1e-3)


def test_cancelled_waiters_leave_the_charges_as_they_were():
    async def body():
        limiter = ProviderLimiter("p", rpm=60, tpm=60_000, max_concurrent=10)  # 1 request/s
        first = await limiter.acquire(2000)
        waiting = asyncio.create_task(limiter.acquire(3000))
        await asyncio.sleep(0.1)
        queued = limiter.snapshot().queued
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        limiter.release(first)
        ledger = limiter._admission.token_window
        return queued, ledger.used(now()), limiter.in_flight, limiter.snapshot().queued

    queued, used, in_flight, after = run_virtual(body())
    assert queued == 1 and after == 0
    assert used == 2000 and in_flight == 0  # nothing charged for the request that never went


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


# --- reading 429s ------------------------------------------------------------------------

EMPTY = {"x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "0",
         "x-ratelimit-reset-requests": "1m0s"}


async def refuse(limiter: ProviderLimiter, error: RateLimitError, count: int = 1) -> list[float]:
    """``count`` requests in flight together, each answered with ``error``; the pauses."""
    permits = [await limiter.acquire(1) for _ in range(count)]
    pauses = []
    for permit in permits:
        pauses.append(limiter.record_rate_limit(permit, error))
        limiter.release(permit)
    return pauses


def test_a_429_at_an_empty_bucket_learns_the_limit_and_pauses_once_per_event():
    async def body():
        limiter = ProviderLimiter("p", rpm=1200, max_concurrent=100)
        pauses = await refuse(limiter, RateLimitError("429", retry_after=2.0, headers=EMPTY), count=3)
        snapshot = limiter.snapshot()
        hit = now()
        permit = await limiter.acquire(1)
        return pauses, snapshot, now() - hit, permit.sent_at

    pauses, snapshot, waited, _ = run_virtual(body())
    assert pauses == [2.0, 2.0, 2.0]
    # 300 per 60 s stated by the headers: just under it, in one step, not by halving
    assert snapshot.rate == pytest.approx(297) and snapshot.limit == pytest.approx(300)
    assert snapshot.describe() == "paused 2s"
    assert waited == pytest.approx(2.0, abs=1e-3)


def test_a_429_whose_headers_show_room_keeps_the_rate_and_pauses_nothing(caplog):
    room = {"x-ratelimit-limit-requests": "10000", "x-ratelimit-remaining-requests": "9000",
            "x-ratelimit-reset-requests": "1s"}

    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        pauses = await refuse(limiter, RateLimitError("429", retry_after=1.0, headers=room))
        return pauses, limiter.rate, limiter.snapshot().pause_remaining

    with caplog.at_level("INFO", logger="llm_solutions.limits"):
        pauses, rate, pause = run_virtual(body())
    assert pauses == [0.0] and rate == pytest.approx(594) and pause == 0
    assert "429 though the quota headers show room" in caplog.text


def test_an_overloaded_server_costs_a_little_and_pauses_nothing():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        results = []
        for error in (TransientError("Overloaded", status=529), RateLimitError("The engine is currently overloaded")):
            permit = await limiter.acquire(1)
            results.append(limiter.record_error(permit, error))
            limiter.release(permit)
        return results, limiter.rate

    pauses, rate = run_virtual(body())
    assert pauses == [0.0, 0.0] and rate == pytest.approx(594 * 0.9 * 0.9)


def test_a_lone_429_with_nothing_to_go_on_costs_a_fifth_and_pauses_nothing():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        await send_many(limiter, 100)  # ten seconds of answers at full speed
        pauses = await refuse(limiter, RateLimitError("429", retry_after=1.0))
        return pauses, limiter.rate, limiter.requests.limit

    pauses, rate, limit = run_virtual(body())
    assert pauses == [0.0] and rate == pytest.approx(594 * 0.8) and limit is None


def test_a_429_after_a_burst_learns_what_the_server_accepted_in_its_minute():
    async def body():
        # Sending at 1,200/min into a sliding window of 300: 300 accepted in the first
        # 15 s, then "nothing for 45 s".  The limit is 300 per minute, not 1,200.
        limiter = ProviderLimiter("p", rpm=1200, max_concurrent=100)
        await send_many(limiter, 300)
        wait = 60.0 - (now() + 60 / 1188)  # from when the 301st goes: until the first leaves the window
        pauses = await refuse(limiter, RateLimitError("Rate limit reached for requests", retry_after=wait))
        return wait, pauses, limiter.rate, limiter.requests.limit

    wait, pauses, rate, limit = run_virtual(body())
    assert pauses == [wait] and wait == pytest.approx(60 - 300 * 60 / 1188, abs=0.01)
    assert limit == pytest.approx(300) and rate == pytest.approx(297)


def test_the_same_429s_from_an_outage_teach_no_limit():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        await send_many(limiter, 50)
        for _ in range(12):  # everything refused for a while
            await refuse(limiter, RateLimitError("429", retry_after=1.0))
            await asyncio.sleep(1.0)
        return limiter.rate, limiter.requests.limit

    rate, limit = run_virtual(body())
    assert limit is None and rate < 50  # backed far off, but recovery will aim at the ceiling


def test_a_token_limit_429_lowers_the_token_rate_not_the_request_rate():
    tokens_empty = {"x-ratelimit-limit-tokens": "30000", "x-ratelimit-remaining-tokens": "0",
                    "x-ratelimit-reset-tokens": "60s", "x-ratelimit-remaining-requests": "400"}

    async def body():
        limiter = ProviderLimiter("p", rpm=600, tpm=60_000, max_concurrent=100)
        await refuse(limiter, RateLimitError("Rate limit reached on tokens per min (TPM)", headers=tokens_empty))
        assert limiter.tokens is not None
        return limiter.rate, limiter.tokens.rate, limiter.tokens.limit

    rate, token_rate, token_limit = run_virtual(body())
    assert rate == pytest.approx(594) and token_limit == 30_000 and token_rate == pytest.approx(29_700)


# --- recovery ----------------------------------------------------------------------------


def test_recovery_is_multiplicative_and_stops_at_the_ceiling():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        limiter.requests.cut(0.0, 0.02)  # at the floor, as after a burst of 429s
        start = now()
        sent = await send_many(limiter, 400)
        return start, sent, limiter.rate

    start, sent, rate = run_virtual(body())
    assert rate == pytest.approx(594)
    # from 12/min back to the ceiling in seconds, not minutes
    last_minute_gaps = [b - a for a, b in itertools.pairwise(sent) if a > 30.0]
    assert max(last_minute_gaps) == pytest.approx(60 / 594, abs=1e-3)
    reached = next(a for a, b in itertools.pairwise(sent) if b - a <= 60 / 594 + 1e-6)
    assert reached - start < 25.0


def test_success_without_rate_pressure_does_not_raise_the_rate():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        limiter.requests.cut(0.0, 0.5)
        await asyncio.sleep(1)
        for _ in range(50):  # one request a second: far below 297/min
            await send_many(limiter, 1)
            await asyncio.sleep(1)
        return limiter.rate

    assert run_virtual(body()) == pytest.approx(297)


# --- quota headers on answers ------------------------------------------------------------


async def answer_with(limiter: ProviderLimiter, headers: dict[str, str], **usage: int) -> None:
    permit = await limiter.acquire(1)
    limiter.record_success(permit, Completion(text="ok", headers=headers, **usage))
    limiter.release(permit)


def test_low_remaining_without_a_limit_spaces_out_what_is_left():
    async def body():
        limiter = ProviderLimiter("p", rpm=6000, max_concurrent=100)
        await answer_with(limiter, {"x-ratelimit-remaining-requests": "1", "x-ratelimit-reset-requests": "10s"})
        rate = limiter.snapshot().rate
        return await send_many(limiter, 3), rate

    sent, rate = run_virtual(body())
    assert rate == pytest.approx(6.0)  # the one request left, spread over the 10 s
    assert sent[0] >= 9.0 and sent[-1] <= 10.2  # then the reset, and full speed again


def test_a_nearly_empty_bucket_that_states_its_size_sets_the_limit_before_any_429(caplog):
    async def body():
        limiter = ProviderLimiter("p", rpm=1200, max_concurrent=100)
        # A 300-request window with 3 left, full again in 60 s: 300 per minute.
        await answer_with(limiter, {"x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "3",
                                    "x-ratelimit-reset-requests": "1m0s"})
        return limiter.rate, limiter.requests.limit

    with caplog.at_level("INFO", logger="llm_solutions.limits"):
        rate, limit = run_virtual(body())
    assert limit == pytest.approx(300) and rate == pytest.approx(297)
    assert "p: requests rate 1188 -> 297/min, limit 300/min from the quota headers" in caplog.messages


def test_a_sub_second_reset_needs_a_second_opinion_and_nothing_goes_above_the_ceiling():
    # 150 used of 500 with a 200 ms reset would claim 150,000/min.
    short = {"x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": "5",
             "x-ratelimit-reset-requests": "200ms"}

    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100)
        await answer_with(limiter, short)
        alone = limiter.requests.limit
        await answer_with(limiter, short)  # agrees with the first: believed, but capped by the ceiling
        fast = ProviderLimiter("q", rpm=600_000, max_concurrent=100)
        for _ in range(2):
            await answer_with(fast, {**short, "x-ratelimit-reset-requests": "500ms"})
        return alone, limiter.rate, limiter.requests.limit, fast.requests.limit

    alone, rate, limit, fast_limit = run_virtual(body())
    assert alone is None and limit is None and rate == pytest.approx(594)
    assert fast_limit == pytest.approx(60_000)  # two agreeing readings under the ceiling do count


def test_exhausted_remaining_pauses_until_the_reset():
    async def body():
        limiter = ProviderLimiter("p", rpm=600, max_concurrent=100, wall_clock=lambda: NOW)
        reset = datetime.fromtimestamp(NOW + 8, tz=UTC).isoformat()
        await answer_with(limiter, {"anthropic-ratelimit-requests-remaining": "0",
                                    "anthropic-ratelimit-requests-reset": reset})
        start = now()
        await limiter.acquire(1)
        return now() - start, limiter.rate

    waited, rate = run_virtual(body())
    assert waited == pytest.approx(8.0, abs=0.01)
    assert rate == pytest.approx(594)  # a warning, not a 429: no decrease


def test_low_token_remaining_converts_to_request_pacing():
    async def body():
        limiter = ProviderLimiter("p", rpm=6000, max_concurrent=100)
        headers = {"anthropic-ratelimit-input-tokens-remaining": "500", "anthropic-ratelimit-input-tokens-reset": "",
                   "x-ratelimit-remaining-tokens": "3000", "x-ratelimit-reset-tokens": "30s"}
        await answer_with(limiter, headers, input_tokens=800, output_tokens=200)
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
        "p": ProviderConfig(name="p", model_class="x:Y", rpm=500, tpm=100_000, max_concurrent=8,
                            token_accounting="max_tokens"),
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
        a = pool.limiter_for(Quiet(reg.models["a"], api_key="k1", base_url="http://host/v1"))
        b = pool.limiter_for(Quiet(reg.models["b"], api_key="k1", base_url="http://host/v1"))
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
    # what the provider counts against its token limit, and which server it is
    assert a.reservation("a", 10, 1000) == 1010 and a._health.target == "http://host/v1"
    assert c.reservation("c", 10, 1000) == 1010  # nothing known yet about c's answers


def test_pool_overrides_replace_the_table_and_status_reads_well():
    reg = registry()

    async def body():
        pool = LimiterPool(reg, rpm=120, max_concurrent=4)
        a = pool.limiter_for(Quiet(reg.models["a"]))
        c = pool.limiter_for(Quiet(reg.models["c"]))
        await refuse(c, RateLimitError("slow down", retry_after=8, headers=EMPTY))
        return a, c, pool.status()

    a, c, status = run_virtual(body())
    assert (a.ceiling, a.tpm, a.max_concurrent) == (120, 100_000, 4)
    assert c.ceiling == 120 and c.tpm == 10_000
    assert status == {"p": "119/min", "q": "paused 8s"}

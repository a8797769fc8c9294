"""One provider's rate limiter: requests and tokens per minute, concurrency, and AIMD.

A ``ProviderLimiter`` is shared by every model that uses the same provider and key, since
that is what providers throttle.  A request goes out only when all of these allow it:

* a concurrency slot is free (``max_concurrent`` requests in flight);
* the provider is not paused (after a 429, for as long as the server asked);
* the token bucket has room for the request's estimated tokens
  (``models.tokens.request_tokens``: prompt characters / 4 plus ``max_tokens``, which is
  also what OpenAI reserves); after the answer the estimate is settled against the real
  usage, returning what was not used or charging the excess;
* the request bucket admits it.  Its capacity is about one request, so requests are
  spaced evenly from the very first one: starting with a full minute's worth at once
  would be a burst the provider's per-second enforcement answers with 429s.

The request rate adapts (AIMD, as TCP does): a 429 halves it (once per congestion event:
429s for requests sent before the last decrease are echoes of the same event; when the
429's headers state the sustainable rate, it drops to just under that instead), and each
window of successes without one raises it by a step, never above the configured ceiling.
Steps are sized by the rate that failed last time, and are small near it, so the limiter
settles just under the real limit instead of repeatedly overshooting it.  Remaining-quota
headers on successful answers act before any 429: when little is left, requests are
spaced out so that what is left lasts until the bucket refills, and the rate drops to the
refill rate when the provider states its bucket size.

All waiting is on asyncio primitives (aiolimiter futures, ``asyncio.sleep``, a
semaphore), so it never blocks the loop and is cancellable.  Time is the event loop's
clock, which aiolimiter schedules on too; tests run on a virtual-time loop.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from llm_solutions.errors import RateLimitError
from llm_solutions.headers import lowered, quota_windows, retry_delay
from llm_solutions.limits.bucket import AdjustableBucket
from llm_solutions.limits.quota import QuotaAdvice, advise
from llm_solutions.models.base import Completion

log = logging.getLogger(__name__)

# How much of the previous average a new observation keeps, for per-request token sizes.
_AVERAGE_WEIGHT = 0.9
# After a 429, the share of the provider's stated sustainable rate to drop to.
_STATED_SHARE = 0.9
# A 429 asking for a wait this long (seconds, and at least this many request intervals)
# is about quota spent earlier rather than about the current rate.
_LONG_PAUSE = 2.0
_LONG_PAUSE_REQUESTS = 10


@dataclass
class Permit:
    """One admitted request: what it was charged and when it went out."""

    estimate: int
    charged: float
    sent_at: float
    rate_bound: bool
    released: bool = False


@dataclass(frozen=True)
class LimiterSnapshot:
    """The limiter's state for a progress display.

    ``rate`` and ``ceiling`` are requests per minute (``rate`` includes any slowdown from
    remaining-quota headers), ``tokens_last_minute`` counts settled usage, and
    ``pause_remaining`` is seconds until requests may go out again.
    """

    name: str
    rate: float
    ceiling: float
    in_flight: int
    max_concurrent: int
    tokens_last_minute: int
    tpm: float | None
    pause_remaining: float

    def describe(self) -> str:
        """``"240/min"``, or ``"paused 8s"`` while paused."""
        if self.pause_remaining > 0:
            return f"paused {math.ceil(self.pause_remaining)}s"
        return f"{self.rate:.0f}/min"


class ProviderLimiter:
    """Rate limits for one provider and key; see the module docstring for how it works.

    ``rpm`` is the ceiling the adaptive rate never exceeds, ``tpm`` tokens per minute
    (``None`` or 0: no token limit), ``max_concurrent`` requests in flight.  The tuning
    arguments have defaults that suit every provider in the table; ``wall_clock`` (epoch
    seconds) reads reset times that headers give as dates.
    """

    def __init__(
        self,
        name: str,
        rpm: float,
        tpm: float | None = None,
        max_concurrent: int = 16,
        *,
        decrease: float = 0.5,
        increase: float = 0.05,
        probe_increase: float = 0.01,
        window_seconds: float = 3.0,
        min_window: int = 10,
        default_pause: float = 1.0,
        max_pause: float = 120.0,
        token_burst: float = 0.25,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if rpm <= 0 or max_concurrent <= 0:
            raise ValueError(f"{name}: rpm and max_concurrent must be positive")
        self.name = name
        self.ceiling = float(rpm)
        self.tpm = float(tpm) if tpm else None
        self.max_concurrent = max_concurrent
        # A floor keeps a burst of 429s from stalling the provider at a near-zero rate.
        self.floor = min(self.ceiling, max(1.0, self.ceiling * 0.02))
        self._decrease_factor = decrease
        self._increase = increase
        self._probe_increase = probe_increase
        self._window_seconds = window_seconds
        self._min_window = min_window
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._wall = wall_clock

        self._rate = self.ceiling
        per_second = self._rate / 60.0
        self._requests = AdjustableBucket(per_second, _request_capacity(per_second))
        self._tokens: AdjustableBucket | None = None
        if self.tpm:
            # A quarter minute of tokens lets several requests be in flight on their
            # max_tokens estimates while their real (smaller) usage is not yet known.
            self._tokens = AdjustableBucket(self.tpm / 60.0, self.tpm * token_burst)
        self._slots = asyncio.Semaphore(max_concurrent)
        self._in_flight = 0
        self._primed = False
        self._paused_until = 0.0
        self._last_event = -math.inf
        self._failed_at: float | None = None
        self._streak = 0
        self._pace_rate: float | None = None
        self._pace_until = 0.0
        self._pace_timer: asyncio.TimerHandle | None = None
        self._usage: collections.deque[tuple[float, int]] = collections.deque()
        self._average: dict[str, float] = {}

    # --- admission -------------------------------------------------------------------

    async def acquire(self, estimate: int) -> Permit:
        """Wait until a request with ``estimate`` tokens may go out; pair with ``release``."""
        await self._slots.acquire()
        if not self._primed:
            # Start as if a request had just gone out: the capacity's sliver is for timer
            # slack later, not an extra request at the start.
            self._primed = True
            self._requests.adjust(self._requests.capacity - 1)
        charged = 0.0
        try:
            await self._wait_while_paused()
            if self._tokens is not None:
                # One request larger than the bucket waits for an empty bucket, then goes.
                amount = float(min(estimate, self._tokens.capacity))
                await self._tokens.acquire(amount)
                charged = amount
            rate_bound = self._requests.waiting() > 0 or not self._requests.has_capacity(1)
            await self._requests.acquire(1)
        except BaseException:
            if charged and self._tokens is not None:
                self._tokens.adjust(-charged)
            self._slots.release()
            raise
        self._in_flight += 1
        return Permit(estimate=estimate, charged=charged, sent_at=self._now(), rate_bound=rate_bound)

    def release(self, permit: Permit) -> None:
        """Free the permit's concurrency slot (idempotent)."""
        if not permit.released:
            permit.released = True
            self._in_flight -= 1
            self._slots.release()

    @asynccontextmanager
    async def permit(self, estimate: int) -> AsyncIterator[Permit]:
        """``async with limiter.permit(tokens) as permit:`` around one request."""
        permit = await self.acquire(estimate)
        try:
            yield permit
        finally:
            self.release(permit)

    async def _wait_while_paused(self) -> None:
        # Loop because a 429 may extend the pause while we sleep.
        while (left := self._paused_until - self._now()) > 0:
            await asyncio.sleep(left)

    # --- feedback --------------------------------------------------------------------

    def record_success(self, permit: Permit, completion: Completion) -> None:
        """Settle the permit's tokens, read quota headers, and count towards a speed-up."""
        used = completion.input_tokens + completion.output_tokens
        if used > 0:
            if self._tokens is not None and permit.charged:
                self._tokens.adjust(used - permit.charged)
            self._remember_usage(completion.input_tokens, completion.output_tokens)
        self._observe_quota(completion.headers)
        self._count_success(permit)

    def record_rate_limit(self, permit: Permit, error: RateLimitError) -> float:
        """Slow down and pause for the server's hint after a 429; returns the pause."""
        hint = error.retry_after
        if hint is None:
            hint = retry_delay(lowered(error.headers), self._wall())
        pause = min(self._default_pause if hint is None else hint, self._max_pause)
        decreased = False
        if permit.sent_at > self._last_event:
            # The first 429 of a congestion event; later ones for requests that were
            # already in flight would otherwise halve the rate again and again.
            self._rate = max(self.floor, self._rate_after_429(error, pause))
            self._last_event = self._now()
            decreased = True
        self._streak = 0
        extended = self._pause(pause)
        self._apply_rate()
        if decreased or extended:
            log.info("%s: rate limited, pausing %.1f s, rate now %.0f/min", self.name, pause, self._rate)
        return pause

    def _rate_after_429(self, error: RateLimitError, pause: float) -> float:
        """The new rate for a congestion event (and the failed rate remembered)."""
        stated = self._advise(error.headers).stated_rpm
        rate = self._rate
        calm = self._now() - self._last_event > 60.0
        self._failed_at = min(rate, stated) if stated else rate
        if stated is not None and rate > _STATED_SHARE * stated:
            # The provider's headers say what it sustains: go just under that rather than
            # halve (from far above, halving would still overshoot).
            return _STATED_SHARE * stated
        if stated is not None and calm and pause >= max(_LONG_PAUSE, _LONG_PAUSE_REQUESTS * 60.0 / rate):
            # A sustainable rate by the provider's numbers, yet a long wait: the quota was
            # spent earlier (a sliding window filled by a burst).  The pause pays for it;
            # halving too would waste the next minute.  Only once a minute, in case the
            # numbers are wrong.
            return rate
        # No numbers, or they did not keep us out of trouble: halve.
        return rate * self._decrease_factor

    def _count_success(self, permit: Permit) -> None:
        # Only requests the rate held back show that the rate was what limited us; a flow
        # limited by concurrency or by the caller says nothing about a faster rate.
        if not permit.rate_bound or permit.sent_at <= self._last_event:
            return
        if self._pacing() and (self._pace_rate or 0.0) * 60.0 < self._rate:
            return  # the quota headers hold us below the rate already
        self._streak += 1
        if self._streak < max(self._min_window, self._rate / 60.0 * self._window_seconds):
            return
        self._streak = 0
        if self._rate >= self.ceiling:
            return
        # Steps are a share of the rate that failed (else of the ceiling): a ceiling set far
        # above the real limit must not turn one step into a leap past it.
        scale = self._failed_at or self.ceiling
        near_failure = self._failed_at is not None and self._rate >= 0.85 * self._failed_at
        step = (self._probe_increase if near_failure else self._increase) * scale
        self._rate = min(self.ceiling, self._rate + step)
        if self._failed_at is not None and self._rate > 1.1 * self._failed_at:
            self._failed_at = None  # the limit has evidently risen; probe quickly again
        self._apply_rate()

    def _observe_quota(self, headers: Mapping[str, str]) -> None:
        """Slow down before a 429 when the remaining-quota headers say little is left."""
        if not headers:
            return
        advice = self._advise(headers)
        if advice.empty:
            return
        self._streak = 0
        if advice.stated_rpm is not None:
            # The provider says how fast its nearly empty bucket refills: go just below.
            self._failed_at = advice.stated_rpm
            self._rate = min(self._rate, max(self.floor, 0.95 * advice.stated_rpm))
        if advice.wait and self._pause(min(advice.wait, self._max_pause)):
            log.info("%s: quota nearly used up, pausing %.1f s", self.name, advice.wait)
        if advice.pace is not None:
            self._pace_rate = advice.pace
            self._pace_until = self._now() + advice.pace_for
            self._schedule_pace_end()
        self._apply_rate()

    def _advise(self, headers: Mapping[str, str]) -> QuotaAdvice:
        return advise(
            quota_windows(lowered(headers), self._wall()),
            in_flight=max(0, self._in_flight - 1),  # sent before this answer, not yet counted
            units=self._average,
            rate_rpm=self._rate,
        )

    # --- rate plumbing ---------------------------------------------------------------

    def _pacing(self) -> bool:
        return self._pace_rate is not None and self._now() < self._pace_until

    def _pause(self, seconds: float) -> bool:
        until = self._now() + seconds
        if until <= self._paused_until:
            return False
        self._paused_until = until
        self._requests.close_for(seconds)
        return True

    def _apply_rate(self) -> None:
        now = self._now()
        per_second = self._rate / 60.0
        if self._pacing():
            per_second = min(per_second, self._pace_rate or per_second)
        if per_second != self._requests.per_second:
            self._requests.retune(per_second, _request_capacity(per_second))
            if self._paused_until > now:
                # The pause is a level in the bucket; a new drain rate would stretch it.
                self._requests.close_for(self._paused_until - now, exact=True)

    def _schedule_pace_end(self) -> None:
        if self._pace_timer is not None:
            self._pace_timer.cancel()
        self._pace_timer = asyncio.get_running_loop().call_at(self._pace_until, self._apply_rate)

    def _remember_usage(self, input_tokens: int, output_tokens: int) -> None:
        now = self._now()
        self._usage.append((now, input_tokens + output_tokens))
        for key, value in (
            ("tokens", input_tokens + output_tokens),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
        ):
            old = self._average.get(key)
            self._average[key] = value if old is None else _AVERAGE_WEIGHT * old + (1 - _AVERAGE_WEIGHT) * value

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    # --- reporting -------------------------------------------------------------------

    @property
    def rate(self) -> float:
        """The adaptive request rate (per minute), before any header pacing."""
        return self._rate

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def snapshot(self) -> LimiterSnapshot:
        """The current state, for a progress line."""
        now = self._now()
        while self._usage and self._usage[0][0] <= now - 60.0:
            self._usage.popleft()
        rate = self._rate
        if self._pacing() and self._pace_rate is not None:
            rate = min(rate, self._pace_rate * 60.0)
        return LimiterSnapshot(
            name=self.name,
            rate=rate,
            ceiling=self.ceiling,
            in_flight=self._in_flight,
            max_concurrent=self.max_concurrent,
            tokens_last_minute=sum(tokens for _, tokens in self._usage),
            tpm=self.tpm,
            pause_remaining=max(0.0, self._paused_until - now),
        )

    def __repr__(self) -> str:
        return f"<ProviderLimiter {self.name} {self._rate:.0f}/{self.ceiling:.0f} per min>"


def _request_capacity(per_second: float) -> float:
    # One request plus a sliver: the sliver (at most one request, worth 50 ms of rate)
    # absorbs timer lateness, which would otherwise be lost on every request and make
    # the achieved rate fall short at high rates.  It is never a burst above the limit.
    return 1.0 + min(1.0, per_second * 0.05)

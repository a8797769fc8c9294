"""Admission: the checks a request passes before it goes out, and what it leaves charged.

Requests wait in one first-come, first-served queue (``gate.py``); the first goes out
when all of these allow it:

* a concurrency slot is free (``max_concurrent`` requests in flight);
* the server is reachable, or this request is the one probing it (``health.py``);
* the provider is not paused;
* the request pace: a leaky bucket of about one request at the current rate, so requests
  are spaced evenly from the very first one (no burst that fills a window and then waits);
* the per-minute ledger (``window.py``): the last 60 s plus this request stay within the
  rate's cap, so even a sliding window never sees its limit plus one;
* tokens, when a token limit is set: the same pace and ledger, charged the request's
  reservation.  The pace holds a few seconds of tokens (``token_burst`` seconds), so
  tokens go out as evenly as requests do: a bucket holding a quarter of a minute lets
  bursts that fill the per-minute ledger, which then replays the burst every minute.
  A request is charged to the pace at most half of what it holds, so two requests can
  always be in flight and one large reservation never waits for an empty bucket; the
  ledger counts the reservation in full, as the provider does.

A ``Permit`` records what was charged, so it can be settled (tokens against the real
usage) or taken back (a 429'd request never counted on the server).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from llm_solutions.limits.bucket import LeakyBucket
from llm_solutions.limits.control import RateController
from llm_solutions.limits.gate import Gate, Waiter
from llm_solutions.limits.health import ProviderHealth
from llm_solutions.limits.window import Entry, SlidingWindow

# The ledger remembers a little more than a minute: the server times our requests by
# when they arrive, which is later than when they left by a varying few milliseconds.
LEDGER_SPAN = 60.25


@dataclass(eq=False)
class Permit:
    """One admitted request: what it reserved and was charged, when it went out, and
    whether the request pace (``rate_bound``) or the token limit held it back."""

    estimate: int
    charged: float
    sent_at: float
    rate_bound: bool
    model: str | None = None
    token_bound: bool = False
    request_entry: Entry | None = None
    token_entry: Entry | None = None
    released: bool = False


class Admission:
    """The queue and the charges of one provider's limits; the limiter changes the rates
    (``requests``, ``tokens``), calls ``retune`` after, and settles permits."""

    def __init__(self, requests: RateController, tokens: RateController | None, health: ProviderHealth, *,
                 max_concurrent: int, token_burst: float) -> None:
        self.requests = requests
        self.tokens = tokens
        self.health = health
        self.max_concurrent = max_concurrent
        self.token_burst = token_burst
        self.gate = Gate(self._delay, self._admit, self._undo)
        self.request_window = SlidingWindow(LEDGER_SPAN)
        self.token_window = SlidingWindow(LEDGER_SPAN) if tokens else None
        self.request_bucket: LeakyBucket | None = None
        self.token_bucket: LeakyBucket | None = None
        self.in_flight = 0
        self.started: float | None = None
        self.paused_until = 0.0
        self.pace: float | None = None  # requests per second the quota headers ask for, if any

    async def enter(self, waiter: Waiter, now: float) -> Permit:
        """Wait in the queue; the permit of the admitted request."""
        self._ensure_buckets(now)
        await self.gate.wait(waiter)
        permit: Permit = waiter.ticket
        permit.rate_bound = "requests" in waiter.held_by
        permit.token_bound = "tokens" in waiter.held_by
        return permit

    def leave(self, permit: Permit) -> None:
        """The request is over: free its slot."""
        if not permit.released:
            permit.released = True
            self.in_flight -= 1
            self.gate.nudge()

    def pause(self, now: float, seconds: float) -> bool:
        """Admit nobody for ``seconds``; False when an existing pause already lasts longer."""
        until = now + seconds
        if until <= self.paused_until:
            return False
        self.paused_until = until
        self.gate.nudge()
        return True

    def retune(self, now: float) -> None:
        """Follow the current rates (and any pace from quota headers), then look again."""
        self._ensure_buckets(now)
        assert self.request_bucket is not None
        per_second = self.requests.rate / 60.0
        if self.pace is not None:
            per_second = min(per_second, self.pace)
        if per_second != self.request_bucket.per_second:
            self.request_bucket.retune(per_second, _request_capacity(per_second), now)
        if self.tokens is not None and self.token_bucket is not None:
            rate = self.tokens.rate
            if rate / 60.0 != self.token_bucket.per_second:
                self.token_bucket.retune(rate / 60.0, rate / 60.0 * self.token_burst, now)
        self.gate.nudge()

    def settle_tokens(self, permit: Permit, counted: float, now: float) -> None:
        """What the request counts against the token limit from now on."""
        if self.token_bucket is None or self.token_window is None or permit.token_entry is None:
            return
        self.token_bucket.add(counted - permit.charged, now)
        permit.charged = counted
        self.token_window.settle(permit.token_entry, counted)

    def uncount(self, permit: Permit, now: float) -> None:
        """The request never counted on the server (refused, or it never reached it)."""
        if permit.request_entry is not None:
            self.request_window.settle(permit.request_entry, 0.0)
        self.settle_tokens(permit, 0, now)

    def tokens_last_minute(self, now: float) -> float:
        return self.token_window.used(now) if self.token_window is not None else 0.0

    # --- the gate's callbacks ----------------------------------------------------------

    def _ensure_buckets(self, now: float) -> None:
        if self.request_bucket is not None:
            return
        per_second = self.requests.rate / 60.0
        # Start as if a request had just gone out: the capacity's sliver is for timer
        # slack later, not an extra request at the start.
        capacity = _request_capacity(per_second)
        self.request_bucket = LeakyBucket(per_second, capacity, now=now, level=capacity - 1.0)
        if self.tokens is not None:
            rate = self.tokens.rate
            self.token_bucket = LeakyBucket(rate / 60.0, rate / 60.0 * self.token_burst, now=now)

    def _delay(self, waiter: Waiter, now: float) -> float:
        if self.in_flight >= self.max_concurrent:
            return math.inf  # a release nudges the queue
        reachable = self.health.delay(now, self.in_flight)
        if reachable > 0:
            return reachable
        assert self.request_bucket is not None
        limit = max(1.0, math.floor(self.requests.cap() + 1e-9))
        paced = max(self.request_bucket.delay(1.0, now), self.request_window.delay(1.0, limit, now))
        if paced > 0:
            waiter.held_by.add("requests")
        if self.tokens is not None and self.token_bucket is not None and self.token_window is not None:
            tokens = max(self.token_bucket.delay(self._token_charge(waiter.tokens), now),
                         self.token_window.delay(waiter.tokens, self.tokens.cap(), now))
            if tokens > 0:
                waiter.held_by.add("tokens")
            paced = max(paced, tokens)
        return max(self.paused_until - now, paced)

    def _admit(self, waiter: Waiter, now: float) -> None:
        assert self.request_bucket is not None
        if self.started is None:
            self.started = now
        self.in_flight += 1
        self.health.admitted()
        self.request_bucket.add(1.0, now)
        permit = Permit(estimate=int(waiter.tokens), charged=0.0, sent_at=now, rate_bound=False, model=waiter.key,
                        request_entry=self.request_window.add(1.0, now))
        if self.token_bucket is not None and self.token_window is not None:
            permit.charged = self._token_charge(waiter.tokens)
            self.token_bucket.add(permit.charged, now)
            permit.token_entry = self.token_window.add(waiter.tokens, now)
        waiter.ticket = permit

    def _undo(self, waiter: Waiter) -> None:
        # Admitted just as its task was cancelled: it never went out.
        permit: Permit = waiter.ticket
        now = asyncio.get_running_loop().time()
        self.uncount(permit, now)
        assert self.request_bucket is not None
        self.request_bucket.add(-1.0, now)
        self.in_flight -= 1
        self.gate.nudge()

    def _token_charge(self, tokens: float) -> float:
        assert self.token_bucket is not None
        share = self.token_bucket.capacity / max(1, min(2, self.max_concurrent))
        return min(tokens, share)


def _request_capacity(per_second: float) -> float:
    # One request plus a sliver: the sliver (at most one request, worth 50 ms of rate)
    # absorbs timer lateness, which would otherwise be lost on every request and make
    # the achieved rate fall short at high rates.  The per-minute ledger keeps it from
    # ever adding up to more than the limit.
    return 1.0 + min(1.0, per_second * 0.05)

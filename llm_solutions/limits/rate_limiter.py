"""One provider's rate limiter: requests and tokens per minute, concurrency, health.

A ``ProviderLimiter`` is shared by every model that uses the same provider and key, since
that is what providers throttle.  ``acquire`` waits until a request may go out
(``admission.py``: concurrency, reachability, pause, even pace, the per-minute ledger,
tokens); the ``record_*`` methods learn from how it went:

* a 429 is read for what it shows (``signals.py``): quota headers at zero mean our limit
  was hit; room left, or an overloaded server, mean it was not, and cost the rate only a
  little (no pause, no limit learned); with nothing to go on, the limiter's own records
  decide (``evidence.py``: was the server accepting far less than we sent?).  A limit
  that was hit pauses the provider for the server's hint and sets the rate just under
  the limit the evidence points to (``control.py``);
* a success raises the rate back when the rate is what held requests back, settles the
  request's tokens against its real usage, and reads the quota headers: a nearly empty
  bucket that states its size sets the limit before any 429 (``quota.py``);
* connection failures in a row hold the queue while one request probes the server, and
  stop its models if it stays unreachable (``health.py``).

Each rate change is logged with its cause, one line at INFO (rises below the cap at
DEBUG).  All waiting is on asyncio futures and timers of the running loop, so it never
blocks the loop, is cancellable, and runs unchanged on a virtual-time loop in tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager

from llm_solutions.errors import ProviderError, RateLimitError, RequestTimeoutError
from llm_solutions.headers import lowered, quota_windows, retry_delay
from llm_solutions.limits.admission import Admission, Permit
from llm_solutions.limits.control import SOFT_CUT, UNEXPLAINED_CUT, RateController
from llm_solutions.limits.evidence import Outcomes, weigh
from llm_solutions.limits.gate import Waiter
from llm_solutions.limits.health import GIVE_UP_AFTER, ProviderHealth
from llm_solutions.limits.quota import SecondOpinion, advise
from llm_solutions.limits.reservation import TokenReservations
from llm_solutions.limits.signals import read_429, read_failure
from llm_solutions.limits.snapshot import LimiterSnapshot
from llm_solutions.models.base import Completion
from llm_solutions.models.failures import ConnectionFailedError, one_line

log = logging.getLogger(__name__)

__all__ = ["LimiterSnapshot", "Permit", "ProviderLimiter"]


class ProviderLimiter:
    """Rate limits for one provider and key; see the module docstring for how it works.

    ``rpm`` is the ceiling the adaptive rate never exceeds, ``tpm`` tokens per minute
    (``None`` or 0: no token limit), ``max_concurrent`` requests in flight.  ``margin`` is
    kept under every limit; ``token_burst`` is how many seconds of tokens may go at once;
    ``token_accounting`` says what the provider counts against
    its token limit (``models.config.TOKEN_ACCOUNTING``); ``target`` names the server in
    messages; ``give_up_after`` is how long an unreachable server is probed before its
    models are stopped.  ``wall_clock`` (epoch seconds) reads reset times given as dates.
    """

    def __init__(
        self,
        name: str,
        rpm: float,
        tpm: float | None = None,
        max_concurrent: int = 16,
        *,
        margin: float = 0.01,
        token_burst: float = 4.0,
        default_pause: float = 1.0,
        max_pause: float = 120.0,
        token_accounting: str = "usage",
        target: str | None = None,
        give_up_after: float = GIVE_UP_AFTER,
        window_seconds: float = 2.0,
        probe_after: float = 30.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if rpm <= 0 or max_concurrent <= 0:
            raise ValueError(f"{name}: rpm and max_concurrent must be positive")
        self.name = name
        self.ceiling = float(rpm)
        self.tpm = float(tpm) if tpm else None
        self.max_concurrent = max_concurrent
        options = {"margin": margin, "window": window_seconds, "probe_after": probe_after}
        self.requests = RateController(self.ceiling, **options)
        self.tokens = RateController(self.tpm, **options) if self.tpm else None
        self._health = ProviderHealth(name, target, give_up_after=give_up_after, wall_clock=wall_clock)
        self._admission = Admission(self.requests, self.tokens, self._health, max_concurrent=max_concurrent,
                                    token_burst=token_burst)
        self._default_pause = default_pause
        self._max_pause = max_pause
        self._wall = wall_clock
        self._outcomes = Outcomes()
        self._reservations = TokenReservations(token_accounting)
        self._second_opinion = SecondOpinion()
        self._pace_until = 0.0
        self._pace_timer: asyncio.TimerHandle | None = None
        self._last_now = 0.0

    # --- admission -------------------------------------------------------------------

    def reservation(self, model: str | None, prompt_tokens: int, max_tokens: int) -> int:
        """Tokens to reserve for a request: the prompt plus what the answer will count."""
        return self._reservations.reserve(model, prompt_tokens, max_tokens)

    async def acquire(self, estimate: int = 1, *, model: str | None = None) -> Permit:
        """Wait until a request reserving ``estimate`` tokens may go out; pair with ``release``.

        Raises ``ProviderDownError`` once the server has been unreachable for too long.
        """
        if self._health.error is not None:
            raise self._health.error
        return await self._admission.enter(Waiter(tokens=float(estimate), key=model), self._now())

    def release(self, permit: Permit) -> None:
        """Free the permit's concurrency slot (idempotent)."""
        self._admission.leave(permit)

    @asynccontextmanager
    async def permit(self, estimate: int = 1, *, model: str | None = None) -> AsyncIterator[Permit]:
        """``async with limiter.permit(tokens) as permit:`` around one request."""
        permit = await self.acquire(estimate, model=model)
        try:
            yield permit
        finally:
            self.release(permit)

    def abandon(self, model: str, error: BaseException) -> int:
        """Make ``model``'s queued requests raise ``error`` now (its model was stopped)."""
        return self._admission.gate.fail(lambda waiter: waiter.key == model, error)

    def abandon_all(self, error: BaseException) -> int:
        """Make every queued request raise ``error`` now (the whole run is stopping)."""
        return self._admission.gate.fail(lambda waiter: True, error)

    # --- feedback --------------------------------------------------------------------

    def record_success(self, permit: Permit, completion: Completion) -> None:
        """Settle the permit's tokens, learn the answer's size, read quota headers, and
        count towards a speed-up."""
        now = self._now()
        self._health.reached(now)
        self._outcomes.note(now, accepted=True)
        used = completion.input_tokens + completion.output_tokens
        if used > 0:
            self._admission.settle_tokens(permit, self._reservations.counted(permit.estimate, used), now)
            self._reservations.learn(permit.model, completion)
        self._observe_quota(completion.headers, now)
        if permit.rate_bound and permit.sent_at > self.requests.last_cut:
            self._log_rise("requests", self.requests.success(now))
        if self.tokens is not None and permit.token_bound and permit.sent_at > self.tokens.last_cut:
            self._log_rise("tokens", self.tokens.success(now))
        self._admission.retune(now)

    def record_error(self, permit: Permit, error: ProviderError) -> float:
        """Learn from a failed request; returns the pause (seconds) it put on the provider."""
        now = self._now()
        if isinstance(error, ConnectionFailedError):
            self._admission.uncount(permit, now)
            self._health.failed(now, error.reason)
            if self._health.error is not None:
                self._admission.gate.fail(lambda waiter: True, self._health.error)
            self._admission.gate.nudge()
            return 0.0
        if isinstance(error, RequestTimeoutError) and error.status is None:
            self._health.ended()  # no answer: says nothing about reachability
            self._admission.gate.nudge()
            return 0.0
        self._health.reached(now)
        if isinstance(error, RateLimitError):
            return self.record_rate_limit(permit, error)
        self._outcomes.note(now, accepted=True)
        billed = error.completion
        counted = (billed.input_tokens + billed.output_tokens) if billed is not None else permit.estimate
        self._admission.settle_tokens(permit, counted, now)
        if read_failure(error) == "overload" and permit.sent_at > self.requests.last_cut:
            change = self.requests.cut(now, SOFT_CUT)
            log.info("%s: server overloaded (%s); rate %s; not a limit of ours", self.name, _short(error), change)
        self._admission.retune(now)
        return 0.0

    def record_rate_limit(self, permit: Permit, error: RateLimitError) -> float:
        """Read a 429 and act on it; returns the pause (seconds) it put on the provider."""
        now = self._now()
        headers = lowered(error.headers)
        wall = self._wall()
        signal = read_429(error, quota_windows(headers, wall), max(0, self._admission.in_flight - 1))
        self._admission.uncount(permit, now)  # a refused request never counted
        self._outcomes.note(now, accepted=False)
        hint = error.retry_after if error.retry_after is not None else retry_delay(headers, wall)
        control, dimension, window = self.requests, "requests", self._admission.request_window
        if signal.dimension == "tokens" and self.tokens is not None and self._admission.token_window is not None:
            control, dimension, window = self.tokens, "tokens", self._admission.token_window
        echo = permit.sent_at <= control.last_cut  # sent before the last cut: the same event
        waits = f"the request waits {hint:.1f} s" if hint is not None else "no retry hint"
        if signal.kind in ("room", "overload"):
            # Not our rate: the request backs off on its own.  Only an overloaded server,
            # or refusals of many requests, cost the rate a little.
            share = self._outcomes.accepted_share(now)
            if signal.kind == "room" and (share is None or share >= 0.8):
                log.info("%s: 429 though the quota headers show room (%s); rate kept; %s", self.name,
                         _short(error), waits)
            elif not echo:
                change = self.requests.cut(now, SOFT_CUT)
                self._admission.retune(now)
                why = "the quota headers show room" if signal.kind == "room" else "the server is overloaded"
                log.info("%s: 429 but %s (%s); rate %s; %s", self.name, why, _short(error), change, waits)
            return 0.0
        evidence = weigh(window, self._outcomes, started=self._admission.started or now, now=now, hint=hint,
                         exhausted=signal.exhausted, requests=dimension == "requests",
                         hit=signal.kind == "limit" or control.probing)
        if not evidence.ours:
            if not echo:
                change = self.requests.cut(now, UNEXPLAINED_CUT)
                self._admission.retune(now)
                log.info("%s: lone 429 (%s; %s); rate %s; %s", self.name, _short(error), evidence.notes, change,
                         waits)
            return 0.0
        pause = min(self._max_pause, hint if hint is not None else self._default_pause)
        cut = None if echo else control.cut_to_limit(now, evidence.estimate)
        extended = self._admission.pause(now, pause)
        self._admission.retune(now)
        if cut or extended:
            source = "the server's hint" if hint is not None else "no hint, default"
            log.info("%s: 429, %s limit hit (%s); %s rate %s; pausing %.1f s (%s)", self.name, dimension,
                     evidence.notes, dimension, cut or "unchanged (same event)", pause, source)
        log.debug("%s: 429 in full: %s; headers %s", self.name, error,
                  {k: v for k, v in headers.items() if "ratelimit" in k or "retry" in k})
        return pause

    def _observe_quota(self, headers: Mapping[str, str], now: float) -> None:
        """Slow down before a 429 when the quota headers say little is left."""
        windows = quota_windows(lowered(headers), self._wall()) if headers else []
        if not windows:
            return
        average = self._reservations.average
        advice = advise(windows, in_flight=max(0, self._admission.in_flight - 1), units=average,
                        rate_rpm=self.requests.rate)
        for stated in advice.stated:
            if not self._second_opinion.agrees(stated, now):
                continue
            control, per_minute = (self.tokens, stated.per_minute) if stated.dimension == "tokens" else (
                self.requests, stated.per_minute)
            if control is None:  # a token bucket and no token limit here: count it in requests
                control, per_minute = self.requests, per_minute / max(1.0, average.get("tokens", 0.0))
            change = control.lower_to(now, min(per_minute, control.ceiling))
            if change:
                log.info("%s: %s rate %s", self.name, stated.dimension, change)
        if advice.wait and self._admission.pause(now, min(advice.wait, self._max_pause)):
            log.log(logging.INFO if advice.wait >= 1.0 else logging.DEBUG,
                    "%s: quota nearly used up, pausing %.1f s", self.name, advice.wait)
        if advice.pace is not None:
            self._admission.pace = advice.pace
            self._pace_until = now + advice.pace_for
            if self._pace_timer is not None:
                self._pace_timer.cancel()
            self._pace_timer = asyncio.get_running_loop().call_at(self._pace_until, self._end_pace)

    def _end_pace(self) -> None:
        self._admission.pace = None
        self._admission.retune(self._now())

    def _log_rise(self, dimension: str, rose: tuple[str, bool] | None) -> None:
        if rose is None:
            return
        change, at_cap = rose
        if at_cap:
            log.info("%s: %s rate %s: back at its cap", self.name, dimension, change)
        else:
            log.debug("%s: %s rate %s", self.name, dimension, change)

    def _now(self) -> float:
        try:
            self._last_now = asyncio.get_running_loop().time()
        except RuntimeError:
            pass  # a snapshot taken after the loop ended: as of the last thing that happened
        return self._last_now

    # --- reporting -------------------------------------------------------------------

    @property
    def rate(self) -> float:
        """The adaptive request rate (per minute), before any header pacing."""
        return self.requests.rate

    @property
    def in_flight(self) -> int:
        return self._admission.in_flight

    @property
    def down(self) -> bool:
        """True while the server cannot be reached (or has been given up on)."""
        return self._health.down

    def snapshot(self) -> LimiterSnapshot:
        """The current state, for a progress line."""
        now = self._now()
        admission = self._admission
        rate = self.requests.rate
        if admission.pace is not None:
            rate = min(rate, admission.pace * 60.0)
        return LimiterSnapshot(
            name=self.name, rate=rate, ceiling=self.ceiling, in_flight=admission.in_flight,
            max_concurrent=self.max_concurrent, tokens_last_minute=int(admission.tokens_last_minute(now)),
            tpm=self.tpm, pause_remaining=max(0.0, admission.paused_until - now), limit=self.requests.limit,
            state=self._health.state, queued=len(admission.gate),
        )

    def __repr__(self) -> str:
        return f"<ProviderLimiter {self.name} {self.requests.rate:.0f}/{self.ceiling:.0f} per min>"


def _short(error: ProviderError) -> str:
    return one_line(error.message or "", 160)

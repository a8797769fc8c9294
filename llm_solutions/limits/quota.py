"""What the remaining-quota headers of a successful answer mean for the next requests.

A response that says how much of a rate-limit bucket is left lets the limiter slow down
before the provider answers 429.  ``advise`` turns the buckets one response describes
(``headers.quota_windows``) into advice:

* ``stated``: the sustainable rate the provider's numbers state, per dimension, for a
  bucket that is nearly empty and gives its size: it will hold ``limit`` again after
  ``reset``, so ``limit / reset`` is its rate (exact for a sliding window, whose reset is
  when its newest entry expires; a few percent high for a token bucket, which a 429
  then corrects).  A reset under a second is rounding-sized (``200ms`` with 150 used
  would claim 45,000/min), so such a reading is marked ``short`` and the limiter uses it
  only when another reading agrees;
* ``pace``: for a bucket without a stated size, the speed that makes what is left last
  until the reset, when the current rate would use it up sooner;
* ``wait``: seconds to send nothing, when not even the next request fits.

Only nearly empty buckets give advice: for a nearly full one the few missing units over
a rounded reset time say little, and there is nothing to slow down for.  Token buckets
Anthropic splits into input and output are turned into requests by the average size of
a request in that dimension; a bucket of all tokens is advice for the token limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from llm_solutions.headers import QuotaWindow

# A bucket with a stated size counts as nearly empty below this share of it (or below
# one request, for small buckets).
LOW_SHARE = 0.05
# Resets shorter than this need a second opinion before they set a rate.
SHORT_RESET = 1.0


@dataclass(frozen=True)
class Stated:
    """A rate (per minute) a nearly empty bucket states, in ``dimension``'s units."""

    dimension: str
    per_minute: float
    short: bool


@dataclass(frozen=True)
class QuotaAdvice:
    """``stated`` rates; ``pace`` requests per second until ``pace_for`` seconds from now;
    ``wait`` seconds to send nothing.  Empty when there is nothing to say."""

    stated: list[Stated] = field(default_factory=list)
    pace: float | None = None
    pace_for: float = 0.0
    wait: float = 0.0

    @property
    def empty(self) -> bool:
        return not self.stated and self.pace is None and not self.wait


def advise(
    windows: list[QuotaWindow], *, in_flight: int, units: Mapping[str, float], rate_rpm: float
) -> QuotaAdvice:
    """Advice from the buckets of one response.

    ``in_flight`` is how many other requests were sent before this answer came back (they
    will use quota the numbers do not show yet), ``units`` the average size of a request
    in each dimension (``requests`` is 1), ``rate_rpm`` the rate we are sending at.
    """
    stated: list[Stated] = []
    pace: float | None = None
    pace_for = 0.0
    wait = 0.0
    for window in windows:
        unit = 1.0 if window.dimension == "requests" else units.get(window.dimension, 0.0)
        if unit <= 0 or not window.reset:
            continue
        spare = window.remaining - in_flight * unit
        if window.limit and window.limit > window.remaining:
            if spare > max(unit, LOW_SHARE * window.limit):
                continue
            per_second = window.limit / window.reset
            short = window.reset < SHORT_RESET
            if window.dimension in ("requests", "tokens"):
                stated.append(Stated(window.dimension, per_second * 60.0, short))
            else:
                stated.append(Stated("requests", per_second / unit * 60.0, short))
            if spare < unit and not short:
                # Not even the next request fits: wait for one request's worth to refill.
                wait = max(wait, unit / per_second)
            continue
        # No bucket size: spread what is left over the time until the reset, when the
        # current rate would use it up sooner.
        per_second = max(spare, 0.0) / window.reset / unit
        if per_second * 60.0 >= rate_rpm:
            continue
        if spare < unit:
            wait = max(wait, window.reset)
            continue
        pace = per_second if pace is None else min(pace, per_second)
        pace_for = max(pace_for, window.reset)
    return QuotaAdvice(stated=stated, pace=pace, pace_for=pace_for, wait=wait)


class SecondOpinion:
    """Whether a stated rate can be used: a reading from a sub-second reset only when the
    previous reading of the same dimension (within 30 s) said about the same."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, float]] = {}

    def agrees(self, stated: Stated, now: float) -> bool:
        last = self._last.get(stated.dimension)
        self._last[stated.dimension] = (now, stated.per_minute)
        if not stated.short:
            return True
        return last is not None and now - last[0] <= 30.0 and 1 / 1.5 <= stated.per_minute / last[1] <= 1.5

"""What the remaining-quota headers mean for the next requests.

A response that says how much of a rate-limit bucket is left lets the limiter slow down
before the provider answers 429.  ``advise`` turns the buckets a response describes
(``headers.quota_windows``) into three pieces of advice, all in requests:

* the rate the provider's own numbers say is sustainable, when it states its bucket
  size: a reset is when the bucket is full again, so ``(limit - remaining) / reset`` is
  its refill rate (exact for the token buckets OpenAI and Anthropic use; the recent rate
  for a sliding window);
* a pace to space requests out to, until the reset;
* a wait, when nothing is left for the next request.

Only buckets that are nearly empty give advice: for a nearly full one the few missing
units over a rounded reset time say little, and there is nothing to slow down for.  Token
buckets are turned into requests by the average tokens per answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llm_solutions.headers import QuotaWindow

# A bucket with a stated size counts as nearly empty below this share of it (or below
# one request, for small buckets).
LOW_SHARE = 0.05


@dataclass(frozen=True)
class QuotaAdvice:
    """``stated_rpm``: sustainable requests per minute per the provider's numbers;
    ``pace``: requests per second to stay under until ``pace_for`` seconds from now;
    ``wait``: seconds to send nothing.  ``None``/0 when there is nothing to say."""

    stated_rpm: float | None = None
    pace: float | None = None
    pace_for: float = 0.0
    wait: float = 0.0

    @property
    def empty(self) -> bool:
        return self.stated_rpm is None and self.pace is None and not self.wait


def advise(
    windows: list[QuotaWindow], *, in_flight: int, units: Mapping[str, float], rate_rpm: float
) -> QuotaAdvice:
    """Advice from the buckets of one response.

    ``in_flight`` is how many other requests were sent before this answer came back (they
    will use quota the numbers do not show yet), ``units`` the average size of a request
    in each dimension (``requests`` is 1), ``rate_rpm`` the rate we are sending at.
    """
    stated: list[float] = []
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
            per_second = (window.limit - window.remaining) / window.reset / unit
            stated.append(per_second * 60.0)
            if spare < unit:
                wait = max(wait, (unit - spare) / unit / per_second)
        else:
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
    return QuotaAdvice(stated_rpm=min(stated) if stated else None, pace=pace, pace_for=pace_for, wait=wait)

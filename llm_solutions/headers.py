"""Read providers' rate-limit headers: how long to wait, and how much quota is left.

This module sits below both the provider modules (which turn a failed response into an
error carrying the server's wait hint) and the rate limiter (which paces by the quota
headers), so neither depends on the other.

Providers spell the same two facts many ways:

* how long to back off after a 429: ``retry-after`` (seconds, or an HTTP date),
  ``retry-after-ms``, or the reset time of the exhausted bucket;
* how much is left before a 429: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``
  (OpenAI and most OpenAI-compatible servers; resets are Go-style durations such as
  ``6m0s``, ``1.5s`` or ``20ms``, read by ``durations.parse_duration``),
  ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``
  (resets are RFC 3339 timestamps) and the
  unsuffixed ``x-ratelimit-{limit,remaining,reset}`` (OpenRouter, whose reset is an epoch
  time in milliseconds).

OpenAI-compatible proxies pass the upstream provider's headers on under a prefix
(LiteLLM: ``llm_provider-retry-after``, ``llm_provider-x-ratelimit-remaining-requests``)
and may add their own unprefixed ones.  Both are read: a retry hint is the longest of
them, and every bucket either describes is a bucket to respect.

Everything here is a pure function of the headers and the current wall-clock time, so the
limiter and the retry code read headers the same way and tests need no clock.  Header names
are expected in lower case, as ``ProviderError.headers`` stores them; ``lowered`` makes
any mapping so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from llm_solutions.durations import parse_duration

# Bare numbers this large are epoch times rather than delays: no provider asks for a
# ten-year pause, and epoch seconds have been above 1e9 since 2001.
_EPOCH_SECONDS = 1e9
_EPOCH_MILLISECONDS = 1e12

# Prefixes under which proxies forward the upstream provider's headers.
PROXY_PREFIXES = ("llm_provider-",)

# (dimension, header prefix, header suffix): the header is prefix + field + suffix with
# field in limit/remaining/reset.  The dimension says what the numbers count.
_QUOTA_FAMILIES = (
    ("requests", "x-ratelimit-", "-requests"),
    ("tokens", "x-ratelimit-", "-tokens"),
    ("requests", "anthropic-ratelimit-requests-", ""),
    ("tokens", "anthropic-ratelimit-tokens-", ""),
    ("input_tokens", "anthropic-ratelimit-input-tokens-", ""),
    ("output_tokens", "anthropic-ratelimit-output-tokens-", ""),
    ("requests", "x-ratelimit-", ""),
)


@dataclass(frozen=True)
class QuotaWindow:
    """What a response says about one rate-limit bucket.

    ``dimension`` is ``requests`` or a kind of tokens; ``remaining`` is what is left now;
    ``limit`` the bucket's size when the provider says it; ``reset`` the seconds until the
    bucket is full again (``None`` when not given).
    """

    dimension: str
    remaining: float
    limit: float | None
    reset: float | None

    @property
    def exhausted(self) -> bool:
        return self.remaining <= 0


def lowered(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> dict[str, str]:
    """The headers as a plain dict with lower-case names (HTTP names are case-insensitive).

    Takes any mapping (an SDK's header object included) or a list of name/value pairs.
    """
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers
    return {str(name).lower(): str(value) for name, value in items}


def parse_timestamp(value: str, now: float) -> float | None:
    """Seconds from ``now`` (epoch) until an RFC 3339 or HTTP-date time; never negative."""
    text = value.strip()
    when: datetime | None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when is None:
        return None
    if when.tzinfo is None:
        # Both formats mean UTC when they carry no offset (HTTP dates always do).
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def parse_reset(value: str, now: float) -> float | None:
    """Seconds until a reset given as a duration, a delay, an epoch time or a timestamp."""
    seconds = parse_duration(value)
    if seconds is not None:
        if seconds >= _EPOCH_MILLISECONDS:
            return max(0.0, seconds / 1000.0 - now)
        if seconds >= _EPOCH_SECONDS:
            return max(0.0, seconds - now)
        return seconds
    return parse_timestamp(value, now)


def parse_retry_after(value: str, now: float) -> float | None:
    """The ``retry-after`` header: delay seconds or an HTTP date (RFC 9110)."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return parse_timestamp(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def quota_windows(headers: Mapping[str, str], now: float) -> list[QuotaWindow]:
    """Every bucket the headers describe that states a remaining amount (proxied ones too)."""
    windows = []
    for proxy in ("", *PROXY_PREFIXES):
        for dimension, family, suffix in _QUOTA_FAMILIES:
            prefix = proxy + family
            remaining = _number(headers.get(f"{prefix}remaining{suffix}"))
            if remaining is None:
                continue
            reset_text = headers.get(f"{prefix}reset{suffix}")
            windows.append(
                QuotaWindow(
                    dimension=dimension,
                    remaining=max(0.0, remaining),
                    limit=_number(headers.get(f"{prefix}limit{suffix}")),
                    reset=parse_reset(reset_text, now) if reset_text else None,
                )
            )
    return windows


def _explicit_hint(headers: Mapping[str, str], now: float) -> float | None:
    """The longest ``retry-after-ms``/``retry-after`` wait, plain or under a proxy prefix."""
    hints = []
    for proxy in ("", *PROXY_PREFIXES):
        found: float | None = None
        millis = _number(headers.get(f"{proxy}retry-after-ms"))
        if millis is not None and millis >= 0:
            found = millis / 1000.0
        elif f"{proxy}retry-after" in headers:
            found = parse_retry_after(headers[f"{proxy}retry-after"], now)
        if found is not None:
            hints.append(found)
    return max(hints) if hints else None


def retry_delay(headers: Mapping[str, str], now: float, *, resets: bool = True) -> float | None:
    """How long the server asks us to wait, in seconds, or ``None`` when it does not say.

    An explicit ``retry-after-ms`` or ``retry-after`` wins (a proxy's forwarded copy
    too: the longest of them).  Otherwise (unless ``resets``
    is false: reset times explain a 429, not a 500 that happens to carry them) the reset time of
    the exhausted bucket is the wait (when several are exhausted, the longest, since every
    one must refill); with no bucket marked exhausted, the shortest reset is the best guess
    because refilling any bucket may be enough.
    """
    explicit = _explicit_hint(headers, now)
    if explicit is not None:
        return explicit
    if not resets:
        return None
    windows = [(w.exhausted, w.reset) for w in quota_windows(headers, now) if w.reset is not None]
    exhausted = [reset for is_exhausted, reset in windows if is_exhausted]
    if exhausted:
        return max(exhausted)
    if windows:
        return min(reset for _, reset in windows)
    return None


def retry_after(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds a failed response asks us to wait per ``retry-after-ms`` or ``retry-after``.

    Reset times are not read: they explain a 429, and the caller decides what a response is.
    """
    return retry_delay(lowered(headers), time.time() if now is None else now, resets=False)

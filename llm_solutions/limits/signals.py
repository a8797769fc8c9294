"""What a failed request says about the provider's limits.

Not every 429 means "you are sending too fast".  Providers also answer 429 when their
shared capacity is short, proxies pass upstream 429s on, and servers send 529/503 when
overloaded.  Cutting the rate for those drives it to the floor for no reason, so a 429
is read for what it shows:

* ``limit``: the quota headers that came with it show a bucket at zero: our limit was
  hit (in ``dimension``: requests, or tokens when only token buckets are empty);
* ``room``: the quota headers show room in every bucket: the 429 is not about our rate;
* ``overload``: the server says it is overloaded (its words, or 529/503);
* ``unknown``: no headers to go on; the limiter weighs its own evidence (how much the
  server accepted lately against what was sent).

The message decides the dimension when the headers cannot ("tokens per min", "input
tokens" on OpenAI's and Anthropic's 429s).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from llm_solutions.errors import ProviderError, RateLimitError, TransientError
from llm_solutions.headers import QuotaWindow

_OVERLOAD_WORDS = re.compile(r"overloaded|over capacity|server is busy|capacity (is )?(currently )?(un)?available|"
                             r"too busy|temporarily unavailable", re.IGNORECASE)
_TOKEN_WORDS = re.compile(r"\btokens? per (min|minute)|\b[io]?tpm\b|input[_ ]tokens|output[_ ]tokens",
                          re.IGNORECASE)
_REQUEST_WORDS = re.compile(r"requests? per (min|minute)|\brpm\b", re.IGNORECASE)

TOKEN_DIMENSIONS = ("tokens", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class Signal:
    """How to read one failure; ``exhausted`` are the buckets the headers show at zero."""

    kind: str
    dimension: str = "requests"
    exhausted: list[QuotaWindow] = field(default_factory=list)


def _dimension(message: str, exhausted: list[QuotaWindow]) -> str:
    if exhausted:
        if any(w.dimension == "requests" for w in exhausted):
            return "requests"
        return "tokens"
    if _TOKEN_WORDS.search(message) and not _REQUEST_WORDS.search(message):
        return "tokens"
    return "requests"


def is_overload(error: ProviderError) -> bool:
    """A server short of capacity (529, 503, or its words), not a limit of ours."""
    return error.status in (503, 529) or bool(_OVERLOAD_WORDS.search(error.message or ""))


def read_429(error: RateLimitError, windows: list[QuotaWindow], in_flight: int) -> Signal:
    """Read a 429 with the buckets its headers describe; ``in_flight`` other requests are
    out and not yet counted in them."""
    message = error.message or ""
    if _OVERLOAD_WORDS.search(message):
        return Signal("overload", _dimension(message, []))
    # A bucket with less than one request's worth left (after those still in flight)
    # is exhausted for our purposes; a token bucket needs real room for one request.
    exhausted = [w for w in windows if w.remaining <= 0 or (w.dimension == "requests" and w.remaining < 1)]
    if exhausted:
        return Signal("limit", _dimension(message, exhausted), exhausted)
    if windows:
        requests = [w for w in windows if w.dimension == "requests"]
        if any(w.remaining <= in_flight for w in requests):
            # Room only for what is already out: about to run out, so ours.
            return Signal("limit", "requests", [w for w in requests if w.remaining <= in_flight])
        return Signal("room", _dimension(message, []))
    return Signal("unknown", _dimension(message, []))


def read_failure(error: ProviderError) -> str | None:
    """``"overload"`` for a server short of capacity, else ``None`` (nothing about limits)."""
    if isinstance(error, TransientError) and is_overload(error):
        return "overload"
    return None

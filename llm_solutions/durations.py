"""Durations written as text, read one way everywhere.

Providers and users write the same thing many ways: OpenAI's reset headers use Go-style
durations (``6m0s``, ``1.5s``, ``20ms``), Gemini's ``RetryInfo`` protobuf durations
(``37s``), and users write cache lifetimes as ``90m``, ``12h``, ``7d`` or plain seconds.
``parse_duration`` reads all of them: one or more ``<number><unit>`` parts (units ``ns``,
``us``/``µs``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``), or a bare number of seconds.
It imports nothing from the package, so the rate limiter, the provider modules and the
settings can all use it without depending on each other.
"""

from __future__ import annotations

import math
import re

# One duration component: a number and a unit ("1h", "6m", "0.5s", "20ms", "7d").
_PART = re.compile(r"(\d+(?:\.\d+)?)[ \t]*(ms|us|µs|ns|h|m|s|d|w)")
_UNIT_SECONDS = {
    "w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0,
    "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9,
}


def parse_duration(value: str) -> float | None:
    """Seconds in ``value``, or ``None`` when it is not a duration (or is negative).

    ``"6m0s"`` is 360, ``"1.5s"`` 1.5, ``"20ms"`` 0.02, ``"7d"`` 604800, ``"12"`` 12.
    """
    text = str(value).strip().lower()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) and number >= 0 else None
    position, total = 0, 0.0
    for match in _PART.finditer(text):
        if text[position:match.start()].strip():
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position == 0 or text[position:].strip():
        return None
    return total if math.isfinite(total) else None

"""What a provider's limiter looks like right now, for progress lines and reports."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LimiterSnapshot:
    """The limiter's state for a progress display.

    ``rate`` and ``ceiling`` are requests per minute (``rate`` includes any slowdown from
    quota headers), ``limit`` the provider's limit when learned, ``tokens_last_minute``
    counts settled usage, ``pause_remaining`` is seconds until requests may go out again
    and ``state`` is ``up``, ``down`` (probing) or ``gone``.
    """

    name: str
    rate: float
    ceiling: float
    in_flight: int
    max_concurrent: int
    tokens_last_minute: int
    tpm: float | None
    pause_remaining: float
    limit: float | None = None
    state: str = "up"
    queued: int = 0

    def describe(self) -> str:
        """``"240/min"``, ``"paused 8s"``, ``"unreachable, probing"`` or ``"stopped: unreachable"``."""
        if self.state == "gone":
            return "stopped: unreachable"
        if self.state == "down":
            return "unreachable, probing"
        if self.pause_remaining > 0:
            return f"paused {math.ceil(self.pause_remaining)}s"
        return f"{self.rate:.0f}/min"

"""A leaky bucket: how evenly requests (or tokens) go out.

The level is what went out recently; it drains at ``per_second``.  An amount may go out
when it fits under ``capacity``, so a capacity of about one request spaces requests
evenly from the very first one, and a larger one allows that much of a burst.

The limiter needs more than "wait until it fits": it changes the rate while tasks wait
(the adaptive rate), hands back what a request did not use (tokens are estimated before
sending and settled after), and asks how long an amount would have to wait without
waiting (to wait on several limits at once in one queue).  Those are a few lines of
arithmetic over a level and a rate, so the bucket is owned here; the waiting is in
``gate.py``.  Everything is a pure function of the time passed in.
"""

from __future__ import annotations


class LeakyBucket:
    """A level that drains at ``per_second`` and admits amounts that fit under ``capacity``."""

    def __init__(self, per_second: float, capacity: float, *, now: float, level: float = 0.0) -> None:
        if per_second <= 0 or capacity <= 0:
            raise ValueError("a bucket needs a positive rate and capacity")
        self.per_second = per_second
        self.capacity = capacity
        self._level = max(0.0, level)
        self._checked = now

    def _drain(self, now: float) -> None:
        if now > self._checked:
            self._level = max(0.0, self._level - (now - self._checked) * self.per_second)
            self._checked = now

    def level(self, now: float) -> float:
        """How full the bucket is at ``now``."""
        self._drain(now)
        return self._level

    def delay(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` fits (0 when it fits now).

        An amount larger than the capacity waits for an empty bucket and then goes: it
        would never fit otherwise.
        """
        self._drain(now)
        over = self._level + min(amount, self.capacity) - self.capacity
        return over / self.per_second if over > 0 else 0.0

    def add(self, amount: float, now: float) -> None:
        """Charge ``amount`` (negative: hand it back); the level never goes below zero."""
        self._drain(now)
        self._level = max(0.0, self._level + amount)

    def retune(self, per_second: float, capacity: float, now: float) -> None:
        """Drain at ``per_second`` and hold ``capacity`` from ``now`` on."""
        if per_second <= 0 or capacity <= 0:
            raise ValueError("a bucket needs a positive rate and capacity")
        self._drain(now)  # up to now at the old rate
        self.per_second = per_second
        self.capacity = capacity

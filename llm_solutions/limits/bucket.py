"""aiolimiter's leaky bucket, made adjustable while tasks wait on it.

``aiolimiter.AsyncLimiter`` is a fair, cancellation-safe leaky bucket: tasks wait on
futures in arrival order and one timer wakes the next.  It has a fixed rate, though, and
the adaptive limiter needs to change the rate (AIMD), to hand back capacity a request did
not use (tokens estimated before sending, settled after) and to keep the bucket closed
for a pause.  All three are small changes to the bucket's level or rate followed by
rescheduling the waiter timer, so they live in this subclass instead of a second limiter
implementation.  It touches aiolimiter's private ``_leak``, ``_level``,
``_rate_per_sec`` and ``_wake_next``, which have been stable since 1.0 (checked against
1.2 and 1.3).
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter


class AdjustableBucket(AsyncLimiter):
    """A leaky bucket whose rate and capacity can change, and whose level can be moved.

    ``capacity`` is the burst size (``max_rate`` in aiolimiter's terms) and ``per_second``
    how fast the level drains.  Waiting tasks are rescheduled at once after any change.
    """

    def __init__(self, per_second: float, capacity: float) -> None:
        super().__init__(max_rate=capacity, time_period=capacity / per_second)

    @property
    def per_second(self) -> float:
        return self._rate_per_sec

    @property
    def capacity(self) -> float:
        return self.max_rate

    @property
    def level(self) -> float:
        """How full the bucket is now (what was acquired and has not drained yet)."""
        self._leak()
        return self._level

    def retune(self, per_second: float, capacity: float) -> None:
        """Change the drain rate and the burst size from now on."""
        # Drain at the old rate up to now first, so the change applies only to the future.
        self._leak()
        self.max_rate = capacity
        self.time_period = capacity / per_second
        self._rate_per_sec = per_second
        self._wake_next()

    def adjust(self, amount: float) -> None:
        """Move the level: a negative amount returns capacity, a positive one charges more."""
        self._leak()
        self._level = max(0.0, self._level + amount)
        self._wake_next()

    def close_for(self, seconds: float, *, exact: bool = False) -> None:
        """Admit nobody for ``seconds``; afterwards admit at the normal rate, without a burst.

        The level is raised to where it drains just enough for one acquisition after
        ``seconds``.  Doing the pause inside the bucket (rather than with a separate gate in
        front of it) matters: tasks already queued here would otherwise keep being admitted
        during the pause and all go out together the moment it ends.  ``exact`` also
        lowers the level, for re-closing after ``retune`` changed how fast it drains.
        """
        self._leak()
        closed_level = self.max_rate - 1 + seconds * self._rate_per_sec
        if exact or closed_level > self._level:
            self._level = max(0.0, closed_level)
            self._wake_next()

    def waiting(self) -> int:
        """How many tasks are queued for capacity."""
        return sum(1 for _, _, future in self._waiters if not future.done())

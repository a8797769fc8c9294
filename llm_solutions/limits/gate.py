"""The queue requests wait in until their provider's limits let them go.

One queue per provider, in arrival order: the first waiter goes as soon as every limit
allows it (concurrency, pause, pace, per-minute ledger, tokens), then the next one is
checked.  A waiter never overtakes another, so a large request is not starved by small
ones.  One timer is armed for the first waiter, at the moment the limiter says it may
go; any change to the limits (a rate change, a finished request, tokens handed back)
``nudge``s the queue to look again.

The limiter supplies two callbacks: ``delay(waiter, now)`` (seconds until the waiter may
go, 0 for now, ``inf`` for "until nudged") and ``admit(waiter, now)`` (charge it), plus
``undo(waiter)`` for a waiter admitted just as its task was cancelled.  Waiting is on an
asyncio future, so it is cancellable and never blocks the loop; time is the loop's clock.
"""

from __future__ import annotations

import asyncio
import collections
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Admitting this early is harmless, and it keeps a timer that rounding fires a hair
# before its time from re-arming itself at the same instant.
_EARLY = 1e-6


@dataclass(eq=False)
class Waiter:
    """One request waiting: its token estimate, whose it is (a model name), what held it
    back, and what the limiter made of it once admitted (``ticket``)."""

    tokens: float
    key: str | None = None
    future: asyncio.Future[None] | None = None
    admitted: bool = False
    held_by: set[str] = field(default_factory=set)
    ticket: Any = None


class Gate:
    """A first-come, first-served queue in front of a provider's limits."""

    def __init__(
        self,
        delay: Callable[[Waiter, float], float],
        admit: Callable[[Waiter, float], None],
        undo: Callable[[Waiter], None],
    ) -> None:
        self._delay = delay
        self._admit = admit
        self._undo = undo
        self._queue: collections.deque[Waiter] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        return sum(1 for w in self._queue if w.future is not None and not w.future.done())

    async def wait(self, waiter: Waiter) -> None:
        """Return once ``waiter`` is admitted (charged); raise what ``fail`` set, if anything."""
        loop = asyncio.get_running_loop()
        if not self._queue and self._delay(waiter, loop.time()) <= _EARLY:
            waiter.admitted = True
            self._admit(waiter, loop.time())
            return
        waiter.future = loop.create_future()
        self._queue.append(waiter)
        if len(self._queue) == 1:
            self._service()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.admitted:
                self._undo(waiter)  # admitted as the cancellation arrived: give it back
            else:
                self._remove(waiter)
            self._service()
            raise

    def nudge(self) -> None:
        """Look at the first waiter again (the limits changed)."""
        self._service()

    def fail(self, matches: Callable[[Waiter], bool], error: BaseException) -> int:
        """Make every waiter ``matches`` picks raise ``error``; how many there were."""
        failed = 0
        for waiter in list(self._queue):
            if matches(waiter) and waiter.future is not None and not waiter.future.done():
                waiter.future.set_exception(error)
                self._remove(waiter)
                failed += 1
        if failed:
            self._service()
        return failed

    def waiting(self, matches: Callable[[Waiter], bool] | None = None) -> list[Waiter]:
        """The waiters still queued (those ``matches`` picks)."""
        return [w for w in self._queue if (matches is None or matches(w))
                and w.future is not None and not w.future.done()]

    def _remove(self, waiter: Waiter) -> None:
        try:
            self._queue.remove(waiter)
        except ValueError:
            pass

    def _service(self, *_: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._queue:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._queue:
            head = self._queue[0]
            if head.future is None or head.future.done():
                self._queue.popleft()  # cancelled or failed
                continue
            wait = self._delay(head, now)
            if wait > _EARLY:
                if math.isfinite(wait):
                    self._timer = loop.call_at(now + wait, self._service)
                return
            self._queue.popleft()
            head.admitted = True
            self._admit(head, now)
            head.future.set_result(None)

"""An event loop on simulated time, so tests of minute-long rate limits take milliseconds.

When every task is waiting on a timer, the loop jumps its clock straight to the next
timer instead of sleeping (and each iteration costs a microsecond, as a real one would).
``asyncio.sleep``, ``asyncio.timeout`` and the limiter's queue all schedule on
``loop.time()``, so code under test runs unchanged, only faster, and the order of events
is deterministic.  Real I/O still works (sockets are polled without
waiting), but a test that waits on I/O only would spin; use real time for those.

    result = run_virtual(some_coroutine())
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# A virtual-time test that waits for nothing at all is stuck: fail instead of hanging.
_DEADLOCK_SECONDS = 5.0
# Each loop iteration costs this much simulated time, as real iterations cost real time.
# Without it, a timer that rounding puts a hair before its target could re-arm itself at
# the same instant forever; with it, time creeps on as it would.
_TICK = 1e-6


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc, valid-type]
    """A selector whose "wait up to N seconds" moves the loop's clock by N instead."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._virtual_loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = super().select(0)
        if events or timeout == 0:
            self._virtual_loop.advance(_TICK)
            return events
        if timeout is None:
            # Nothing scheduled: only I/O (or another thread) can wake us.
            events = super().select(_DEADLOCK_SECONDS)
            if not events:
                raise RuntimeError("virtual-time loop is stuck: no timers, no I/O")
            return events
        self._virtual_loop.advance(timeout)
        return events


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock only moves when everything waits on a timer."""

    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(selector=_JumpingSelector(self))

    def time(self) -> float:
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock forward (the loop does this itself when idle)."""
        self._virtual_now += max(0.0, seconds)


def run_virtual(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

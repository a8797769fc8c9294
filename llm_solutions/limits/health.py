"""Whether a provider's server can be reached, and what to do while it cannot.

A server that refuses connections (stopped, restarting, a proxy gone) fails every
request at once; retrying each queued task on its own would spend all their attempts in
seconds and record them all as failed.  So after a few connection failures in a row the
provider is *down*: its queue holds, and one request at a time probes it (after 1 s,
then 2, 4... up to 15 s apart).  Any answer (even an error) means it is back.  If it
stays down past ``give_up_after`` seconds, it is *gone*: the limiter stops its queued
requests with a ``ProviderDownError`` that names the server and since when, which stops
its models for the session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from llm_solutions.errors import ProviderError

log = logging.getLogger(__name__)

FAILURES_TO_PAUSE = 3
GIVE_UP_AFTER = 120.0
_FIRST_PROBE = 1.0
_MAX_PROBE_GAP = 15.0


class ProviderDownError(ProviderError):
    """The provider's server could not be reached for too long; its models are stopped."""

    kind = "provider_down"
    stops_model = True


class ProviderHealth:
    """Connection failures in a row for one provider, and the probing while it is down.

    ``target`` names the server in messages (a base URL, never a key).
    """

    def __init__(self, name: str, target: str | None, *, failures_to_pause: int = FAILURES_TO_PAUSE,
                 give_up_after: float = GIVE_UP_AFTER, wall_clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._wall = wall_clock
        self.target = target or "its server"
        self.failures_to_pause = failures_to_pause
        self.give_up_after = give_up_after
        self.state = "up"
        self.streak = 0
        self.attempts_failed = 0
        self.probing = False
        self.next_probe = 0.0
        self._gap = _FIRST_PROBE
        self._since: float | None = None  # loop time of the first failure of the streak
        self._since_wall: float | None = None
        self._reason = ""
        self.error: ProviderDownError | None = None

    @property
    def down(self) -> bool:
        return self.state != "up"

    def delay(self, now: float, in_flight: int) -> float:
        """Seconds until a request may go, as far as reaching the server goes."""
        if self.state == "up":
            return 0.0
        if self.probing or in_flight:
            return float("inf")  # one probe at a time; its answer nudges the queue
        return max(0.0, self.next_probe - now)

    def admitted(self) -> None:
        """A request went out; while down, it is the probe."""
        if self.state == "down":
            self.probing = True

    def failed(self, now: float, reason: str) -> None:
        """A request could not reach the server."""
        self.streak += 1
        self.attempts_failed += 1
        self._reason = reason
        if self._since is None:
            self._since, self._since_wall = now, self._wall()
        if self.state == "up":
            if self.streak >= self.failures_to_pause:
                self.state = "down"
                self.next_probe = now + _FIRST_PROBE
                self._gap = _FIRST_PROBE
                log.warning("%s: %s cannot be reached (%s, %d failures in a row); holding its requests and "
                            "probing it one request at a time", self.name, self.target, reason, self.streak)
            return
        self.probing = False
        if now - self._since >= self.give_up_after:
            self.state = "gone"
            self.error = ProviderDownError(self.describe(now), provider=self.name)
            log.error("%s", self.error.message)
            return
        self._gap = min(_MAX_PROBE_GAP, self._gap * 2)
        self.next_probe = now + self._gap

    def ended(self) -> None:
        """A probe ended without saying anything about reachability (a timeout)."""
        self.probing = False

    def reached(self, now: float) -> None:
        """The server answered (success or any HTTP error)."""
        if self.state == "down":
            log.warning("%s: %s answers again after %.0f s", self.name, self.target,
                        now - (self._since if self._since is not None else now))
            self.state = "up"
        self.streak = 0
        self.attempts_failed = 0
        self.probing = False
        self._since = self._since_wall = None

    def describe(self, now: float) -> str:
        """The stop message: which server, since when, how many attempts failed, why."""
        since = time.strftime("%H:%M:%S", time.localtime(self._since_wall)) if self._since_wall else "?"
        lasted = now - self._since if self._since is not None else 0.0
        return (f"{self.name}: cannot reach {self.target} since {since} ({lasted:.0f} s, {self.attempts_failed} "
                f"attempts failed: {self._reason}); its models are stopped for this session, resume once it is back")

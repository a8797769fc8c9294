"""What went out in the last minute: the per-minute ledger a limit is checked against.

Providers state their limits per minute, and some enforce them over a sliding 60 s
window: the 301st request in any 60 s is refused, however evenly the first 300 were
spaced.  A leaky bucket cannot promise that (it allows its capacity on top of a minute's
rate, and a burst after a quiet spell), so the limiter also keeps this ledger and admits
a request only when the last 60 s plus the request stay within the limit.

Entries keep what was sent and what the server counted: a request refused with a 429
never counted, and a token estimate is replaced by the real usage once known.  The same
entries answer the questions the limiter asks after a 429: how much did the server
accept over a given stretch, and how fast were we sending.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass


@dataclass(eq=False, slots=True)  # a fast run holds a minute of these: keep them small
class Entry:
    """One request in the ledger: when it went out, what it was sent as, what counts now."""

    at: float
    sent: float
    amount: float
    live: bool = True


class SlidingWindow:
    """Amounts sent in the last ``span`` seconds (60: providers' limits are per minute)."""

    def __init__(self, span: float = 60.0) -> None:
        self.span = span
        self._entries: collections.deque[Entry] = collections.deque()
        self._total = 0.0

    def _expire(self, now: float) -> None:
        cutoff = now - self.span
        entries = self._entries
        while entries and entries[0].at <= cutoff:
            entry = entries.popleft()
            entry.live = False
            self._total -= entry.amount
        if not entries:
            self._total = 0.0  # no float drift once empty

    def used(self, now: float) -> float:
        """What counts in the last ``span`` seconds."""
        self._expire(now)
        return max(0.0, self._total)

    def delay(self, amount: float, limit: float, now: float) -> float:
        """Seconds until ``amount`` more stays within ``limit`` (0: it does now).

        An amount above the limit goes once the window is empty.
        """
        self._expire(now)
        amount = min(amount, limit)
        excess = self._total + amount - limit
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for entry in self._entries:
            freed += entry.amount
            if freed >= excess - 1e-9:
                return max(0.0, entry.at + self.span - now)
        return max(0.0, self._entries[-1].at + self.span - now) if self._entries else 0.0

    def add(self, amount: float, now: float) -> Entry:
        """Record ``amount`` sent at ``now``."""
        self._expire(now)
        entry = Entry(at=now, sent=amount, amount=amount)
        self._entries.append(entry)
        self._total += amount
        return entry

    def settle(self, entry: Entry, amount: float) -> None:
        """What ``entry`` counts from now on (0 for a refused request, usage for tokens)."""
        if entry.live:
            self._total += amount - entry.amount
        entry.amount = amount

    def counted(self, start: float, end: float, now: float) -> float:
        """What counts among the entries sent in ``[start, end]``."""
        self._expire(now)
        return sum(e.amount for e in self._entries if start <= e.at <= end)

    def sent(self, start: float, end: float, now: float) -> float:
        """What was sent in ``[start, end]``, refused or not."""
        self._expire(now)
        return sum(e.sent for e in self._entries if start <= e.at <= end)

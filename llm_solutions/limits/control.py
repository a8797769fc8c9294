"""The adaptive rate of one limited quantity (requests, or tokens, per minute).

The rate stays under a cap: the configured ceiling, or the provider's real limit once it
is known, less a small margin (1% by default) so that a sliding 60 s window never sees
its limit plus one.  What moves it:

* a 429 that shows the limit was hit, with an estimate of the real limit (from the
  quota headers, or from how much the server accepted over the last minute):
  ``cut_to_limit`` learns that limit and goes straight to just under it.  Without a
  usable estimate the rate halves (a server that accepts nothing teaches no limit), and
  with one above the rate that failed it drops by 30% and learns nothing;
* a 429 that may not be ours (the quota headers show room, an overloaded server, a lone
  429 with nothing to go on): ``cut`` by a small factor, and no limit is learned;
* successes while the rate is what holds requests back: ``success`` raises the rate by
  half (or a tenth of the cap, whichever is more) per two-second window, up to the cap.
  Recovery is multiplicative, so from any low it is back at the cap within seconds of
  the 429s stopping, not after minutes of small steps;
* at a learned limit, after a quiet spell at it (30 s of successes at the cap, doubling
  each time a probe finds the same limit again, up to 10 minutes) the limit is probed:
  raised 1%, 2%, 4%... every 15 s (a sliding 60 s window shows an excess only as it
  fills, so faster steps would run past it before the first 429) until a 429 says where
  it is, or the ceiling is reached and the limit forgotten.  A limit that went away is
  found again within minutes; a real one costs a 429 or two every few minutes.

Each change is returned as a short phrase for the limiter's log line.  Pure: time is
passed in.
"""

from __future__ import annotations

import math

# Growth per window below the cap: by this factor, or by this share of the cap.
_GROWTH = 1.5
_GROWTH_OF_CAP = 0.1
# The share of the rate a 429 with room left on the provider's side costs, and one
# we cannot explain either way.
SOFT_CUT = 0.9
UNEXPLAINED_CUT = 0.8
# Without an estimate of the limit (or with one above the rate that failed).
_HALVE = 0.5
_ROOM_CUT = 0.7
# Probing above a learned limit.
_PROBE_FIRST_STEP = 0.01
_PROBE_EVERY = 15.0
_PROBE_MAX_QUIET = 600.0
# An estimate within this share of the learned limit confirms it.
_SAME_LIMIT = 0.05


class RateController:
    """A rate per minute under ``ceiling`` that 429s lower and successes raise again.

    ``margin`` is kept under any limit; ``floor_share`` of the ceiling is the lowest the
    rate goes; ``window`` is how long successes must hold between increases and
    ``probe_after`` how long to stay at a learned limit before probing above it.
    """

    def __init__(
        self,
        ceiling: float,
        *,
        margin: float = 0.01,
        floor_share: float = 0.02,
        window: float = 2.0,
        probe_after: float = 30.0,
    ) -> None:
        if not ceiling > 0 or not 0 <= margin < 0.5:
            raise ValueError("a rate needs a positive ceiling and a margin under 50%")
        self.ceiling = float(ceiling)
        self.margin = margin
        self.floor = min(self.ceiling, max(1.0, self.ceiling * floor_share))
        self.window = window
        self.limit: float | None = None
        self.rate = self.cap()
        self.last_cut = -math.inf
        self._probe_base = probe_after
        self._probe_after = probe_after
        self._last_limit_event = -math.inf
        self._last_step = -math.inf
        self._at_cap_since: float | None = None
        self._probe_steps = 0
        self._probing_from: float | None = None

    @property
    def probing(self) -> bool:
        """True while the rate is above a learned limit to see whether it still holds."""
        return self._probing_from is not None

    def cap(self) -> float:
        """The highest the rate may be: the ceiling or the learned limit, less the margin."""
        bound = self.ceiling if self.limit is None else min(self.ceiling, self.limit)
        return max(self.floor, bound * (1.0 - self.margin))

    # --- decreases ---------------------------------------------------------------------

    def cut_to_limit(self, now: float, estimate: float | None) -> str:
        """A 429 that hit the limit; ``estimate`` is what the provider sustains, if known."""
        old = self.rate
        if estimate is None or estimate < self.floor:
            # Nothing got through lately: an outage or a quota wall, not a rate to learn.
            self.rate = max(self.floor, self.rate * _HALVE)
            change = "halved (no estimate of the limit)"
        elif estimate * (1.0 - self.margin) <= old * 1.05:
            found = min(estimate, self.ceiling)
            confirmed = self.limit is not None and abs(found - self.limit) <= _SAME_LIMIT * self.limit
            if confirmed and self._probing_from is not None:
                self._probe_after = min(_PROBE_MAX_QUIET, self._probe_after * 2)
            elif not confirmed:
                self._probe_after = self._probe_base
            self.limit = found
            self.rate = min(old, self.cap())
            change = f"limit {found:.0f}/min learned"
        else:
            # The evidence says the provider sustains more than we sent, yet the limit
            # was hit: something else shares it, or the server is refusing for its own
            # reasons.  Back off, but learn no limit from it (that would hold the rate
            # down long after the cause went away).
            self.rate = max(self.floor, old * _ROOM_CUT)
            change = f"limit hit below the estimate {estimate:.0f}/min"
        self.last_cut = self._last_limit_event = now
        self._at_cap_since = None
        self._probe_steps = 0
        self._probing_from = None
        return f"{old:.0f} -> {self.rate:.0f}/min, {change}"

    def cut(self, now: float, factor: float) -> str:
        """A 429 (or overload) that says little about our rate: a small, cautious cut."""
        old = self.rate
        self.rate = max(self.floor, self.rate * factor)
        self.last_cut = now
        self._at_cap_since = None
        return f"{old:.0f} -> {self.rate:.0f}/min"

    def lower_to(self, now: float, stated: float) -> str | None:
        """The provider's numbers (quota headers) state a rate under ours: learn it."""
        if stated * (1.0 - self.margin) >= self.rate * 0.97:
            return None  # within rounding of what we send: nothing to learn
        old = self.rate
        self.limit = min(stated, self.ceiling)
        self.rate = min(old, self.cap())
        self.last_cut = now
        self._at_cap_since = None
        self._probe_after = self._probe_base
        self._probing_from = None
        self._probe_steps = 0
        return f"{old:.0f} -> {self.rate:.0f}/min, limit {self.limit:.0f}/min from the quota headers"

    # --- increases ---------------------------------------------------------------------

    def success(self, now: float) -> tuple[str, bool] | None:
        """A success the rate held back; ``(change, back_at_cap)`` when the rate rose."""
        if now - self.last_cut < self.window:
            return None
        cap = self.cap()
        if self.rate < cap * 0.999:
            if now - self._last_step < self.window:
                return None
            self._last_step = now
            old = self.rate
            self.rate = min(cap, max(old * _GROWTH, old + _GROWTH_OF_CAP * cap))
            at_cap = self.rate >= cap * 0.999
            if at_cap:
                self._at_cap_since = now
            return f"{old:.0f} -> {self.rate:.0f}/min", at_cap
        if self._at_cap_since is None:
            self._at_cap_since = now
        if self.limit is None:
            return None
        quiet = now - max(self._last_limit_event, self._at_cap_since)
        if (self._probing_from is None and quiet < self._probe_after) or now - self._last_step < _PROBE_EVERY:
            return None
        self._last_step = now
        old_limit = self.limit
        if self._probing_from is None:
            self._probing_from = old_limit
        self.limit = old_limit * (1.0 + _PROBE_FIRST_STEP * 2 ** self._probe_steps)
        self._probe_steps += 1
        if self.limit >= self.ceiling:
            self.limit = None
            self._probing_from = None
        old = self.rate
        self.rate = self.cap()
        target = "the ceiling" if self.limit is None else f"{self.limit:.0f}/min"
        return f"{old:.0f} -> {self.rate:.0f}/min, probing above {old_limit:.0f}/min: {target}", False

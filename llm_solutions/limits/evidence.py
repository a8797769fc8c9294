"""Was a 429 ours, and what limit does it point to?

When the quota headers do not settle it (``signals.py``), the limiter's own records do.
A provider that enforces a limit of L per minute accepts about L per minute however fast
we send, so at a 429 ``weigh`` compares:

* what the server accepted over its last minute: when it asks for a wait of ``h`` seconds
  ("nothing more until then"), its window ends ``h`` from now, so what it accepted in the
  minute before that is its limit (exact for a sliding window: 300 accepted in the first
  15 s of a run and a 45 s wait mean 300 per minute, not 1,200);
* with how fast we were sending over the last 10 s;
* and the share of the last 5 s of answers that were not 429s.

Accepted well below sent (under 85%), or most recent requests refused: the 429 was ours,
and the smallest of the estimates (the headers' stated limit, the accepted rate, the
accepted share of the sending rate) is the limit.  A server that accepted nothing lately
is in an outage or behind a quota wall and teaches no rate.  A lone 429 while nearly
everything gets through is not ours to learn from.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from llm_solutions.headers import QuotaWindow
from llm_solutions.limits.quota import SHORT_RESET
from llm_solutions.limits.window import SlidingWindow

RECENT = 5.0  # seconds of outcomes the short-term acceptance is measured over
SENT_SPAN = 10.0  # seconds the sending rate is measured over
_OURS_BELOW = 0.85  # accepted under this share of sent: the limit is ours
_MIN_SAMPLES = 5


@dataclass(frozen=True)
class Evidence:
    """``estimate``: the limit per minute the evidence points to (``None``: none usable);
    ``ours``: the 429 was caused by our rate; ``notes``: why, for the log line."""

    estimate: float | None
    ours: bool
    notes: str


class Outcomes:
    """Whether recent requests were accepted (answered) or refused (429), by time."""

    def __init__(self, span: float = RECENT) -> None:
        self.span = span
        self._seen: collections.deque[tuple[float, bool]] = collections.deque()

    def note(self, now: float, *, accepted: bool) -> None:
        self._seen.append((now, accepted))
        while self._seen and self._seen[0][0] < now - self.span:
            self._seen.popleft()

    def accepted_share(self, now: float) -> float | None:
        """The share accepted in the last ``span`` seconds, or ``None`` with too few answers."""
        recent = [ok for at, ok in self._seen if at >= now - self.span]
        return sum(recent) / len(recent) if len(recent) >= _MIN_SAMPLES else None


def weigh(
    window: SlidingWindow,
    outcomes: Outcomes,
    *,
    started: float,
    now: float,
    hint: float | None,
    exhausted: list[QuotaWindow],
    requests: bool,
    hit: bool,
) -> Evidence:
    """The evidence at a 429 for one dimension (``requests`` or tokens).

    ``window`` is that dimension's ledger, ``exhausted`` the buckets the 429's headers
    show empty, ``hit`` whether something already says the limit was hit (empty
    buckets, a probe above a learned limit).
    """
    elapsed = max(1e-9, now - started)
    wait = min(max(hint or 0.0, 0.0), 60.0)
    candidates: list[float] = []
    notes: list[str] = []
    for bucket in exhausted:
        if (bucket.dimension == "requests") != requests or bucket.dimension not in ("requests", "tokens"):
            continue
        if bucket.limit and bucket.reset and bucket.reset >= SHORT_RESET:
            candidates.append(bucket.limit / bucket.reset * 60.0)
            notes.append(f"headers: {bucket.limit:g} per {bucket.reset:.1f} s")
    if wait >= 2.0:
        start = max(started, now + wait - 60.0)
        span = min(60.0, now + wait - start)
    else:
        start = max(started, now - 60.0)
        span = max(1e-9, min(60.0, now - start))
    accepted = window.counted(start, now, now) * 60.0 / span
    sent_span = min(SENT_SPAN, elapsed)
    sent = window.sent(now - sent_span, now, now) * 60.0 / sent_span
    enough = elapsed >= 2.0 and window.counted(started, now, now) >= (10 if requests else 1)
    if enough:
        candidates.append(accepted)
        notes.append(f"accepted {accepted:.0f}/min while sending {sent:.0f}/min")
    share = outcomes.accepted_share(now)
    if share is not None and share < 0.5:
        candidates.append(share * sent)
        notes.append(f"{share:.0%} accepted in the last {RECENT:.0f} s")
    ours = hit or (enough and accepted < _OURS_BELOW * sent) or (share is not None and share < 0.5)
    if share == 0.0:
        return Evidence(None, ours, "; ".join([*notes, "nothing got through lately"]))
    return Evidence(min(candidates) if candidates else None, ours, "; ".join(notes) or "no evidence either way")

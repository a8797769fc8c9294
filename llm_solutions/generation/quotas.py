"""How many problems each category still needs, per complexity, and who is working on them.

A worker batch reserves the slots it asks for before it is sent, so batches in flight
never ask for more than the plan still needs and the run ends at exactly the planned
counts.  A candidate that passes every check fills one of its batch's slots for its
complexity (or a free one; with none left it is surplus), and the slots a batch did not
fill go back when all its candidates are decided.
"""

from __future__ import annotations

from collections import Counter


class Quotas:
    """Planned, accepted and reserved problems per category and complexity."""

    def __init__(self, planned: dict[str, dict[int, int]], accepted: dict[str, Counter[int]] | None = None) -> None:
        self.planned = {category: dict(levels) for category, levels in planned.items()}
        self.accepted: dict[str, Counter[int]] = {c: Counter((accepted or {}).get(c, Counter())) for c in planned}
        self.reserved: dict[str, Counter[int]] = {c: Counter() for c in planned}

    def free(self, category: str, level: int) -> int:
        """Slots of this complexity nobody holds yet."""
        wanted = self.planned[category].get(level, 0)
        return max(0, wanted - self.accepted[category][level] - self.reserved[category][level])

    def free_total(self, category: str) -> int:
        return sum(self.free(category, level) for level in self.planned[category])

    def remaining(self, category: str) -> int:
        """Problems still to accept (held slots included)."""
        return sum(max(0, n - self.accepted[category][level]) for level, n in self.planned[category].items())

    def done(self, category: str) -> bool:
        return self.remaining(category) == 0

    @property
    def all_done(self) -> bool:
        return all(self.done(category) for category in self.planned)

    def reserve(self, category: str, size: int) -> list[int]:
        """Up to ``size`` slots, spread over the complexities with the most free slots
        (ties: the lower complexity first)."""
        chosen: list[int] = []
        for _ in range(size):
            levels = [level for level in self.planned[category] if self.free(category, level) > 0]
            if not levels:
                break
            level = max(levels, key=lambda lv: (self.free(category, lv), -lv))
            self.reserved[category][level] += 1
            chosen.append(level)
        return sorted(chosen)

    def reserve_levels(self, category: str, levels: list[int]) -> list[int]:
        """The given slots, as far as they are free (a batch sent again on resume)."""
        held = []
        for level in levels:
            if self.free(category, level) > 0:
                self.reserved[category][level] += 1
                held.append(level)
        return held

    def take_free(self, category: str, level: int) -> bool:
        """Hold one free slot of ``level`` for a candidate its batch had no slot for."""
        if self.free(category, level) <= 0:
            return False
        self.reserved[category][level] += 1
        return True

    def release(self, category: str, level: int) -> None:
        if self.reserved[category][level] > 0:
            self.reserved[category][level] -= 1

    def fill(self, category: str, level: int) -> None:
        """A held slot becomes an accepted problem."""
        self.release(category, level)
        self.accepted[category][level] += 1

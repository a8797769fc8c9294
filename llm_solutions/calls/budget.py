"""The session's spend, and the limit (``--max-cost``) new calls must stay under.

The caller adds every billed attempt as it is billed, whatever the call was for (answers,
code extraction, and later generation and embeddings), so the limit counts every dollar
the session spends.  A resumed session starts from what its records say was spent.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Budget:
    """Spend so far, by purpose, against an optional limit in USD.

    ``limit=None`` means no limit.  The limit is checked before a call starts, so calls
    already in flight when it is reached still finish and are counted.
    """

    limit: float | None = None
    spent: float = 0.0
    by_purpose: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def __post_init__(self) -> None:
        if self.limit is not None and not self.limit > 0:
            raise ValueError("a budget limit must be a positive amount of USD")

    def add(self, cost: float, purpose: str) -> None:
        """Count ``cost`` USD spent on a call made for ``purpose``."""
        if cost:
            self.spent += cost
            self.by_purpose[purpose] += cost

    @property
    def exhausted(self) -> bool:
        """True once the spend has reached the limit."""
        return self.limit is not None and self.spent >= self.limit

    def describe(self) -> str:
        """``"spend $1.2345 reached the limit of $1.0000"``, for a stop message."""
        limit = f"${self.limit:.4f}" if self.limit is not None else "none"
        return f"spend ${self.spent:.4f} reached the limit of {limit} (--max-cost)"

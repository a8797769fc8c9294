"""When to try a failed request again, and how long to wait first.

Retries cost the user nothing when the provider refused (429, 5xx) but they cost time,
and a task must not retry forever.  So a policy bounds both the number of attempts and the
total time one task spends waiting between them.  Delays grow exponentially with "full
jitter" (a uniform pick between 0 and the exponential cap): tasks that failed together
then retry at different moments instead of all at once, which is what makes a provider
answer 429 again.  A server's own hint (``retry-after`` and friends) is a lower bound:
asking earlier is a wasted request.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_solutions.errors import ProviderError, RateLimitError
from llm_solutions.headers import lowered, retry_delay


@dataclass
class RetryPolicy:
    """Bounded, jittered exponential backoff for retryable provider errors.

    ``max_attempts`` counts every call, the first included; ``max_total_wait`` bounds the
    seconds one task sleeps between attempts.  The n-th retry waits up to
    ``min(max_delay, base_delay * 2**(n-1))``; ``jitter`` is the fraction of that cap that
    is randomised (1.0: full jitter, 0.0: none).  Pass a seeded ``rng`` for reproducible
    delays.
    """

    max_attempts: int = 6
    max_total_wait: float = 600.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    jitter: float = 1.0
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    wall_clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def backoff(self, attempt: int) -> float:
        """The jittered delay after ``attempt`` failed attempts, before any server hint."""
        cap = min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))
        return cap * (1.0 - self.jitter * self.rng.random())

    def hint(self, error: ProviderError) -> float | None:
        """The server's requested wait for this error, in seconds, if it gave one."""
        if error.retry_after is not None:
            return max(0.0, error.retry_after)
        is_429 = isinstance(error, RateLimitError)
        return retry_delay(lowered(error.headers), self.wall_clock(), resets=is_429)

    def next_delay(self, error: ProviderError, attempt: int, waited: float) -> float | None:
        """Seconds to wait before another attempt, or ``None`` to give up now.

        ``attempt`` is how many attempts have failed and ``waited`` how long this task has
        already slept between them.  Errors that are not retryable, or that stop the model
        (bad key, quota gone), are never retried.  When the server asks for a wait longer
        than what is left of the budget, giving up now beats a doomed last attempt.
        """
        if not error.retryable or error.stops_model or attempt >= self.max_attempts:
            return None
        budget = self.max_total_wait - waited
        if budget <= 0:
            return None
        delay = self.backoff(attempt)
        hint = self.hint(error)
        if hint is not None:
            if hint > budget:
                return None
            delay = max(delay, hint)
        return min(delay, budget)

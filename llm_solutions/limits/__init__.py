"""Per-provider rate limiting and the retry policy, used only by ``llm_solutions.calls.Caller``.

``LimiterPool`` holds one adaptive ``ProviderLimiter`` per provider and key;
``RetryPolicy`` decides whether and when a failed request is tried again.
"""

from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import LimiterSnapshot, Permit, ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy

__all__ = [
    "LimiterPool",
    "LimiterSnapshot",
    "Permit",
    "ProviderLimiter",
    "RetryPolicy",
]

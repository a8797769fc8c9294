"""Per-provider rate limiting and the retry policy, used only by ``llm_solutions.calls.Caller``.

``LimiterPool`` holds one adaptive ``ProviderLimiter`` per provider and key;
``RetryPolicy`` decides whether and when a failed request is tried again;
``ProviderDownError`` is what a provider's queued requests get when its server stayed
unreachable too long.
"""

from llm_solutions.limits.health import ProviderDownError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import LimiterSnapshot, Permit, ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy

__all__ = [
    "LimiterPool",
    "LimiterSnapshot",
    "Permit",
    "ProviderDownError",
    "ProviderLimiter",
    "RetryPolicy",
]

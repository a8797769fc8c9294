"""Per-provider rate limiting and retries: the only place the collector waits.

``Sender(pool, policy).send(model, request)`` is what the runner calls; ``LimiterPool``
holds one adaptive ``ProviderLimiter`` per provider and key; ``RetryPolicy`` bounds retries.
"""

from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import LimiterSnapshot, Permit, ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.limits.sender import Sender, estimate_tokens

__all__ = [
    "LimiterPool",
    "LimiterSnapshot",
    "Permit",
    "ProviderLimiter",
    "RetryPolicy",
    "Sender",
    "estimate_tokens",
]

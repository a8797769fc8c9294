"""How many tokens to reserve for a request before it is sent, and what it counts after.

A token limit has to be charged before the answer exists.  Reserving ``max_tokens``
(16,384 for a reasoning model) for answers that use a few hundred makes every request
look like a large share of the limit, and a token-limited provider then runs one
request at a time.  So for providers that count the tokens actually used, a request
reserves its prompt plus what this model's recent answers used (the 90th percentile of
the last 32, bounded by ``max_tokens``), and is settled against the real usage when the
answer arrives.  Providers that count ``max_tokens`` themselves (``token_accounting``)
are reserved exactly that, since that is what they will hold against the limit.

The same records give the average size of a request per token kind, which turns token
quota headers into requests.
"""

from __future__ import annotations

import collections
import math

from llm_solutions.models.base import Completion

_HISTORY = 32  # recent answers per model the output estimate is taken from
_AVERAGE_WEIGHT = 0.9  # how much of the previous average a new request size keeps


class TokenReservations:
    """Reservations and settlements for one provider, by its ``token_accounting``."""

    def __init__(self, accounting: str = "usage") -> None:
        self.accounting = accounting
        self._outputs: dict[str, collections.deque[int]] = {}
        self.average: dict[str, float] = {}

    def reserve(self, model: str | None, prompt_tokens: int, max_tokens: int) -> int:
        """Tokens to reserve for a request: the prompt plus what the answer will count."""
        history = self._outputs.get(model or "")
        if self.accounting != "usage" or not history:
            return prompt_tokens + max_tokens
        ordered = sorted(history)
        typical = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
        return prompt_tokens + min(max_tokens, max(1, typical))

    def counted(self, reserved: int, used: int) -> int:
        """What the provider counts for a request that reserved ``reserved`` and used ``used``."""
        return max(reserved, used) if self.accounting == "max_tokens" else used

    def learn(self, model: str | None, completion: Completion) -> None:
        """Remember an answer's size for the next reservations and the averages."""
        history = self._outputs.setdefault(model or "", collections.deque(maxlen=_HISTORY))
        history.append(completion.output_tokens)
        for key, value in (("tokens", completion.input_tokens + completion.output_tokens),
                           ("input_tokens", completion.input_tokens), ("output_tokens", completion.output_tokens)):
            old = self.average.get(key)
            self.average[key] = value if old is None else _AVERAGE_WEIGHT * old + (1 - _AVERAGE_WEIGHT) * value

"""What one model call came to: ``CallResult``.

Everything about a call travels here, typed: the answer (or the billed but unusable one),
the error, how many attempts it took and how long it waited, the tokens and USD of every
billed attempt, and whether the cache answered.  Nothing is stuck onto exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llm_solutions.errors import ProviderError
from llm_solutions.models.base import Completion, Usage


@dataclass
class CallResult:
    """The outcome of ``Caller.call``.

    * ``completion``: the answer; on an error, the billed but unusable answer when the
      provider returned one (empty, refused), else ``None``;
    * ``error``: the provider error that ended the call, or ``None``;
    * ``refused``: the call was never sent because the session's budget is spent;
    * ``stopped``: the call ended unsent (or before its next attempt) because its model
      was stopped: a bad key or spent quota seen by another call, or a server that
      stayed unreachable (``error`` is then the ``ProviderDownError``);
    * ``attempts``: requests sent (0 for a cache hit or a refused call); ``waited``:
      seconds slept between attempts;
    * ``usage`` and ``cost``: tokens and USD of every billed attempt (0 on a cache hit),
      failed ones included; ``billed_attempts``: how many attempts were billed, and
      ``billed``: each of them (its tokens, cost, latency and how it ended);
    * ``cache_hit`` and ``cost_saved``: the cache answered, saving this many USD;
    * ``recovered``: a cache hit on an answer this session itself paid for in a run that
      was killed before recording it: ``cost`` is what it paid then, nothing was saved;
    * ``message``: the error as one line for records and logs.
    """

    model: str
    purpose: str
    completion: Completion | None = None
    error: ProviderError | None = None
    refused: bool = False
    stopped: bool = False
    attempts: int = 0
    billed_attempts: int = 0
    waited: float = 0.0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    billed: list[dict[str, Any]] = field(default_factory=list)
    cache_hit: bool = False
    cost_saved: float = 0.0
    recovered: bool = False
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when there is a usable answer."""
        return self.error is None and not self.refused and not self.stopped and self.completion is not None

    @property
    def text(self) -> str:
        """The usable answer's text, or ``""``."""
        return self.completion.text if self.ok and self.completion is not None else ""

"""A test double model: answers, errors and delays come from a script, not a network.

Script entries are matched by task id (``Request.metadata["task_id"]``); each entry is a
list of steps used in order for successive calls of that task (the last step repeats).
A step is ``{"text": ...}``, ``{"error": "rate_limit" | "transient" | "auth" | ...}`` or
either plus ``"delay": seconds``.  ``default`` is used for tasks without an entry; by
default the canonical solution is answered in a fenced block.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from llm_solutions import errors
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig

ERRORS = {
    "rate_limit": errors.RateLimitError,
    "transient": errors.TransientError,
    "auth": errors.AuthenticationError,
    "quota": errors.QuotaExhaustedError,
    "bad_request": errors.BadRequestError,
    "context_length": errors.ContextLengthError,
}


class ScriptedModel(BaseModel):
    """Answers from a script; counts every call in ``calls``."""

    provider = "scripted"

    def __init__(self, name: str = "scripted", script: dict[str, list[dict[str, Any]]] | None = None,
                 default: dict[str, Any] | None = None, price: tuple[float, float] = (1.0, 2.0)) -> None:
        config = ModelConfig(name=name, provider="offline", model_params={"api_model": name, "max_tokens": 512},
                             input_price=price[0], output_price=price[1])
        super().__init__(config)
        self.script = script or {}
        self.default = default or {}
        self.calls: list[str] = []
        self._seen: dict[str, int] = defaultdict(int)

    async def generate(self, request: Request) -> Completion:
        task_id = request.metadata["task_id"]
        self.calls.append(f"{task_id}#{request.metadata.get('sample', 0)}")
        steps = self.script.get(task_id) or [self.default]
        step = steps[min(self._seen[task_id], len(steps) - 1)]
        self._seen[task_id] += 1
        if step.get("delay"):
            await asyncio.sleep(step["delay"])
        if "error" in step:
            raise ERRORS[step["error"]](f"scripted {step['error']}", provider="scripted",
                                        retry_after=step.get("retry_after"))
        text = step.get("text")
        if text is None:
            text = f"Here you go:\n\n```python\n{request.metadata['canonical_solution']}\n```\n"
        return Completion(text=text, input_tokens=100, output_tokens=50, finish_reason="stop", model=self.api_model)

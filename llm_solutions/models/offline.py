"""A model that needs no key and no network.

It answers like a chat model would (a sentence of prose, a fenced code block, sometimes an
explanation after it), built from the problem's canonical solution.  Its purpose is to
check a dataset and the whole pipeline end to end for free; it is what the README's first
command runs.  The answer's wording depends only on the task and sample, so runs are
reproducible.
"""

from __future__ import annotations

import hashlib
import time

from llm_solutions.errors import BadRequestError
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.tokens import prompt_tokens, text_tokens

_OPENINGS = (
    "Here is a solution that satisfies the requirements:",
    "Sure! Below is an implementation of `{name}`.",
    "The following code implements `{name}` as described.",
    "One clean way to do this in Python:",
)
_FENCES = ("```python", "```py", "```python", "```")
_CLOSINGS = (
    "",
    "\n\nThe implementation uses only the standard library.",
    "\n\n**How it works:** `{name}` follows the specification step by step, and edge cases "
    "are handled explicitly.",
    "",
)


class OfflineModel(BaseModel):
    """Answers with the canonical solution wrapped in chat-style prose."""

    provider = "offline"

    async def generate(self, request: Request) -> Completion:
        started = time.perf_counter()
        solution = request.metadata.get("canonical_solution")
        if not solution:
            raise BadRequestError(
                "the offline model needs a problem with a canonical_solution", provider=self.provider
            )
        name = request.metadata.get("name", "the solution")
        seed = f"{request.metadata.get('task_id', '')}:{request.metadata.get('sample', 0)}"
        pick = int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=4).digest(), "big")
        opening = _OPENINGS[pick % len(_OPENINGS)].format(name=name)
        fence = _FENCES[(pick >> 4) % len(_FENCES)]
        closing = _CLOSINGS[(pick >> 8) % len(_CLOSINGS)].format(name=name)
        text = f"{opening}\n\n{fence}\n{solution.strip()}\n```{closing}\n"
        return Completion(
            text=text,
            input_tokens=prompt_tokens(request.messages),
            output_tokens=text_tokens(text),
            finish_reason="stop",
            latency=time.perf_counter() - started,
            model=self.api_model,
            raw={"offline": True, "text": text},
        )

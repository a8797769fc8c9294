"""A model that needs no key and no network.

It answers like a chat model would (a sentence of prose, a fenced code block, sometimes an
explanation after it), built from the problem's canonical solution.  Its purpose is to
check a dataset and the whole pipeline end to end for free; it is what the README's first
command runs.  The answer's wording depends only on the task and sample, so runs are
reproducible.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time

from llm_solutions.errors import BadRequestError
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.tokens import request_prompt_tokens, text_tokens

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
            input_tokens=request_prompt_tokens(request),
            output_tokens=text_tokens(text),
            finish_reason="stop",
            latency=time.perf_counter() - started,
            model=self.api_model,
            raw={"offline": True, "text": text},
        )


class OfflineEmbeddingModel(BaseModel):
    """Embeddings without a network: each input's words and word pairs hashed into a fixed
    number of dimensions, then normalised.  Texts sharing most words come out close, so
    the semantic-duplicate check can be tried end to end for free; it knows no synonyms."""

    provider = "offline"

    async def generate(self, request: Request) -> Completion:
        started = time.perf_counter()
        size = int(self.config.model_params.get("dimensions") or 256)
        vectors = []
        for message in request.messages:
            words = re.findall(r"\w+", message["content"].lower())
            vector = [0.0] * size
            for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
                digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
                vector[digest % size] += 1.0 if (digest >> 32) & 1 else -1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return Completion(text="", input_tokens=sum(text_tokens(m["content"]) for m in request.messages),
                          latency=time.perf_counter() - started, model=self.api_model,
                          raw={"embeddings": vectors})

"""The three kinds of generation call, as requests: planner, worker batch, repair.

A worker call carries only what one batch needs: the category, its sub-topic, the
complexities asked for, the format, and a short bounded list of titles already accepted
(never the growing dataset), so its cost stays the same however large the dataset grows.
Each request is a pure function of a ``BatchSpec`` (journaled before it is sent) and the
plan, so a resumed run sends the very same request and the response cache answers it.
All ask for a JSON answer (``Request.json_output``) and say so in the prompt, for
providers without a JSON mode.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from llm_solutions.generation.settings import CategorySpec, GenerationSettings
from llm_solutions.models.base import Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.prompts import render_prompt

#: Output tokens a worker call may use per problem asked for (statement, code and tests).
TOKENS_PER_PROBLEM = 900
_EXAMPLE_CHARS = 1500
_MAX_EXAMPLES = 2
_SEED_STRIDE = 1_000_000
_OBJECT_RULES = {
    "function": "Tests call it directly.",
    "class": "Tests create instances and use their methods and attributes.",
}


@dataclass(frozen=True)
class BatchSpec:
    """One worker call: everything its request is made from, journaled before it is sent."""

    category: str
    number: int
    subtopic: str
    complexities: tuple[int, ...]
    avoid: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.category}#{self.number}"

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.id, "category": self.category, "number": self.number, "subtopic": self.subtopic,
                "complexities": list(self.complexities), "avoid": list(self.avoid)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchSpec:
        return cls(category=str(data["category"]), number=int(data["number"]), subtopic=str(data["subtopic"]),
                   complexities=tuple(int(c) for c in data["complexities"]),
                   avoid=tuple(str(a) for a in data.get("avoid") or ()))


def call_sample(seed: int, number: int) -> int:
    """The cache's sample index of a call: another seed asks afresh, the same seed reuses."""
    return seed * _SEED_STRIDE + number


def _sampling(config: ModelConfig, settings: GenerationSettings) -> tuple[float | None, float | None]:
    if config.reasoning:
        return None, None
    params = config.model_params
    temperature = settings.temperature if settings.temperature is not None else params.get("temperature")
    return temperature, params.get("top_p")


def _request(config: ModelConfig, settings: GenerationSettings, user: str, max_tokens: int,
             metadata: dict[str, Any]) -> Request:
    temperature, top_p = _sampling(config, settings)
    return Request(
        messages=(
            {"role": "system", "content": render_prompt("generate_system").strip()},
            {"role": "user", "content": user.strip()},
        ),
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        reasoning_effort=config.model_params.get("reasoning_effort"),
        extra=dict(config.model_params.get("extra") or {}),
        metadata=metadata,
        json_output=True,
    )


def worker_max_tokens(config: ModelConfig, settings: GenerationSettings, problems: int) -> int:
    """The output budget of a worker call asking for ``problems`` problems."""
    if settings.max_tokens is not None:
        return settings.max_tokens
    return max(config.max_tokens, TOKENS_PER_PROBLEM * problems + 400)


def _examples(category: CategorySpec) -> str:
    if not category.examples:
        return ""
    shown = []
    for example in category.examples[:_MAX_EXAMPLES]:
        text = example if isinstance(example, str) else json.dumps(example, ensure_ascii=False)
        shown.append(text if len(text) <= _EXAMPLE_CHARS else text[:_EXAMPLE_CHARS] + " ...")
    return "Examples of the kind of problem wanted (write new ones, never these):\n" + "\n".join(
        f"- {text}" for text in shown) + "\n"


def worker_request(config: ModelConfig, category: CategorySpec, spec: BatchSpec,
                   settings: GenerationSettings) -> Request:
    """The request of one worker batch."""
    avoid = "\n".join(f"- {title}" for title in spec.avoid) or "- (none yet)"
    user = render_prompt(
        "generate_batch",
        count=len(spec.complexities),
        category=category.name,
        description=category.description,
        subtopic=spec.subtopic,
        object_kind=category.object,
        object_rule=_OBJECT_RULES[category.object],
        complexities=", ".join(str(c) for c in spec.complexities),
        min_tests=settings.min_tests,
        avoid=avoid,
        examples=_examples(category),
    )
    return _request(config, settings, user, worker_max_tokens(config, settings, len(spec.complexities)),
                    {"task_id": spec.id, "kind": "worker", "category": category.name})


def subtopic_count(category: CategorySpec, settings: GenerationSettings) -> int:
    """How many sub-topics the planner is asked for: about one per batch (rejections make
    more batches than the minimum, so at least two), at most 40."""
    batches = -(-category.count // settings.batch_size)
    return max(2, min(batches, 40))


def planner_request(config: ModelConfig, category: CategorySpec, settings: GenerationSettings) -> Request:
    """The request that splits one category into sub-topics."""
    wanted = subtopic_count(category, settings)
    user = render_prompt(
        "generate_plan",
        count=category.count,
        category=category.name,
        description=category.description,
        subtopics=wanted,
        low=category.complexity[0],
        high=category.complexity[1],
    )
    return _request(config, settings, user, max(config.max_tokens, 60 * wanted + 200),
                    {"task_id": f"{category.name}#plan", "kind": "planner", "category": category.name})


def repair_request(config: ModelConfig, category: CategorySpec, item: dict[str, Any], reason: str, detail: str,
                   settings: GenerationSettings) -> Request:
    """The request that sends a rejected candidate back to the worker, once, with why."""
    complexity = item.get("complexity") if isinstance(item.get("complexity"), int) else category.complexity[0]
    user = render_prompt(
        "generate_repair",
        category=category.name,
        item=json.dumps(item, ensure_ascii=False, indent=1),
        reason=reason,
        detail=detail,
        name=item.get("name") or "the name",
        object_kind=category.object,
        min_tests=settings.min_tests,
        complexity=complexity,
    )
    return _request(config, settings, user, worker_max_tokens(config, settings, 1),
                    {"task_id": f"{category.name}#repair", "kind": "repair", "category": category.name})

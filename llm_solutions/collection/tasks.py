"""Units of work: a problem, asked of one model, for one sample; and their requests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from llm_solutions.collection.store import task_key
from llm_solutions.dataset import Problem
from llm_solutions.models.base import Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.prompts import render_prompt

# Characters per token for estimates before a request is sent; close enough for English
# prose and Python for budgeting and rate limiting, which settle on the real usage after.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True)
class Task:
    """One request to make: ``sample`` numbers the answers to the same problem."""

    problem: Problem
    model: str
    sample: int

    @property
    def key(self) -> str:
        return task_key(self.problem.task_id, self.model, self.sample)


def iter_tasks(problems: list[Problem], models: list[str], samples: int, done: set[str]) -> Iterator[Task]:
    """Every task not yet in ``done``, problem by problem, for one or more models."""
    for problem in problems:
        for model in models:
            for sample in range(samples):
                task = Task(problem, model, sample)
                if task.key not in done:
                    yield task


def build_request(config: ModelConfig, problem: Problem, sample: int) -> Request:
    """The request for one task, from the prompt templates and the model's parameters."""
    params = config.model_params
    messages = (
        {"role": "system", "content": render_prompt("system").strip()},
        {
            "role": "user",
            "content": render_prompt(
                "solve", problem=problem.problem.strip(), name=problem.name, object=problem.object
            ).strip(),
        },
    )
    return Request(
        messages=messages,
        max_tokens=config.max_tokens,
        temperature=None if config.reasoning else params.get("temperature"),
        top_p=None if config.reasoning else params.get("top_p"),
        reasoning_effort=params.get("reasoning_effort"),
        extra=dict(params.get("extra") or {}),
        metadata={
            "task_id": problem.task_id,
            "name": problem.name,
            "sample": sample,
            "canonical_solution": problem.canonical_solution,
        },
    )


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // CHARS_PER_TOKEN)


def estimate_usage(config: ModelConfig, problem: Problem) -> tuple[int, int, int]:
    """(input tokens, expected output tokens, worst-case output tokens) for one request.

    The expected answer is taken as twice the canonical solution (code plus some prose),
    capped by ``max_tokens``; reasoning models think before answering, so theirs is the cap.
    """
    request = build_request(config, problem, 0)
    prompt = estimate_tokens("".join(m["content"] for m in request.messages))
    expected = min(2 * estimate_tokens(problem.canonical_solution) + 60, config.max_tokens)
    if config.reasoning:
        expected = config.max_tokens
    return prompt, expected, config.max_tokens

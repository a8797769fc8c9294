"""Units of work: a problem, asked of one model, for one sample; and their requests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from llm_solutions.dataset import Problem
from llm_solutions.models.base import Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.tokens import request_prompt_tokens, text_tokens
from llm_solutions.prompts import render_prompt

# An answer is taken to be about twice the canonical solution (code plus some prose).
_EXPECTED_ANSWER_FACTOR = 2
_EXPECTED_PROSE_TOKENS = 60


def task_key(task_id: str, model: str, sample: int) -> str:
    """The id of one unit of work: a problem, asked of a model, for one sample."""
    return f"{task_id}_{model}_s{sample}"


@dataclass(frozen=True)
class Task:
    """One request to make: ``sample`` numbers the answers to the same problem."""

    problem: Problem
    model: str
    sample: int

    @property
    def key(self) -> str:
        return task_key(self.problem.task_id, self.model, self.sample)


class Finished(Protocol):
    """What ``iter_tasks`` asks of the tasks already done (``collection.done.DoneTasks``)."""

    def has(self, task_id: str, model: str, sample: int) -> bool: ...


def iter_tasks(problems: list[Problem], models: list[str], samples: int, done: Finished) -> Iterator[Task]:
    """Every task not yet ``done``, problem by problem, for one or more models."""
    for problem in problems:
        for model in models:
            for sample in range(samples):
                if not done.has(problem.task_id, model, sample):
                    yield Task(problem, model, sample)


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
        images=problem.images,
        metadata={
            "task_id": problem.task_id,
            "name": problem.name,
            "sample": sample,
            "canonical_solution": problem.canonical_solution,
        },
    )


def estimate_usage(config: ModelConfig, problem: Problem) -> tuple[int, int, int]:
    """(input tokens, expected output tokens, worst-case output tokens) for one request.

    The expected answer is taken as twice the canonical solution (code plus some prose),
    capped by ``max_tokens``; reasoning models think before answering, so theirs is the cap.
    """
    request = build_request(config, problem, 0)
    prompt = request_prompt_tokens(request)
    expected = min(
        _EXPECTED_ANSWER_FACTOR * text_tokens(problem.canonical_solution) + _EXPECTED_PROSE_TOKENS, config.max_tokens
    )
    if config.reasoning:
        expected = config.max_tokens
    return prompt, expected, config.max_tokens

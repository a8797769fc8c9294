"""One stored record per finished task: the users' data contract.

Field names match the README's "Session output" section; add fields, never rename them.
"""

from __future__ import annotations

import time
from typing import Any

from llm_solutions.collection.tasks import Task
from llm_solutions.errors import ProviderError
from llm_solutions.models.base import Completion


def build_record(
    task: Task,
    *,
    completion: Completion | None,
    error: ProviderError | None,
    extraction: dict[str, Any] | None,
    validation: dict[str, Any] | None,
    evaluation: dict[str, Any] | None,
    execution_time: float,
    cost: float,
    cache_hit: bool,
    attempts: int,
) -> dict[str, Any]:
    """The record of one task, successful or not."""
    problem = task.problem
    record: dict[str, Any] = {
        "task_id": problem.task_id,
        "model": task.model,
        "problem": problem.problem,
        "name": problem.name,
        "category": problem.category,
        "complexity": problem.complexity,
        "sample": task.sample,
        "raw_response": completion.text if completion and not error else None,
        "reasoning": completion.reasoning if completion else None,
        "extracted_solution": (extraction or {}).get("code", ""),
        "extraction": {k: v for k, v in (extraction or {}).items() if k != "code"},
        "validation": validation or {},
        "llm_call_success": error is None and completion is not None,
        "error": str(error) if error else None,
        "error_type": error.kind if error else None,
        "execution_time": round(execution_time, 4),
        "latency": round(completion.latency, 4) if completion else None,
        "attempts": attempts,
        "cache_hit": cache_hit,
        "finish_reason": completion.finish_reason if completion else None,
        "served_model": completion.model if completion else None,
        "input_tokens": completion.input_tokens if completion else 0,
        "output_tokens": completion.output_tokens if completion else 0,
        "cached_tokens": completion.cached_tokens if completion else 0,
        "reasoning_tokens": completion.reasoning_tokens if completion else 0,
        "cost": round(cost, 8),
        "timestamp": time.time(),
    }
    if evaluation is not None:
        record["evaluation"] = evaluation
        record["tests_passed"] = evaluation.get("tests_passed", 0)
        record["tests_total"] = evaluation.get("tests_total", 0)
        record["passed_all"] = bool(evaluation.get("passed_all"))
    return record

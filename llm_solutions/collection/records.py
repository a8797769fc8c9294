"""One stored record per finished task: the users' data contract.

A record is built from a task, the ``CallResult`` of its model call and the ``Scored`` of
its answer.  Field names match the README's "Session output" section; add fields, never
rename them.
"""

from __future__ import annotations

import math
import time
from typing import Any

from llm_solutions.calls import CallResult
from llm_solutions.collection.schema import SCHEMA_VERSION
from llm_solutions.collection.tasks import Task
from llm_solutions.models.base import Request, Usage
from llm_solutions.scoring import Scored, unscored_fields


def build_record(task: Task, call: CallResult, scored: Scored | None, *, execution_time: float,
                 request: Request | None = None, requested_model: str | None = None) -> dict[str, Any]:
    """The record of one task, successful or not (schema version ``SCHEMA_VERSION``).

    ``request`` is what was sent: its messages (system and user, after templating) are kept
    as ``messages`` (the store moves them to the session's prompt table) and its sampling
    parameters as ``request``; ``requested_model`` is the wire model id asked for, and
    ``served_model`` the one the provider says answered.  The reasoning stays apart from
    the answer, in ``reasoning``.

    ``cost`` and the token counts are what the provider billed for the answer, every
    attempt included (a retried empty answer was billed too); ``billed_attempts`` says
    how many attempts that was and ``billed`` lists each (tokens, cost, latency, finish).
    A cache hit costs 0 and records what it saved as ``cost_saved``, with the stored
    answer's tokens.  What the extraction model cost is in ``extraction.llm``.
    """
    problem = task.problem
    completion = call.completion
    usage = Usage.of(completion) if call.cache_hit else call.usage
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "task_id": problem.task_id,
        "model": task.model,
        "problem": problem.problem,
        "name": problem.name,
        "category": problem.category,
        "complexity": problem.complexity,
        "sample": task.sample,
        "raw_response": completion.text if completion is not None and call.ok else None,
        "reasoning": completion.reasoning if completion else None,
        **(scored.record_fields() if scored is not None else unscored_fields()),
        "llm_call_success": call.ok,
        "error": call.message if not call.ok else None,
        "error_type": call.error.kind if call.error is not None else None,
        "execution_time": round(execution_time, 4),
        "latency": round(completion.latency, 4) if completion else None,
        "attempts": call.attempts,
        "billed_attempts": call.billed_attempts,
        "cache_hit": call.cache_hit,
        "finish_reason": completion.finish_reason if completion else None,
        "requested_model": requested_model,
        "served_model": completion.model if completion else None,
        "waited": round(call.waited, 4),
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_tokens": usage.cached_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "cost": round(call.cost, 8),
        "billed": call.billed,
        "timestamp": time.time(),
    }
    if call.cache_hit:
        record["cost_saved"] = round(call.cost_saved, 8)
    if request is not None:
        sent = request.to_dict()
        record["messages"] = sent.pop("messages")
        record["request"] = sent
    return record


#: Error types another attempt may fix, later: rate limits, server trouble, timeouts,
#: unreachable servers, empty answers.  A session ending with such failures says to run
#: them again with ``--retry-failed``.
RETRY_MAY_FIX = frozenset({"rate_limit", "transient", "timeout", "connection", "empty_response", "provider_down",
                           "batch_expired"})


def retry_may_fix(record: dict[str, Any]) -> bool:
    """True for a failed record whose error another attempt may fix."""
    return not record.get("llm_call_success") and record.get("error_type") in RETRY_MAY_FIX


def record_costs(record: dict[str, Any]) -> tuple[float, float]:
    """USD a record's task cost the session: (its answer, its extraction-model call)."""
    extraction = record.get("extraction")
    llm = extraction.get("llm") if isinstance(extraction, dict) else None
    extraction_cost = llm.get("cost") if isinstance(llm, dict) else None
    return _usd(record.get("cost")), _usd(extraction_cost)


def _usd(value: Any) -> float:
    # Records are the user's files too: a hand-edited or damaged amount counts as nothing
    # rather than stopping a resume.
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


def record_spend(record: dict[str, Any]) -> float:
    """USD a record's task cost the session, answer and extraction together."""
    return sum(record_costs(record))

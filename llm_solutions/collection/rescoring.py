"""Check stored answers again without asking any model: ``evaluate`` and ``rescore``.

``evaluate_session`` runs the problems' tests against a session's solutions and writes the
outcomes into that session.  ``rescore_session`` re-runs extraction, validation and
(optionally) the tests over a session's stored raw responses and writes the result as a
new session next to the old one, so a change to the extraction or validation logic can be
measured on old answers for free.  Neither makes an API call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from llm_solutions.collection.progress import ProgressTracker
from llm_solutions.collection.session import default_output_dir, session_parameters
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.summaries import write_reports
from llm_solutions.dataset import BUILTIN_DATASET, Problem, load_dataset
from llm_solutions.evaluation.evaluator import Evaluator
from llm_solutions.evaluation.isolation import describe_isolation
from llm_solutions.extraction import extract_code
from llm_solutions.validation import validate_code

log = logging.getLogger(__name__)


def _problems(settings: CollectionSettings) -> dict[str, Problem]:
    dataset = load_dataset(settings.dataset_path or BUILTIN_DATASET, skip_invalid=True)
    return {p.task_id: p for p in dataset.problems}


async def _evaluate(record: dict[str, Any], problem: Problem | None, evaluator: Evaluator) -> None:
    if problem is None:
        record["evaluation"] = {"error": "problem not found in the dataset", "tests_passed": 0, "tests_total": 0}
        record.update(tests_passed=0, tests_total=0, passed_all=False)
        return
    result = (await evaluator.evaluate(problem, record.get("extracted_solution") or "")).to_dict()
    record["evaluation"] = result
    record["tests_passed"] = result.get("tests_passed", 0)
    record["tests_total"] = result.get("tests_total", 0)
    record["passed_all"] = bool(result.get("passed_all"))


def _recheck(record: dict[str, Any], problem: Problem | None) -> None:
    """Extraction and validation again, from the stored raw response."""
    name = problem.name if problem else record.get("name")
    if not record.get("llm_call_success") or record.get("raw_response") is None:
        return
    found = extract_code(record["raw_response"], name).to_dict()
    record["extracted_solution"] = found.pop("code")
    record["extraction"] = found
    record["validation"] = validate_code(record["extracted_solution"], name)


async def _process(store: SessionStore, target: SessionStore, problems: dict[str, Problem],
                   evaluator: Evaluator | None, recheck: bool, source_id: str | None) -> ProgressTracker:
    """Rewrite every record of ``store`` into ``target`` (which may be the same session)."""
    parameters = session_parameters(store)
    previous = store.read_json("progress.json") or {}
    tracker = ProgressTracker(
        store=target,
        parameters=parameters,
        models=list(parameters.get("models") or []),
        categories=list(previous.get("categories") or []),
        total_tasks=int(previous.get("total_tasks") or 0),
        start_time=time.time() if source_id else float(previous.get("start_time") or time.time()),
    )
    for path in store.record_files():
        records = list(store.read_records_file(path))
        for record in records:
            if recheck:
                _recheck(record, problems.get(record["task_id"]))
        if evaluator is not None:
            await asyncio.gather(*(
                _evaluate(r, problems.get(r["task_id"]), evaluator) for r in records if r.get("llm_call_success")
            ))
        for record in records:
            if source_id:
                record["rescored_from"] = source_id
                if record.get("cost"):
                    record["cost_saved"] = record["cost"]
                record["cost"] = 0.0  # nothing was spent in the new session
            tracker.add(record)
        out = target.records_file(records[0]["model"], records[0]["category"]) if records else None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            target.rewrite(out, [_line(r) for r in records])
    tracker.total_tasks = max(tracker.total_tasks, tracker.completed)
    tracker.status = previous.get("status") or "completed"
    return tracker


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


async def evaluate_session(session: str, output_dir: str | Path | None = None) -> Path:
    """Run the tests against every solution of a session and store the outcomes in it."""
    store = SessionStore.open(Path(output_dir) if output_dir else default_output_dir(), session)
    store.lock()
    evaluator = Evaluator()
    try:
        settings = CollectionSettings.from_dict(session_parameters(store))
        tracker = await _process(store, store, _problems(settings), evaluator, recheck=False, source_id=None)
        settings.execute = True
        write_reports(store, tracker, parameters=settings.to_dict(),
                      extra={"evaluation_isolation": describe_isolation()})
        return store.path
    finally:
        await evaluator.close()
        store.unlock()


async def rescore_session(
    session: str,
    output_dir: str | Path | None = None,
    *,
    execute: bool = True,
    new_session_id: str | None = None,
) -> Path:
    """Re-extract, re-validate and (with ``execute``) re-test a session into a new session."""
    root = Path(output_dir) if output_dir else default_output_dir()
    source = SessionStore.open(root, session)
    settings = CollectionSettings.from_dict(session_parameters(source))
    target = SessionStore.create(source.path.parent, new_session_id or f"{source.session_id}_rescored_{int(time.time())}")
    target.lock()
    evaluator = Evaluator() if execute else None
    try:
        tracker = await _process(source, target, _problems(settings), evaluator, recheck=True,
                                 source_id=source.session_id)
        settings.session_id = target.session_id
        settings.execute = execute
        extra: dict[str, Any] = {"rescored_from": source.session_id, "api_calls": 0}
        if execute:
            extra["evaluation_isolation"] = describe_isolation()
        write_reports(target, tracker, parameters=settings.to_dict(), extra=extra)
        log.info("rescored %s into %s with no API calls", source.session_id, target.session_id)
        return target.path
    finally:
        if evaluator is not None:
            await evaluator.close()
        target.close()
        target.unlock()

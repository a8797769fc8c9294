"""Check stored answers again: ``evaluate`` and ``rescore``.

``evaluate_session`` runs the problems' tests against a session's solutions and writes the
outcomes into that session.  ``rescore_session`` scores a session's stored raw responses
again (extraction, validation and, optionally, the tests) and writes the result as a new
session next to the old one, so a change to the extraction or validation logic can be
measured on old answers.  Both use the scorer ``collect`` uses, so the same answer scores
the same way; no answering model is asked.  A session collected with an extraction model
is rescored with it too, through the cache, so only answers whose extraction changed cost
an extraction call (``--no-extraction-model`` uses the rules alone and calls nothing).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from llm_solutions.calls import Budget
from llm_solutions.collection.progress import ProgressTracker
from llm_solutions.collection.services import open_services
from llm_solutions.collection.session import default_output_dir, session_parameters
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore, record_line
from llm_solutions.collection.summaries import write_reports
from llm_solutions.dataset import BUILTIN_DATASET, Problem, load_dataset
from llm_solutions.evaluation.evaluator import Evaluator
from llm_solutions.evaluation.isolation import describe_isolation
from llm_solutions.extraction import extract_code
from llm_solutions.models.registry import load_registry
from llm_solutions.scoring import Scorer, evaluation_fields
from llm_solutions.validation import validate_code

log = logging.getLogger(__name__)


def _with_timeouts(settings: CollectionSettings, test: float | None, solution: float | None) -> CollectionSettings:
    changes = {name: value for name, value in (("test_timeout", test), ("solution_timeout", solution))
               if value is not None}
    return settings.copy(**changes) if changes else settings


def _problems(settings: CollectionSettings) -> dict[str, Problem]:
    dataset = load_dataset(settings.dataset_path or BUILTIN_DATASET, skip_invalid=True)
    return {p.task_id: p for p in dataset.problems}


async def _rescore(record: dict[str, Any], problem: Problem | None, scorer: Scorer) -> None:
    """Score a stored answer again, in place."""
    if not record.get("llm_call_success") or record.get("raw_response") is None:
        return
    if problem is not None:
        scored = await scorer.score(record["raw_response"], problem)
        record.update(scored.record_fields())
        return
    # The session's dataset lost this problem: the rules can still read the code.
    found = extract_code(record["raw_response"], record.get("name"))
    record["extracted_solution"] = found.code
    record["extraction"] = {k: v for k, v in found.to_dict().items() if k != "code"}
    record["validation"] = validate_code(found.code, record.get("name"))
    if scorer.evaluator is not None:
        record.update(evaluation_fields(await scorer.test(found.code, None)))


async def _retest(record: dict[str, Any], problem: Problem | None, scorer: Scorer) -> None:
    """Run the tests of a stored solution again, in place."""
    if record.get("llm_call_success"):
        record.update(evaluation_fields(await scorer.test(record.get("extracted_solution") or "", problem)))


async def _process(store: SessionStore, target: SessionStore, problems: dict[str, Problem],
                   scorer: Scorer, rescore: bool, source_id: str | None) -> ProgressTracker:
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
    step = _rescore if rescore else _retest
    for path in store.record_files():
        records = list(store.read_records_file(path))
        await asyncio.gather(*(step(r, problems.get(r["task_id"]), scorer) for r in records))
        for record in records:
            if source_id:
                record["rescored_from"] = source_id
                if record.get("cost"):
                    record["cost_saved"] = record["cost"]
                record["cost"] = 0.0  # the answer was paid for in the old session
            tracker.add(record)
        out = target.records_file(records[0]["model"], records[0]["category"]) if records else None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            target.rewrite(out, [record_line(r) for r in records])
    tracker.total_tasks = max(tracker.total_tasks, tracker.completed)
    tracker.status = previous.get("status") or "completed"
    return tracker


async def evaluate_session(session: str, output_dir: str | Path | None = None, *,
                           test_timeout: float | None = None, solution_timeout: float | None = None) -> Path:
    """Run the tests against every solution of a session and store the outcomes in it.

    The time limits default to the session's own (``--test-timeout``, ``--solution-timeout``).
    """
    store = SessionStore.open(Path(output_dir) if output_dir else default_output_dir(), session)
    settings = _with_timeouts(CollectionSettings.from_dict(session_parameters(store)), test_timeout, solution_timeout)
    store.lock()
    evaluator = Evaluator(limits=settings.sandbox_limits())
    try:
        tracker = await _process(store, store, _problems(settings), Scorer(evaluator=evaluator),
                                 rescore=False, source_id=None)
        write_reports(store, tracker, parameters=settings.copy(execute=True).to_dict(),
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
    extraction_model: bool = True,
    test_timeout: float | None = None,
    solution_timeout: float | None = None,
) -> Path:
    """Score a session's answers again into a new session; returns its folder.

    ``execute`` runs the tests; ``extraction_model=False`` extracts with the rules alone
    even when the session used an extraction model (then no request is ever sent).  The
    new session's ``summary.json`` says how many requests were sent (``api_calls``) and
    what they cost (``session_spend``).
    """
    root = Path(output_dir) if output_dir else default_output_dir()
    source = SessionStore.open(root, session)
    stored = _with_timeouts(CollectionSettings.from_dict(session_parameters(source)), test_timeout, solution_timeout)
    settings = stored.copy(
        execute=execute,
        extraction_model=stored.extraction_model if extraction_model else None,
        output_dir=str(source.path.parent),
    )
    registry = load_registry(settings.models_file)
    problems = _problems(settings)
    # A collector still writing the session would leave a partial copy: wait for it.
    source.lock()
    try:
        services = await open_services(settings, registry, [], models=[], budget=Budget())
    except BaseException:
        source.unlock()
        raise
    new_id = new_session_id or f"{source.session_id}_rescored_{int(time.time())}"
    try:
        target = SessionStore.create(source.path.parent, new_id)
    except BaseException:
        await services.close()
        source.unlock()
        raise
    target.lock()
    try:
        tracker = await _process(source, target, problems, services.scorer, rescore=True,
                                 source_id=source.session_id)
        extra: dict[str, Any] = {"rescored_from": source.session_id, **services.report()}
        write_reports(target, tracker, parameters=settings.copy(session_id=target.session_id).to_dict(), extra=extra)
        log.info("rescored %s into %s (%d API calls)", source.session_id, target.session_id,
                 services.caller.requests_sent)
        return target.path
    finally:
        await services.close()
        target.close()
        target.unlock()
        source.unlock()

"""Check stored answers again: ``evaluate`` and ``rescore``.

``evaluate_session`` runs the problems' tests against a session's solutions and writes the
outcomes into that session.  ``rescore_session`` scores a session's stored raw responses
again (extraction, validation and, optionally, the tests) and writes the result as a new
session next to the old one, so a change to the extraction or validation logic can be
measured on old answers.  Both use the scorer ``collect`` uses, so the same answer scores
the same way; no answering model is asked.  A session collected with an extraction model
is rescored with it too, through the cache, so only answers whose extraction changed cost
an extraction call (``--no-extraction-model`` uses the rules alone and calls nothing).

Both stream: records are read one at a time and a bounded number are in the evaluator at
once (a few times its capacity: its sandboxes, or every node's on Ray), so memory stays
flat in the size of the session.  Both resume (``journal.py``): killed, ``evaluate SESSION``
run again (with the same limits), or ``rescore SESSION --new-session-id ID`` run again into
the same ``ID``, processes only the records not yet processed.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from llm_solutions.calls import Budget
from llm_solutions.collection.display import ProgressDisplay
from llm_solutions.collection.journal import PassJournal
from llm_solutions.collection.progress import ProgressTracker
from llm_solutions.collection.services import open_services
from llm_solutions.collection.session import default_output_dir, session_parameters
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.summaries import write_reports
from llm_solutions.dataset import BUILTIN_DATASET, Problem, load_dataset
from llm_solutions.errors import SessionError
from llm_solutions.evaluation.evaluator import SolutionEvaluator, open_evaluator
from llm_solutions.extraction import extract_code
from llm_solutions.files import read_jsonl
from llm_solutions.scoring import Scorer, evaluation_fields
from llm_solutions.validation import validate_code

log = logging.getLogger(__name__)

Step = Callable[[dict[str, Any], Problem | None, Scorer], Coroutine[Any, Any, None]]

MIN_IN_FLIGHT = 32  # records being processed at once, at least (more with more sandboxes)


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


class _Pass:
    """One pass of ``step`` over every record of ``source``, written into ``journal.store``."""

    def __init__(self, source: SessionStore, journal: PassJournal, problems: dict[str, Problem], scorer: Scorer,
                 step: Step, source_id: str | None, show_progress: bool) -> None:
        self.source, self.journal, self.problems = source, journal, problems
        self.scorer, self.step, self.source_id = scorer, step, source_id
        self.show_progress = show_progress

    def _in_flight(self) -> int:
        capacity = self.scorer.evaluator.capacity if self.scorer.evaluator is not None else 1
        return max(MIN_IN_FLIGHT, 4 * capacity)

    async def run(self) -> None:
        files = [str(p.relative_to(self.source.path)) for p in self.source.record_files()]
        todo = [name for name in files if name not in self.journal.done]
        total = sum(_count_lines(self.source.path / name) for name in files)
        done = sum(_count_lines(self.journal.store.path / name) for name in files if name in self.journal.done)
        done += sum(self.journal.partial_records())
        status = self.scorer.evaluator.status if self.scorer.evaluator is not None else None
        display = ProgressDisplay(total=total, done=done, enabled=self.show_progress, status=status)
        try:
            for name in todo:
                await self._file(name, display)
        finally:
            display.close()

    async def _file(self, name: str, display: ProgressDisplay) -> None:
        partial = self.journal.begin_file(name, self.source.path / name)
        done = partial.done_lines()
        running: dict[asyncio.Task[None], tuple[int, dict[str, Any]]] = {}

        async def collect() -> None:
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                line, record = running.pop(task)
                task.result()  # a failed step stops the pass; what is written so far stays
                self._mark(record)
                partial.append(line, record)
                display.advance(record)

        total = 0
        torn: list[str] = []
        try:
            for line, record in enumerate(read_jsonl(self.source.path / name, bad=torn)):
                total += 1
                if line in done:
                    continue
                while len(running) >= self._in_flight():
                    await collect()
                problem = self.problems.get(str(record.get("task_id")))
                running[asyncio.create_task(self.step(record, problem, self.scorer))] = (line, record)
            while running:
                await collect()
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            partial.close()
            raise
        if torn:
            log.warning("%s: %d damaged line(s) left out", self.source.path / name, len(torn))
        partial.assemble(self.journal.store.path / name, total)
        self.journal.finish_file(name)

    def _mark(self, record: dict[str, Any]) -> None:
        if self.source_id:
            record["rescored_from"] = self.source_id
            if record.get("cost"):
                record["cost_saved"] = record["cost"]
            record["cost"] = 0.0  # the answer was paid for in the old session


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def _tracker(source: SessionStore, target: SessionStore, fresh_start: bool) -> ProgressTracker:
    """Counts of the rewritten session, from its records."""
    parameters = session_parameters(source)
    previous = source.read_json("progress.json") or {}
    tracker = ProgressTracker(
        store=target,
        parameters=parameters,
        models=list(parameters.get("models") or []),
        categories=list(previous.get("categories") or []),
        total_tasks=int(previous.get("total_tasks") or 0),
        start_time=time.time() if fresh_start else float(previous.get("start_time") or time.time()),
    )
    for record in target.read_records():
        tracker.add(record)
    tracker.total_tasks = max(tracker.total_tasks, tracker.completed)
    tracker.status = previous.get("status") or "completed"
    return tracker


def _limits(settings: CollectionSettings) -> dict[str, float]:
    return {"test_timeout": settings.test_timeout, "solution_timeout": settings.solution_timeout}


async def evaluate_session(session: str, output_dir: str | Path | None = None, *,
                           test_timeout: float | None = None, solution_timeout: float | None = None,
                           ray: str | None = None, evaluator: SolutionEvaluator | None = None,
                           show_progress: bool = False) -> Path:
    """Run the tests against every solution of a session and store the outcomes in it.

    The time limits default to the session's own (``--test-timeout``, ``--solution-timeout``).
    ``ray`` runs the tests on a Ray cluster (``local`` or an address); ``evaluator`` uses
    one you opened (and still own).  An evaluation killed midway continues when called
    again: with the limits it had (an explicit other limit starts it over).
    """
    store = SessionStore.open(Path(output_dir) if output_dir else default_output_dir(), session)
    stored = CollectionSettings.from_dict(session_parameters(store))
    journal = PassJournal.read(store)
    if journal is not None and journal.kind != "evaluate":
        journal = None
    discard = False
    if journal is not None:
        settings = _with_timeouts(stored.copy(**journal.parameters), test_timeout, solution_timeout)
        discard = _limits(settings) != journal.parameters
    else:
        settings = _with_timeouts(stored, test_timeout, solution_timeout)
    settings = settings.copy(ray=ray)
    own = evaluator is None
    locked = False
    try:
        if evaluator is None:
            evaluator = open_evaluator(settings.sandbox_limits(), ray=ray)
        await evaluator.describe_isolation()  # no sandbox, or no cluster: stop before writing anything
        store.lock()
        locked = True
        if journal is not None and discard:
            log.warning("%s: an unfinished evaluation with other limits is discarded", store.session_id)
            journal.discard()
            journal = None
        elif journal is not None:
            log.info("%s: continuing the unfinished evaluation (%d file(s) done)", store.session_id,
                     len(journal.done))
        if journal is None:
            for path in store.record_files():
                for _ in store.read_records_file(path, repair=True):  # torn lines aside before numbering
                    pass
            journal = PassJournal(store, "evaluate", _limits(settings))
            journal.save()
        await _Pass(store, journal, _problems(settings), Scorer(evaluator=evaluator), _retest, None,
                    show_progress).run()
        tracker = _tracker(store, store, fresh_start=False)
        write_reports(store, tracker, parameters=settings.copy(execute=True).to_dict(),
                      extra={"evaluation_isolation": evaluator.summary()})
        journal.finish()
        return store.path
    finally:
        if own and evaluator is not None:
            await evaluator.close()
        if locked:
            store.unlock()


def _rescore_target(source: SessionStore, new_id: str, parameters: dict[str, Any]) -> tuple[SessionStore, bool]:
    """The new session (``True``: an unfinished rescore of ``source`` continued)."""
    path = source.path.parent / new_id
    if path.is_dir():
        existing = SessionStore(path)
        journal = PassJournal.read(existing)
        if journal is not None and journal.kind == "rescore":
            if journal.parameters != parameters:
                raise SessionError(f"session {new_id} is an unfinished rescore with other options "
                                   f"({journal.parameters}); continue it with those, or choose another "
                                   "--new-session-id")
            return existing, True
    return SessionStore.create(source.path.parent, new_id), False


async def rescore_session(
    session: str,
    output_dir: str | Path | None = None,
    *,
    execute: bool = True,
    new_session_id: str | None = None,
    extraction_model: bool = True,
    test_timeout: float | None = None,
    solution_timeout: float | None = None,
    ray: str | None = None,
    show_progress: bool = False,
) -> Path:
    """Score a session's answers again into a new session; returns its folder.

    ``execute`` runs the tests (on a Ray cluster with ``ray``); ``extraction_model=False``
    extracts with the rules alone even when the session used an extraction model (then no
    request is ever sent).  The new session's ``summary.json`` says how many requests were
    sent (``api_calls``) and what they cost (``session_spend``).  A rescore killed midway
    continues when called again with the same ``new_session_id``.
    """
    root = Path(output_dir) if output_dir else default_output_dir()
    source = SessionStore.open(root, session)
    stored = _with_timeouts(CollectionSettings.from_dict(session_parameters(source)), test_timeout, solution_timeout)
    settings = stored.copy(
        execute=execute,
        extraction_model=stored.extraction_model if extraction_model else None,
        output_dir=str(source.path.parent),
        ray=ray,
    )
    parameters = {"source": source.session_id, "execute": execute, "extraction_model": settings.extraction_model,
                  **_limits(settings)}
    registry = settings.load_registry()
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
        target, resumed = _rescore_target(source, new_id, parameters)
    except BaseException:
        await services.close()
        source.unlock()
        raise
    try:
        target.lock()
    except BaseException:
        await services.close()
        source.unlock()
        raise
    try:
        if source.prompts.path.exists():
            # Records name their prompts in the prompt table (schema 2.0): the copy needs it too.
            shutil.copyfile(source.prompts.path, target.prompts.path)
        journal = PassJournal.read(target) if resumed else None
        if journal is None:
            journal = PassJournal(target, "rescore", parameters)
            journal.save()
        log.info("rescoring %s into %s%s (if stopped, run the same command with --new-session-id %s to continue)",
                 source.session_id, target.session_id, " (continued)" if resumed else "", target.session_id)
        await _Pass(source, journal, problems, services.scorer, _rescore, source.session_id, show_progress).run()
        tracker = _tracker(source, target, fresh_start=True)
        extra: dict[str, Any] = {"rescored_from": source.session_id, **services.report()}
        write_reports(target, tracker, parameters=settings.copy(session_id=target.session_id).to_dict(), extra=extra)
        journal.finish()
        log.info("rescored %s into %s (%d API calls)", source.session_id, target.session_id,
                 services.caller.requests_sent)
        return target.path
    finally:
        await services.close()
        target.close()
        target.unlock()
        source.unlock()

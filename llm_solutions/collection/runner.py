"""``CollectionRunner``: fans tasks out to models and turns every answer into a record.

For each task: ask the model through the caller (budget, cache, rate limits, retries,
cost: ``llm_solutions.calls``); score the answer with the scorer (extract, validate, run
the tests: ``llm_solutions.scoring``); append the record to the session's JSONL and count
it.  The record line is the checkpoint: a resumed run skips every task that has one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.batch import BatchCollector, batch_api
from llm_solutions.calls import Budget, CallResult
from llm_solutions.collection.batch_run import BatchRun
from llm_solutions.collection.display import ProgressDisplay
from llm_solutions.collection.done import DoneTasks
from llm_solutions.collection.plan import Plan, make_plan
from llm_solutions.collection.progress import SAVE_EVERY, ProgressTracker
from llm_solutions.collection.records import build_record, record_costs, retry_may_fix
from llm_solutions.collection.services import Services, open_services
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.summaries import (
    SessionDigest,
    add_counters,
    build_summary,
    counters,
    earlier_counters,
    original_start,
    write_reports,
)
from llm_solutions.collection.tasks import Task, build_request, iter_tasks
from llm_solutions.errors import UserError
from llm_solutions.limits import ProviderDownError
from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import Registry

log = logging.getLogger(__name__)

GRACE_PERIOD = 10.0  # seconds in-flight requests get to finish after Ctrl-C / SIGTERM


@dataclass
class RunResult:
    """What a run did; ``resume_command`` is set when work is left.

    ``retry_may_fix`` counts failed tasks whose error another attempt may fix (rate
    limits, timeouts, unreachable servers): ``--retry-failed`` runs them again.
    """

    session_id: str
    path: Path
    status: str
    completed: int
    total: int
    successful: int
    failed: int
    cost: float
    stop_reason: str | None = None
    stopped_models: dict[str, str] = field(default_factory=dict)
    resume_command: str | None = None
    retry_may_fix: int = 0
    batches_open: int = 0

    @property
    def exit_code(self) -> int:
        """0 when every task has a record and none failed for a reason a retry may fix, else 1."""
        return 0 if self.status == "completed" and not self.retry_may_fix else 1


class CollectionRunner:
    """Runs (or resumes) one collection session.

    ``settings`` are copied and checked (a notebook's objects are validated as the command
    line's are; the caller's object is never changed).  ``models`` replaces the models
    built from the table (test doubles, notebooks); ``store`` is an existing session to
    resume.  Use ``await runner.run()``.
    """

    def __init__(
        self,
        settings: CollectionSettings,
        *,
        plan: Plan | None = None,
        registry: Registry | None = None,
        models: list[BaseModel] | None = None,
        store: SessionStore | None = None,
        retry_failed: bool = False,
        show_progress: bool = False,
        handle_signals: bool = True,
        detach: bool = False,
    ) -> None:
        self.settings = settings.copy()
        self._registry = registry
        self._given_models = models
        self.store = store
        self.retry_failed = retry_failed
        self.show_progress = show_progress
        self.handle_signals = handle_signals
        self.detach = detach  # --batch --detach: submit the batches and return
        self._batch: BatchCollector | None = None
        self.plan_: Plan | None = plan
        self._stop_reason: str | None = None
        self._stopped: dict[str, str] = {}
        self._provider_down = False
        self._retry_may_fix = 0
        self._workers: list[asyncio.Task[None]] = []
        self._services: Services | None = None
        self._handling_signals = False
        self.budget = Budget(limit=self.settings.max_cost)

    # --- planning ----------------------------------------------------------------------

    def plan(self) -> Plan:
        """Load the dataset and models and count the work; no side effects."""
        self.settings.check()
        if self.plan_ is None:
            self.plan_ = make_plan(self.settings, registry=self._registry, models=self._given_models)
        return self.plan_

    # --- running -----------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Collect every task not yet recorded in the session; returns a ``RunResult``."""
        plan = self.plan()
        # Signals are handled from here on: a Ctrl-C or SIGTERM while the run starts up
        # still ends it as "interrupted", with the command that resumes it.
        self._install_signal_handlers()
        try:
            # The cache connection and the sandbox are checked before a session folder
            # exists, so a bad cache URL or sandbox setting leaves nothing behind.
            services = await open_services(self.settings, plan.registry, plan.configs, models=self._given_models,
                                           budget=self.budget)
            self._services = services
            try:
                if self.store is None:
                    if self._stop_reason == "signal":
                        raise KeyboardInterrupt  # stopped before anything was written
                    self.store = SessionStore.create(Path(self.settings.output_dir), self.settings.session_id)
                    self.settings = self.settings.copy(session_id=self.store.session_id)
                store = self.store
                # Cached answers remember who paid: a resume after a crash counts the answers
                # its killed run paid for as spend, not as savings.
                services.caller.session_id = str(store.path.resolve())
                store.lock()
                try:
                    return await self._run_locked(plan, store, services)
                finally:
                    store.close()
                    store.unlock()
            finally:
                await services.close()
        finally:
            self._remove_signal_handlers()

    async def _run_locked(self, plan: Plan, store: SessionStore, services: Services) -> RunResult:
        settings = self.settings
        if self.retry_failed:
            moved = store.remove_failed()
            log.info("retrying %d failed task(s)", moved)
        tracker = ProgressTracker(
            store=store,
            parameters=settings.to_dict(),
            models=plan.model_names,
            categories=plan.categories,
            total_tasks=plan.total_tasks,
            start_time=original_start(store),
            done=DoneTasks([p.task_id for p in plan.problems], plan.model_names, settings.samples),
        )
        earlier = earlier_counters(store)
        tracker.counters = lambda: add_counters(earlier, counters(services.report()))
        for record in store.read_records(repair=True):
            answer_cost, extraction_cost = record_costs(record)
            self.budget.add(answer_cost, "answer")
            self.budget.add(extraction_cost, "extraction")
            self._retry_may_fix += retry_may_fix(record)
            tracker.add(record, existing=True)
        tracker.save(force=True)
        store.write_json("summary.json", self._summary(plan, tracker, end=None, digest=SessionDigest(),
                                                       extra=tracker.counters()))

        pending = plan.total_tasks - tracker.done.in_plan
        log.info("session %s: %d task(s) to run, %d already done", store.session_id, pending,
                 plan.total_tasks - pending)
        display = ProgressDisplay(total=plan.total_tasks, done=tracker.completed, enabled=self.show_progress,
                                  status=services.limiter_status, spent=self.budget.spent,
                                  failed=sum(p.failed for p in tracker.per_model.values()),
                                  per_model={name: p.completed for name, p in tracker.per_model.items()})
        heartbeat = asyncio.create_task(self._save_periodically(tracker))
        try:
            per_model: dict[str, Iterator[Task]] = {
                model.name: iter_tasks(plan.problems, [model.name], settings.samples, tracker.done)
                for model in services.models
            }
            batched = [m for m in services.models if settings.batch and batch_api(m) is not None]
            self._workers = [
                asyncio.create_task(self._worker(model, per_model[model.name], services, tracker, display))
                for model in services.models if model not in batched
                for _ in range(settings.model_concurrency)
            ]
            if batched:
                self._workers.append(asyncio.create_task(self._run_batches(plan, batched, services, tracker, display)))
            results = await asyncio.gather(*self._workers, return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    raise result
        except Exception:
            # Everything recorded so far is on disk; say the run failed rather than leave
            # the session looking as if it were still running.
            tracker.status = "failed"
            tracker.save(force=True)
            raise
        finally:
            heartbeat.cancel()
            display.close()
        return self._finish(plan, store, tracker, services)

    async def _worker(self, model: BaseModel, tasks: Iterator[Task], services: Services,
                      tracker: ProgressTracker, display: ProgressDisplay) -> None:
        store = self._store()
        while self._stop_reason is None and model.name not in self._stopped:
            if self.budget.exhausted:
                self._stop("budget", self.budget.describe())
                return
            task = next(tasks, None)
            if task is None:
                return
            # A model that answers without waiting (the offline one, with the cache off)
            # would otherwise run every task in one step of the event loop: no signal
            # handled, no other worker served, and the loop never sweeps its cancelled
            # timers (one per request) until the end.
            await asyncio.sleep(0)
            record = await self._run_task(model, task, services)
            if record is None:
                return  # refused: the budget ran out while this task waited
            store.append(record)
            self._retry_may_fix += retry_may_fix(record)
            tracker.add(record)
            display.advance(record)
            if tracker.due(self.settings.checkpoint_every):
                tracker.save()

    @staticmethod
    async def _save_periodically(tracker: ProgressTracker) -> None:
        # Slow models can go minutes between answers; watchers still get a fresh file.
        while True:
            await asyncio.sleep(SAVE_EVERY)
            tracker.save(force=True)

    async def _run_task(self, model: BaseModel, task: Task, services: Services) -> dict[str, Any] | None:
        """The record of one task, or ``None`` when its call was not sent or never answered
        (the budget ran out, or its model was stopped while it waited: it stays to do on
        resume)."""
        request = build_request(model.config, task.problem, task.sample)
        started = time.perf_counter()
        call = await services.caller.call(model, request, purpose="answer", sample=task.sample)
        if call.refused:
            self._stop("budget", self.budget.describe())
            return None
        if call.stopped:
            if services.caller.halted is not None and model.name not in services.caller.stopped:
                # The run is stopping: the call waited and was never sent.
                return None if not call.billed_attempts else build_record(
                    task, call, None, execution_time=time.perf_counter() - started, request=request,
                    requested_model=model.api_model)
            self._model_stopped(model, call)
            if not call.billed_attempts:
                return None  # never answered: left to do on resume
            # billed before the stop (an empty answer, then the stop): recorded, so the
            # session's spend and tokens stay whole
        if call.error is not None:
            if call.error.stops_model:
                self._model_stopped(model, call)
                if not call.billed_attempts:
                    return None  # refused before answering (a wrong key): left to do on resume
            else:
                log.warning("%s %s: %s", model.name, task.problem.task_id, call.message)
        scored = await services.scorer.score(call.text, task.problem) if call.ok else None
        return build_record(task, call, scored, execution_time=time.perf_counter() - started, request=request,
                            requested_model=model.api_model)

    async def _run_batches(self, plan: Plan, models: list[BaseModel], services: Services,
                           tracker: ProgressTracker, display: ProgressDisplay) -> None:
        """``--batch``: these models' tasks go through their batch APIs (``collection.batch_run``)."""
        side = BatchRun(self.settings, plan, models, services, self._store(), tracker, display, detach=self.detach)
        self._batch = side.collector
        if self._stop_reason is not None:
            self._batch.stop()
        try:
            stop = await side.run()
        finally:
            self._retry_may_fix += side.retry_may_fix
        if stop is not None:
            self._stop(*stop)

    # --- stopping ----------------------------------------------------------------------

    def _model_stopped(self, model: BaseModel, call: CallResult) -> None:
        """Note (once) that ``model`` gets no more requests this session, and why."""
        if model.name in self._stopped:
            return
        error = call.error
        if isinstance(error, ProviderDownError):
            # The limiter said so once for the provider, naming the server and since when.
            self._provider_down = True
            self._stopped[model.name] = error.message
            return
        # The caller logged why, once; the end-of-run lines repeat it with the fix.
        self._stopped[model.name] = call.message or "stopped"

    def _stop(self, reason: str, message: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            log.warning("stopping: %s; no new requests, waiting for the ones in flight", message)
            if self._batch is not None:
                self._batch.stop()  # batches keep running at the providers; a resume collects them
            if self._services is not None:
                # Requests waiting on a limiter or a retry are not sent either.
                self._services.caller.halt(f"the run is stopping ({message})")

    def _on_signal(self, signum: int) -> None:
        if self._stop_reason == "signal":
            # Records are whole lines already flushed, progress.json is replaced atomically:
            # leaving right now cannot corrupt anything.
            if self.store is not None:
                print(f"\nstopped at once; resume with: {self._resume_command()}", file=sys.stderr)
            else:
                print("\nstopped at once, before the session started; nothing was written", file=sys.stderr)
            os._exit(130)
        name = signal.Signals(signum).name
        self._stop("signal", f"{name} received (press Ctrl-C again to exit at once)")
        asyncio.get_running_loop().call_later(GRACE_PERIOD, self._cancel_workers)

    def _cancel_workers(self) -> None:
        for worker in self._workers:
            if not worker.done():
                worker.cancel()

    def _install_signal_handlers(self) -> None:
        if not self.handle_signals:
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                return  # not the main thread (notebooks): no handlers
        self._handling_signals = True

    def _remove_signal_handlers(self) -> None:
        if not self._handling_signals:
            return
        self._handling_signals = False
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    # --- reports -----------------------------------------------------------------------

    def _store(self) -> SessionStore:
        if self.store is None:
            raise RuntimeError("the session store is opened by run()")
        return self.store

    def _resume_command(self) -> str:
        command = f"python scripts/resume_collection.py {self._store().session_id}"
        if Path(self.settings.output_dir) != Path("generated"):
            command += f" --output-dir {self.settings.output_dir}"
        return command

    def _summary(self, plan: Plan, tracker: ProgressTracker, end: float | None,
                 digest: SessionDigest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_summary(digest, session_id=self._store().session_id, parameters=self.settings.to_dict(),
                             start=tracker.start_time, end=end, total_tasks=plan.total_tasks, extra=extra)

    def _finish(self, plan: Plan, store: SessionStore, tracker: ProgressTracker, services: Services) -> RunResult:
        done = tracker.done.in_plan
        if done >= plan.total_tasks:
            tracker.status = "completed"
        elif self._stop_reason is not None or self._provider_down:
            tracker.status = "interrupted"
        else:
            tracker.status = "failed"
        for name, reason in self._stopped.items():
            tracker.per_model[name].stopped = reason
        report = services.report()
        report.update(tracker.counters() if tracker.counters is not None else {})
        write_reports(store, tracker, parameters=self.settings.to_dict(), extra=report)
        progress = tracker.to_dict()["current_progress"]
        return RunResult(
            session_id=store.session_id,
            path=store.path,
            status=tracker.status,
            completed=done,
            total=plan.total_tasks,
            successful=progress["successful_tasks"],
            failed=progress["failed_tasks"],
            cost=round(self.budget.spent, 6),
            stop_reason=self._stop_reason,
            stopped_models=dict(self._stopped),
            resume_command=None if tracker.status == "completed" else self._resume_command(),
            retry_may_fix=self._retry_may_fix,
            batches_open=self._batch.open_batches if self._batch is not None else 0,
        )


def run_collection(settings: CollectionSettings, **kwargs: Any) -> RunResult:
    """Run a collection from synchronous code (scripts); notebooks ``await`` the runner."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(CollectionRunner(settings, **kwargs).run())
    raise UserError("run_collection() was called inside a running event loop; use await CollectionRunner(...).run()")

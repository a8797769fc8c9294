"""``CollectionRunner``: fans tasks out to models and turns every answer into a record.

For each task: look the request up in the response cache; on a miss send it through the
rate-limited, retrying sender and cache the answer; extract the code, validate it, run
the problem's tests; append the record to the session's JSONL and count it.  Retries,
rate limits, caching and evaluation each live in their own package; this module only
composes them, once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from llm_solutions.collection.display import ProgressDisplay
from llm_solutions.collection.plan import Plan, make_plan
from llm_solutions.collection.progress import SAVE_EVERY, ProgressTracker
from llm_solutions.collection.records import build_record
from llm_solutions.collection.services import Services, open_services
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.summaries import SessionDigest, build_summary, write_reports
from llm_solutions.collection.tasks import Task, build_request, iter_tasks
from llm_solutions.errors import ProviderError, UserError
from llm_solutions.models.base import BaseModel, Completion
from llm_solutions.models.registry import Registry
from llm_solutions.validation import validate_code

log = logging.getLogger(__name__)

GRACE_PERIOD = 10.0  # seconds in-flight requests get to finish after Ctrl-C / SIGTERM


@dataclass
class RunResult:
    """What a run did; ``resume_command`` is set when work is left."""

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


class CollectionRunner:
    """Runs (or resumes) one collection session.

    ``models`` replaces the models built from the table (test doubles, notebooks);
    ``store`` is an existing session to resume.  Use ``await runner.run()``.
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
    ) -> None:
        self.settings = settings
        self._registry = registry
        self._given_models = models
        self.store = store
        self.retry_failed = retry_failed
        self.show_progress = show_progress
        self.handle_signals = handle_signals
        self.plan_: Plan | None = plan
        self._stop_reason: str | None = None
        self._stopped: dict[str, str] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._spent = 0.0

    # --- planning ----------------------------------------------------------------------

    def plan(self) -> Plan:
        """Load the dataset and models and count the work; no side effects."""
        if self.plan_ is None:
            self.plan_ = make_plan(self.settings, registry=self._registry, models=self._given_models)
        return self.plan_

    # --- running -----------------------------------------------------------------------

    async def run(self) -> RunResult:
        """Collect every task not yet recorded in the session; returns a ``RunResult``."""
        plan = self.plan()
        settings = self.settings
        if self.store is None:
            self.store = SessionStore.create(Path(settings.output_dir), settings.session_id)
            settings.session_id = self.store.session_id
        store = self.store
        store.lock()
        try:
            return await self._run_locked(plan, store)
        finally:
            store.close()
            store.unlock()

    async def _run_locked(self, plan: Plan, store: SessionStore) -> RunResult:
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
            start_time=self._original_start(store),
        )
        wanted = plan.task_keys()
        for record in store.read_records(repair=True):
            self._spent += float(record.get("cost") or 0.0)
            tracker.add(record, existing=True)
        tracker.save(force=True)
        store.write_json("summary.json", self._summary(plan, tracker, end=None, digest=SessionDigest()))

        pending = plan.total_tasks - len(tracker.completed_keys & wanted)
        log.info("session %s: %d task(s) to run, %d already done", store.session_id, pending, plan.total_tasks - pending)
        services = await open_services(plan, settings, models=self._given_models)
        display = ProgressDisplay(total=plan.total_tasks, done=tracker.completed, enabled=self.show_progress,
                                  status=services.limiter_status)
        self._install_signal_handlers()
        heartbeat = asyncio.create_task(self._save_periodically(tracker))
        try:
            per_model: dict[str, Iterator[Task]] = {
                model.name: iter_tasks(plan.problems, [model.name], settings.samples, tracker.completed_keys)
                for model in services.models
            }
            self._workers = [
                asyncio.create_task(self._worker(model, per_model[model.name], services, tracker, display))
                for model in services.models
                for _ in range(settings.max_concurrent_per_model)
            ]
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
            self._remove_signal_handlers()
            display.close()
            await services.close()
        return self._finish(plan, store, tracker, services)

    async def _worker(self, model: BaseModel, tasks: Iterator[Task], services: Services,
                      tracker: ProgressTracker, display: ProgressDisplay) -> None:
        while self._stop_reason is None and model.name not in self._stopped:
            if self.settings.max_cost is not None and self._spent >= self.settings.max_cost:
                self._stop("budget", f"spend ${self._spent:.4f} reached --max-cost ${self.settings.max_cost:.4f}")
                return
            task = next(tasks, None)
            if task is None:
                return
            record = await self._run_task(model, task, services)
            self.store.append(record)
            self._spent += record["cost"]
            tracker.add(record)
            display.advance(record)
            if tracker.due(self.settings.batch_size):
                tracker.save()

    @staticmethod
    async def _save_periodically(tracker: ProgressTracker) -> None:
        # Slow models can go minutes between answers; watchers still get a fresh file.
        while True:
            await asyncio.sleep(SAVE_EVERY)
            tracker.save(force=True)

    async def _run_task(self, model: BaseModel, task: Task, services: Services) -> dict[str, Any]:
        config = model.config
        request = build_request(config, task.problem, task.sample)
        started = time.perf_counter()
        completion: Completion | None = None
        error: ProviderError | None = None
        cache_hit = False
        attempts = 0
        try:
            if services.cache is not None:
                hit = await services.cache.lookup(config, request, task.sample)
                completion = hit.completion if hit else None
                cache_hit = hit is not None
            if completion is None:
                completion = await services.sender.send(model, request)
                attempts = completion.attempts
                if services.cache is not None:
                    await services.cache.store(config, request, task.sample, completion)
        except ProviderError as e:
            error = e
            attempts = getattr(e, "attempts", 1)
            # An empty or refused answer is still billed: keep its usage for the record.
            completion = getattr(e, "completion", None)
            if e.stops_model:
                self._stopped[model.name] = f"{type(e).__name__}: {e}"
                log.error("%s: stopped, no more requests this session: %s", model.name, e)
            else:
                log.warning("%s %s: %s", model.name, task.problem.task_id, e)
        price = self._price(config, completion)
        extraction = validation = evaluation = None
        if completion is not None and error is None:
            extraction = await services.extract(completion.text, task.problem)
            validation = validate_code(extraction["code"], task.problem.name)
            if services.evaluator is not None:
                result = await services.evaluator.evaluate(task.problem, extraction["code"])
                evaluation = result.to_dict()
        record = build_record(
            task,
            completion=completion,
            error=error,
            extraction=extraction,
            validation=validation,
            evaluation=evaluation,
            execution_time=time.perf_counter() - started,
            cost=0.0 if cache_hit else price,
            cache_hit=cache_hit,
            attempts=attempts,
        )
        if cache_hit:
            record["cost_saved"] = round(price, 8)
        return record

    @staticmethod
    def _price(config: Any, completion: Completion | None) -> float:
        if completion is None:
            return 0.0
        if completion.cost is not None:  # the provider's own figure beats our table
            return float(completion.cost)
        return config.cost(completion.input_tokens, completion.output_tokens, completion.cached_tokens)

    # --- stopping ----------------------------------------------------------------------

    def _stop(self, reason: str, message: str) -> None:
        if self._stop_reason is None:
            self._stop_reason = reason
            log.warning("stopping: %s; no new requests, waiting for the ones in flight", message)

    def _on_signal(self, signum: int) -> None:
        if self._stop_reason == "signal":
            # Records are whole lines already flushed, progress.json is replaced atomically:
            # leaving right now cannot corrupt anything.
            print(f"\nstopped at once; resume with: {self._resume_command()}", file=sys.stderr)
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
                self.handle_signals = False  # not the main thread (notebooks): no handlers

    def _remove_signal_handlers(self) -> None:
        if not self.handle_signals:
            return
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

    # --- reports -----------------------------------------------------------------------

    def _resume_command(self) -> str:
        command = f"python scripts/resume_collection.py {self.store.session_id}"
        if Path(self.settings.output_dir) != Path("generated"):
            command += f" --output-dir {self.settings.output_dir}"
        return command

    @staticmethod
    def _original_start(store: SessionStore) -> float:
        progress = store.read_json("progress.json") or {}
        return float(progress.get("start_time") or time.time())

    def _summary(self, plan: Plan, tracker: ProgressTracker, end: float | None,
                 digest: SessionDigest, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_summary(digest, session_id=self.store.session_id, parameters=self.settings.to_dict(),
                             start=tracker.start_time, end=end, total_tasks=plan.total_tasks, extra=extra)

    def _finish(self, plan: Plan, store: SessionStore, tracker: ProgressTracker, services: Services) -> RunResult:
        done = tracker.completed_keys & plan.task_keys()
        if len(done) >= plan.total_tasks:
            tracker.status = "completed"
        elif self._stop_reason is not None:
            tracker.status = "interrupted"
        else:
            tracker.status = "failed"
        for name, reason in self._stopped.items():
            tracker.per_model[name].stopped = reason
        write_reports(store, tracker, parameters=self.settings.to_dict(), extra=services.report())
        progress = tracker.to_dict()["current_progress"]
        return RunResult(
            session_id=store.session_id,
            path=store.path,
            status=tracker.status,
            completed=len(done),
            total=plan.total_tasks,
            successful=progress["successful_tasks"],
            failed=progress["failed_tasks"],
            cost=round(self._spent, 6),
            stop_reason=self._stop_reason,
            stopped_models=dict(self._stopped),
            resume_command=None if tracker.status == "completed" else self._resume_command(),
        )


def run_collection(settings: CollectionSettings, **kwargs: Any) -> RunResult:
    """Run a collection from synchronous code (scripts); notebooks ``await`` the runner."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(CollectionRunner(settings, **kwargs).run())
    raise UserError("run_collection() was called inside a running event loop; use await CollectionRunner(...).run()")

"""``GenerationRunner``: parallel worker calls, each candidate verified, deduplicated,
accepted or rejected with its reason, checkpointed as it goes, resumable after any crash.

``max_concurrent`` workers each loop: take the next batch (a category with slots the plan
still needs, its sub-topic, its complexities, a bounded list of titles to avoid), journal
it, call the worker model through the caller, and hand the answer's items to a task that
decides them while the worker already asks for the next batch.  Deciding an item:
``verification.check_item`` (schema, name, tests), the diversity index, a quota slot, the
sandbox (``Verifier``), optionally a repair call, the diversity index again (problems
accepted meanwhile), then accept (append to ``<category>.jsonl``) or reject (append to
``generation/rejected.jsonl``).  A batch is journaled ``done`` once all its items are
decided; one that is not gets sent again on resume, identical, so the cache answers it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.cache.settings import cache_settings
from llm_solutions.calls import Budget, CallResult
from llm_solutions.calls.embedding import require_embedding_model
from llm_solutions.evaluation.evaluator import open_evaluator
from llm_solutions.generation.answers import ItemText, parse_items
from llm_solutions.generation.candidates import Judge
from llm_solutions.generation.diversity import DiversityIndex, Embedder
from llm_solutions.generation.interruption import Interruption
from llm_solutions.generation.plan import GenerationPlan
from llm_solutions.generation.report import ProgressBar, Tally, build_report
from llm_solutions.generation.requests import BatchSpec, call_sample, worker_request
from llm_solutions.generation.services import (
    Progress,
    Services,
    embedder_for,
    load_excluded,
    open_services,
    read_progress,
)
from llm_solutions.generation.store import WORK_DIR, GenerationStore
from llm_solutions.generation.verification import Verifier
from llm_solutions.models.base import BaseModel, Usage
from llm_solutions.models.registry import Registry, load_registry

log = logging.getLogger(__name__)

FAILED_BATCHES = 5  # worker calls failing in a row before the run stops
STATE_VERSION = 1


@dataclass
class GenerationResult:
    """What a run did; ``report`` is ``generation_report.json``'s content."""

    status: str
    path: Path
    accepted: int
    planned: int
    rejected: int
    cost: float
    report: dict[str, Any] = field(default_factory=dict)
    stop_reason: str | None = None
    resume_command: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.status == "completed" else 1


class GenerationRunner:
    """Runs (or resumes, ``resume=True``) one generation; ``await runner.run()``.

    ``models`` replaces the worker or planner built from the model table, by name;
    ``embedder`` (texts -> vectors) turns on the semantic-duplicate check.
    """

    def __init__(self, plan: GenerationPlan, *, resume: bool = False, registry: Registry | None = None,
                 models: dict[str, BaseModel] | None = None, embedder: Embedder | None = None,
                 embedding_model: str | None = None, show_progress: bool = False,
                 handle_signals: bool = True) -> None:
        self.plan = plan
        self.settings = plan.settings
        self.resume = resume
        self._registry = registry
        self._models = models
        self.embedder = embedder
        self.embedding_model = embedding_model
        self.show_progress = show_progress
        self.handle_signals = handle_signals
        self.root = Path(str(plan.settings.output or "."))
        self.budget = Budget(limit=plan.settings.max_cost)
        self._stop_reason: str | None = None
        self._stop_message: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._failures = 0
        self._turn = 0
        self._errors: list[BaseException] = []

    # --- starting ----------------------------------------------------------------------

    async def run(self) -> GenerationResult:
        """Generate until every category has its planned count, or a stop."""
        plan, settings = self.plan, self.settings
        plan.check()
        settings.require_run_settings()
        registry = self._registry or load_registry(settings.models_file)
        names = [n for n in (settings.worker_model, settings.planner_model, settings.embedding_model)
                 if n and n not in (self._models or {})]
        configs = [registry.get(name) for name in dict.fromkeys(names)]
        registry.require_keys(configs)
        if settings.embedding_model in names:
            require_embedding_model(registry.get(str(settings.embedding_model)))
        excluded = load_excluded(plan)
        if self.resume:
            GenerationStore.check_existing(self.root)
        else:
            GenerationStore.check_new(self.root)
        cache_settings(settings.cache, output_dir=self.root / WORK_DIR)  # a bad cache setting fails here
        evaluator = open_evaluator(settings.sandbox_limits(), workers=settings.verify_workers, ray=settings.ray)
        try:
            isolation = await evaluator.describe_isolation()  # a missing sandbox fails before any file exists
        except BaseException:
            await evaluator.close()
            raise
        store = GenerationStore(self.root)
        made = [path for path in (self.root, store.work) if not path.exists()]
        store.create()
        try:
            store.lock()
            services = await open_services(plan, registry, evaluator, self.budget, self._models)
        except BaseException:
            store.close()
            await evaluator.close()
            if made and not self.resume:
                # Made by this run a moment ago (the cache could not be opened): nothing in it.
                shutil.rmtree(made[0], ignore_errors=True)
            raise
        try:
            if self.embedder is None and settings.embedding_model:
                self.embedder = embedder_for(settings.embedding_model, registry, services, self._models)
                self.embedding_model = settings.embedding_model
            return await self._run_open(store, services, excluded, isolation)
        finally:
            await services.close()
            store.close()

    async def _run_open(self, store: GenerationStore, services: Services,
                        excluded: list[tuple[str, list[Any]]], isolation: dict[str, Any]) -> GenerationResult:
        settings = self.settings
        state = store.read_state() if self.resume else {}
        self.started = time.time()
        self.created = float(state.get("created") or self.started)
        self.runs = int(state.get("runs") or 0) + 1
        index = DiversityIndex(threshold=settings.near_duplicate_threshold, window=settings.recent_window,
                               semantic_threshold=settings.semantic_threshold)
        for label, problems in excluded:
            index.exclude(label, problems)
        progress = read_progress(store, self.plan, index) if self.resume else Progress.fresh(self.plan)
        self.tally = Tally(planned={c.name: c.planned() for c in self.plan.categories},
                           accepted=progress.accepted, rejected=progress.rejected,
                           repaired_accepted=progress.repaired)
        for event in progress.call_events:
            self.tally.call(event)
            self.budget.add(float(event.get("cost") or 0.0), "generation")
        self.progress = progress
        self.store, self.services = store, services
        self.excluded = [{"dataset": label, "problems": len(problems)} for label, problems in excluded]
        self.isolation = isolation
        self.bar = ProgressBar(self.plan.total, self.tally.accepted_total, self.show_progress,
                               lambda: {**services.caller.pool.status(), **services.evaluator.status()})
        self.judge = Judge(self, index, Verifier(services.evaluator))
        self.pending: deque[BatchSpec] = deque(progress.in_flight)
        self.in_flight: dict[str, BatchSpec] = {}
        self.subtopics: dict[str, list[str]] = dict(state.get("subtopics") or {})
        self.status = "running"
        self._save_state()
        if self.embedder is not None:
            await self.judge.embed_known(excluded)
        interruption = Interruption(self.stop, self._cancel_tasks, self._resume_command, self.handle_signals)
        interruption.install()
        try:
            await self._plan_subtopics()
            self._save_state()
            workers = [asyncio.create_task(self._worker()) for _ in range(settings.max_concurrent)]
            self._tasks.update(workers)
            await self._settle(workers)
            while self._tasks:
                await self._settle(list(self._tasks))
            if self._errors:
                raise self._errors[0]
            self.status = self._final_status()
        except asyncio.CancelledError:
            self.status = "interrupted"
        except Exception:
            self.status = "failed"
            self._save_state()
            raise
        finally:
            interruption.remove()
            self.bar.close()
        return self._finish()

    async def _settle(self, tasks: list[asyncio.Task[Any]]) -> None:
        results = await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    # --- sub-topics --------------------------------------------------------------------

    async def _plan_subtopics(self) -> None:
        missing = [c for c in self.plan.categories if c.name not in self.subtopics]
        found = await asyncio.gather(*(self.judge.subtopics_for(c) for c in missing))
        for category, topics in zip(missing, found, strict=True):
            ordered = list(topics)
            random.Random(f"{self.settings.seed}:{category.name}").shuffle(ordered)
            self.subtopics[category.name] = ordered
            self.store.journal({"event": "planned", "category": category.name, "subtopics": ordered})

    # --- workers -----------------------------------------------------------------------

    def _open_categories(self) -> list[str]:
        stopped = self.judge.stopped_categories
        return [c.name for c in self.plan.categories
                if c.name not in stopped and self.judge.quotas.free_total(c.name) > 0]

    def _finished(self) -> bool:
        quotas, stopped = self.judge.quotas, self.judge.stopped_categories
        return all(quotas.done(c.name) or c.name in stopped for c in self.plan.categories)

    async def _next_batch(self) -> tuple[BatchSpec, list[int], bool] | None:
        quotas = self.judge.quotas
        while self._stop_reason is None and not self._finished():
            if self.pending:
                spec = self.pending.popleft()
                self.in_flight[spec.id] = spec
                # Slots its items filled before the interruption are accepted problems now.
                wanted = Counter(spec.complexities) - self.progress.filled.get(spec.id, Counter())
                return spec, quotas.reserve_levels(spec.category, sorted(wanted.elements())), True
            open_now = self._open_categories()
            if open_now:
                # Round robin over the categories that still have free slots.
                category = open_now[self._turn % len(open_now)]
                self._turn += 1
                held = quotas.reserve(category, min(self.settings.batch_size, quotas.free_total(category)))
                number = self.progress.next_number[category]
                self.progress.next_number[category] += 1
                topics = self.subtopics[category]
                avoid = tuple(self.progress.recent[category])[-self.settings.avoid_list:] \
                    if self.settings.avoid_list else ()
                spec = BatchSpec(category, number, topics[number % len(topics)], tuple(held), avoid)
                self.store.journal({"event": "issued", **spec.to_dict(), "time": time.time()})
                self.in_flight[spec.id] = spec
                return spec, held, False
            self._changed.clear()
            await self._changed.wait()
        return None

    async def _worker(self) -> None:
        while True:
            chosen = await self._next_batch()
            if chosen is None:
                return
            spec, held, resumed = chosen
            await self.judge.room()
            call = await self._ask(spec, resumed)
            if not call.ok:
                self._call_failed(spec, held, call)
                continue
            self._failures = 0
            items = parse_items(call.text)
            self._track(asyncio.create_task(self._decide_batch(spec, held, items, resumed)))

    def _track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` until it ends (a run makes thousands: none is kept longer); an
        error in it stops the run and is raised when the workers are done."""
        self._tasks.add(task)

        def ended(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            error = None if done.cancelled() else done.exception()
            if error is not None:
                self._errors.append(error)
                self.stop("error", f"an unexpected error: {error!r}")

        task.add_done_callback(ended)

    async def _ask(self, spec: BatchSpec, resumed: bool) -> CallResult:
        worker = self.services.worker
        category = self.plan.category(spec.category)
        request = worker_request(worker.config, category, spec, self.settings)
        call = await self.services.caller.call(worker, request, purpose="generation",
                                               sample=call_sample(self.settings.seed, spec.number))
        self.record_call("worker", spec.id, None, worker, call, resumed)
        return call

    def _call_failed(self, spec: BatchSpec, held: list[int], call: CallResult) -> None:
        for level in held:
            self.judge.quotas.release(spec.category, level)
        # Not sent (the budget, a stopped model): it stays in flight, to send on resume.
        if call.refused:
            self.stop("budget", self.budget.describe())
            return
        error = call.error
        if error is None or error.stops_model:  # no error and no answer: not sent, its model was stopped
            self.stop("model_stopped", call.message or "the worker model was stopped")
            return
        self.in_flight.pop(spec.id, None)
        self.store.journal({"event": "done", "batch": spec.id, "error": call.message, "time": time.time()})
        self._failures += 1
        log.warning("%s: worker call failed: %s", spec.id, call.message)
        if self._failures >= FAILED_BATCHES:
            self.stop("failures", f"{self._failures} worker calls failed in a row, the last: {call.message}")
        self._changed.set()

    async def _decide_batch(self, spec: BatchSpec, held: list[int], items: list[ItemText], resumed: bool) -> None:
        pool = Counter(held)
        try:
            outcomes = await asyncio.gather(*(self.judge.decide(spec, pool, item, resumed) for item in items))
        finally:
            for level, count in pool.items():
                for _ in range(count):
                    self.judge.quotas.release(spec.category, level)
            self._changed.set()
        accepted = sum(1 for outcome in outcomes if outcome)
        self.store.journal({"event": "done", "batch": spec.id, "accepted": accepted,
                            "rejected": len(items) - accepted, "time": time.time()})
        self.in_flight.pop(spec.id, None)
        self.judge.batch_done(spec.category, accepted)

    # --- calls, counted ----------------------------------------------------------------

    def record_call(self, kind: str, batch: str, item: int | None, model: BaseModel, call: CallResult,
                    resumed: bool) -> None:
        """Journal one call; an answer a killed run paid for but never counted is counted
        now (its resend came from the cache)."""
        if call.refused or (not call.attempts and not call.cache_hit):
            return  # never sent: not a call
        usage, cost, recovered = call.usage, call.cost, False
        key = (kind, batch, item)
        if resumed and call.cache_hit and call.completion is not None and key not in self.progress.paid:
            usage, cost, recovered = Usage.of(call.completion), model.config.price(call.completion), True
            self.budget.add(cost, "generation")
        self.progress.paid.add(key)
        event = {"event": "call", "kind": kind, "batch": batch, "item": item, "model": model.name, "ok": call.ok,
                 "cache_hit": call.cache_hit, "attempts": call.attempts, "input_tokens": usage.input_tokens,
                 "output_tokens": usage.output_tokens, "cost": round(cost, 8), "recovered": recovered,
                 "error": call.message, "time": time.time()}
        self.store.journal(event)
        self.tally.call(event)

    # --- stopping ----------------------------------------------------------------------

    def stop(self, reason: str, message: str) -> None:
        if self._stop_reason is None:
            self._stop_reason, self._stop_message = reason, message
            log.warning("stopping: %s; no new calls, finishing the ones in flight", message)
        self._changed.set()

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- state and report --------------------------------------------------------------

    def _resume_command(self) -> str:
        return f"python scripts/generate_dataset.py --resume --output {self.root}"

    def _final_status(self) -> str:
        if all(self.judge.quotas.done(c.name) for c in self.plan.categories):
            return "completed"
        if self._stop_reason is None and self.judge.stopped_categories:
            self._stop_reason = "unproductive"
            self._stop_message = "; ".join(self.judge.stopped_categories.values())
        return "interrupted"

    def _save_state(self) -> None:
        counters = {
            c.name: {"accepted": sum(self.tally.accepted[c.name].values()),
                     "by_complexity": {str(k): v for k, v in sorted(self.tally.accepted[c.name].items())},
                     "rejected": sum(self.tally.rejected[c.name].values()),
                     "next_batch": self.progress.next_number[c.name], "next_task": self.progress.next_task[c.name]}
            for c in self.plan.categories
        }
        self.store.write_state({
            "version": STATE_VERSION, "status": self.status, "plan": self.plan.to_dict(),
            "seed": self.settings.seed, "subtopics": self.subtopics, "counters": counters,
            "in_flight": [spec.to_dict() for spec in self.in_flight.values()] + [s.to_dict() for s in self.pending],
            "spent": round(self.budget.spent, 6), "created": self.created, "updated": time.time(), "runs": self.runs,
        })

    def checkpoint(self) -> None:
        """Sync the appended lines and rewrite the state file (every N accepted problems)."""
        self.store.sync()
        self._save_state()

    def _finish(self) -> GenerationResult:
        self._save_state()
        duration = time.time() - self.started
        verifier = self.judge.verifier
        resume = None if self.status == "completed" else self._resume_command()
        report = build_report(
            self.tally, status=self.status, plan=self.plan.to_dict(), checks=self.judge.checks(),
            timing={"created": self.created, "this_run_seconds": round(duration, 3), "runs": self.runs,
                    "verified_this_run": verifier.verified,
                    "verification_seconds": round(verifier.seconds, 3),
                    "verification_busy_seconds": round(verifier.busy_seconds, 3),
                    "verification_share": round(verifier.busy_seconds / duration, 4) if duration > 0 else None},
            stop=self._stop_message, resume_command=resume)
        self.store.write_report(report)
        return GenerationResult(status=self.status, path=self.root, accepted=self.tally.accepted_total,
                                planned=self.plan.total, rejected=self.tally.rejected_total,
                                cost=round(self.tally.cost, 6), report=report, stop_reason=self._stop_reason,
                                resume_command=resume)

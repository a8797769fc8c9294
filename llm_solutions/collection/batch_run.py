"""``BatchRun``: the ``--batch`` side of a collection run.

The models whose provider has a batch API hand their tasks to ``BatchCollector``
(``llm_solutions.batch``); each answer it brings back is scored and recorded here exactly
as the runner records an online one, with the batch's id in the record.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from llm_solutions.batch import BatchCollector, BatchItem
from llm_solutions.calls import CallResult
from llm_solutions.collection.display import ProgressDisplay
from llm_solutions.collection.plan import Plan
from llm_solutions.collection.progress import ProgressTracker
from llm_solutions.collection.records import build_record, retry_may_fix
from llm_solutions.collection.services import Services
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.tasks import Task, build_request, iter_tasks
from llm_solutions.models.base import BaseModel, Request


class BatchRun:
    """Collects ``models``' tasks through their batch APIs; ``await run()``.

    ``retry_may_fix`` counts the failed records a retry may fix, as the runner does.
    """

    def __init__(self, settings: CollectionSettings, plan: Plan, models: list[BaseModel], services: Services,
                 store: SessionStore, tracker: ProgressTracker, display: ProgressDisplay, *, detach: bool) -> None:
        self.settings, self.plan, self.services = settings, plan, services
        self.store, self.tracker, self.display = store, tracker, display
        self.names = {m.name: m for m in models}
        self.by_id = {p.task_id: p for p in plan.problems}
        self.retry_may_fix = 0
        self._requests: dict[tuple[str, str], Request] = {}
        self.collector = BatchCollector(store.path, services.caller, models, registry=plan.registry,
                                        poll=settings.batch_poll, detach=detach, max_rounds=settings.max_attempts)

    async def run(self) -> tuple[str, str] | None:
        """Until every task of these models has a record, or the collector is stopped;
        returns why the whole run must stop now, if it must: (reason, message)."""
        collector = self.collector
        await collector.run(self._pending, self._item_for, self._deliver)
        if collector.held_by_budget:
            budget = self.services.caller.budget
            return "budget", f"{budget.describe()}; {collector.held_by_budget} task(s) not submitted"
        if collector.detach and collector.open_batches:
            return "detached", f"{collector.open_batches} batch(es) submitted; they run at the providers"
        return None

    def _item(self, task: Task) -> BatchItem:
        model = self.names[task.model]
        # The prompt is rendered once per problem and model, not once per sample: every
        # key is looked up twice (sent, then recorded), tens of thousands of times.
        base = self._requests.get((task.model, task.problem.task_id))
        if base is None:
            base = self._requests[(task.model, task.problem.task_id)] = build_request(model.config, task.problem, 0)
        request = base
        if task.sample:
            # A copy with its own metadata; the messages were made sendable once, in ``base``.
            request = copy.copy(base)
            object.__setattr__(request, "metadata", {**base.metadata, "sample": task.sample})
        return BatchItem(task.key, model, request, task.sample, task)

    def _pending(self) -> Iterator[BatchItem]:
        return (self._item(t) for t in iter_tasks(self.plan.problems, list(self.names), self.settings.samples,
                                                  self.tracker.done))

    def _item_for(self, key: str) -> BatchItem | None:
        """The task of a key (``<task id>_<model>_s<sample>``), unless it is recorded."""
        head, _, sample = key.rpartition("_s")
        for name in self.names:
            problem = self.by_id.get(head[:-len(name) - 1]) if head.endswith("_" + name) else None
            if problem is not None and sample.isdigit() and int(sample) < self.settings.samples:
                if self.tracker.done.has(problem.task_id, name, int(sample)):
                    return None
                return self._item(Task(problem, name, int(sample)))
        return None

    async def _deliver(self, found: BatchItem, call: CallResult, batch_id: str) -> None:
        task: Task = found.context
        tracker = self.tracker
        if tracker.done.has(task.problem.task_id, task.model, task.sample):
            return
        scored = await self.services.scorer.score(call.text, task.problem) if call.ok else None
        record = build_record(task, call, scored, execution_time=0.0, request=found.request,
                              requested_model=found.model.api_model)
        if batch_id:
            record["batch_id"] = batch_id
        self.store.append(record)
        self.retry_may_fix += retry_may_fix(record)
        tracker.add(record)
        self.display.advance(record)
        if tracker.due(self.settings.checkpoint_every):
            tracker.save()

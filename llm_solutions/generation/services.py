"""What a generation opens before it starts and closes when it ends, and what it reads back
from an output folder to resume.

``open_services`` builds the worker and planner models (one SDK client per provider and
key), the limiter pool, the caller (cache, limits, retries, cost, budget) and the sandbox
evaluator, the same way collection does.  ``read_progress`` replays an output folder's
problems, rejections and journal into what a resumed run continues from.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from llm_solutions.cache.response_cache import open_cache
from llm_solutions.cache.settings import cache_settings
from llm_solutions.calls import Budget, Caller
from llm_solutions.calls.embedding import Embedder
from llm_solutions.dataset import BUILTIN_DATASET, Problem, load_dataset, parse_problem
from llm_solutions.evaluation.evaluator import SolutionEvaluator
from llm_solutions.generation.diversity import DiversityIndex
from llm_solutions.generation.diversity import Embedder as EmbedFunction
from llm_solutions.generation.fingerprints import signature, title
from llm_solutions.generation.plan import GenerationPlan
from llm_solutions.generation.requests import BatchSpec
from llm_solutions.generation.store import WORK_DIR, GenerationStore
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import Registry, build_models, close_models

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The models, the caller and the evaluator of one run."""

    worker: BaseModel
    planner: BaseModel | None
    caller: Caller
    evaluator: SolutionEvaluator
    owned: list[BaseModel] = field(default_factory=list)

    async def close(self) -> None:
        await self.evaluator.close()
        if self.caller.cache is not None:
            await self.caller.cache.close()
        await close_models(self.owned)


async def open_services(plan: GenerationPlan, registry: Registry, evaluator: SolutionEvaluator, budget: Budget,
                        models: dict[str, BaseModel] | None = None) -> Services:
    """Open the models, the caller (with the response cache) and take the evaluator.

    ``models`` replaces models built from the table, by name (test doubles, notebooks).
    The default cache is ``<output>/generation/cache.sqlite3``, beside the state it serves.
    """
    settings = plan.settings
    given = models or {}
    names = [n for n in (settings.worker_model, settings.planner_model) if n]
    configs = [registry.get(name) for name in dict.fromkeys(names) if name not in given]
    owned = build_models(registry, configs, timeout=settings.request_timeout) if configs else []
    by_name = {**{m.name: m for m in owned}, **given}
    # Worker calls in flight are the run's own workers; the provider may take that many at once.
    pool = LimiterPool(registry, rpm=settings.rpm, tpm=settings.tpm, max_concurrent=settings.max_concurrent)
    caller = Caller(pool, policy=RetryPolicy(max_attempts=settings.max_attempts), timeout=settings.request_timeout,
                    budget=budget)
    services = Services(worker=by_name[str(settings.worker_model)],
                        planner=by_name[settings.planner_model] if settings.planner_model else None,
                        caller=caller, evaluator=evaluator, owned=owned)
    try:
        output = Path(str(settings.output))
        caller.cache = await open_cache(cache_settings(settings.cache, output_dir=output / WORK_DIR))
        caller.session_id = f"generate:{output.resolve()}"  # see Caller.session_id
    except BaseException:
        await services.close()
        raise
    return services


def embedder_for(name: str, registry: Registry, services: Services,
                 models: dict[str, BaseModel] | None = None) -> EmbedFunction:
    """The semantic check's embedding function: the embedding model ``name`` (built here and
    owned by ``services``, unless ``models`` has it) called through the run's caller, so its
    calls are cached by input, rate-limited, retried and counted in the budget."""
    model = (models or {}).get(name)
    if model is None:
        [model] = build_models(registry, [registry.get(name)], timeout=services.caller.timeout)
        services.owned.append(model)
    return cast(EmbedFunction, Embedder(model, services.caller))


def load_excluded(plan: GenerationPlan) -> list[tuple[str, list[Problem]]]:
    """The excluded datasets' problems, labelled (``builtin`` for the built-in set)."""
    found: list[tuple[str, list[Problem]]] = []
    if plan.settings.exclude_builtin:
        found.append(("builtin", load_dataset(BUILTIN_DATASET).problems))
    for path in plan.settings.exclude_datasets:
        dataset = load_dataset(path, skip_invalid=True)
        found.append((Path(path).name or path, dataset.problems))
    return found


@dataclass
class Progress:
    """What earlier runs left: counters, who decided what, batches still in flight."""

    accepted: dict[str, Counter[int]]
    next_task: dict[str, int]
    recent: dict[str, deque[str]]
    rejected: dict[str, Counter[str]]
    decided: set[tuple[str, int]] = field(default_factory=set)
    filled: dict[str, Counter[int]] = field(default_factory=dict)  # batch -> complexities accepted from it
    paid: set[tuple[str, str, int | None]] = field(default_factory=set)
    call_events: list[dict[str, Any]] = field(default_factory=list)
    next_number: dict[str, int] = field(default_factory=dict)
    in_flight: list[BatchSpec] = field(default_factory=list)
    repaired: int = 0

    @classmethod
    def fresh(cls, plan: GenerationPlan) -> Progress:
        """Where a new generation starts: nothing accepted, nothing asked."""
        names = [c.name for c in plan.categories]
        return cls(accepted={c: Counter() for c in names}, next_task={c: 1 for c in names},
                   recent={c: deque(maxlen=max(1, plan.settings.avoid_list)) for c in names},
                   rejected={c: Counter() for c in names}, next_number={c: 0 for c in names})


def read_progress(store: GenerationStore, plan: GenerationPlan, index: DiversityIndex) -> Progress:
    """Replay the folder's files (torn last lines moved aside) and index the accepted
    problems; nothing is read that a crash could have left half-written."""
    progress = Progress.fresh(plan)
    for category in plan.categories:
        for record in store.problems(category.name):
            try:
                problem = parse_problem(record)
            except ValueError as e:
                log.warning("%s: a stored problem cannot be read (%s); it is left as it is", category.name, e)
                continue
            progress.accepted[category.name][problem.complexity] += 1
            number = problem.task_id.rsplit("_", 1)[-1]
            if number.isdigit():
                progress.next_task[category.name] = max(progress.next_task[category.name], int(number) + 1)
            progress.recent[category.name].append(avoid_line(problem))
            index.add(problem.task_id, index.fingerprint(problem))
            origin = record.get("origin") or {}
            if "batch" in origin and "item" in origin:
                progress.decided.add((str(origin["batch"]), int(origin["item"])))
                progress.filled.setdefault(str(origin["batch"]), Counter())[problem.complexity] += 1
            progress.repaired += bool(origin.get("repaired"))
    for record in store.rejections():
        owner = str(record.get("category"))
        if owner in progress.rejected:
            progress.rejected[owner][str(record.get("reason"))] += 1
        if record.get("batch") is not None and record.get("item") is not None:
            progress.decided.add((str(record["batch"]), int(record["item"])))
    issued: dict[str, BatchSpec] = {}
    for event in store.events():
        kind = event.get("event")
        if kind == "issued" and event.get("category") in progress.next_number:
            spec = BatchSpec.from_dict(event)
            issued[spec.id] = spec
            progress.next_number[spec.category] = max(progress.next_number[spec.category], spec.number + 1)
        elif kind == "done":
            issued.pop(str(event.get("batch")), None)
        elif kind == "call":
            progress.call_events.append(event)
            progress.paid.add((str(event.get("kind")), str(event.get("batch")), event.get("item")))
    progress.in_flight = sorted(issued.values(), key=lambda s: (s.category, s.number))
    return progress


def avoid_line(problem: Problem) -> str:
    """How an accepted problem is named in the list a worker is told to avoid."""
    return f"{signature(problem.canonical_solution, problem.name)}: {title(problem.problem)}"

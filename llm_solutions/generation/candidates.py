"""Deciding candidates: accepted into the dataset, or rejected with the reason.

``Judge.decide`` takes one item of a worker's answer through every check (see
``runner``), holding a quota slot while the sandbox runs so the run never accepts more
than the plan asks for.  The last diversity check and the append happen with no ``await``
between them, so two candidates verified at once cannot both be accepted as each other's
duplicate.  Items an earlier run already decided (a batch sent again after a crash) are
recognised by their batch and position and skipped, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from llm_solutions.dataset import Problem
from llm_solutions.generation.answers import ItemText, parse_items, parse_subtopics
from llm_solutions.generation.diversity import EMBED_BATCH, DiversityIndex, unit_vector
from llm_solutions.generation.quotas import Quotas
from llm_solutions.generation.requests import (
    BatchSpec,
    call_sample,
    planner_request,
    repair_request,
)
from llm_solutions.generation.services import avoid_line
from llm_solutions.generation.settings import CategorySpec
from llm_solutions.generation.stubs import STUB_KINDS
from llm_solutions.generation.verification import REPAIRABLE, Rejection, Verifier, check_item
from llm_solutions.text import visible

if TYPE_CHECKING:
    from llm_solutions.generation.runner import GenerationRunner

log = logging.getLogger(__name__)

#: Worker batches in a row without an accepted problem before a category is given up.
UNPRODUCTIVE_BATCHES = 10


# Angles a category is approached from when no planner writes its sub-topics.
_ANGLES = (
    "processing text", "numbers and arithmetic", "lists and sequences", "dictionaries and grouping",
    "parsing and validating input", "keeping state over several calls", "searching and ordering",
    "dates, times and intervals", "edge cases and errors", "small simulations",
)

class Judge:
    """Decides every candidate of one run, with the run's quotas, index and verifier."""

    def __init__(self, runner: GenerationRunner, index: DiversityIndex, verifier: Verifier) -> None:
        self.runner = runner
        self.settings = runner.settings
        self.index = index
        self.verifier = verifier
        self.quotas = Quotas(runner.tally.planned, runner.tally.accepted)
        self.stopped_categories: dict[str, str] = {}
        self._empty: Counter[str] = Counter()
        self._backlog = 0
        self._limit = 2 * self.settings.max_concurrent * self.settings.batch_size
        self._room = asyncio.Event()
        self._room.set()
        self._since_checkpoint = 0
        self._semantic_errors = 0
        self.planner_notes: dict[str, str] = {}

    # --- backpressure ------------------------------------------------------------------

    async def room(self) -> None:
        """Wait while more candidates await a decision than the sandboxes can take soon."""
        while self._backlog >= self._limit:
            self._room.clear()
            await self._room.wait()

    def _enter(self) -> None:
        self._backlog += 1

    def _leave(self) -> None:
        self._backlog -= 1
        if self._backlog < self._limit:
            self._room.set()

    # --- deciding ----------------------------------------------------------------------

    async def decide(self, spec: BatchSpec, pool: Counter[int], item: ItemText, resumed: bool) -> bool:
        """Accept or reject one item; ``pool`` holds the batch's unclaimed slots."""
        if (spec.id, item.index) in self.runner.progress.decided:
            return False  # decided by an earlier run of this generation
        self._enter()
        try:
            return await self._decide(spec, pool, item, resumed, repaired=None)
        finally:
            self._leave()

    async def _decide(self, spec: BatchSpec, pool: Counter[int], item: ItemText, resumed: bool,
                      repaired: Rejection | None) -> bool:
        category = self.runner.plan.category(spec.category)
        if item.value is None:
            return await self._fail(spec, pool, item, category, Rejection("malformed", item.error or ""), resumed,
                                    repaired)
        problem, rejection = check_item(item.value, category, self.settings.min_tests)
        if rejection is not None or problem is None:
            return await self._fail(spec, pool, item, category, rejection or Rejection("schema"), resumed, repaired)
        fingerprint = self.index.fingerprint(problem)
        rejection = self.index.check(fingerprint) or self._full(category.name, problem.complexity)
        if rejection is None:
            rejection = await self.verifier.verify(problem)
            if rejection is not None:
                return await self._fail(spec, pool, item, category, rejection, resumed, repaired)
            if self.runner.embedder is not None:
                fingerprint.vector = await self._embed(problem.problem)
            # Problems accepted while this one was verified; no await from here to the append.
            rejection = self.index.check(fingerprint) or self._claim(category.name, problem.complexity, pool)
        if rejection is not None:
            self._reject(spec, item, category, rejection, repaired)
            return False
        self._accept(spec, item, problem, fingerprint, repaired is not None)
        return True

    def _full(self, category: str, level: int) -> Rejection | None:
        """Surplus already before verification: the plan's count of ``level`` is accepted."""
        if self.quotas.accepted[category][level] >= self.quotas.planned[category].get(level, 0):
            return Rejection("surplus", f"complexity {level} already has every problem the plan asks for")
        return None

    def _claim(self, category: str, level: int, pool: Counter[int]) -> Rejection | None:
        """Take one of the batch's slots of ``level``, else a free one, else it is surplus."""
        if pool[level] > 0:
            pool[level] -= 1
            return None
        if self.quotas.take_free(category, level):
            return None
        return Rejection("surplus", f"complexity {level} has no slot left: the plan's count is accepted or being "
                                    "verified in other batches")

    async def _fail(self, spec: BatchSpec, pool: Counter[int], item: ItemText, category: CategorySpec,
                    rejection: Rejection, resumed: bool, repaired: Rejection | None) -> bool:
        """Reject, or (``--repair``, once) send the candidate back with the reason."""
        wants_repair = (self.settings.repair and repaired is None and rejection.reason in REPAIRABLE
                        and isinstance(item.value, dict) and not self.runner.stopping)
        if wants_repair:
            fixed, note = await self._repair(spec, item, category, rejection, resumed)
            if fixed is not None:
                return await self._decide(spec, pool, fixed, resumed, repaired=rejection)
            rejection = Rejection(rejection.reason, f"{rejection.detail} ({note})")
        self._reject(spec, item, category, rejection, repaired)
        return False

    async def _repair(self, spec: BatchSpec, item: ItemText, category: CategorySpec, rejection: Rejection,
                      resumed: bool) -> tuple[ItemText | None, str]:
        worker = self.runner.services.worker
        request = repair_request(worker.config, category, item.value, rejection.reason, rejection.detail,
                                 self.settings)
        call = await self.runner.services.caller.call(worker, request, purpose="generation",
                                                      sample=call_sample(self.settings.seed, spec.number))
        self.runner.record_call("repair", spec.id, item.index, worker, call, resumed)
        if not call.ok:
            return None, f"the repair call failed: {call.message or 'not sent'}"
        found = [i for i in parse_items(call.text) if i.value is not None]
        if not found:
            return None, "the repair answer held no problem"
        return ItemText(item.index, found[0].value, None, found[0].raw), ""

    # --- outcomes ----------------------------------------------------------------------

    def _reject(self, spec: BatchSpec, item: ItemText, category: CategorySpec, rejection: Rejection,
                repaired: Rejection | None) -> None:
        detail = rejection.detail
        if repaired is not None:
            detail = f"after a repair for {repaired.reason} ({repaired.detail}): {detail}"
        self.runner.store.append_rejection({
            "category": category.name, "batch": spec.id, "item": item.index, "reason": rejection.reason,
            "detail": detail, "repaired": repaired is not None, "model": self.runner.services.worker.name,
            "candidate": item.value if item.value is not None else item.raw, "time": time.time(),
        })
        self.runner.tally.rejected[category.name][rejection.reason] += 1
        self.runner.bar.update(rejected=1)
        log.debug("%s item %d rejected: %s: %s", spec.id, item.index, rejection.reason, visible(detail[:200]))

    def _accept(self, spec: BatchSpec, item: ItemText, problem: Problem, fingerprint: Any, repaired: bool) -> None:
        runner = self.runner
        name = problem.category
        number = runner.progress.next_task[name]
        runner.progress.next_task[name] = number + 1
        task_id = f"{name}_{number}"
        tests = [{"ctx": t.ctx, "assertion": t.assertion, **({} if t.strict else {"strict": False})}
                 for t in problem.tests]
        runner.store.append_problem({
            "task_id": task_id, "name": problem.name, "problem": problem.problem,
            "canonical_solution": problem.canonical_solution, "tests": tests, "category": name,
            "complexity": problem.complexity, "object": problem.object,
            "origin": {"batch": spec.id, "item": item.index, "model": runner.services.worker.name,
                       "subtopic": spec.subtopic, "repaired": repaired},
        })
        self.index.add(task_id, fingerprint)
        self.quotas.fill(name, problem.complexity)
        runner.tally.accepted[name][problem.complexity] += 1
        runner.tally.repaired_accepted += repaired
        runner.progress.recent[name].append(avoid_line(problem))
        runner.bar.update(accepted=1)
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.settings.checkpoint_every:
            self._since_checkpoint = 0
            runner.checkpoint()

    def batch_done(self, category: str, accepted: int) -> None:
        """Give a category up after ``UNPRODUCTIVE_BATCHES`` batches in a row accepted nothing."""
        self._empty[category] = 0 if accepted else self._empty[category] + 1
        if self._empty[category] >= UNPRODUCTIVE_BATCHES and not self.quotas.done(category):
            self.stopped_categories[category] = (
                f"{category}: no problem accepted from the last {UNPRODUCTIVE_BATCHES} batches; "
                "see the reasons in generation/rejected.jsonl")
            log.warning("%s", self.stopped_categories[category])

    # --- planner and embeddings --------------------------------------------------------

    async def subtopics_for(self, category: CategorySpec) -> list[str]:
        """The category's sub-topics: the plan's, else the planner's, else its description."""
        if category.subtopics:
            return list(category.subtopics)
        planner = self.runner.services.planner
        if planner is None:
            # Without a planner, batches that run at once would send the same prompt and
            # get the same problems back; a different angle per batch spreads them out.
            return [f"{category.description} (angle: {angle})" for angle in _ANGLES]
        request = planner_request(planner.config, category, self.settings)
        call = await self.runner.services.caller.call(planner, request, purpose="generation",
                                                      sample=call_sample(self.settings.seed, 0))
        self.runner.record_call("planner", f"{category.name}#plan", None, planner, call, self.runner.resume)
        topics = parse_subtopics(call.text) if call.ok else []
        if not topics:
            why = call.message if not call.ok else "its answer held no list of sub-topics"
            self.planner_notes[category.name] = f"planner failed ({why}); the description is the only sub-topic"
            log.warning("%s: %s", category.name, self.planner_notes[category.name])
            return [category.description]
        return topics

    async def _embed(self, text: str) -> Any:
        try:
            embedder = self.runner.embedder
            assert embedder is not None
            [vector] = await embedder([text])
            return unit_vector(vector)
        except Exception as e:  # noqa: BLE001 - a failing embedding service must not stop generation
            self._semantic_errors += 1
            log.warning("semantic check skipped for one candidate: %s", e)
            return None

    async def embed_known(self, excluded: list[tuple[str, list[Problem]]]) -> None:
        """Embed the excluded datasets' problems and those accepted by earlier runs, so the
        semantic check covers them too."""
        embedder = self.runner.embedder
        assert embedder is not None
        known = [(f"exclude:{label}/{p.task_id}", p.problem) for label, problems in excluded for p in problems]
        for category in self.runner.plan.categories:
            known += [(str(r.get("task_id")), str(r.get("problem"))) for r in self.runner.store.problems(category.name)]
        for start in range(0, len(known), EMBED_BATCH):
            chunk = known[start:start + EMBED_BATCH]
            vectors = await embedder([text for _, text in chunk])
            for (owner, _), vector in zip(chunk, vectors, strict=True):
                self.index.add_vector(owner, unit_vector(vector))

    def checks(self) -> dict[str, Any]:
        """What was checked and how, for the report."""
        settings, runner = self.settings, self.runner
        semantic: dict[str, Any] = {"enabled": runner.embedder is not None}
        if runner.embedder is None:
            semantic["note"] = "skipped: no embedding model configured"
        else:
            semantic.update(model=runner.embedding_model or getattr(runner.embedder, "__name__", "custom"),
                            threshold=settings.semantic_threshold, errors=self._semantic_errors)
        isolation = runner.services.evaluator.summary()
        verification = {"sandbox": isolation.get("mode"), "runs": 2, "min_tests": settings.min_tests,
                        "stubs": list(STUB_KINDS.values())}
        if "ray" in isolation:
            verification["ray"] = isolation["ray"]  # the weakest node's mode is "sandbox"; here every node's
        return {
            "verification": verification,
            "exact_duplicates": "normalised problem text",
            "structural_duplicates": "canonical solution's syntax tree, names and constants normalised",
            "near_duplicates": {"method": "MinHash LSH over word triples (datasketch)",
                                "threshold": settings.near_duplicate_threshold, "window": settings.recent_window},
            "semantic_duplicates": semantic,
            "excluded_datasets": runner.excluded,
            "repair": settings.repair,
            "planner": self.planner_notes or None,
            "stopped_categories": self.stopped_categories or None,
        }

"""One Ray node in cluster evaluation: its actor, and the driver's record of it.

``cluster.RayEvaluator`` starts one ``NodeEvaluator`` actor on each node it uses, holding
as many sandboxes as the node has CPUs.  The actor evaluates batches of solutions exactly
as a local run does (same evaluator, same isolation, probed on that node) and yields each
result as soon as it is known; it never writes anything: the driver records the results.
``NodeState`` is what the driver keeps about each node: the actor, the work in flight,
what it evaluated and how fast.

This module does not import Ray, so it can be read (and tested) without it; ``cluster.py``
turns ``NodeEvaluator`` into an actor class.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import socket
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from llm_solutions.dataset import Problem
from llm_solutions.evaluation.evaluator import Evaluator
from llm_solutions.evaluation.isolation import MODES
from llm_solutions.evaluation.results import ERROR, REASON_SANDBOX, SolutionEvaluation, TestResult
from llm_solutions.evaluation.sandbox import SandboxLimits

RATE_WINDOW = 30.0  # seconds of answers a node's throughput is measured over


@cache
def evaluator_fingerprint() -> str:
    """A digest of the evaluation package's code: equal on two machines when they evaluate
    a solution the same way (same harness, guard, sandbox and isolation rules)."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def package_version() -> str:
    """The installed llm-solutions version, or ``unknown`` (a source checkout on the path)."""
    try:
        return metadata.version("llm-solutions")
    except metadata.PackageNotFoundError:
        return "unknown"


class NodeEvaluator:
    """Evaluates batches of solutions on one node with ``workers`` warm sandboxes."""

    def __init__(self, limits: SandboxLimits, workers: int, isolation: str | None = None) -> None:
        self._evaluator = Evaluator(limits=limits, workers=workers, isolation=isolation)
        self._workers = workers

    async def describe(self) -> dict[str, Any]:
        """This node: host, sandboxes, the isolation probed here, and what code evaluates.

        Probing starts nothing that stays; a node where no sandbox mode works (or not the
        one asked for) raises ``SandboxUnavailableError`` here, before any solution is sent.
        """
        return {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "python": platform.python_version(),
            "package": package_version(),
            "fingerprint": evaluator_fingerprint(),
            "sandboxes": self._workers,
            "isolation": await self._evaluator.describe_isolation(),
        }

    async def evaluate_batch(
        self, items: list[tuple[Problem, str | None]]
    ) -> AsyncIterator[tuple[int, SolutionEvaluation]]:
        """Evaluate every ``(problem, code)`` of the batch at once (the sandboxes bound how
        many run); yield ``(index, result)`` in the order they finish."""
        tasks = [asyncio.ensure_future(self._one(index, problem, code)) for index, (problem, code) in enumerate(items)]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:
            # The driver gave up on this batch (or the node is stopping): free the sandboxes.
            for task in tasks:
                task.cancel()

    async def _one(self, index: int, problem: Problem, code: str | None) -> tuple[int, SolutionEvaluation]:
        return index, await self._evaluator.evaluate(problem, code)

    async def close(self) -> None:
        """Stop the sandboxes (the driver calls this before it lets the actor go)."""
        await self._evaluator.close()


@dataclass
class NodeState:
    """The driver's record of one node: its actor, the work in flight, what it did."""

    node_id: str
    label: str
    cpus: int
    actor: Any
    ready_at: float = 0.0
    description: dict[str, Any] | None = None  # ``NodeEvaluator.describe()``, once it answered
    in_flight: int = 0  # batches
    waiting: int = 0  # solutions sent and not yet answered
    solutions: int = 0
    lost: str | None = None
    last_answer: float = 0.0
    batches: set[asyncio.Task[None]] = field(default_factory=set)
    answered: deque[float] = field(default_factory=deque)

    def rate(self, now: float) -> float:
        """Solutions per second over the last ``RATE_WINDOW`` seconds."""
        while self.answered and self.answered[0] < now - RATE_WINDOW:
            self.answered.popleft()
        return len(self.answered) / max(min(RATE_WINDOW, now - self.ready_at), 1e-9)

    def summary(self) -> dict[str, Any]:
        """For ``summary.json``: host, versions, sandboxes, mode, solutions, and a loss."""
        found = dict(self.description or {})
        isolation = found.pop("isolation", {})
        found.update(node=self.label, node_id=self.node_id, cpus=self.cpus, solutions=self.solutions,
                     isolation=isolation.get("mode"), contained=isolation.get("contained"),
                     not_contained=isolation.get("not_contained"))
        if self.lost:
            found["lost"] = self.lost
        return found


def lost_evaluation(problem: Problem, losses: int) -> SolutionEvaluation:
    """The result of a solution whose nodes were lost ``losses`` times while evaluating it."""
    message = f"the Ray nodes evaluating this solution were lost {losses} times"
    return SolutionEvaluation(
        task_id=problem.task_id,
        tests=[TestResult(index=i, status=ERROR, reason=REASON_SANDBOX, exc_type="NodeLost", message=message)
               for i in range(len(problem.tests))],
        isolation="none",
    )


def throughput(nodes: list[NodeState], *, lost: int = 0, re_sent: int = 0) -> dict[str, str]:
    """Each node's solutions per second, for a progress bar; beyond four nodes the total
    and the three slowest (the ones holding a run up)."""
    now = time.monotonic()
    ranked = sorted(nodes, key=lambda n: n.rate(now))
    shown = {f"node {n.label}": f"{n.rate(now):.1f}/s" for n in ranked[:3 if len(ranked) > 4 else 4]}
    if len(ranked) > 4:
        shown = {"ray": f"{len(ranked)} nodes, {sum(n.rate(now) for n in ranked):.1f}/s, slowest:", **shown}
    if lost:
        shown["nodes lost"] = str(lost)
    if re_sent:
        shown["re-sent"] = str(re_sent)
    return shown


def weakest_isolation(nodes: list[NodeState]) -> dict[str, Any]:
    """The weakest isolation among the nodes' (``mode`` ``None`` when none answered)."""
    found = [dict((n.description or {}).get("isolation") or {}) for n in nodes]
    ranked = sorted(found, key=lambda i: MODES.index(i["mode"]) if i.get("mode") in MODES else len(MODES))
    return ranked[-1] if ranked else {"mode": None}

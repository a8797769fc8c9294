"""Evaluation on a Ray cluster: ``RayEvaluator``, used wherever an ``Evaluator`` is.

``RayEvaluator(limits, address).evaluate(problem, code)`` has the local evaluator's
interface, so the scorer, rescoring and generation's verification take either.  Behind
it, each node of the cluster runs one ``node.NodeEvaluator`` actor holding as many warm
sandboxes as the node has CPUs: the same evaluator and isolation as a local run, probed
on that node (a node without bubblewrap reports its weaker mode, and every result
records the mode it ran in).  The driver keeps a queue of solutions and sends them in
batches, at most ``batches_per_node`` in flight per node (back-pressure: the queue only
holds what callers are waiting for); each node yields results as they finish, and the
driver hands them to the waiting callers, which alone write records.

A node that is lost (its actor dies, its tasks fail or vanish, or it stalls) costs only
time: the solutions it had not yet answered go back to the front of the queue and are
evaluated on another node; a result is delivered once, so nothing is recorded twice.
New nodes are picked up while the run goes on.  ``connection.py`` reaches the cluster
(``address``: ``local``, ``auto``, ``host:port``, ``ray://host:port``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from llm_solutions.dataset import Problem
from llm_solutions.evaluation.connection import ClusterError, cause, connect, import_ray, ray_address
from llm_solutions.evaluation.isolation import MODES
from llm_solutions.evaluation.node import (
    NodeEvaluator,
    NodeState,
    evaluator_fingerprint,
    lost_evaluation,
    package_version,
    throughput,
    weakest_isolation,
)
from llm_solutions.evaluation.results import SolutionEvaluation
from llm_solutions.evaluation.sandbox import SandboxLimits

log = logging.getLogger(__name__)

MAX_LOSSES = 3  # a solution whose node was lost this often is recorded as lost, not sent again
REFRESH_EVERY = 10.0  # seconds between looks for nodes that joined or left
STALL_GRACE = 60.0  # beyond the time its work can take, a node answering nothing counts as lost
_CLOSE_TIMEOUT = 5.0


@dataclass
class _Item:
    """One solution waiting for its result."""

    problem: Problem
    code: str | None
    future: asyncio.Future[SolutionEvaluation]
    losses: int = 0


class RayEvaluator:
    """Evaluates solutions on the nodes of a Ray cluster (see the module docstring).

    ``isolation`` forces a sandbox mode on every node; by default each node probes its
    strongest.  ``batch_size`` caps the solutions per batch (default: twice a node's
    CPUs).  ``start`` connects and waits for the first node (``evaluate`` calls it);
    ``close`` stops the actors, and the Ray instance if this evaluator started it.
    """

    def __init__(self, limits: SandboxLimits | None = None, address: str = "local", *,
                 isolation: str | None = None, batch_size: int | None = None, batches_per_node: int = 2,
                 start_timeout: float = 120.0) -> None:
        self.limits = limits or SandboxLimits()
        self.address = ray_address(address)
        self.batch_size = batch_size
        self.batches_per_node = max(1, batches_per_node)
        self.start_timeout = start_timeout
        self._isolation = isolation
        self._ray: Any = None
        self._owns_ray = False
        self._actor_class: Any = None
        self._queue: deque[_Item] = deque()
        self._wake = asyncio.Event()
        self._nodes: dict[str, NodeState] = {}
        self._gone: list[NodeState] = []
        self._refused: dict[str, str] = {}  # node id -> why it takes no work (not asked again)
        self._refused_labels: dict[str, str] = {}  # the same, by node label, for the summary
        self._restarts: Counter[str] = Counter()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._started = False
        self._closed = False
        self._error: ClusterError | None = None
        self._next_refresh = 0.0
        self._empty_since: float | None = None
        self.requeued = 0

    # --- starting ----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (or start a local instance), start an actor per node, wait for one."""
        async with self._start_lock:
            if self._started:
                return
            if self._closed:
                raise RuntimeError("RayEvaluator is closed")
            ray = self._ray = import_ray()
            if not ray.is_initialized():
                connect(ray, self.address)
                self._owns_ray = True
            self._actor_class = ray.remote(NodeEvaluator)
            await self._refresh()
            deadline = time.monotonic() + self.start_timeout
            while not self._ready() and any(n.description is None for n in self._nodes.values()):
                if time.monotonic() > deadline:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
            if not self._ready():
                raise ClusterError(f"no node of the Ray cluster at {self.address} can evaluate: {self._reasons()}")
            self._started = True
            self._dispatcher = asyncio.create_task(self._dispatch())
            self._dispatcher.add_done_callback(self._dispatcher_done)

    def _dispatcher_done(self, task: asyncio.Task[None]) -> None:
        # Only close() cancels it; anything else would leave callers waiting forever.
        if task.cancelled() or task.exception() is None:
            return
        log.error("Ray: the dispatcher stopped", exc_info=task.exception())
        self._error = ClusterError(f"evaluation on Ray stopped: {cause(task.exception() or RuntimeError())}")
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(self._error)

    def _ready(self) -> list[NodeState]:
        return [n for n in self._nodes.values() if n.description is not None and not n.lost]

    def _reasons(self) -> str:
        reasons = [f"{node}: {why}" for node, why in self._refused_labels.items()]
        reasons += [f"{n.label}: lost ({n.lost})" for n in self._gone]
        return "; ".join(reasons) or "it has no node with a CPU"

    async def _refresh(self) -> None:
        """Start an actor on every live node with CPUs that has none yet."""
        self._next_refresh = time.monotonic() + REFRESH_EVERY
        nodes = await asyncio.to_thread(self._ray.nodes)
        alive = {n["NodeID"]: n for n in nodes if n.get("Alive") and (n.get("Resources") or {}).get("CPU", 0) >= 1}
        for node in list(self._nodes.values()):
            if node.node_id not in alive:
                self._node_lost(node, "the node left the cluster")
        addresses = Counter(str(n.get("NodeManagerAddress")) for n in alive.values())
        strategy = self._ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy
        for node_id, info in alive.items():
            if node_id in self._nodes or node_id in self._refused:
                continue
            address = str(info.get("NodeManagerAddress"))
            label = address if addresses[address] == 1 else f"{address}#{node_id[:6]}"
            cpus = int(info["Resources"]["CPU"])
            actor = self._actor_class.options(
                num_cpus=cpus, max_restarts=0, scheduling_strategy=strategy(node_id, soft=False),
            ).remote(self.limits, cpus, self._isolation)
            node = NodeState(node_id=node_id, label=label, cpus=cpus, actor=actor)
            self._nodes[node_id] = node
            self._spawn(self._await_ready(node))

    async def _await_ready(self, node: NodeState) -> None:
        try:
            description = await asyncio.wait_for(node.actor.describe.remote(), self.start_timeout)
        except TimeoutError:
            self._refuse(node, f"its worker did not start within {self.start_timeout:g} s (are its CPUs busy?)")
            return
        except Exception as e:  # noqa: BLE001 - any failure on that node only takes that node out
            self._refuse(node, cause(e))
            return
        if node.lost is not None:
            return
        if description.get("fingerprint") != evaluator_fingerprint():
            self._refuse(node, f"it evaluates with other code (llm-solutions {description.get('package')} there, "
                               f"{package_version()} here); install the same version on every node")
            return
        node.description = description
        node.ready_at = time.monotonic()
        mode = (description.get("isolation") or {}).get("mode")
        log.info("Ray node %s: %d sandbox(es), %s isolation", node.label, node.cpus, mode)
        if mode != MODES[0]:
            log.warning("Ray node %s evaluates in the weaker %r isolation (install bubblewrap there)",
                        node.label, mode)
        self._wake.set()

    def _refuse(self, node: NodeState, why: str) -> None:
        self._nodes.pop(node.node_id, None)
        self._refused[node.node_id] = self._refused_labels[node.label] = why
        log.warning("Ray node %s cannot evaluate: %s", node.label, why)
        self._kill(node)
        self._wake.set()

    # --- evaluating --------------------------------------------------------------------

    async def evaluate(self, problem: Problem, code: str | None) -> SolutionEvaluation:
        """Run every test of ``problem`` against ``code`` on some node of the cluster."""
        if self._closed:
            raise RuntimeError("RayEvaluator is closed")
        await self.start()
        if self._error is not None:
            raise self._error
        future: asyncio.Future[SolutionEvaluation] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(problem, code, future))
        self._wake.set()
        return await future

    async def _dispatch(self) -> None:
        while True:
            now = time.monotonic()
            if now >= self._next_refresh:
                try:
                    await self._refresh()
                except Exception as e:  # noqa: BLE001 - the head unreachable: nodes count as gone meanwhile
                    log.warning("Ray: cannot list the cluster's nodes (%s)", cause(e))
            self._check_alive(now)
            self._check_stalled(now)
            self._send()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, self._next_refresh - time.monotonic()))

    def _send(self) -> None:
        """Fill every ready node up to ``batches_per_node`` batches, the least busy first."""
        while self._queue:
            ready = [n for n in self._ready() if n.in_flight < self.batches_per_node]
            if not ready:
                return
            node = min(ready, key=lambda n: (n.in_flight, -n.cpus))
            total = sum(n.cpus for n in self._ready())
            share = math.ceil(len(self._queue) * node.cpus / total)
            batch = self._take(min(self.batch_size or 2 * node.cpus, max(1, share)))
            if not batch:
                return
            if not node.waiting:
                node.last_answer = time.monotonic()  # the stall clock starts with the work
            node.in_flight += 1
            node.waiting += len(batch)
            task = self._spawn(self._run_batch(node, batch))
            node.batches.add(task)
            task.add_done_callback(node.batches.discard)

    def _take(self, size: int) -> list[_Item]:
        batch: list[_Item] = []
        while self._queue and len(batch) < size:
            item = self._queue.popleft()
            if not item.future.done():  # a caller that gave up (cancelled) is skipped
                batch.append(item)
        return batch

    async def _run_batch(self, node: NodeState, batch: list[_Item]) -> None:
        exceptions = self._ray.exceptions
        lost_types = (exceptions.RayActorError, exceptions.ObjectLostError, exceptions.NodeDiedError,
                      exceptions.WorkerCrashedError, exceptions.LocalRayletDiedError, exceptions.RaySystemError,
                      exceptions.OutOfMemoryError, exceptions.ActorUnschedulableError)
        pending = dict(enumerate(batch))
        try:
            stream = node.actor.evaluate_batch.options(num_returns="streaming").remote(
                [(item.problem, item.code) for item in batch])
            async for ref in stream:
                index, result = await ref
                item = pending.pop(index)
                node.solutions += 1
                node.waiting -= 1
                node.last_answer = time.monotonic()
                node.answered.append(node.last_answer)
                if not item.future.done():
                    item.future.set_result(result)
        except asyncio.CancelledError:
            if self._closed:
                raise
            # The node was declared lost while this batch waited: its rest goes elsewhere.
        except lost_types as e:
            self._node_lost(node, cause(e))
        except exceptions.RayTaskError as e:
            # The evaluator itself failed on that node: a bug, not a lost node; sending the
            # same solutions again would fail again.
            error = RuntimeError(f"evaluation failed on Ray node {node.label}: {cause(e)}")
            for item in pending.values():
                if not item.future.done():
                    item.future.set_exception(error)
            pending.clear()
        finally:
            node.in_flight -= 1
            node.waiting -= len(pending)
            if not self._closed:
                for item in pending.values():
                    self._requeue(item)
            self._wake.set()

    def _requeue(self, item: _Item) -> None:
        if item.future.done():
            return
        item.losses += 1
        if item.losses >= MAX_LOSSES:
            item.future.set_result(lost_evaluation(item.problem, MAX_LOSSES))
            return
        self._queue.appendleft(item)  # first in line: it has waited longest
        self.requeued += 1

    def _node_lost(self, node: NodeState, why: str) -> None:
        if node.lost is not None:
            return
        node.lost = why
        self._nodes.pop(node.node_id, None)
        self._gone.append(node)
        self._restarts[node.node_id] += 1
        if self._restarts[node.node_id] >= MAX_LOSSES:
            self._refused[node.node_id] = self._refused_labels[node.label] = f"lost {MAX_LOSSES} times"
        log.warning("Ray node %s lost (%s); the solutions it had not answered are evaluated on other nodes",
                    node.label, why)
        current = asyncio.current_task()
        for task in list(node.batches):
            if task is not current:
                task.cancel()  # Ray may never fail a call to a vanished node: do not wait for it
        self._kill(node)
        self._next_refresh = 0.0  # the node may still be there: look again soon
        self._wake.set()

    def _check_stalled(self, now: float) -> None:
        """A node with work that has answered nothing for longer than that work can take is
        lost to us, whatever Ray says (a hung machine, a network partition)."""
        for node in self._ready():
            if not node.waiting:
                continue
            rounds = math.ceil(node.waiting / node.cpus)
            if now - node.last_answer > rounds * self.limits.solution_timeout + STALL_GRACE:
                self._node_lost(node, f"no answer for {now - node.last_answer:.0f} s")

    def _check_alive(self, now: float) -> None:
        """Fail the waiting callers once no node has been able to evaluate for too long."""
        if self._ready() or any(n.description is None for n in self._nodes.values()):
            self._empty_since = None
            return
        if self._empty_since is None:
            self._empty_since = now
            log.warning("no Ray node is left to evaluate on; waiting up to %g s for one", self.start_timeout)
            return
        if now - self._empty_since < self.start_timeout:
            return
        self._error = ClusterError(f"no node of the Ray cluster at {self.address} is left to evaluate on: "
                                   f"{self._reasons()}; the solutions not yet recorded are evaluated on resume")
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(self._error)

    # --- reporting ---------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        """Sandboxes across the nodes evaluating now (at least 1)."""
        return max(1, sum(n.cpus for n in self._ready()))

    def status(self) -> dict[str, str]:
        """Throughput per node for the progress bar (the slowest three on a big cluster)."""
        return throughput(self._ready(), lost=len(self._gone), re_sent=self.requeued)

    def summary(self) -> dict[str, Any]:
        """For ``summary.json``: the weakest isolation any node used (what every result at
        least had) and, per node, its mode, sandboxes and how many solutions it evaluated."""
        nodes = [n for n in [*self._nodes.values(), *self._gone] if n.description is not None]
        return {**weakest_isolation(nodes), "ray": {"address": self.address, "nodes": [n.summary() for n in nodes],
                                                    "refused": dict(self._refused_labels), "re_sent": self.requeued}}

    async def describe_isolation(self) -> dict[str, Any]:
        """``summary()`` once the cluster is up (starting it if needed)."""
        await self.start()
        return self.summary()

    # --- closing -----------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _kill(self, node: NodeState) -> None:
        with contextlib.suppress(Exception):
            self._ray.kill(node.actor, no_restart=True)

    async def close(self) -> None:
        """Stop the actors (their sandboxes first) and the Ray instance this evaluator started."""
        if self._closed:
            return
        self._closed = True
        tasks = [t for t in (self._dispatcher, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
        for item in self._queue:
            item.future.cancel()
        self._queue.clear()
        nodes = list(self._nodes.values())
        if nodes:
            closing = [n.actor.close.remote() for n in nodes if n.description is not None]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), _CLOSE_TIMEOUT)
            for node in nodes:
                self._kill(node)
        if self._owns_ray and self._ray is not None:
            await asyncio.to_thread(self._ray.shutdown)

    async def __aenter__(self) -> RayEvaluator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

"""Evaluation through Ray against the local pool, and 1 against 2 Ray worker nodes.

The same solutions (the built-in dataset's canonical solutions, repeated up to
``--solutions``, 2,000 by default) are evaluated several ways in one run, and the times
are printed side by side:

1. the local pool: ``Evaluator`` with one warm sandbox per core, and with one sandbox
   (what one core gives: the machine's own ceiling for the scaling below);
2. ``--ray`` alone: a local Ray instance on this machine (one node, a sandbox per core),
   through ``RayEvaluator``; overhead = its time over the local pool's, evaluating, and
   counting one start-up and shut-down on each side (goal: <= 15%);
3. clusters of Ray's test utility (``ray.cluster_utils.Cluster``: a head without CPUs,
   then 1 or 2 worker nodes of one CPU each, every node its own processes on this
   machine); scaling = throughput with 2 nodes over 1 (goal: >= 1.7x).  Each cluster
   also evaluates ``--waiting`` solutions whose one test waits 50 ms instead of
   computing: work that does not compete for this machine's cores, so its scaling shows
   whether the dispatch keeps both nodes busy.

The machine is shared, so the ways are measured in ``--rounds`` alternating rounds (each
on its share of the solutions) and added up: a neighbour's load falls on all of them
alike rather than on whichever ran last.  On a 2-core machine two one-core nodes share
both cores with everything else running, so the CPU-bound scaling cannot exceed what two
local sandboxes get over one (printed as the ceiling); it cannot show network cost or
behaviour beyond two nodes.  Needs ``pip install "llm-solutions[ray]"``.

    python benchmarks/bench_ray_evaluation.py [--solutions N] [--waiting N] [--rounds R] [--skip-scaling]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

# Ray's own switches, before Ray is imported: every address on loopback, no usage reports.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from llm_solutions.dataset import Problem, TestCase, load_dataset
from llm_solutions.evaluation import Evaluator
from llm_solutions.evaluation.cluster import RayEvaluator

Work = list[tuple[Problem, str]]


class Tally:
    """One way of evaluating: its evaluation time, its start-ups and shut-downs, what passed."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.run = 0.0
        self.fixed: list[float] = []  # seconds outside evaluation, one per start
        self.solutions = 0
        self.passed = 0
        self.mode = ""
        self.per_node: list[int] = []

    def row(self) -> str:
        fixed = f"start-up and shut-down {_mean(self.fixed):5.1f} s" if self.fixed else ""
        nodes = f"; solutions per node: {', '.join(map(str, self.per_node))}" if self.per_node else ""
        return (f"  {self.run:7.1f} s  {self.solutions / self.run:6.1f}/s  {fixed:29}  "
                f"{self.passed}/{self.solutions} passed  {self.what}, {self.mode}{nodes}")


async def _evaluate(evaluator: Any, work: Work, tally: Tally) -> None:
    started = time.perf_counter()
    results = await asyncio.gather(*(evaluator.evaluate(p, code) for p, code in work))
    tally.run += time.perf_counter() - started
    tally.solutions += len(results)
    tally.passed += sum(1 for r in results if r.passed_all)


async def local_pool(work: Work, tally: Tally, workers: int | None = None) -> None:
    started = time.perf_counter()
    evaluator = Evaluator(workers=workers)
    before = tally.run
    try:
        tally.mode = (await evaluator.describe_isolation())["mode"]
        await _evaluate(evaluator, work, tally)
    finally:
        await evaluator.close()
    tally.fixed.append(time.perf_counter() - started - (tally.run - before))


async def through_ray(address: str, jobs: list[tuple[Work, Tally]]) -> None:
    """Evaluate each ``(work, tally)`` in turn on one ``RayEvaluator``; the first tally
    takes the start-up and shut-down."""
    started = time.perf_counter()
    evaluator = RayEvaluator(address=address)
    spent = 0.0
    try:
        await evaluator.describe_isolation()
        for work, tally in jobs:
            before_run = tally.run
            before = {n["node_id"]: n["solutions"] for n in evaluator.summary()["ray"]["nodes"]}
            await _evaluate(evaluator, work, tally)
            spent += tally.run - before_run
            summary = evaluator.summary()
            tally.mode = summary["mode"]
            nodes = summary["ray"]["nodes"]
            counts = [n["solutions"] - before.get(n["node_id"], 0) for n in nodes]
            tally.per_node = [a + b for a, b in zip(tally.per_node or [0] * len(counts), counts, strict=False)]
    finally:
        await evaluator.close()
    jobs[0][1].fixed.append(time.perf_counter() - started - spent)


async def on_cluster(nodes: int, jobs: list[tuple[Work, Tally]]) -> None:
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            await through_ray(cluster.address, jobs)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()


def waiting_work(count: int) -> Work:
    """Solutions whose one test waits 50 ms: time that uses no core."""
    problem = Problem("waiting", "f", "wait", "", (TestCase("", "assert f(1) == 2"),), "bench", 1)
    return [(problem, "import time\n\ndef f(x):\n    time.sleep(0.05)\n    return x + 1\n")] * count


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def shares(work: Work, rounds: int) -> list[Work]:
    """``rounds`` parts of ``work``, every ``rounds``-th solution each (alike in mix)."""
    return [work[i::rounds] for i in range(rounds)]


async def bench(count: int, waiting: int, rounds: int, scaling: bool) -> None:
    problems = load_dataset().problems
    work = [(p, p.canonical_solution) for p in (problems * (count // len(problems) + 1))[:count]]
    cores = os.cpu_count() or 1
    print(f"{count} solutions (the built-in dataset's canonical solutions, repeated), {cores} cores, "
          f"{rounds} alternating round(s)\n")
    local = Tally(f"local pool ({cores} sandboxes)")
    ray_local = Tally(f"--ray: a local Ray instance (one node, {cores} sandboxes)")
    single = Tally("local pool (1 sandbox)")
    one, two = Tally("1 worker node of 1 CPU"), Tally("2 worker nodes of 1 CPU each")
    one_waiting, two_waiting = Tally("1 worker node of 1 CPU, waiting tests"), Tally("2 worker nodes, waiting tests")
    for part, wait in zip(shares(work, rounds), shares(waiting_work(waiting), rounds), strict=True):
        await local_pool(part, local)
        await through_ray("local", [(part, ray_local)])
        if scaling:
            await local_pool(part, single, workers=1)
            await on_cluster(1, [(part, one), (wait, one_waiting)])
            await on_cluster(2, [(part, two), (wait, two_waiting)])
    print(local.row())
    print(ray_local.row())
    overhead = ray_local.run / local.run - 1
    with_fixed = (ray_local.run + _mean(ray_local.fixed)) / (local.run + _mean(local.fixed)) - 1
    print(f"\noverhead of Ray: {overhead * 100:+.1f}% evaluating, {with_fixed * 100:+.1f}% counting one start-up "
          f"and shut-down on each side (goal <= 15%)")
    if not scaling:
        return
    print()
    for tally in (single, one, two, one_waiting, two_waiting):
        print(tally.row())
    print(f"\nscaling, 2 nodes over 1: {one.run / two.run:.2f}x on the built-in solutions (goal >= 1.7x; this "
          f"machine's ceiling, {cores} local sandboxes over 1: {single.run / local.run:.2f}x); "
          f"{one_waiting.run / two_waiting.run:.2f}x on solutions that wait instead of computing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=2000, help="solutions evaluated each way (default 2000)")
    parser.add_argument("--waiting", type=int, default=400, help="solutions that wait 50 ms (default 400)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds the work is split into (default 2)")
    parser.add_argument("--skip-scaling", action="store_true", help="only the local pool against --ray")
    args = parser.parse_args()
    asyncio.run(bench(max(1, args.solutions), max(1, args.waiting), max(1, args.rounds), not args.skip_scaling))


if __name__ == "__main__":
    main()

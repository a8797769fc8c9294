"""Throughput of the evaluation sandbox on this machine.

Evaluates every canonical solution of a dataset (the built-in one by default), optionally
``--copies N`` times, and prints solutions/second and tests/second with the isolation
mode.  Also times one trivial test at a time in a warm sandbox, the fixed cost per test.

    python benchmarks/bench_evaluation.py [--dataset DIR] [--copies N] [--workers W] [--mode MODE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from llm_solutions.dataset import Problem, TestCase, load_dataset
from llm_solutions.evaluation import Evaluator


async def bench(problems: list[Problem], copies: int, workers: int | None, mode: str | None) -> None:
    evaluator = Evaluator(workers=workers, isolation=mode)
    try:
        isolation = await evaluator.isolation()
        # Fixed cost: one trivial test at a time.
        trivial = Problem("trivial", "t", "t", "", (TestCase("", "assert True"),), "bench", 1)
        singles = []
        for _ in range(10):
            started = time.perf_counter()
            await evaluator.evaluate(trivial, "x = 1\n")
            singles.append(time.perf_counter() - started)

        work = [p for _ in range(copies) for p in problems]
        started = time.perf_counter()
        results = await asyncio.gather(*(evaluator.evaluate(p, p.canonical_solution) for p in work))
        elapsed = time.perf_counter() - started
    finally:
        await evaluator.close()

    tests = sum(r.tests_total for r in results)
    passed = sum(1 for r in results if r.passed_all)
    print(f"isolation mode:        {isolation.mode}")
    print(f"workers:               {evaluator.workers} (cpu_count={os.cpu_count()})")
    print(f"one trivial test:      median {statistics.median(singles) * 1000:.0f} ms, "
          f"min {min(singles) * 1000:.0f} ms (one test in a warm sandbox)")
    print(f"solutions:             {len(results)} ({passed} passed all tests)")
    print(f"tests:                 {tests}")
    print(f"elapsed:               {elapsed:.2f} s")
    print(f"solutions/second:      {len(results) / elapsed:.1f}")
    print(f"tests/second:          {tests / elapsed:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="dataset folder (default: built-in)")
    parser.add_argument("--copies", type=int, default=1, help="evaluate every solution this many times")
    parser.add_argument("--workers", type=int, default=None, help="test processes at a time (default: CPU count)")
    parser.add_argument("--mode", default=None, help="force an isolation mode (bwrap, unshare, nobody, rlimits)")
    args = parser.parse_args()
    problems = load_dataset(args.dataset).problems
    asyncio.run(bench(problems, max(1, args.copies), args.workers, args.mode))


if __name__ == "__main__":
    main()

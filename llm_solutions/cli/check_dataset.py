"""``llm-solutions check-dataset``: the dataset loads, and every canonical solution passes its tests.

Format problems are reported by ``load_dataset`` (one ``file:line: reason`` each).  Then
every canonical solution runs against its own tests in the sandbox; each failing test is
printed as ``task_id: test i: status: message`` and the exit code is 1 if any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from llm_solutions.collection.settings import resolve_setting
from llm_solutions.dataset import Problem, load_dataset
from llm_solutions.errors import ConfigError, DatasetError
from llm_solutions.evaluation.evaluator import Evaluator
from llm_solutions.evaluation.results import PASSED, SolutionEvaluation
from llm_solutions.evaluation.sandbox import SandboxLimits
from llm_solutions.text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``check-dataset``."""
    parser.add_argument("--dataset", nargs="+", action="extend", metavar="DIR",
                        help="dataset folder(s) of *.jsonl files, checked together (default: DATASET_PATH or "
                        "built-in)")
    parser.add_argument("--categories", nargs="+", metavar="CATEGORY", help="check only these categories")
    parser.add_argument("--skip-invalid", action="store_true", help="leave out malformed lines instead of stopping")
    parser.add_argument("--workers", type=int, default=None, help="tests at a time (default: CPU count)")
    parser.add_argument("--test-timeout", "--timeout", dest="test_timeout", type=float, default=10.0, metavar="S",
                        help="wall seconds one test may run (default: 10)")
    parser.add_argument("--solution-timeout", type=float, default=None, metavar="S",
                        help="wall seconds all tests of one solution may take "
                        "(default: 60, or the test timeout if longer)")


async def check_problems(
    problems: list[Problem], workers: int | None = None, limits: SandboxLimits | None = None
) -> tuple[list[SolutionEvaluation], str]:
    """Evaluate every problem's canonical solution; returns the evaluations and the isolation mode."""
    evaluator = Evaluator(limits=limits, workers=workers)
    try:
        mode = (await evaluator.isolation()).mode
        evaluations = await asyncio.gather(*(evaluator.evaluate(p, p.canonical_solution) for p in problems))
    finally:
        await evaluator.close()
    return list(evaluations), mode


def failure_lines(evaluation: SolutionEvaluation) -> list[str]:
    """One ``task_id: test i: status: message`` line per test that did not pass."""
    return [
        visible(f"{evaluation.task_id}: test {test.index}: {test.summary()}")
        for test in evaluation.tests
        if test.status != PASSED
    ]


def run(args: argparse.Namespace) -> int:
    """Check the dataset; 0 when every canonical solution passes, 1 otherwise."""
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1 (got {args.workers})")
    for flag, value in (("--test-timeout", args.test_timeout), ("--solution-timeout", args.solution_timeout)):
        if value is not None and not value > 0:
            raise ConfigError(f"{flag} must be a positive number of seconds (got {value:g})")
    try:
        dataset = load_dataset(resolve_setting("dataset_path", args.dataset), skip_invalid=args.skip_invalid)
    except DatasetError as e:
        for line in e.problems[1:]:  # the error names the first; here is the whole list
            print(visible(f"bad: {line}"), file=sys.stderr)
        raise
    for line in dataset.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    problems = dataset.select(categories=args.categories)
    limits = SandboxLimits(test_timeout=args.test_timeout,
                           solution_timeout=args.solution_timeout or max(60.0, args.test_timeout))
    started = time.monotonic()
    evaluations, mode = asyncio.run(check_problems(problems, args.workers, limits))
    failed = 0
    for evaluation in evaluations:
        lines = failure_lines(evaluation)
        if lines:
            failed += 1
            print("\n".join(lines))
    elapsed = time.monotonic() - started
    tests = sum(e.tests_total for e in evaluations)
    print(
        f"{len(problems)} problems, {tests} tests: {len(problems) - failed} passed, {failed} failed "
        f"(sandbox: {mode}, {elapsed:.1f} s)"
    )
    return 1 if failed else 0

"""The built-in dataset: its shape, every canonical solution passing its own tests in the
sandbox, and the ``check-dataset`` command that checks any dataset the same way."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict

import pytest

from llm_solutions.cli import main
from llm_solutions.cli.check_dataset import failure_lines
from llm_solutions.dataset import load_dataset
from llm_solutions.evaluation import Evaluator, SandboxLimits

EXPECTED_CATEGORIES = 25  # 24 text categories and the image category
MIN_PER_CATEGORY = 4


@pytest.fixture(scope="module")
def dataset():
    return load_dataset()


def test_builtin_dataset_has_every_category_with_graded_problems(dataset):
    by_category: dict[str, list[int]] = defaultdict(list)
    for problem in dataset.problems:
        by_category[problem.category].append(problem.complexity)
    assert len(by_category) == EXPECTED_CATEGORIES, sorted(by_category)
    small = {c: len(v) for c, v in by_category.items() if len(v) < MIN_PER_CATEGORY}
    assert not small, f"categories with fewer than {MIN_PER_CATEGORY} problems: {small}"
    flat = {c: v[0] for c, v in by_category.items() if len(set(v)) < 2}
    assert not flat, f"categories whose problems all have one complexity: {flat}"
    assert len({p.complexity for p in dataset.problems}) >= 3
    assert not dataset.skipped


async def test_every_canonical_solution_passes_its_own_tests(dataset):
    evaluator = Evaluator(limits=SandboxLimits(test_timeout=10.0))
    try:
        results = await asyncio.gather(*(evaluator.evaluate(p, p.canonical_solution) for p in dataset.problems))
    finally:
        await evaluator.close()
    failures = [line for result in results for line in failure_lines(result)]
    assert not failures, "\n".join(failures)
    assert all(r.tests_total == len(p.tests) for r, p in zip(results, dataset.problems, strict=True))


def _write_dataset(folder, problems):
    folder.mkdir()
    with (folder / "problems.jsonl").open("w") as f:
        for problem in problems:
            f.write(json.dumps(problem) + "\n")
    return folder


def _problem(task_id, solution, tests):
    return {
        "task_id": task_id,
        "name": task_id,
        "problem": "write it",
        "canonical_solution": solution,
        "tests": json.dumps([{"ctx": ctx, "assertion": a} for ctx, a in tests]),
        "category": "math",
        "complexity": 1,
    }


def test_check_dataset_reports_each_failing_test_and_exits_1(tmp_path, capsys):
    folder = _write_dataset(
        tmp_path / "ds",
        [
            _problem("good", "def f(x):\n    return x + 1\n", [("", "assert f(1) == 2")]),
            _problem("bad", "def f(x):\n    return x\n", [("", "assert f(1) == 2"), ("y = None", "f(y) + 1")]),
        ],
    )
    assert main(["check-dataset", "--dataset", str(folder), "--timeout", "5"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "bad: test 0: failed: AssertionError: assert f(1) == 2" in out
    assert any(line.startswith("bad: test 1: error: TypeError") for line in out)
    assert not any(line.startswith("good:") for line in out)
    assert "2 problems, 3 tests: 1 passed, 1 failed" in out[-1]


def test_check_dataset_passes_a_good_dataset_and_filters_categories(tmp_path, capsys):
    good = _problem("good", "def f(x):\n    return x + 1\n", [("", "assert f(1) == 2")])
    other = dict(_problem("other", "def g(:\n", [("", "assert g()")]), category="strings")
    folder = _write_dataset(tmp_path / "ds", [good, other])
    assert main(["check-dataset", "--dataset", str(folder), "--categories", "math"]) == 0
    assert "1 problems, 1 tests: 1 passed, 0 failed" in capsys.readouterr().out


def test_check_dataset_format_errors_are_user_errors(tmp_path, capsys):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "bad.jsonl").write_text('{"task_id": "x"}\n')
    assert main(["check-dataset", "--dataset", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "missing field" in err

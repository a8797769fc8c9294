"""Verification of every candidate problem before it is accepted.

First what can be seen without running anything (``check_item``): the item is a JSON
object with the dataset's fields and types, its complexity is one the category asks for,
its canonical solution parses and defines ``name`` as the category's kind of object, it
has at least ``min_tests`` tests, and the tests do not contain the solution (they do not
define ``name`` themselves, hold no copy of one of the solution's functions or classes,
and repeat none of its longer lines).

Then in the sandbox, with the evaluator collection uses (``Verifier.verify``): the
canonical solution passes all its tests, and again a second time (a solution whose result
changes from run to run cannot be a reference); and the tests are not trivial: each stub
with the solution's signature (``stubs.py``) fails at least one of them.

Every rejection is a ``Rejection`` with a reason from ``REASONS`` and a one-line detail.
"""

from __future__ import annotations

import ast
import dataclasses
import keyword
import time
from dataclasses import dataclass
from typing import Any

from llm_solutions.dataset import Problem, parse_problem
from llm_solutions.evaluation.evaluator import SolutionEvaluator
from llm_solutions.evaluation.results import SolutionEvaluation
from llm_solutions.generation.fingerprints import definition_keys
from llm_solutions.generation.settings import CategorySpec
from llm_solutions.generation.stubs import STUB_KINDS, stubs
from llm_solutions.validation import parse, parse_code, top_level_names

#: Every reason a candidate can be rejected for, and what it means.
REASONS: dict[str, str] = {
    "malformed": "the item is not a JSON object (or not valid JSON)",
    "schema": "a field is missing, empty or of the wrong type",
    "complexity_out_of_range": "its complexity is outside the category's range",
    "wrong_object": "it defines another kind of object than the category asks for",
    "syntax_error": "the canonical solution does not parse",
    "missing_name": "the canonical solution does not define `name` at the top level",
    "too_few_tests": "fewer tests than --min-tests (3)",
    "tests_contain_solution": "the tests define `name` themselves or repeat the solution's code",
    "fails_own_tests": "the canonical solution fails one of its tests in the sandbox",
    "nondeterministic": "the canonical solution passed its tests once and failed a second run",
    "trivial_tests": "a stub returning None or its input unchanged passes every test",
    "duplicate_exact": "the same problem text as an accepted problem",
    "duplicate_structure": "the same solution structure (names and constants aside) as an accepted problem",
    "near_duplicate": "a problem text too similar to an accepted one (MinHash)",
    "semantic_duplicate": "a problem too close in meaning to an accepted one (embeddings)",
    "contaminated_exact": "the same problem text as a problem of an excluded dataset",
    "contaminated_structure": "the same solution structure as a problem of an excluded dataset",
    "contaminated_near": "a problem text too similar to one of an excluded dataset",
    "contaminated_semantic": "too close in meaning to a problem of an excluded dataset",
    "surplus": "valid, but its complexity already has every problem the plan asks for",
}

#: Reasons ``--repair`` sends back to the worker (duplicates are not repairable).
REPAIRABLE = frozenset({
    "schema", "wrong_object", "syntax_error", "missing_name", "too_few_tests", "tests_contain_solution",
    "fails_own_tests", "nondeterministic", "trivial_tests",
})

_LINE_CHARS = 30  # a solution line this long found verbatim in a test is the solution leaking


@dataclass(frozen=True)
class Rejection:
    """Why a candidate was not accepted: ``reason`` (a key of ``REASONS``) and a detail."""

    reason: str
    detail: str = ""


def _tests_field(value: Any) -> Any:
    # A test given as a bare assertion string is the common shorthand.
    if isinstance(value, list):
        return [{"ctx": "", "assertion": item} if isinstance(item, str) else item for item in value]
    return value


def _defines(tree: ast.AST, name: str) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name:
            return True
    return False


def _significant_lines(code: str) -> list[str]:
    lines = []
    for raw in code.splitlines():
        line = " ".join(raw.split())
        if len(line) < _LINE_CHARS or line.startswith(("def ", "class ", "async def ", "import ", "from ", "@", "#")):
            continue
        if line.startswith(('"', "'")):
            continue  # docstrings
        lines.append(line)
    return lines


def tests_contain_solution(problem: Problem) -> str | None:
    """Why the tests contain the solution, or ``None``."""
    solution = parse_code(problem.canonical_solution)
    own = definition_keys(solution) if solution is not None else set()
    lines = _significant_lines(problem.canonical_solution)
    for number, test in enumerate(problem.tests, start=1):
        for part in (test.ctx, test.assertion):
            tree = parse_code(part) if part.strip() else None
            if tree is None:
                continue
            if _defines(tree, problem.name):
                return f"test {number} defines {problem.name} itself"
            if own & definition_keys(tree):
                return f"test {number} holds a copy of a function or class of the solution"
        text = " ".join(f"{test.ctx}\n{test.assertion}".split())
        for line in lines:
            if line in text:
                return f"test {number} repeats the solution's line {line[:80]!r}"
    return None


def check_item(value: Any, category: CategorySpec, min_tests: int) -> tuple[Problem | None, Rejection | None]:
    """The candidate as a ``Problem`` (task id still to give), or why it is rejected,
    from everything that can be checked without running it."""
    if not isinstance(value, dict):
        return None, Rejection("malformed", f"the item is a JSON {type(value).__name__}, not an object")
    data = dict(value)
    data["tests"] = _tests_field(data.get("tests"))
    name = data.get("name")
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        return None, Rejection("schema", f"'name' must be a Python identifier, got {name!r}"[:200])
    for key in ("problem", "canonical_solution"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            return None, Rejection("schema", f"'{key}' must be a non-empty text")
    complexity = data.get("complexity")
    if isinstance(complexity, str) and complexity.strip().isdigit():
        complexity = int(complexity)
    if isinstance(complexity, bool) or not isinstance(complexity, int):
        return None, Rejection("schema", f"'complexity' must be a whole number, got {complexity!r}"[:200])
    low, high = category.complexity
    if not low <= complexity <= high:
        return None, Rejection("complexity_out_of_range", f"complexity {complexity} is outside {low}-{high}")
    kind = data.get("object", category.object)
    if kind != category.object:
        return None, Rejection("wrong_object", f"'object' is {kind!r}; the category asks for a {category.object}")
    data.update(task_id=f"{category.name}_candidate", category=category.name, complexity=complexity,
                object=category.object)
    try:
        problem = parse_problem(data)
    except ValueError as e:
        return None, Rejection("schema", str(e)[:300])
    parsed = parse(problem.canonical_solution)
    if parsed.tree is None:
        return None, Rejection("syntax_error", f"line {parsed.line}: {parsed.error}"[:300])
    if problem.name not in top_level_names(parsed.tree):
        return None, Rejection("missing_name", f"the solution does not define {problem.name} at the top level")
    wanted = (ast.ClassDef,) if category.object == "class" else (ast.FunctionDef, ast.AsyncFunctionDef)
    defined = [n for n in parsed.tree.body if getattr(n, "name", None) == problem.name]
    if defined and not any(isinstance(n, wanted) for n in defined):
        return None, Rejection("wrong_object", f"{problem.name} is not a {category.object}")
    if len(problem.tests) < min_tests:
        return None, Rejection("too_few_tests", f"{len(problem.tests)} test(s); at least {min_tests} are needed")
    leak = tests_contain_solution(problem)
    if leak is not None:
        return None, Rejection("tests_contain_solution", leak)
    return problem, None


def describe_failure(problem: Problem, evaluation: SolutionEvaluation) -> str:
    """``"2 of 4 tests failed; first: test 3 (assert f(2) == 5): failed: AssertionError"``."""
    failing = [t for t in evaluation.tests if t.status != "passed"]
    if not failing:
        return "every test passed"
    first = failing[0]
    assertion = " ".join(problem.tests[first.index].assertion.split())[:120]
    return (f"{len(failing)} of {evaluation.tests_total} tests failed; first: test {first.index + 1} "
            f"({assertion}): {first.summary()}")


class Verifier:
    """Runs the sandbox checks with ``evaluator``; counts the time it spends.

    ``busy_seconds`` is wall time during which at least one candidate was being verified;
    ``seconds`` adds up every candidate's own verification time.
    """

    def __init__(self, evaluator: SolutionEvaluator) -> None:
        self.evaluator = evaluator
        self.seconds = 0.0
        self.busy_seconds = 0.0
        self.verified = 0
        self._active = 0
        self._busy_since = 0.0

    async def verify(self, problem: Problem) -> Rejection | None:
        """``None`` when the candidate passes every sandbox check, else the first failure."""
        started = time.monotonic()
        if self._active == 0:
            self._busy_since = started
        self._active += 1
        try:
            return await self._checks(problem)
        finally:
            now = time.monotonic()
            self._active -= 1
            self.seconds += now - started
            self.verified += 1
            if self._active == 0:
                self.busy_seconds += now - self._busy_since

    async def _checks(self, problem: Problem) -> Rejection | None:
        code = problem.canonical_solution
        first = await self.evaluator.evaluate(problem, code)
        if not first.passed_all:
            return Rejection("fails_own_tests", describe_failure(problem, first))
        second = await self.evaluator.evaluate(problem, code)
        if not second.passed_all:
            return Rejection("nondeterministic", "passed every test, then on the second run: "
                             + describe_failure(problem, second))
        for kind, stub in stubs(code, problem.name):
            if await self._passes_every_test(problem, stub):
                return Rejection("trivial_tests", f"a stub of {problem.name} that {STUB_KINDS[kind]} passes all "
                                                  f"{len(problem.tests)} tests")
        return None

    async def _passes_every_test(self, problem: Problem, code: str) -> bool:
        # Test by test, stopping at the first failure: a stub usually fails the first one.
        for case in problem.tests:
            single = dataclasses.replace(problem, tests=(case,))
            if not (await self.evaluator.evaluate(single, code)).passed_all:
                return False
        return True

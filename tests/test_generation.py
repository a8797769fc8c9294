"""Dataset generation, piece by piece: reading answers, fingerprints, stubs, verification,
the diversity index, quotas, plan files and settings, and the JSON mode on the wire."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from llm_solutions.cache.key import cache_key
from llm_solutions.dataset import Problem, TestCase
from llm_solutions.errors import ConfigError
from llm_solutions.evaluation.results import SolutionEvaluation, TestResult
from llm_solutions.generation import CategorySpec, GenerationPlan, GenerationSettings
from llm_solutions.generation.answers import parse_items, parse_subtopics
from llm_solutions.generation.diversity import DiversityIndex
from llm_solutions.generation.fingerprints import structure_key, text_key
from llm_solutions.generation.quotas import Quotas
from llm_solutions.generation.stubs import stubs
from llm_solutions.generation.verification import Verifier, check_item
from llm_solutions.models.base import Request
from tests.support.problem_factory import batch_text, good_item
from tests.support.provider_harness import PROMPT, fake, harness  # noqa: F401  (fixtures)

ARITH = CategorySpec(name="arith", description="integer arithmetic", count=5)

# google-genai subclasses aiohttp.ClientSession, which aiohttp flags; nothing we can change.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

# --- answers ---------------------------------------------------------------------------


def test_fenced_answer_with_fences_inside_json_strings_is_read_whole():
    item = good_item(1)
    item["problem"] += "\n\nExample:\n```python\n>>> step_chain_1(3)\n```\n"
    text = batch_text([item, good_item(2)], fenced=True)
    items = parse_items(text)
    assert [i.value["name"] for i in items] == ["step_chain_1", "step_chain_2"]
    assert items[0].value["problem"].endswith("```\n")


def test_one_malformed_item_is_rejected_alone():
    good = [json.dumps(good_item(n)) for n in (3, 4, 5)]
    broken = '{"name": "bad", "problem": "x" "canonical_solution": "def bad(): pass", "tests": []}'
    text = '```json\n{"problems": [' + ", ".join([good[0], broken, good[1], good[2]]) + "]}\n```"
    items = parse_items(text)
    assert [i.index for i in items] == [0, 1, 2, 3]
    assert items[1].value is None and "malformed JSON" in (items[1].error or "")
    assert [i.value["name"] for i in items if i.value] == ["step_chain_3", "step_chain_4", "step_chain_5"]


def test_answer_cut_off_keeps_the_whole_items():
    text = batch_text([good_item(6), good_item(7)])
    items = parse_items(text[: len(text) - 60])
    assert items[0].value["name"] == "step_chain_6"
    assert items[-1].value is None


def test_no_json_at_all_is_one_malformed_item():
    [item] = parse_items("Sorry, I cannot write problems today.")
    assert item.value is None and item.error


def test_planner_subtopics():
    assert parse_subtopics('Sure: {"subtopics": ["BFS", "DFS", "BFS", " "]}') == ["BFS", "DFS"]
    assert parse_subtopics("no json") == []


# --- fingerprints and stubs -----------------------------------------------------------


def test_structure_ignores_names_constants_docstrings_and_annotations():
    a = 'def total(xs: list[int], k: int = 3) -> int:\n    """Sum."""\n    s: int = 0\n    for x in xs:\n' \
        '        s += x * k\n    return s\n'
    b = "def add_all(items, factor=7):\n    acc = 0\n    for it in items:\n        acc += it * factor\n    return acc\n"
    assert structure_key(a) == structure_key(b)
    assert structure_key(a) != structure_key(b.replace("*", "+"))
    assert structure_key(a) != structure_key(b.replace("for it in items", "for it in sorted(items)"))
    assert text_key("Hello,  World!") == text_key("hello world")


def test_stubs_keep_the_signature_and_drop_the_behaviour():
    code = ("from dataclasses import dataclass\n\n@dataclass\nclass Box:\n    w: int\n    h: int = 1\n"
            "    @property\n    def area(self):\n        return self.w * self.h\n"
            "    def grow(self, by):\n        return Box(self.w + by, self.h + by)\n")
    made = dict(stubs(code, "Box"))
    namespace: dict = {}
    exec(made["identity"], namespace)
    box = namespace["Box"](2, 3)
    assert box.area is None and box.grow(5) == 5 and not hasattr(box, "w")
    assert set(made) == {"none", "identity"}
    assert [k for k, _ in stubs("def now():\n    return 1\n", "now")] == ["none"]  # no input to return


# --- static checks ---------------------------------------------------------------------


@pytest.mark.parametrize(("change", "reason"), [
    (lambda item: item.pop("canonical_solution"), "schema"),
    (lambda item: item.update(complexity=9), "complexity_out_of_range"),
    (lambda item: item.update(object="class"), "wrong_object"),
    (lambda item: item.update(canonical_solution="def f(:\n"), "syntax_error"),
    (lambda item: item.update(canonical_solution="def other(x):\n    return x\n"), "missing_name"),
    (lambda item: item.update(tests=item["tests"][:2]), "too_few_tests"),
    (lambda item: item["tests"][0].update(ctx=item["canonical_solution"]), "tests_contain_solution"),
    (lambda item: item["tests"][1].update(ctx="def ref(v):\n    return (((v + 2) - 3) * 4) // 5\n"), None),
])
def test_static_checks(change, reason):
    item = good_item(8)
    change(item)
    problem, rejection = check_item(item, ARITH, 3)
    assert (rejection.reason if rejection else None) == reason
    assert (problem is None) == (reason is not None)


def test_a_helper_copied_into_the_tests_is_the_solution():
    item = good_item(9)
    item["tests"][2]["ctx"] = item["canonical_solution"].replace("step_chain_9", "reference")
    _, rejection = check_item(item, ARITH, 3)
    assert rejection is not None and rejection.reason == "tests_contain_solution"


class FlakyEvaluator:
    """Passes a solution's tests the first time, fails them the second."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()

    async def evaluate(self, problem: Problem, code: str) -> SolutionEvaluation:
        self.runs[code] += 1
        status = "passed" if self.runs[code] == 1 else "failed"
        return SolutionEvaluation(problem.task_id, [TestResult(i, status) for i in range(len(problem.tests))])


async def test_a_solution_that_passes_once_then_fails_is_nondeterministic():
    problem = Problem("arith_1", "f", "Return 1.", "def f():\n    return 1\n",
                      tuple(TestCase("", "assert f() == 1") for _ in range(3)), "arith", 1)
    rejection = await Verifier(FlakyEvaluator()).verify(problem)  # type: ignore[arg-type]
    assert rejection is not None and rejection.reason == "nondeterministic"


# --- diversity and quotas ---------------------------------------------------------------


def problem_of(item: dict, task_id: str = "arith_x") -> Problem:
    problem, rejection = check_item(item, ARITH, 3)
    assert problem is not None, rejection
    return problem


def test_diversity_index_tells_duplicates_apart_from_contamination():
    index = DiversityIndex(threshold=0.7, window=2)
    index.exclude("builtin", [problem_of(good_item(10))])
    for n in (11, 12, 13):
        index.add(f"arith_{n}", index.fingerprint(problem_of(good_item(n))))

    def verdict(item: dict) -> str | None:
        found = index.check(index.fingerprint(problem_of(item)))
        return found.reason if found else None

    assert verdict(good_item(14)) is None
    assert verdict(good_item(10)) == "contaminated_exact"
    assert verdict({**good_item(15), "problem": good_item(11)["problem"]}) == "duplicate_exact"
    renamed = good_item(12, name="other")
    assert verdict({**renamed, "problem": good_item(16)["problem"]}) == "duplicate_structure"
    # arith_11 has left the window of 2: found through the LSH index, confirmed by its signature
    near = good_item(11)["problem"].replace("Context:", "Background:").replace("integer", "whole number")
    assert verdict({**good_item(17), "problem": near}) == "near_duplicate"


def test_quotas_reserve_where_most_is_free_and_never_overfill():
    quotas = Quotas({"a": {1: 2, 2: 1}})
    assert quotas.reserve("a", 5) == [1, 1, 2]
    assert quotas.free_total("a") == 0 and not quotas.take_free("a", 1)
    quotas.fill("a", 1)
    quotas.release("a", 1)
    assert quotas.free("a", 1) == 1 and quotas.remaining("a") == 2
    quotas.fill("a", 2)
    assert quotas.take_free("a", 1)
    quotas.fill("a", 1)
    assert quotas.done("a")


# --- plans and settings ----------------------------------------------------------------


def test_plan_file_settings_sit_between_config_file_and_environment(tmp_path):
    config = tmp_path / "llm.toml"
    config.write_text("[generation]\nbatch_size = 2\nseed = 5\nmax_concurrent = 9\n")
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text('batch_size = 3\nseed = 6\n\n[[categories]]\nname = "graphs"\ncount = 7\n'
                         'complexity = "2-3"\n')
    env = {"LLM_SOLUTIONS_CONFIG": str(config)}
    plan = GenerationPlan.load(plan_file, {"seed": 8}, env=env)
    assert (plan.settings.batch_size, plan.settings.seed, plan.settings.max_concurrent) == (3, 8, 9)
    assert plan.categories[0].planned() == {2: 4, 3: 3}


def test_plan_file_mistakes_name_the_file_and_line(tmp_path):
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text('worker_model = "gpt-6-luna"\nbatch_sise = 3\n')
    with pytest.raises(ConfigError, match=r"plan.toml line 2: unknown generation setting 'batch_sise'; "
                                          r"did you mean 'batch_size'"):
        GenerationPlan.load(plan_file, env={})
    plan_file.write_text('[[categories]]\nname = "a"\ncount = 3\n\n[[categories]]\nname = "b"\ncount = 0\n')
    with pytest.raises(ConfigError, match=r"plan.toml line 5: categories\[1\] 'b': count=0 is not valid"):
        GenerationPlan.load(plan_file, env={})


def test_settings_made_in_code_are_checked_like_flags():
    with pytest.raises(ConfigError, match=r"batch_size=0 is not valid; use a whole number from 1 to 50 "
                                          r"\(--batch-size\)"):
        GenerationSettings(batch_size=0)
    with pytest.raises(ConfigError, match="min_tests=2"):
        GenerationSettings(min_tests=2)


# --- JSON mode on the wire -------------------------------------------------------------


async def test_json_output_is_asked_for_in_each_wire_format(harness, fake):
    asked = Request(messages=PROMPT.messages, max_tokens=256, json_output=True)
    for name in ("gpt-6-luna", "claude-haiku-5-5", "gemini-3.5-flash-lite"):
        await harness.model(name).generate(asked)
    assert fake.of("openai")[-1].body["response_format"] == {"type": "json_object"}
    assert fake.of("gemini")[-1].body["generationConfig"]["responseMimeType"] == "application/json"
    assert "response_format" not in fake.of("anthropic")[-1].body  # no JSON mode: the prompt asks
    await harness.model("gpt-6-luna").generate(Request(messages=PROMPT.messages, max_tokens=256))
    assert "response_format" not in fake.of("openai")[-1].body


def test_the_cache_key_covers_json_output(harness):
    config = harness.registry.get("gpt-6-luna")
    plain = Request(messages=PROMPT.messages, max_tokens=256)
    assert cache_key(config, plain, 0) != cache_key(config, Request(**{**plain.__dict__, "json_output": True}), 0)
    # Requests without it keep the key they had before the field existed.
    assert cache_key(config, plain, 0, params=[p for p in ("model", "temperature", "top_p", "max_tokens",
                                                           "messages", "reasoning_effort", "extra", "sample")]) \
        == cache_key(config, plain, 0)

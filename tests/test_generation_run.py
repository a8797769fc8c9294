"""Generation runs through the real SDKs against the local fake server: scripted batches
with bad items of every kind are each rejected for their reason and every good item is
accepted; repair, the planner, the budget and resume; the command line end to end, with
the collector run on the result."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.dataset import load_dataset
from llm_solutions.evaluation import Evaluator
from llm_solutions.generation import CategorySpec, generate_dataset
from llm_solutions.generation.verification import Verifier, check_item
from tests.support.fake_providers import FakeProviders, serve_in_thread
from tests.support.fake_wire import Reply
from tests.support.problem_factory import asked, batch_text, good_item, user_prompt

ROOT = Path(__file__).resolve().parent.parent
GUARDED_SITE = ROOT / "tests" / "support" / "guarded_site"
MODELS_FILE = """
[[models]]
name = "gen-worker"
provider = "openai"
model_params = { api_model = "gen-test", max_tokens = 4096, temperature = 0.7 }
input_price = 1.0
output_price = 4.0

[[models]]
name = "gen-claude"
provider = "anthropic"
model_params = { api_model = "claude-test", max_tokens = 4096, temperature = 0.7 }
input_price = 3.0
output_price = 15.0

[[models]]
name = "gen-gemini"
provider = "google"
model_params = { api_model = "gemini-test", max_tokens = 1024 }
input_price = 0.5
output_price = 1.0
"""

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


@pytest.fixture
def models_file(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(MODELS_FILE)
    return str(path)


@pytest.fixture
async def fake(monkeypatch):
    async with FakeProviders() as server:
        for name, value in {**server.base_url_env(), **server.key_env()}.items():
            monkeypatch.setenv(name, value)
        yield server


def settings(tmp_path: Path, models_file: str, **extra) -> dict:
    values = dict(worker_model="gen-worker", output=str(tmp_path / "out"), models_file=models_file, rpm=100_000,
                  tpm=10**9, max_concurrent=1, verify_workers=2)
    values.update(extra)
    return values


def rejections(out: Path) -> list[dict]:
    path = out / "generation" / "rejected.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def builtin_copy() -> dict:
    problem = next(p for p in load_dataset().problems if p.task_id == "closure_1")
    return {**problem.to_dict(), "complexity": 1}


def marked(item: dict, marker: str) -> dict:
    item = dict(item)
    item["marker"] = marker
    return item


def bad_batch_one() -> str:
    """Four good problems and one bad item of each kind seen without comparing problems."""
    failing = good_item(30)
    failing["canonical_solution"] = failing["canonical_solution"].replace("return", "return 1 +")
    trivial = good_item(31)
    trivial["tests"] = [{"ctx": "", "assertion": "assert step_chain_31(3) == step_chain_31(3)"}] * 3
    leaking = good_item(32)
    leaking["tests"][0]["ctx"] = leaking["canonical_solution"]
    missing = good_item(33)
    missing["canonical_solution"] = missing["canonical_solution"].replace("step_chain_33", "chain")
    items = [
        json.dumps(good_item(1)), json.dumps(good_item(2)),
        '{"name": "broken", "problem": "Return x." "canonical_solution": "def broken(x): return x", "tests": []}',
        json.dumps(marked(failing, "fails_own_tests")),
        json.dumps(marked({**good_item(34), "tests": good_item(34)["tests"][:2]}, "too_few_tests")),
        json.dumps(marked(leaking, "tests_contain_solution")),
        json.dumps(marked(trivial, "trivial_tests")),
        json.dumps(marked({k: v for k, v in good_item(35).items() if k != "tests"}, "schema")),
        json.dumps(marked({**good_item(36), "complexity": 4}, "complexity_out_of_range")),
        json.dumps(marked({**good_item(37), "object": "class"}, "wrong_object")),
        json.dumps(marked(missing, "missing_name")),
        json.dumps(marked({**good_item(38), "canonical_solution": "def step_chain_38(x:\n"}, "syntax_error")),
        json.dumps(marked(builtin_copy(), "contaminated_exact")),
        json.dumps(good_item(3)), json.dumps(good_item(4)),
    ]
    return "```json\n{\"problems\": [" + ",\n".join(items) + "]}\n```"


def bad_batch_two() -> str:
    """Two more good problems, and copies of the first batch's: exact, near, structural."""
    near_text = good_item(2)["problem"].replace("Context:", "Background:").replace("an integer", "a number")
    structural = {**good_item(3, name="renamed_chain"), "problem": good_item(40)["problem"]}
    return batch_text([
        good_item(5),
        marked({**good_item(41), "problem": good_item(1)["problem"]}, "duplicate_exact"),
        marked({**good_item(42), "problem": near_text}, "near_duplicate"),
        marked(structural, "duplicate_structure"),
        good_item(6),
    ])


async def test_every_bad_item_is_rejected_for_its_reason_and_every_good_one_accepted(tmp_path, fake, models_file):
    fake.queue(Reply(text=bad_batch_one()), Reply(text=bad_batch_two(), delay=1.0), api="openai")
    report = await generate_dataset({"categories": [{"name": "arith", "count": 6, "complexity": 1}]},
                                    **settings(tmp_path, models_file, batch_size=6))
    out = tmp_path / "out"
    assert report["status"] == "completed"
    dataset = load_dataset(out)
    assert not dataset.skipped
    # Verified in parallel, accepted in the order they pass; task ids contiguous all the same.
    assert [p.task_id for p in dataset.problems] == [f"arith_{i}" for i in range(1, 7)]
    assert sorted(p.name for p in dataset.problems) == [f"step_chain_{i}" for i in range(1, 7)]
    got = rejections(out)
    reasons = Counter(r["reason"] for r in got)
    assert reasons == Counter({"malformed": 1, "fails_own_tests": 1, "too_few_tests": 1, "tests_contain_solution": 1,
                               "trivial_tests": 1, "schema": 1, "complexity_out_of_range": 1, "wrong_object": 1,
                               "missing_name": 1, "syntax_error": 1, "contaminated_exact": 1, "duplicate_exact": 1,
                               "near_duplicate": 1, "duplicate_structure": 1})
    for record in got:
        if isinstance(record["candidate"], dict):
            assert record["candidate"]["marker"] == record["reason"], record
        else:
            assert record["reason"] == "malformed" and '"broken"' in record["candidate"]
    assert report["rejected"]["by_reason"] == dict(sorted(reasons.items()))
    assert report["calls"]["calls"] == 2 and report["calls"]["cost"] > 0
    assert report["cost"]["per_accepted_problem"] == pytest.approx(report["cost"]["total"] / 6, rel=1e-3)
    assert report["checks"]["semantic_duplicates"] == {"enabled": False,
                                                       "note": "skipped: no embedding model configured"}
    # Worker calls ask for JSON and carry a bounded list of accepted titles, never the dataset.
    first, second = fake.of("openai")
    assert first.body["response_format"] == {"type": "json_object"}
    assert "(none yet)" in first.body["messages"][1]["content"]
    assert "step_chain_1(x)" in second.body["messages"][1]["content"]


async def test_repair_and_planner_across_wire_formats(tmp_path, fake, models_file):
    broken = good_item(50, 2)
    broken["canonical_solution"] = broken["canonical_solution"].replace("return", "return -1 +")
    hopeless = good_item(51, 2)
    hopeless["tests"] = hopeless["tests"][:1]
    topics = ["bit tricks", "modular steps", "mixed chains"]

    def respond(api, body):
        prompt = user_prompt(api, body)
        if api == "gemini":
            return Reply(text=json.dumps({"subtopics": topics}))
        if "was rejected by the dataset's checks" in prompt:
            fixed = good_item(50, 2) if "step_chain_50" in prompt else hopeless
            return Reply(text=json.dumps({"problems": [fixed]}))
        _, _, levels, _ = asked(prompt)
        batches.append(levels)
        first = [good_item(52, 2), broken, hopeless]
        return Reply(text=batch_text(first if len(batches) == 1 else [good_item(53, 2)] * len(levels)))

    batches: list[list[int]] = []
    fake.responder = respond
    report = await generate_dataset(
        {"categories": [{"name": "chains", "count": 3, "complexity": 2}]},
        **settings(tmp_path, models_file, worker_model="gen-claude", planner_model="gen-gemini", batch_size=3,
                   repair=True))
    out = tmp_path / "out"
    assert report["status"] == "completed" and report["accepted"]["repaired"] == 1
    problems = {p.name: p for p in load_dataset(out).problems}
    assert set(problems) == {"step_chain_50", "step_chain_52", "step_chain_53"}
    lines = [json.loads(line) for line in (out / "chains.jsonl").read_text().splitlines()]
    assert [line["origin"]["repaired"] for line in lines if line["name"] == "step_chain_50"] == [True]
    [rejected] = rejections(out)
    assert rejected["reason"] == "too_few_tests" and rejected["repaired"]
    assert rejected["detail"].startswith("after a repair for too_few_tests")
    assert report["calls"]["by_kind"]["planner"]["calls"] == 1 and report["calls"]["by_kind"]["repair"]["calls"] == 2
    assert batches == [[2, 2, 2], [2]]
    worker_prompts = [user_prompt("anthropic", r.body) for r in fake.of("anthropic")
                      if "was rejected" not in user_prompt("anthropic", r.body)]
    assert worker_prompts and all(any(f"Sub-topic for this batch: {t}" in p for t in topics) for p in worker_prompts)


async def test_budget_stop_and_resume_send_no_batch_twice(tmp_path, fake, models_file):
    counter = iter(range(60, 200))
    fake.responder = lambda api, body: Reply(text=batch_text(
        [good_item(next(counter), level) for level in asked(user_prompt(api, body))[2]]))
    values = settings(tmp_path, models_file, batch_size=2, max_cost=1e-9)
    plan = {"categories": [{"name": "a", "count": 4, "complexity": "1-2"}, {"name": "b", "count": 2}]}
    first = await generate_dataset(plan, **values)
    assert first["status"] == "interrupted" and "reached the limit" in first["stop_reason"]
    sent = len(fake.of("openai"))
    assert sent == 1 and first["accepted"]["total"] == 2
    state = json.loads((tmp_path / "out" / "generation" / "state.json").read_text())
    assert state["in_flight"], "the refused batch stays to do"

    resumed = await generate_dataset(plan, resume=True, output=values["output"], max_cost=1.0)
    assert resumed["status"] == "completed" and resumed["accepted"]["total"] == 6
    journal = [json.loads(line) for line in (tmp_path / "out" / "generation" / "journal.jsonl").open()]
    sent = Counter(e["batch"] for e in journal if e["event"] == "call" and e["attempts"])
    assert len(fake.of("openai")) == sum(sent.values()) == 3 and set(sent.values()) == {1}  # each batch once
    assert resumed["calls"]["calls"] == 3 and resumed["timing"]["runs"] == 2
    again = await generate_dataset(plan, resume=True, output=values["output"])
    assert again["status"] == "completed" and len(fake.of("openai")) == 3
    with pytest.raises(Exception, match="seed cannot change on --resume"):
        await generate_dataset(plan, resume=True, output=values["output"], seed=4)


async def test_every_builtin_problem_passes_verification():
    # Human-written problems are what good generated ones look like: none may be rejected.
    evaluator = Evaluator()
    verifier = Verifier(evaluator)
    try:
        async def verdict(problem):
            category = CategorySpec(name=problem.category, description="x", count=1, object=problem.object)
            candidate, rejection = check_item(problem.to_dict(), category, 3)
            return rejection or await verifier.verify(candidate)

        import asyncio

        problems = [p for p in load_dataset().problems if p.complexity == 5]  # the hardest of each category
        verdicts = await asyncio.gather(*(verdict(p) for p in problems))
        assert [(p.task_id, v) for p, v in zip(problems, verdicts, strict=True) if v is not None] == []
    finally:
        await evaluator.close()


# --- the command line ------------------------------------------------------------------


def test_bad_input_is_one_line_exit_2_and_creates_nothing(tmp_path, capsys, models_file):
    out = tmp_path / "new"
    plan = tmp_path / "plan.yaml"
    plan.write_text("worker_model: gen-worker\ncategories:\n  - name: a\n    count: 3\n    complexity: 0-9\n")
    cases = [
        ["--plan", str(plan), "--output", str(out), "--models-file", models_file],
        ["--categories", "a", "--count", "2", "--worker-model", "nope", "--output", str(out)],
        ["--categories", "a", "--count", "2", "--worker-model", "gen-worker", "--models-file", models_file,
         "--output", str(out)],  # no key for the worker's provider
        ["--resume", "--output", str(out)],
        ["--plan", str(tmp_path / "missing.yaml"), "--output", str(out)],
    ]
    for argv in cases:
        assert main(["generate", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not out.exists()
    assert main(["generate", "--plan", str(plan).replace("plan", "x"), "--dry-run"]) == 2


def test_generate_then_collect_with_the_offline_model(tmp_path, models_file):
    counter = iter(range(200, 400))

    def respond(api, body):
        try:
            category, _, levels, kind = asked(user_prompt(api, body))
        except ValueError:
            return None
        return Reply(text=batch_text([good_item(next(counter), level, kind) for level in levels], fenced=True))

    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    with serve_in_thread() as fake:
        fake.responder = respond
        env.update(PYTHONPATH=f"{GUARDED_SITE}{os.pathsep}{ROOT}", LLM_SOLUTIONS_NO_DOTENV="1",
                   OPENAI_API_KEY="test-key", OPENAI_BASE_URL=f"{fake.url}/v1")
        plan = tmp_path / "plan.toml"
        plan.write_text('worker_model = "gen-worker"\nbatch_size = 4\n\n[[categories]]\nname = "chains"\n'
                        'count = 10\n\n[[categories]]\nname = "machines"\ncount = 10\nobject = "class"\n'
                        'complexity = "2-3"\n')
        out = tmp_path / "dataset"
        script = [sys.executable, str(ROOT / "scripts" / "generate_dataset.py")]
        dry = subprocess.run([*script, "--plan", str(plan), "--dry-run", "--models-file", models_file],
                             env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert dry.returncode == 0 and "dry run: nothing was sent" in dry.stdout and not fake.requests
        done = subprocess.run([*script, "--plan", str(plan), "--output", str(out), "--models-file", models_file,
                               "--rpm", "100000", "--tpm", "1000000000", "--no-progress"],
                              env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "status: completed - 20/20 problems accepted, 0 rejected" in done.stdout
    assert "chains: 10/10 accepted" in done.stdout and "machines: 10/10 accepted (complexity 2: 5, 3: 5)" in done.stdout
    assert "semantic duplicates: skipped: no embedding model configured" in done.stdout
    report = json.loads((out / "generation_report.json").read_text())
    assert report["accepted"]["by_category"]["machines"]["by_complexity"] == {"2": 5, "3": 5}

    collect = subprocess.run([sys.executable, str(ROOT / "scripts" / "run_collection.py"), "--dataset", str(out),
                              "--models", "offline", "--no-progress", "--output-dir", str(tmp_path / "sessions"),
                              "--session-id", "s"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert collect.returncode == 0, collect.stderr
    records = [json.loads(line) for path in (tmp_path / "sessions" / "s").glob("*/*.jsonl")
               for line in path.read_text().splitlines()]
    assert len(records) == 20 and all(r["passed_all"] for r in records)


async def test_semantic_duplicates_with_an_embedding_function(tmp_path, fake, models_file):
    embedded: list[str] = []

    async def embed(texts):
        # "Meaning" here is the chain of operations, whatever the words around it; any other
        # text gets a direction of its own.
        embedded.extend(texts)
        vectors = []
        for text in texts:
            steps = re.search(r"steps: (.*?)\.", text)
            seed = steps.group(1) if steps else text
            rng = random.Random(re.sub(r"\d+", "", seed))
            vectors.append([rng.random() - 0.5 for _ in range(32)])
        return vectors

    original = good_item(70)
    story = original["problem"].split(" Context:")[0].replace("step_chain_70", "step_chain_72")
    reworded = {**good_item(72), "problem": f"{story}. Background: {good_item(71)['problem'].split('Context: ')[1]}"}
    fake.queue(Reply(text=batch_text([original, good_item(73)])),
               Reply(text=batch_text([marked(reworded, "semantic_duplicate"), good_item(74)]), delay=1.0),
               api="openai")
    report = await generate_dataset({"categories": [{"name": "arith", "count": 3, "complexity": 1}]},
                                    embedder=embed, **settings(tmp_path, models_file, batch_size=2))
    assert report["status"] == "completed"
    assert report["checks"]["semantic_duplicates"]["enabled"]
    [rejected] = rejections(tmp_path / "out")
    assert rejected["reason"] == "semantic_duplicate" == rejected["candidate"]["marker"], rejected
    assert re.search(r"embedding similarity 1.00 with arith_[12]$", rejected["detail"]), rejected["detail"]
    assert len(embedded) >= 120  # the built-in set is embedded too, for contamination

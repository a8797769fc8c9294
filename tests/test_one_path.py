"""One path for every model call and one scoring step, in real runs: the extraction model's
calls are cached, counted in ``--max-cost`` and never recorded as tasks, and ``rescore``
scores stored answers exactly as ``collect`` did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_solutions.collection.rescoring import rescore_session
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.session import resume_runner
from llm_solutions.collection.settings import CollectionSettings
from tests.support.fake_providers import FakeProviders
from tests.support.fake_wire import Reply
from tests.support.scripted_model import ScriptedModel

COLOR = "class Color(Enum):\n    RED = 1\n    GREEN = 2\n    BLUE = 3"
# enum_1: the class block's fence is broken, so the rules are unsure and the extractor is asked.
UNCLEAR = ("Sure! First the imports:\n```python\nfrom enum import Enum\n```\n"
           f"Then the class:```python class\n{COLOR}\n```\nDone.")
SCRIPT = {
    "enum_1": [{"text": UNCLEAR}],
    "enum_3": [{"text": "I cannot help with that."}],  # no code: the extractor says NO_CODE
    "enum_4": [{"text": "```python\nclass HttpStatus:\n    pass\n```"}],  # clear, and wrong
    "enum_5": [{"text": "Sketch: class OrderStatus(Enum): PENDING = 1 ... you get the idea"}],
}
# The extraction model's replies, in the order the unclear answers reach it (one worker).
REPLIES = [
    Reply(text=f"```python\nfrom enum import Enum\n\n{COLOR}\n```"),  # copied: used
    Reply(text="NO_CODE"),
    Reply(text="```python\nclass OrderStatus:\n    PENDING = 1\n```"),  # invented: rejected
]


def records(session: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(session.glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            found[record["task_id"]] = record
    return found


def free_model() -> ScriptedModel:
    return ScriptedModel(name="freebie", script=SCRIPT, price=(0.0, 0.0))


def settings(out: Path, session: str, **extra) -> CollectionSettings:
    values = dict(models=["freebie"], categories=["enum"], output_dir=str(out), session_id=session,
                  extraction_model="gpt-6-luna", model_concurrency=1, execute=False)
    values.update(extra)
    return CollectionSettings(**values)


@pytest.fixture
async def fake(monkeypatch):
    async with FakeProviders() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "fake-key")
        yield server


async def test_extraction_calls_are_scored_not_recorded_as_tasks(tmp_path, fake):
    fake.queue(*REPLIES, api="openai")
    result = await CollectionRunner(settings(tmp_path, "x"), models=[free_model()], handle_signals=False).run()
    assert (result.status, result.completed, result.total, result.successful) == ("completed", 5, 5, 5)
    assert [p.name for p in (tmp_path / "x").iterdir() if p.is_dir()] == ["freebie"]  # no gpt-6-luna records
    got = records(tmp_path / "x")
    assert len(fake.of("openai")) == 3
    outcomes = {task: (r["extraction"].get("llm") or {}).get("outcome") for task, r in got.items()}
    assert outcomes == {"enum_1": "used", "enum_2": None, "enum_3": "no_code", "enum_4": None,
                        "enum_5": "rejected: unfaithful"}
    assert got["enum_1"]["extracted_solution"] == f"from enum import Enum\n\n{COLOR}"
    spent_on_extraction = sum(r["extraction"]["llm"]["cost"] for r in got.values() if "llm" in r["extraction"])
    assert spent_on_extraction > 0 and result.cost == pytest.approx(spent_on_extraction, abs=1e-6)
    metadata = json.loads((tmp_path / "x" / "summary.json").read_text())["collection_metadata"]
    assert metadata["total_cost"] == 0 and metadata["session_spend"] == pytest.approx(spent_on_extraction, abs=1e-6)
    assert metadata["llm_extraction"]["calls"] == 3

    # A second session over the same answers: every extraction comes from the cache.
    again = await CollectionRunner(settings(tmp_path, "y"), models=[free_model()], handle_signals=False).run()
    assert len(fake.of("openai")) == 3 and again.cost == 0
    assert {t: r["extracted_solution"] for t, r in records(tmp_path / "y").items()} == \
        {t: r["extracted_solution"] for t, r in got.items()}


async def test_max_cost_counts_extraction_spend(tmp_path, fake):
    # The answers are free; only the extraction calls cost money.  The first one uses up
    # the budget, so no further task starts, and a resume starts none either.
    result = await CollectionRunner(settings(tmp_path, "b", max_cost=1e-9), models=[free_model()],
                                    handle_signals=False).run()
    assert result.status == "interrupted" and result.stop_reason == "budget"
    assert result.completed == 1 and len(fake.of("openai")) == 1
    assert result.cost > 1e-9 and result.resume_command
    progress = json.loads((tmp_path / "b" / "progress.json").read_text())
    assert progress["current_progress"]["total_cost"] == pytest.approx(result.cost)

    resumed = await resume_runner("b", tmp_path, models=[free_model()]).run()
    assert resumed.completed == 1 and len(fake.of("openai")) == 1 and resumed.stop_reason == "budget"
    raised = await resume_runner("b", tmp_path, models=[free_model()], max_cost=1.0).run()
    assert raised.status == "completed" and raised.completed == 5


async def test_rescore_scores_the_same_answers_the_same_way(tmp_path, fake):
    fake.queue(*REPLIES, api="openai")
    collected = await CollectionRunner(settings(tmp_path, "c", execute=True), models=[free_model()],
                                       handle_signals=False).run()
    assert collected.status == "completed"
    path = await rescore_session("c", tmp_path, new_session_id="c2")
    assert len(fake.of("openai")) == 3  # the extraction model's answers came from the cache

    def scores(found: dict[str, dict]) -> dict[str, tuple]:
        out = {}
        for task, r in found.items():
            extraction = dict(r["extraction"])
            llm = extraction.pop("llm", None)
            out[task] = (r["extracted_solution"], extraction, llm and llm["outcome"], r["validation"],
                         r.get("tests_passed"), r.get("tests_total"), r.get("passed_all"))
        return out

    before, after = records(tmp_path / "c"), records(path)
    assert scores(after) == scores(before)
    assert before["enum_1"]["passed_all"] and not before["enum_4"]["passed_all"]
    assert all(r["extraction"]["llm"]["cache_hit"] for r in after.values() if "llm" in r["extraction"])
    metadata = json.loads((path / "summary.json").read_text())["collection_metadata"]
    assert metadata["api_calls"] == 0 and metadata["session_spend"] == 0

    # Rules only, on request: the unclear answer then keeps the rules' reading.
    rules_only = records(await rescore_session("c", tmp_path, new_session_id="c3", extraction_model=False,
                                               execute=False))
    assert rules_only["enum_1"]["extracted_solution"] == "from enum import Enum"
    assert "llm" not in rules_only["enum_1"]["extraction"] and len(fake.of("openai")) == 3

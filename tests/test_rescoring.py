"""The cache inside real runs, and checking stored answers again for free: subset reuse,
``rescore``, ``evaluate``, pass@k in the reports, credentials kept out of session files."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.rescoring import evaluate_session, rescore_session
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.evaluation import Evaluator
from llm_solutions.evaluation.passk import pass_at_k
from tests.support.scripted_model import ScriptedModel
from tests.test_cache import mysql_base_url  # noqa: F401  (fixture)


def records(session: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl")) for line in p.read_text().splitlines()]


def settings(out: Path, session: str, **extra) -> CollectionSettings:
    values = dict(models=["scripted"], categories=["enum", "json"], output_dir=str(out), session_id=session,
                  execute=False)
    values.update(extra)
    return CollectionSettings(**values)


async def run(model, **kwargs) -> object:
    return await CollectionRunner(settings(**kwargs), models=[model], handle_signals=False).run()


async def test_full_run_after_quick_test_pays_only_for_new_tasks(tmp_path):
    quick = ScriptedModel()
    await run(quick, out=tmp_path, session="quick", quick_test=True)
    assert len(quick.calls) == 2

    full = ScriptedModel()
    result = await run(full, out=tmp_path, session="full")
    assert result.completed == 10
    assert len(full.calls) == 8 and not set(full.calls) & set(quick.calls)
    got = records(tmp_path / "full")
    hits = [r for r in got if r["cache_hit"]]
    assert len(hits) == 2 and all(r["cost"] == 0 and r["cost_saved"] > 0 for r in hits)
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    cache = summary["collection_metadata"]["cache"]
    assert (cache["hits"], cache["misses"], cache["writes"]) == (2, 8, 8)
    assert cache["cost_saved_usd"] == pytest.approx(sum(r["cost_saved"] for r in hits))


async def test_samples_are_distinct_answers_even_with_the_cache(tmp_path):
    model = ScriptedModel()
    await run(model, out=tmp_path, session="s", categories=["enum"], quick_test=True, samples=3)
    again = ScriptedModel()
    await run(again, out=tmp_path, session="t", categories=["enum"], quick_test=True, samples=4)
    assert sorted(model.calls) == ["enum_1#0", "enum_1#1", "enum_1#2"]
    assert again.calls == ["enum_1#3"]  # samples 0-2 came from the cache, sample 3 is new


async def test_no_cache_and_force_override(tmp_path):
    first = ScriptedModel()
    await run(first, out=tmp_path, session="a", categories=["enum"])
    off = ScriptedModel()
    await run(off, out=tmp_path, session="b", categories=["enum"], cache={"enabled": False})
    forced = ScriptedModel()
    await run(forced, out=tmp_path, session="c", categories=["enum"], cache={"force_override_cache": True})
    after = ScriptedModel()
    await run(after, out=tmp_path, session="d", categories=["enum"])
    assert len(off.calls) == 5 and len(forced.calls) == 5 and after.calls == []


async def test_rescore_rechecks_stored_answers_with_zero_calls(tmp_path):
    wrong = "```python\nclass Weekday:\n    pass\n```"
    model = ScriptedModel(script={"enum_1": [{"text": "Sure:\n\n" + wrong}]})
    await run(model, out=tmp_path, session="old", categories=["enum"])
    calls = len(model.calls)
    # Someone fixes the answer text on disk, as a changed extractor would read it differently.
    path = tmp_path / "old" / "scripted" / "enum.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[0]["raw_response"] = lines[0]["raw_response"].replace("class Weekday:\n    pass", "x = (")
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))

    new = await rescore_session("old", tmp_path, new_session_id="new")
    assert len(model.calls) == calls  # no model was asked
    got = {r["task_id"]: r for r in records(new)}
    assert len(got) == 5
    assert got["enum_1"]["validation"]["syntax"]["is_valid"] is False
    assert all(r["rescored_from"] == "old" and r["cost"] == 0 for r in got.values())
    assert all(r["passed_all"] for t, r in got.items() if t != "enum_1")
    summary = json.loads((new / "summary.json").read_text())
    assert summary["collection_metadata"]["api_calls"] == 0
    assert summary["model_summaries"]["scripted"]["overall_performance"]["pass_rate"] == 80.0
    assert (tmp_path / "old" / "summary.json").exists()  # the old session is untouched
    assert await asyncio.to_thread(main, ["rescore", "old", "--output-dir", str(tmp_path), "--no-execute"]) == 0


async def test_evaluate_adds_test_results_to_a_session(tmp_path):
    broken = "```python\ndef to_json(x):\n    return None\n```"
    model = ScriptedModel(script={"json_1": [{"text": broken}]})
    await run(model, out=tmp_path, session="e", categories=["json"])
    assert "passed_all" not in records(tmp_path / "e")[0]
    await evaluate_session("e", tmp_path)
    got = {r["task_id"]: r for r in records(tmp_path / "e")}
    assert got["json_1"]["passed_all"] is False and got["json_1"]["tests_total"] > 0
    assert all(got[t]["passed_all"] for t in got if t != "json_1")
    perf = json.loads((tmp_path / "e" / "summary.json").read_text())["model_summaries"]["scripted"]
    assert perf["overall_performance"]["pass_rate"] == 80.0
    assert perf["category_performance"]["json"]["pass@1"] == pytest.approx(0.8)


class StopsAfter:
    """An evaluator that answers ``budget`` solutions, then fails like a machine going away."""

    def __init__(self, budget: int | None = None) -> None:
        self.inner = Evaluator(workers=2)
        self.budget = budget
        self.calls = 0
        self.answered = 0

    async def evaluate(self, problem, code):
        self.calls += 1
        if self.budget is not None and self.calls > self.budget:
            while self.answered < self.budget:  # the ones before it are recorded first
                await asyncio.sleep(0.01)
            raise RuntimeError("the machine went away")
        result = await self.inner.evaluate(problem, code)
        self.answered += 1
        return result

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_evaluate_and_rescore_stopped_midway_continue_with_only_the_rest(tmp_path, monkeypatch):
    await run(ScriptedModel(), out=tmp_path, session="r", categories=["enum", "json"])  # 10 answers, tests not run
    stopped = StopsAfter(budget=3)
    with pytest.raises(RuntimeError, match="went away"):
        await evaluate_session("r", tmp_path, evaluator=stopped)
    await stopped.inner.close()
    assert (tmp_path / "r" / ".pass.json").exists()
    again = StopsAfter()
    await evaluate_session("r", tmp_path, evaluator=again)
    await again.inner.close()
    assert again.calls == 10 - 3
    got = records(tmp_path / "r")
    assert [r["task_id"] for r in got] == [f"{c}_{n}" for c in ("enum", "json") for n in range(1, 6)]
    assert all(r["passed_all"] for r in got) and not (tmp_path / "r" / ".pass.json").exists()
    assert not list((tmp_path / "r").glob("*/.*.partial"))

    import llm_solutions.collection.services as services

    evaluators = iter([StopsAfter(budget=4), StopsAfter()])
    used = []
    monkeypatch.setattr(services, "open_evaluator", lambda *a, **k: used.append(next(evaluators)) or used[-1])
    with pytest.raises(RuntimeError, match="went away"):
        await rescore_session("r", tmp_path, new_session_id="r2")
    await rescore_session("r", tmp_path, new_session_id="r2")  # the same id: continued, not refused
    assert used[1].calls == 10 - 4
    rescored = records(tmp_path / "r2")
    assert len(rescored) == 10 and all(r["passed_all"] and r["rescored_from"] == "r" for r in rescored)


async def test_pass_at_k_in_summary_and_comparison(tmp_path):
    # enum_1: 2 of 5 samples pass; the rest: all pass.
    bad = {"text": "```python\nclass Weekday:\n    pass\n```"}
    good = {}
    model = ScriptedModel(script={"enum_1": [bad, good, bad, good, bad]})
    await run(model, out=tmp_path, session="k", categories=["enum"], samples=5, execute=True)
    summary = json.loads((tmp_path / "k" / "summary.json").read_text())
    overall = summary["model_summaries"]["scripted"]["overall_performance"]
    expected = (pass_at_k(5, 2, 1) + 4) / 5
    assert overall["pass@1"] == pytest.approx(expected)
    assert overall["pass@5"] == pytest.approx(1.0)
    assert "pass@10" not in overall  # k > samples is not reported
    comparison = json.loads((tmp_path / "k" / "cross_model_comparison.json").read_text())
    row = next(r for r in comparison["problems"] if r["task_id"] == "enum_1")
    assert row["scripted_pass@1"] == pytest.approx(0.4) and row["scripted_pass_rate"] == 0.4


def test_mysql_password_never_reaches_session_files(tmp_path, mysql_base_url):  # noqa: F811
    table = f"t_{uuid.uuid4().hex[:12]}"
    url = f"{mysql_base_url.split('?')[0]}?table={table}"
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert main(["collect", "--models", "offline", "--categories", "enum", "--quick-test", "--no-progress",
                 "--no-execute", "--cache-url", url, "--output-dir", str(tmp_path), "--session-id", "m",
                 "--log-file", str(tmp_path / "m.log")]) == 0
    user_and_password = url.split("://", 1)[1].split("@", 1)[0]
    for path in [*(tmp_path / "m").rglob("*"), tmp_path / "m.log"]:
        if path.is_file():
            text = path.read_text(errors="replace")
            assert user_and_password not in text, path
            assert f'"password": "{password}"' not in text, path
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert "mysql" in json.dumps(summary["collection_metadata"]["cache"]["location"])

    from llm_solutions.cache.mysql import MySQLBackend, MySQLTarget

    async def drop() -> None:
        backend = await MySQLBackend.open(MySQLTarget.from_url(url))
        await backend.drop_table()
        await backend.close()

    asyncio.run(drop())

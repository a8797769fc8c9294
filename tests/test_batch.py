"""``--batch`` through the real SDKs against the fake batch endpoints: every result recorded
once at the batch price, per-request errors typed, an expired batch's unanswered keys (and
only those) sent again, ``--detach`` then resume."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from llm_solutions.cli import main
from tests.support.fake_batches import Fail, FakeBatches

MODELS = ["gpt-6-luna", "claude-haiku-5-5", "gemini-3.5-flash-lite"]


@pytest.fixture
async def fake(monkeypatch):
    async with FakeBatches() as server:
        for name, value in {**server.base_url_env(), **server.key_env()}.items():
            monkeypatch.setenv(name, value)
        yield server


def records(session: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl")) for line in p.read_text().splitlines()]


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def collect(out: Path, *args: str) -> int:
    return await cli("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
                     "--models", *MODELS, "--categories", "enum", "--quick-test", "--output-dir", str(out),
                     "--session-id", "b", *args)


async def test_batch_collects_every_provider_at_half_price(tmp_path, fake):
    fake.queue(Fail("bad_request", message="bad prompt"), api="anthropic")
    out = tmp_path / "generated"
    assert await collect(out) == 0
    got = {r["model"]: r for r in records(out / "b")}
    assert set(got) == set(MODELS)
    assert not got["claude-haiku-5-5"]["llm_call_success"]
    assert got["claude-haiku-5-5"]["error_type"] == "bad_request"
    for model in ("gpt-6-luna", "gemini-3.5-flash-lite"):
        record = got[model]
        assert record["llm_call_success"], record["error"]
        assert record["extracted_solution"].startswith("def solve")
        assert record["batch_id"]
        # half the table's price for the tokens billed
        assert record["cost"] > 0
    ledger = json.loads((out / "b" / "batches.json").read_text())["batches"]
    assert {e["provider"] for e in ledger} == {"openai", "anthropic", "google"}
    assert all(e["ingested"] and e["batch_id"] for e in ledger)
    luna = got["gpt-6-luna"]
    assert luna["cost"] == pytest.approx((luna["input_tokens"] * 0.10 + luna["output_tokens"] * 0.50) / 2e6, rel=1e-3)


async def test_expired_batch_resends_only_unanswered_keys(tmp_path, fake):
    fake.expire_next = 0  # the first batch to end expires with nothing answered
    out = tmp_path / "generated"
    assert await cli("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
                     "--models", "gpt-6-luna", "--categories", "enum", "json", "--quick-test", "--samples", "2",
                     "--output-dir", str(out), "--session-id", "b") == 0
    got = records(out / "b")
    assert len(got) == 4 and all(r["llm_call_success"] for r in got)
    sent = Counter(fake.submitted["openai"])
    assert set(sent.values()) == {2}  # each key twice: once in the expired batch, once again
    states = [e["state"] for e in json.loads((out / "b" / "batches.json").read_text())["batches"]]
    assert states == ["expired", "ended"]


async def test_partial_expiry_then_detach_and_resume(tmp_path, fake):
    fake.expire_next = 1
    fake.polls_to_finish = 10**6  # nothing ends until the test says so
    out = tmp_path / "generated"
    args = ("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
            "--models", "claude-haiku-5-5", "--categories", "enum", "json", "typing", "--quick-test",
            "--output-dir", str(out), "--session-id", "b")
    assert await cli(*args, "--detach") == 0
    assert records(out / "b") == []
    assert await cli("resume", "b", "--status", "--output-dir", str(out)) == 0
    fake.polls_to_finish = 1
    assert await cli("resume", "b", "--no-progress", "--output-dir", str(out)) == 0
    got = records(out / "b")
    assert len(got) == 3 and len({r["task_id"] for r in got}) == 3
    sent = Counter(fake.submitted["anthropic"])
    answered_first = [k for k, n in sent.items() if n == 1]
    assert len(answered_first) == 1 and sum(sent.values()) == 5  # 3, then the 2 without a result


async def test_cancel_command_cancels_open_batches(tmp_path, fake):
    fake.polls_to_finish = 10**6
    out = tmp_path / "generated"
    assert await collect(out, "--detach") == 0
    assert await cli("batch", "cancel", "b", "--output-dir", str(out)) == 0
    states = {b["state"] for b in fake.batches.values()}
    assert states <= {"cancelling", "cancelled"}


async def test_dry_run_shows_batch_prices(tmp_path, fake, capsys):
    assert await cli("collect", "--dry-run", "--batch", "--models", *MODELS, "--quick-test",
                     "--output-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "batch $" in out and "50% off" in out


async def test_gemini_file_mode_uploads_requests_and_streams_the_results_file(tmp_path, fake):
    from llm_solutions.batch.google import GoogleBatches
    from llm_solutions.models.base import Request
    from llm_solutions.models.registry import build_models, close_models, load_registry

    registry = load_registry()
    [model] = build_models(registry, [registry.get("gemini-3.5-flash-lite")])
    api = GoogleBatches(model, inline_bytes=10)  # anything above 10 bytes goes in a file
    try:
        fake.queue(Fail("bad_request", message="bad prompt"), api="gemini")
        entries = [api.entry(f"k{i}", Request(messages=[{"role": "user", "content": f"task {i}"}], max_tokens=64))[0]
                   for i in range(3)]
        uploaded: list[str] = []

        async def note(file_id: str) -> None:
            uploaded.append(file_id)

        done = await api.submit(entries, "llms-test-tag", note)
        assert uploaded == [done.input_file_id] and done.input_file_id.startswith("files/")
        assert len(fake.files[done.input_file_id].splitlines()) == 3  # the requests went as a file
        while not (await api.status(done.batch_id)).finished:
            pass
        batch = fake.batches[done.batch_id.removeprefix("batches/")]
        assert batch["output_file"] in fake.files  # the results came back as a file
        got = {o.custom_id: o async for o in api.results(done.batch_id)}
        assert set(got) == {"k0", "k1", "k2"}
        assert got["k0"].error is not None and got["k0"].error.kind == "bad_request"
        assert all(got[k].completion is not None and got[k].completion.text for k in ("k1", "k2"))
        assert (await api.find("llms-test-tag", 0, 3, set())).batch_id == done.batch_id
    finally:
        await close_models([model])


async def test_a_key_without_result_after_max_attempts_batches_is_recorded_failed(tmp_path, fake, capsys):
    fake.expire_every = 0  # every batch expires with nothing answered
    out = tmp_path / "generated"
    code = await cli("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
                     "--models", "gpt-6-luna", "--categories", "enum", "--quick-test", "--max-attempts", "2",
                     "--output-dir", str(out), "--session-id", "b")
    [record] = records(out / "b")
    assert not record["llm_call_success"] and record["error_type"] == "batch_expired"
    assert "after 2 batch(es)" in record["error"]
    assert Counter(fake.submitted["openai"]).most_common(1)[0][1] == 2  # sent twice, then given up
    assert code == 1 and "--retry-failed" in capsys.readouterr().out  # a retry may fix it
    states = [e["state"] for e in json.loads((out / "b" / "batches.json").read_text())["batches"]]
    assert states == ["expired", "expired"]


async def test_status_shows_each_batch_with_state_counts_and_cost(tmp_path, fake, capsys):
    fake.polls_to_finish = 10**6
    out = tmp_path / "generated"
    assert await collect(out, "--detach") == 0
    capsys.readouterr()
    assert await cli("resume", "b", "--status", "--output-dir", str(out)) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("batch: ")]
    ids = {b["api"]: b["id"] for b in fake.batches.values()}
    assert sorted(lines) == sorted([
        f"batch: anthropic {ids['anthropic']} claude-haiku-5-5: in_progress, 1 requests (processing 1), "
        "0 results recorded, $0.0000",
        f"batch: google batches/{ids['gemini']} gemini-3.5-flash-lite: in_progress, 1 requests (no counts yet), "
        "0 results recorded, $0.0000",
        f"batch: openai {ids['openai']} gpt-6-luna: in_progress, 1 requests (total 1), 0 results recorded, $0.0000",
    ])
    fake.polls_to_finish = 1
    assert await cli("resume", "b", "--no-progress", "--output-dir", str(out)) == 0
    capsys.readouterr()
    assert await cli("resume", "b", "--status", "--output-dir", str(out)) == 0
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("batch: ")]
    assert len(lines) == 3 and all("ended (recorded), 1 requests" in x and "1 results recorded, $0.0" in x
                                   for x in lines)


async def test_max_cost_holds_back_batches_that_would_pass_the_limit(tmp_path, fake, capsys):
    out = tmp_path / "generated"
    # A limit no request fits under: nothing is submitted, the run stops for the budget
    # and says how to resume; a resume with a higher limit sends everything.
    code = await collect(out, "--max-cost", "0.0000001")
    assert code == 1 and fake.batches == {} and records(out / "b") == []
    printed = capsys.readouterr().out
    assert "status: interrupted" in printed and "resume with:" in printed
    progress = json.loads((out / "b" / "progress.json").read_text())
    assert progress["status"] == "interrupted"
    assert await cli("resume", "b", "--no-progress", "--max-cost", "1", "--output-dir", str(out)) == 0
    assert len(records(out / "b")) == 3 and len(fake.batches) == 3


async def test_cache_writes_of_batch_results_count_in_the_summary(tmp_path, fake):
    out = tmp_path / "generated"
    code = await cli("collect", "--no-progress", "--no-execute", "--batch", "--batch-poll", "0.05",
                     "--models", *MODELS, "--categories", "enum", "json", "--quick-test",
                     "--output-dir", str(out), "--session-id", "b")
    assert code == 0
    cache = json.loads((out / "b" / "summary.json").read_text())["collection_metadata"]["cache"]
    assert cache["writes"] == 6 and cache["misses"] == 6 and cache["hits"] == 0
    assert {name: m["writes"] for name, m in cache["per_model"].items()} == {name: 2 for name in MODELS}
    # A second session answers everything from the cache, sending nothing.
    sent = len(fake.batches)
    assert await cli("collect", "--no-progress", "--no-execute", "--batch", "--batch-poll", "0.05",
                     "--models", *MODELS, "--categories", "enum", "json", "--quick-test",
                     "--output-dir", str(out), "--session-id", "c") == 0
    assert len(fake.batches) == sent
    cache = json.loads((out / "c" / "summary.json").read_text())["collection_metadata"]["cache"]
    assert cache["hits"] == 6 and cache["writes"] == 0


def lose_batch_id(session: Path) -> dict:
    """The ledger as a crash right after submitting leaves it: the intent, no batch id."""
    path = session / "batches.json"
    data = json.loads(path.read_text())
    [entry] = data["batches"]
    entry.update(batch_id=None, state="submitting", submitted=None, counts={})
    path.write_text(json.dumps(data))
    return entry


async def test_lost_anthropic_batch_is_found_by_its_request_ids_not_just_size(tmp_path, fake):
    fake.polls_to_finish = 10**6
    out = tmp_path / "generated"
    args = ("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
            "--models", "claude-haiku-5-5", "--categories", "enum", "--quick-test", "--output-dir", str(out),
            "--session-id", "b")
    assert await cli(*args, "--detach") == 0
    [ours] = fake.batches.values()
    intent = lose_batch_id(out / "b")
    # Someone else's batch of the same size, created between the intent and ours and
    # already ended: the size-and-time rule alone would take it.
    body = ours["requests"][0][1]
    other = fake._new("anthropic", [("someone-elses-request", body)])
    other["created"], ours["created"] = intent["created"] + 0.2, intent["created"] + 0.5
    fake._finish(other, 1, "ended")
    fake.polls_to_finish = 1
    assert await cli("resume", "b", "--no-progress", "--output-dir", str(out)) == 0
    [record] = records(out / "b")
    assert record["batch_id"] == ours["id"]
    [entry] = json.loads((out / "b" / "batches.json").read_text())["batches"]
    assert entry["batch_id"] == ours["id"] and entry["ingested"] and not entry["unverified"]
    assert len(fake.submitted["anthropic"]) == 2  # ours and the stranger's: nothing sent again


async def test_a_running_batch_taken_by_size_is_let_go_when_its_ids_are_not_ours(tmp_path, fake):
    fake.polls_to_finish = 10**6
    out = tmp_path / "generated"
    args = ("collect", "--no-progress", "--no-execute", "--no-cache", "--batch", "--batch-poll", "0.05",
            "--models", "claude-haiku-5-5", "--categories", "enum", "--quick-test", "--output-dir", str(out),
            "--session-id", "b")
    assert await cli(*args, "--detach") == 0
    [(ours_id, ours)] = fake.batches.items()
    intent = lose_batch_id(out / "b")
    del fake.batches[ours_id]  # ours never reached the provider; a stranger's batch did
    other = fake._new("anthropic", [("someone-elses-request", ours["requests"][0][1])])
    other["created"] = intent["created"] + 0.2
    fake.polls_to_finish = 1
    assert await cli("resume", "b", "--no-progress", "--output-dir", str(out)) == 0
    [record] = records(out / "b")
    assert record["llm_call_success"] and record["batch_id"] not in (other["id"], ours_id)
    entries = json.loads((out / "b" / "batches.json").read_text())["batches"]
    assert [e["state"] for e in entries] == ["failed", "ended"]
    assert entries[0]["batch_id"] is None and "held other requests" in entries[0]["note"]
    assert entries[1]["batch_id"] == record["batch_id"]


async def test_write_behind_holds_cache_writes_and_stores_them_in_one_go(tmp_path):
    from llm_solutions.batch.write_behind import WriteBehind
    from llm_solutions.cache.backend import CacheEntry
    from llm_solutions.cache.sqlite import SQLiteBackend

    backend = await SQLiteBackend.open(str(tmp_path / "cache.sqlite3"))
    try:
        writes = WriteBehind(backend, group=3)

        def entry(i: int) -> CacheEntry:
            return CacheEntry(f"k{i}", "m", "m", "p", 1.0, None, False, 5, json.dumps({"text": str(i)}))

        for i in range(2):
            await writes.put(entry(i))
        assert await backend.get("k0") is None and (await writes.get("k0")).payload == entry(0).payload
        await writes.put(entry(2))  # the third makes a group: written together, in the background
        assert (await writes.get("k2")).payload == entry(2).payload  # readable while it is written
        for i in range(3, 6):
            await writes.put(entry(i))  # the next full group waits for the first write to end
        assert [await backend.get(f"k{i}") is not None for i in range(3)] == [True] * 3
        await writes.put(entry(6))
        await writes.flush()
        assert (await backend.totals(2.0)).entries == 7
    finally:
        await backend.close()

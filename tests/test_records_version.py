"""Record schema versions: sessions written before versions (``tests/data/session_v1``,
collected by the code of that time: offline model, three problems, two samples, one
problem's answer failing its tests; only its ``dataset_path`` and ``output_dir`` were
changed from the temporary folders it was made in) read as 1.0, upgrade on read, export and migrate; new records
keep their messages in a prompt table that survives crashes; and everything that reads
records works with both versions."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.migration import migrate_session
from llm_solutions.collection.rescoring import evaluate_session, rescore_session
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.schema import PROMPTS_FILE, SCHEMA_VERSION, prompt_id
from llm_solutions.collection.session import list_sessions, load_session, session_info
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.export import export_sessions

FIXTURE = Path(__file__).parent / "data" / "session_v1"
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "solve it"}]


@pytest.fixture
def old(tmp_path) -> Path:
    path = tmp_path / "session_v1"
    shutil.copytree(FIXTURE, path)
    return path


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def test_an_old_session_reads_as_1_0_upgraded(old):
    raw = [json.loads(line) for line in (old / "offline" / "json.jsonl").read_text().splitlines()]
    assert all("schema_version" not in r for r in raw)
    records = list(SessionStore(old).read_records())
    assert len(records) == 6
    for record in records:
        assert record["schema_version"] == SCHEMA_VERSION and record["upgraded_from"] == "1.0"
        assert record["prompt_rebuilt"] is True
        assert [m["role"] for m in record["messages"]] == ["system", "user"]
        assert record["problem"].strip() in record["messages"][1]["content"]
    assert "(class)" in next(r for r in records if r["name"] == "DateTimeEncoder")["messages"][1]["content"]
    frame = load_session(old)
    assert len(frame) == 6 and frame["passed_all"].sum() == 4 and "messages" in frame
    info = session_info(SessionStore(old))
    assert (info.status, info.completed, info.successful) == ("completed", 6, 6)
    assert [s.session_id for s in list_sessions(old.parent)] == ["session_v1"]


def test_an_old_session_exports_and_migrates_without_touching_the_original(old, tmp_path, capsys):
    before = digest(old)
    result = export_sessions([old], "trl-sft", tmp_path / "sft", filters=None)
    assert result.counts["prompts_rebuilt"] == 2 and result.counts["train_rows"] == 2  # 4 passing, 2 duplicates
    assert "rebuilt from the prompt templates" in (tmp_path / "sft" / "README.md").read_text()

    assert main(["migrate", str(old)]) == 0
    assert "6 from 1.0" in capsys.readouterr().out
    assert digest(old) == before  # never rewritten in place
    copy = old.parent / "session_v1_v2"
    stored = [json.loads(line) for line in (copy / "offline" / "json.jsonl").read_text().splitlines()]
    assert all(r["schema_version"] == SCHEMA_VERSION and r["upgraded_from"] == "1.0" for r in stored)
    assert all("messages" not in r and r["prompt_id"] for r in stored)
    table = [json.loads(line) for line in (copy / PROMPTS_FILE).read_text().splitlines()]
    assert len(table) == 3
    upgraded = list(SessionStore(old).read_records())
    migrated = list(SessionStore(copy).read_records())
    assert [r["messages"] for r in migrated] == [r["messages"] for r in upgraded]
    assert [r["raw_response"] for r in migrated] == [r["raw_response"] for r in upgraded]
    assert session_info(SessionStore(copy)).completed == 6
    assert main(["migrate", str(old)]) == 2  # the copy exists: refused, nothing overwritten
    assert "already exists" in capsys.readouterr().err
    with pytest.raises(Exception, match="not found"):
        migrate_session("no_such", old.parent)


async def test_an_old_session_evaluates_and_a_new_one_rescores(old, tmp_path):
    await evaluate_session(str(old))
    assert sum(r["passed_all"] for r in SessionStore(old).read_records()) == 4

    settings = CollectionSettings(models=["offline"], categories=["json"], output_dir=str(tmp_path / "runs"),
                                  session_id="new", execute=False, cache={"enabled": False})
    await CollectionRunner(settings, handle_signals=False).run()
    path = await rescore_session("new", tmp_path / "runs", new_session_id="again", execute=False)
    rescored = list(SessionStore(path).read_records())
    assert rescored and all(r["messages"] and r["schema_version"] == SCHEMA_VERSION for r in rescored)
    assert (path / PROMPTS_FILE).exists()


def record(task: str, messages=MESSAGES) -> dict:
    return {"schema_version": SCHEMA_VERSION, "task_id": task, "model": "m", "category": "c", "sample": 0,
            "llm_call_success": True, "raw_response": "x", "messages": messages}


def test_prompts_are_stored_once_and_before_their_records(tmp_path):
    store = SessionStore.create(tmp_path, "s")
    store.append(record("a"))
    store.append(record("b"))
    store.append(record("c", [{"role": "user", "content": "other"}]))
    store.close()
    table = (store.path / PROMPTS_FILE).read_text().splitlines()
    assert len(table) == 2 and json.loads(table[0])["prompt_id"] == prompt_id(MESSAGES)
    lines = [json.loads(line) for line in store.records_file("m", "c").read_text().splitlines()]
    assert [r["prompt_id"] for r in lines][:2] == [prompt_id(MESSAGES)] * 2 and "messages" not in lines[0]
    assert [r["messages"] for r in SessionStore(store.path).read_records()][:2] == [MESSAGES, MESSAGES]

    # A crash while writing a prompt leaves a torn last line and no record naming it:
    # the next append sets the torn line aside and writes the prompt whole.
    with (store.path / PROMPTS_FILE).open("a") as handle:
        handle.write('{"prompt_id": "abc", "messa')
    again = SessionStore(store.path)
    again.append(record("d", [{"role": "user", "content": "new"}]))
    again.close()
    assert all(json.loads(line) for line in (store.path / PROMPTS_FILE).read_text().splitlines())
    assert list(again.path.glob("damaged/prompts.*"))
    found = {r["task_id"]: r["messages"] for r in SessionStore(store.path).read_records()}
    assert found["d"] == [{"role": "user", "content": "new"}] and found["a"] == MESSAGES

    # A record whose prompt is lost (a damaged table) still reads, without messages.
    (store.path / PROMPTS_FILE).unlink()
    assert {r["messages"] is None for r in SessionStore(store.path).read_records()} == {True}


def test_clean_removes_old_sessions_only_never_the_cache(tmp_path, capsys):
    for name in ("old_a", "old_b", "recent"):
        shutil.copytree(FIXTURE, tmp_path / name)
    (tmp_path / "cache.sqlite3").write_text("cache")
    long_ago = time.time() - 40 * 86400
    for name in ("old_a", "old_b"):
        for path in [tmp_path / name, *(tmp_path / name).rglob("*")]:
            os.utime(path, (long_ago, long_ago))
    progress = json.loads((tmp_path / "old_b" / "progress.json").read_text())
    progress["status"] = "failed"
    (tmp_path / "old_b" / "progress.json").write_text(json.dumps(progress))
    os.utime(tmp_path / "old_b" / "progress.json", (long_ago, long_ago))
    base = ["clean", "--output-dir", str(tmp_path), "--older-than", "30d"]

    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would remove 2 session(s)" in out and "old_a" in out and "recent" not in out
    assert main(base) == 2  # no terminal to ask on, no --yes
    assert "--yes" in capsys.readouterr().err and (tmp_path / "old_a").exists()
    assert main([*base, "--status", "failed", "--yes"]) == 0
    assert not (tmp_path / "old_b").exists() and (tmp_path / "old_a").exists()
    assert main([*base, "--yes"]) == 0
    assert "removed 1 session(s)" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.sqlite3", "recent"]
    assert main(["clean", "--output-dir", str(tmp_path), "--older-than", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err

"""Sessions: listing, status, and resuming exactly where a run stopped."""

from __future__ import annotations

import asyncio
import json

import pytest

from llm_solutions.cli import main
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.session import resume_runner, session_info
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from tests.support.scripted_model import ScriptedModel


def settings_for(out, **extra):
    values = dict(models=["scripted"], categories=["dataclass", "enum", "regex"], output_dir=str(out),
                  execute=False, max_concurrent_per_model=2, batch_size=2, session_id="s1",
                  cache={"enabled": False})
    values.update(extra)
    return CollectionSettings(**values)


def records_of(session):
    return [json.loads(line) for p in session.glob("*/*.jsonl") for line in p.read_text().splitlines()]


async def run_until(runner, model, calls):
    """Start a run and kill it (task cancellation, like a crash) after ``calls`` requests."""
    task = asyncio.create_task(runner.run())
    while len(model.calls) < calls:
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_resume_after_interruption_runs_no_task_twice(tmp_path):
    first = ScriptedModel(default={"delay": 0.02})
    await run_until(CollectionRunner(settings_for(tmp_path), models=[first], handle_signals=False), first, 6)
    session = tmp_path / "s1"
    done_before = {r["task_id"] for r in records_of(session)}
    assert 0 < len(done_before) < 15
    assert session_info(SessionStore(session)).status == "interrupted"

    second = ScriptedModel(default={"delay": 0.001})
    result = await resume_runner("s1", tmp_path, models=[second]).run()
    assert result.status == "completed" and result.completed == 15
    records = records_of(session)
    assert sorted(r["task_id"] for r in records) == sorted({r["task_id"] for r in records})  # no duplicates
    assert len(records) == 15
    assert not done_before & {c.split("#")[0] for c in second.calls}
    progress = json.loads((session / "progress.json").read_text())
    assert progress["status"] == "completed" and progress["current_progress"]["completed_tasks"] == 15


async def test_resuming_a_completed_session_changes_nothing(tmp_path, capsys):
    model = ScriptedModel()
    await CollectionRunner(settings_for(tmp_path, categories=["enum"]), models=[model], handle_signals=False).run()
    before = (tmp_path / "s1" / "scripted" / "enum.jsonl").read_text()
    assert main(["resume", "s1", "--output-dir", str(tmp_path)]) == 0
    assert "already completed" in capsys.readouterr().out
    assert (tmp_path / "s1" / "scripted" / "enum.jsonl").read_text() == before


async def test_torn_last_line_is_moved_aside_and_its_task_rerun(tmp_path):
    model = ScriptedModel()
    await CollectionRunner(settings_for(tmp_path, categories=["enum"]), models=[model], handle_signals=False).run()
    path = tmp_path / "s1" / "scripted" / "enum.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    torn = json.loads(lines[-1])["task_id"]
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a crash mid-write
    again = ScriptedModel()
    result = await resume_runner("s1", tmp_path, models=[again]).run()
    assert result.status == "completed"
    assert again.calls == [f"{torn}#0"]
    assert len(path.read_text().splitlines()) == 5
    damaged = list((tmp_path / "s1" / "damaged").iterdir())
    assert len(damaged) == 1 and damaged[0].read_text().strip() == lines[-1][: len(lines[-1]) // 2].strip()


async def test_retry_failed_reruns_only_failed_tasks(tmp_path):
    flaky = ScriptedModel(script={"enum_2": [{"error": "bad_request"}]})
    result = await CollectionRunner(settings_for(tmp_path, categories=["enum"]), models=[flaky],
                                    handle_signals=False).run()
    assert result.failed == 1
    failed = [r for r in records_of(tmp_path / "s1") if not r["llm_call_success"]]
    assert failed[0]["error_type"] == "bad_request" and failed[0]["error"].startswith("scripted bad_request")
    fixed = ScriptedModel()
    result = await resume_runner("s1", tmp_path, retry_failed=True, models=[fixed]).run()
    assert fixed.calls == ["enum_2#0"]
    records = records_of(tmp_path / "s1")
    assert len(records) == 5 and all(r["llm_call_success"] for r in records)


async def test_auth_error_stops_that_model_only(tmp_path):
    broken = ScriptedModel(name="broken", default={"error": "auth"})
    fine = ScriptedModel(name="fine")
    settings = settings_for(tmp_path, models=["broken", "fine"], categories=["enum"], max_concurrent_per_model=1)
    result = await CollectionRunner(settings, models=[broken, fine], handle_signals=False).run()
    assert len(broken.calls) == 1 and len(fine.calls) == 5
    assert result.status == "failed" and "broken" in result.stopped_models
    assert result.resume_command


def test_second_process_on_same_session_is_refused(tmp_path, capsys):
    (tmp_path / "s1").mkdir()
    store = SessionStore(tmp_path / "s1")
    store.write_json("progress.json", {"session_parameters": {"models": ["offline"]}, "total_tasks": 1})
    store.lock()
    try:
        assert main(["resume", "s1", "--output-dir", str(tmp_path)]) == 2
        assert "in use by pid" in capsys.readouterr().err
    finally:
        store.unlock()


def test_missing_session_lists_existing(tmp_path, capsys):
    assert main(["collect", "--models", "offline", "--categories", "enum", "--output-dir", str(tmp_path),
                 "--session-id", "real", "--no-progress", "--no-execute"]) == 0
    assert main(["resume", "nope", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "session 'nope' not found" in err and "real" in err


def test_list_sessions_and_status(tmp_path, capsys):
    assert main(["collect", "--models", "offline", "--categories", "enum", "--output-dir", str(tmp_path),
                 "--session-id", "real", "--no-progress", "--no-execute"]) == 0
    capsys.readouterr()
    assert main(["resume", "--list-sessions", "--output-dir", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "real" in listing and "completed" in listing and "5/5" in listing
    assert main(["resume", "real", "--status", "--output-dir", str(tmp_path)]) == 0
    assert "tasks: 5/5" in capsys.readouterr().out


async def test_damaged_progress_file_still_resumes_from_summary(tmp_path):
    model = ScriptedModel(default={"delay": 0.02})
    await run_until(CollectionRunner(settings_for(tmp_path, categories=["enum"]), models=[model],
                                     handle_signals=False), model, 2)
    (tmp_path / "s1" / "progress.json").write_text("{ damaged")
    again = ScriptedModel()
    result = await resume_runner("s1", tmp_path, models=[again]).run()
    assert result.status == "completed" and len(records_of(tmp_path / "s1")) == 5


async def test_unexpected_error_marks_the_session_failed_and_keeps_records(tmp_path, monkeypatch):
    from llm_solutions.collection import store as store_module

    model = ScriptedModel()
    real_append = store_module.SessionStore.append
    calls = {"n": 0}

    def failing_append(self, record):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_append(self, record)

    monkeypatch.setattr(store_module.SessionStore, "append", failing_append)
    with pytest.raises(OSError):
        await CollectionRunner(settings_for(tmp_path, categories=["enum"], max_concurrent_per_model=1),
                               models=[model], handle_signals=False).run()
    progress = json.loads((tmp_path / "s1" / "progress.json").read_text())
    assert progress["status"] == "failed"
    assert len(records_of(tmp_path / "s1")) == 2
    monkeypatch.setattr(store_module.SessionStore, "append", real_append)
    result = await resume_runner("s1", tmp_path, models=[ScriptedModel()]).run()
    assert result.status == "completed" and len(records_of(tmp_path / "s1")) == 5

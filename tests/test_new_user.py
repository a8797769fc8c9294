"""What a new user trips over: one-line errors for every kind of mistake, sessions that can be
listed, inspected, rebuilt and loaded, and crash leftovers that never block the next run."""

from __future__ import annotations

import pytest

from llm_solutions.cli import main

OFFLINE_QUICK = ["collect", "--models", "offline", "--categories", "json", "--quick-test", "--no-progress",
                 "--no-execute"]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["collect", "--samples", "x"], "argument --samples: invalid int value: 'x'"),
        (["collect", "--bogus"], "unrecognized arguments: --bogus"),
        (["nonsense"], "invalid choice: 'nonsense'"),
        ([], "the following arguments are required"),
        (["collect", "--models", "offline", "--all-models", "--dry-run"], "contradict each other"),
        (["collect", "--models", "ofline", "gpt-7", "--dry-run"], "'ofline' (did you mean offline?), 'gpt-7'"),
    ],
)
def test_command_line_mistakes_are_one_line(argv, expected, capsys):
    assert main(argv) == 2
    assert expected in one_line_error(capsys)


def test_log_level_in_any_case(capsys):
    assert main(["collect", "--models", "offline", "--dry-run", "--categories", "json", "--log-level", "debug"]) == 0


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ('input_price = "free"', "input_price = 'free' is not valid; give a number"),
        ('model_params = { max_tokens = "lots" }', "model_params.max_tokens = 'lots' is not valid; give a whole number"),
        ("rpm = -5", "rpm = -5 is not valid; give a number of at least 0"),
        ('reasoning = "yes"', "reasoning = 'yes' is not valid; give true or false"),
    ],
)
def test_models_file_with_wrong_types_is_refused_before_anything_runs(tmp_path, row, expected, capsys):
    models = tmp_path / "models.toml"
    models.write_text(f'[[models]]\nname = "mine"\nprovider = "offline"\n{row}\n')
    for command in (["--list-models"], ["--models", "mine", "--dry-run"]):
        assert main(["collect", "--models-file", str(models), *command]) == 2
        assert expected in one_line_error(capsys)


def test_a_dotenv_with_bad_lines_names_the_file_and_every_line(tmp_path, monkeypatch, capsys):
    (tmp_path / ".env").write_text("GOOD=1\nnot a setting\nALSO=2\nBAD=\"unterminated\nLAST=3\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLM_SOLUTIONS_NO_DOTENV")
    assert main(["collect", "--list-models"]) == 2
    err = one_line_error(capsys)
    assert str(tmp_path / ".env") in err and "lines 2, 4 are not NAME=value" in err


def test_an_output_dir_that_is_a_file_is_refused_before_anything_is_created(tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("")
    assert main([*OFFLINE_QUICK, "--output-dir", str(blocker / "sessions")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys)
    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path / "out"), "--session-id", "bad id!"]) == 2
    assert "may only use letters" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()


def test_sessions_are_listed_with_a_header_and_their_models(tmp_path, capsys):
    out = str(tmp_path)
    assert main([*OFFLINE_QUICK, "--output-dir", out, "--session-id", "first"]) == 0
    capsys.readouterr()
    assert main(["resume", "--list-sessions", "--output-dir", out]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split()[:3] == ["session", "status", "done/total"] and header.endswith("models")
    assert row.startswith("first") and "completed" in row and row.endswith("offline")
    assert main(["resume", "first", "--status", "--output-dir", out]) == 0
    assert "models: offline" in capsys.readouterr().out


def test_resume_rebuilds_reports_a_crash_left_missing(tmp_path, capsys):
    out = str(tmp_path)
    assert main([*OFFLINE_QUICK, "--output-dir", out, "--session-id", "s"]) == 0
    session = tmp_path / "s"
    (session / "summary.json").unlink()
    (session / "offline" / "json.csv").unlink()
    (session / ".summary.json.123.tmp").write_text("")  # a writer killed mid-write
    capsys.readouterr()
    assert main(["resume", "s", "--output-dir", out, "--no-progress"]) == 0
    assert "rebuilding them" in capsys.readouterr().out
    assert (session / "summary.json").exists() and (session / "offline" / "json.csv").exists()
    assert not list(session.glob(".*.tmp"))
    assert main(["resume", "s", "--output-dir", out, "--no-progress"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_a_folder_left_before_the_first_checkpoint_does_not_block_the_run(tmp_path, capsys):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / ".lock").write_text("pid 1")
    assert main(["resume", "s", "--output-dir", str(tmp_path)]) == 2
    assert "holds nothing yet" in one_line_error(capsys)
    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "s"]) == 0
    assert (tmp_path / "s" / "offline" / "json.jsonl").exists()


def test_load_session_takes_ids_folders_and_lists(tmp_path):
    import pandas as pd

    import llm_solutions as ls

    for name in ("a", "b"):
        assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", name]) == 0
    one = ls.load_session("a", output_dir=tmp_path)
    assert len(one) == 1 and set(one["session"]) == {"a"}
    assert isinstance(one["timestamp"].iloc[0], pd.Timestamp)
    both = ls.load_session(["a", tmp_path / "b"], output_dir=tmp_path)
    assert sorted(both["session"]) == ["a", "b"]
    assert ls.pass_at_k(10, 3, 1) == pytest.approx(0.3)


def test_original_layout_model_summaries_and_task_ids(tmp_path):
    import json

    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "s"]) == 0
    model_summary = json.loads((tmp_path / "s" / "offline" / "summary.json").read_text())
    assert model_summary["model_name"] == "offline" and model_summary["overview"]["total_solutions"] == 1
    progress = json.loads((tmp_path / "s" / "progress.json").read_text())
    assert progress["current_progress"]["completed_task_ids"] == ["json_1_offline"]
    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "t", "--samples", "2"]) == 0
    progress = json.loads((tmp_path / "t" / "progress.json").read_text())
    assert progress["current_progress"]["completed_task_ids"] == ["json_1_offline_s0", "json_1_offline_s1"]


def test_progress_line_shows_spend_failures_models_and_providers():
    from llm_solutions.collection.display import ProgressDisplay

    display = ProgressDisplay(total=4, done=0, enabled=False, status=lambda: {"openai": "paused 8s"})
    display.advance({"model": "a", "cost": 0.5, "llm_call_success": True})
    display.advance({"model": "b", "cost": 0.25, "llm_call_success": False,
                     "extraction": {"llm": {"cost": 0.25}}})
    line = display.line()
    assert line.startswith("2/4") and "$1.0000" in line and "failed 1" in line
    assert "a 1" in line and "b 1" in line and "openai paused 8s" in line
    display.close()
    resumed = ProgressDisplay(total=10, done=4, enabled=False, spent=2.5, failed=1, per_model={"a": 2, "b": 2})
    resumed.advance({"model": "a", "cost": 0.5, "llm_call_success": True})
    line = resumed.line()
    assert line.startswith("5/10") and "$3.0000" in line and "failed 1" in line and "a 3" in line


def test_evaluate_and_rescore_print_the_per_model_lines(tmp_path, capsys):
    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "s"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "s", "--output-dir", str(tmp_path)]) == 0
    assert "  offline: 1 answers, valid code 100.0%, tests passed 100.0%" in capsys.readouterr().out
    assert main(["rescore", "s", "--output-dir", str(tmp_path), "--new-session-id", "r"]) == 0
    assert "  offline: 1 answers" in capsys.readouterr().out


def test_rescore_refuses_a_session_a_collector_is_writing(tmp_path, capsys):
    from llm_solutions.collection.store import SessionStore

    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "s"]) == 0
    writer = SessionStore.open(tmp_path, "s")
    writer.lock()
    try:
        capsys.readouterr()
        assert main(["rescore", "s", "--output-dir", str(tmp_path), "--new-session-id", "r"]) == 2
        assert "in use by pid" in one_line_error(capsys)
        assert not (tmp_path / "r").exists()
    finally:
        writer.unlock()


def test_quick_test_and_dry_run_without_models_use_two_cheap_keyed_models(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("XAI_API_KEY", "xai-test")
    assert main(["collect", "--dry-run", "--quick-test"]) == 0
    out = capsys.readouterr().out
    models_line = next(line for line in out.splitlines() if line.startswith("models:"))
    assert models_line == "models: claude-haiku-5-5, gpt-6-luna (keys ok)"
    assert "* a reasoning model" in out and "est = worst" in out
    assert main(["collect", "--dry-run", "--categories", "typing", "inheritance"]) == 0  # the seed's sample command
    assert "models: claude-haiku-5-5, gpt-6-luna" in capsys.readouterr().out


def test_an_expensive_run_asks_first_and_refuses_without_a_terminal(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    out = tmp_path / "out"
    argv = ["collect", "--models", "gpt-6-astra", "--samples", "10", "--output-dir", str(out), "--no-progress"]
    assert main(argv) == 2
    err = one_line_error(capsys)
    assert "may cost up to $" in err and "above the $5.00 confirmation threshold" in err and "--yes" in err
    assert not out.exists()
    assert main([*argv, "--confirm-above", "100000", "--dry-run"]) == 0


def test_a_problem_longer_than_a_models_context_window_is_refused_before_anything_runs(tmp_path, capsys):
    import json

    from llm_solutions.dataset import BUILTIN_DATASET

    rows = [json.loads(line) for line in (BUILTIN_DATASET / "json.jsonl").read_text().splitlines()[:3]]
    rows[1]["problem"] = "Describe the input. " * 2_000  # about 10,000 tokens
    dataset = tmp_path / "long.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    models = tmp_path / "models.toml"
    models.write_text('[[models]]\nname = "small"\nprovider = "offline"\ncontext_window = 8000\n'
                      'model_params = { api_model = "offline", max_tokens = 1024 }\n')
    out = tmp_path / "out"
    argv = ["collect", "--models", "small", "--models-file", str(models), "--dataset", str(dataset),
            "--no-execute", "--no-progress", "--output-dir", str(out)]
    for extra in (["--dry-run"], []):
        assert main([*argv, *extra]) == 2
        err = one_line_error(capsys)
        assert f"problem {rows[1]['task_id']} needs about" in err and "small's context window of 8,000" in err
        assert "--skip-invalid" in err
    assert not out.exists()
    assert main([*argv, "--skip-invalid", "--session-id", "fits"]) == 0
    written = [json.loads(line) for line in (out / "fits" / "small").glob("*.jsonl").__next__().read_text().splitlines()]
    assert {r["task_id"] for r in written} == {rows[0]["task_id"], rows[2]["task_id"]}


def test_summary_counts_the_cache_and_requests_of_every_process_of_the_session(tmp_path, capsys):
    import json

    out = tmp_path / "out"
    assert main(["collect", "--models", "offline", "--categories", "json", "enum", "--no-progress", "--no-execute",
                 "--output-dir", str(out), "--session-id", "s"]) == 0
    first = json.loads((out / "s" / "summary.json").read_text())["collection_metadata"]
    assert first["api_calls"] == first["cache"]["misses"] == first["total_tasks"] == 10
    # A crash lost two records (their answers are in the cache): the resume asks again.
    records = out / "s" / "offline" / "json.jsonl"
    lines = records.read_text().splitlines(keepends=True)
    records.write_text("".join(lines[:-2]))
    (out / "s" / "progress.json").write_text("{not json")  # and progress.json was damaged
    assert main(["resume", "s", "--output-dir", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "s" / "summary.json").read_text())["collection_metadata"]
    assert summary["api_calls"] == 10
    cache = summary["cache"]
    assert (cache["hits"], cache["misses"], cache["writes"]) == (2, 10, 10)
    assert cache["hit_rate"] == round(2 / 12, 4) and cache["per_model"]["offline"]["hits"] == 2
    assert summary["collection_start"] == first["collection_start"]  # taken from the summary


def test_debug_logs_one_line_per_call_and_no_secret(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-logged")
    log_file = tmp_path / "collection.log"
    assert main(["collect", "--models", "offline", "--categories", "json", "enum", "--no-progress", "--no-execute",
                 "--output-dir", str(tmp_path / "out"), "--log-level", "DEBUG", "--log-file", str(log_file)]) == 0
    text = log_file.read_text()
    calls = [line for line in text.splitlines() if " call offline task=" in line]
    assert len(calls) == 10 and all("status=ok attempts=1" in line and "cost=$" in line for line in calls)
    assert len({line.split("task=")[1].split()[0] for line in calls}) == 10
    assert "sk-secret-never-logged" not in text


def test_done_tasks_take_a_bit_each_and_keep_tasks_outside_the_plan():
    from llm_solutions.collection.done import DoneTasks

    done = DoneTasks(["a", "b"], ["m1", "m2"], samples=3)
    assert done.planned == 12 and len(done) == 0
    assert done.add("b", "m2", 2) and done.add("a", "m1", 0) and not done.add("a", "m1", 0)
    assert done.add("gone", "m1", 0) and done.add("a", "m1", 7)  # not in the plan: kept as keys
    assert done.has("b", "m2", 2) and not done.has("b", "m2", 1) and done.has("gone", "m1", 0)
    assert (done.in_plan, len(done)) == (2, 4)
    assert list(done.task_keys()) == ["a_m1_s0", "b_m2_s2", "a_m1_s7", "gone_m1_s0"]


def test_progress_json_stays_small_however_large_the_session(tmp_path):
    from llm_solutions.collection.progress import LIST_IDS_UP_TO, ProgressTracker
    from llm_solutions.collection.store import SessionStore

    store = SessionStore.create(tmp_path, "big")
    tracker = ProgressTracker(store=store, parameters={"samples": 1}, models=["m"], categories=["c"],
                              total_tasks=LIST_IDS_UP_TO + 1)
    tracker.add({"task_id": "t1", "model": "m", "llm_call_success": True})
    current = tracker.to_dict()["current_progress"]
    assert "completed_task_ids" not in current and "records list them" in current["completed_task_ids_omitted"]
    tracker.total_tasks = 5
    assert tracker.to_dict()["current_progress"]["completed_task_ids"] == ["t1_m"]


def test_a_finished_session_is_described_without_reading_its_records(tmp_path, monkeypatch, capsys):
    from llm_solutions.collection.session import session_info
    from llm_solutions.collection.store import SessionStore

    assert main([*OFFLINE_QUICK, "--output-dir", str(tmp_path), "--session-id", "s"]) == 0
    store = SessionStore.open(tmp_path, "s")
    expected = session_info(store)

    def unread(*args, **kwargs):
        raise AssertionError("records read")

    monkeypatch.setattr(SessionStore, "read_records", unread)
    assert session_info(store) == expected and expected.completed == 1 and expected.status == "completed"
    assert main(["resume", "s", "--output-dir", str(tmp_path), "--no-progress"]) == 0
    assert "already completed" in capsys.readouterr().out
    monkeypatch.undo()
    with (tmp_path / "s" / "offline" / "json.jsonl").open("a") as handle:  # someone added a record
        handle.write('{"task_id": "json_9", "model": "offline", "sample": 0, "llm_call_success": false}\n')
    changed = session_info(store)
    assert changed.completed == 2 and changed.failed == 1


def test_a_binary_file_in_the_dataset_is_one_line_naming_the_first_bad_line(tmp_path, capsys):
    (tmp_path / "x.jsonl").write_bytes(b"\xff\xfe\x00binary\n" + bytes(range(256)) * 20)
    assert main(["collect", "--models", "offline", "--dataset", str(tmp_path), "--dry-run"]) == 2
    err = one_line_error(capsys)
    assert f"{tmp_path / 'x.jsonl'}:1: not UTF-8 text" in err and "check-dataset lists them all" in err
    assert "--skip-invalid" in err

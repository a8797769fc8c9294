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

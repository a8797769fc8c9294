"""End-to-end collection through the command line with the offline model, and the session
files it writes (the users' contract: names and fields)."""

from __future__ import annotations

import csv
import json

import pytest

from llm_solutions.cli import main
from llm_solutions.dataset import load_dataset

RECORD_FIELDS = {
    "task_id", "model", "problem", "category", "complexity", "sample", "raw_response", "extracted_solution",
    "validation", "llm_call_success", "error", "execution_time", "input_tokens", "output_tokens", "cost", "timestamp",
}


@pytest.fixture
def out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path / "generated"


def only_session(out):
    [session] = [p for p in out.iterdir() if p.is_dir()]
    return session


def test_quick_test_without_keys_uses_offline_model_and_writes_every_file(out, capsys):
    assert main(["collect", "--quick-test", "--output-dir", str(out), "--no-progress"]) == 0
    session = only_session(out)
    assert session.name.startswith("session_")
    for name in ("progress.json", "summary.json", "final_report.json", "cross_model_comparison.json"):
        assert (session / name).is_file(), name
    categories = load_dataset().categories
    jsonl = sorted(p.stem for p in (session / "offline").glob("*.jsonl"))
    assert jsonl == categories
    assert sorted(p.stem for p in (session / "offline").glob("*.csv")) == categories

    records = [json.loads(line) for p in (session / "offline").glob("*.jsonl") for line in p.read_text().splitlines()]
    assert len(records) == 25  # one per category: 24 text categories and the image one
    for record in records:
        assert RECORD_FIELDS <= set(record)
        assert record["llm_call_success"] is True
        assert record["validation"]["is_fully_valid"] is True, record["task_id"]
        assert record["passed_all"] is True, (record["task_id"], record["evaluation"])
        assert set(record["validation"]) >= {"syntax", "structure", "imports", "code_length", "line_count"}

    progress = json.loads((session / "progress.json").read_text())
    assert progress["status"] == "completed"
    current = progress["current_progress"]
    assert current["completed_tasks"] == current["total_tasks"] == 25
    assert set(current["model_progress"]["offline"]) >= {"completed", "successful", "failed", "avg_time", "last_error"}
    assert len(current["completed_task_ids"]) == 25 and "estimated_completion" in current

    summary = json.loads((session / "summary.json").read_text())
    meta = summary["collection_metadata"]
    assert meta["session_parameters"]["quick_test"] is True
    assert meta["session_parameters"]["models"] == ["offline"]
    perf = summary["model_summaries"]["offline"]
    assert perf["overall_performance"]["success_rate"] == 100.0
    assert perf["overall_performance"]["pass_rate"] == 100.0
    assert perf["overall_performance"]["pass@1"] == 1.0
    assert set(perf["category_performance"]) == set(categories)
    assert "collection_date" in summary

    report = json.loads((session / "final_report.json").read_text())
    assert report["status"] == "completed" and report["progress"]["progress_percent"] == 100.0
    comparison = json.loads((session / "cross_model_comparison.json").read_text())
    assert len(comparison["problems"]) == 25
    assert comparison["problems"][0]["offline_valid"] is True and "offline_time" in comparison["problems"][0]

    with (session / "offline" / "dataclass.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["task_id"].startswith("dataclass_") and rows[0]["is_fully_valid"] == "True"
    assert "status: completed - 25/25 tasks" in capsys.readouterr().out


def test_dry_run_counts_tasks_and_cost_and_writes_nothing(out, capsys):
    assert main(["collect", "--models", "offline", "--categories", "dataclass", "typing", "--samples", "3",
                 "--dry-run", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "total tasks: 30" in printed  # 2 categories x 5 problems x 3 samples
    assert "offline" in printed and "est $" in printed
    assert not out.exists()


def test_samples_and_custom_session_id(out):
    assert main(["collect", "--models", "offline", "--categories", "enum", "--quick-test", "--samples", "2",
                 "--session-id", "mine", "--output-dir", str(out), "--no-execute"]) == 0
    lines = (out / "mine" / "offline" / "enum.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["sample"] for line in lines) == [0, 1]
    assert "evaluation" not in json.loads(lines[0])
    # the same id again is refused, never overwritten
    assert main(["collect", "--models", "offline", "--quick-test", "--session-id", "mine",
                 "--output-dir", str(out)]) == 2


def test_unknown_model_suggests_close_names(capsys):
    assert main(["collect", "--models", "ofline", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'ofline'" in err and "offline" in err and "Traceback" not in err


def test_list_models_shows_key_status(capsys, monkeypatch):
    assert main(["collect", "--list-models"]) == 0
    printed = capsys.readouterr().out
    assert "offline" in printed and "API keys" in printed


def test_bad_option_values_are_one_line_errors(capsys):
    assert main(["collect", "--models", "offline", "--samples", "0", "--dry-run"]) == 2
    assert "samples=0 is not valid; use a whole number of at least 1 (--samples)" in capsys.readouterr().err


def test_notebook_api(tmp_path):
    import asyncio

    import llm_solutions as ls

    async def collect():
        settings = ls.CollectionSettings(models=["offline"], categories=["json"], output_dir=str(tmp_path))
        return await ls.CollectionRunner(settings).run()

    result = asyncio.run(collect())
    assert result.status == "completed" and result.completed == 5
    frame = ls.load_session(result.path)
    assert len(frame) == 5
    assert {"task_id", "model", "extracted_solution", "is_fully_valid"} <= set(frame.columns)
    assert frame["is_fully_valid"].all()


def test_an_unusable_cache_is_refused_before_a_session_folder_exists(tmp_path, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out"
    code = main(["collect", "--models", "offline", "--quick-test", "--no-progress", "--output-dir", str(out),
                 "--cache-url", f"mysql://someone@127.0.0.1:{port}/db"])
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot connect to the MySQL cache" in err and err.count("\n") == 1
    assert not out.exists() or not any(p.is_dir() for p in out.iterdir())


def test_time_limits_are_options_of_collect_evaluate_rescore_and_check_dataset(tmp_path, capsys):
    import json as jsonlib

    data = tmp_path / "data"
    data.mkdir()
    slow = {"task_id": "slow_1", "name": "f", "problem": "Return 1 after a while.", "category": "slow",
            "complexity": 1, "canonical_solution": "import time\n\ndef f():\n    time.sleep(0.8)\n    return 1\n",
            "tests": [{"ctx": "", "assertion": "assert f() == 1"}]}
    (data / "slow.jsonl").write_text(jsonlib.dumps(slow) + "\n")
    out = tmp_path / "out"
    assert main(["collect", "--models", "offline", "--dataset", str(data), "--test-timeout", "0.3", "--no-progress",
                 "--output-dir", str(out), "--session-id", "s"]) == 0
    [record] = [jsonlib.loads(line) for line in (out / "s" / "offline" / "slow.jsonl").read_text().splitlines()]
    assert record["evaluation"]["tests"][0]["status"] == "timeout" and not record["passed_all"]
    assert main(["evaluate", "s", "--output-dir", str(out), "--test-timeout", "5"]) == 0
    [record] = [jsonlib.loads(line) for line in (out / "s" / "offline" / "slow.jsonl").read_text().splitlines()]
    assert record["passed_all"]
    assert main(["rescore", "s", "--output-dir", str(out), "--new-session-id", "r", "--test-timeout", "0.3"]) == 0
    [record] = [jsonlib.loads(line) for line in (out / "r" / "offline" / "slow.jsonl").read_text().splitlines()]
    assert record["evaluation"]["tests"][0]["status"] == "timeout"
    capsys.readouterr()
    assert main(["check-dataset", "--dataset", str(data), "--test-timeout", "0.3"]) == 1
    assert "slow_1: test 0: timeout" in capsys.readouterr().out
    assert main(["check-dataset", "--dataset", str(data), "--test-timeout", "0"]) == 2

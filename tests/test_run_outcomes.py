"""How a collection run ends when a provider fails: a server that goes away, a bad key
with requests queued behind it, tasks that failed for reasons a retry may fix.

The runs go through the real runner, store and reports on the virtual-time loop (the
limiter's minutes of probing take milliseconds); the model is a simulated provider.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from support.scripted_model import ScriptedModel
from support.simulated_provider import SimulatedModel, SimulatedServer
from support.virtual_time import run_virtual

from llm_solutions.cli.output import print_result
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings


def settings(out: Path, **extra) -> CollectionSettings:
    values = dict(models=["sim-model"], categories=["enum", "regex", "json", "typing"], output_dir=str(out),
                  session_id="s", execute=False, model_concurrency=4, cache={"enabled": False})
    values.update(extra)
    return CollectionSettings(**values)


def records(session: Path) -> list[dict]:
    return [json.loads(line) for path in session.glob("*/*.jsonl") for line in path.read_text().splitlines()]


def simulated(server: SimulatedServer) -> SimulatedModel:
    model = SimulatedModel(server)
    # Limited as the offline provider row is (the runner builds its limiters from the table).
    model.config = dataclasses.replace(model.config, provider="offline")
    return model


def test_a_server_that_goes_away_stops_its_models_and_the_run_is_interrupted(tmp_path, capsys):
    server = SimulatedServer(rpm=None, latency=2.0, down=(5.0, 10**9))
    runner = CollectionRunner(settings(tmp_path), models=[simulated(server)], handle_signals=False)
    result = run_virtual(runner.run())
    assert result.status == "interrupted" and result.exit_code == 1
    assert 0 < result.completed < result.total and result.resume_command
    [reason] = result.stopped_models.values()
    assert reason.startswith("offline: cannot reach http://sim since ") and "connection refused" in reason
    # the tasks queued behind the outage were not recorded as failed: a plain resume runs them
    assert all(r["llm_call_success"] for r in records(tmp_path / "s"))
    progress = json.loads((tmp_path / "s" / "progress.json").read_text())
    assert progress["status"] == "interrupted"
    print_result(result)
    printed = capsys.readouterr().out
    assert printed.count("was stopped") == 1 and "resume with: python scripts/resume_collection.py s" in printed


def test_failures_a_retry_may_fix_make_the_run_exit_1_and_say_retry_failed(tmp_path, capsys):
    flaky = ScriptedModel(name="sim-model", script={"enum_2": [{"error": "transient"}],
                                                     "enum_4": [{"error": "bad_request"}]})
    result = run_virtual(CollectionRunner(settings(tmp_path, categories=["enum"]), models=[flaky],
                                          handle_signals=False).run())
    assert result.status == "completed" and result.failed == 2
    assert result.retry_may_fix == 1 and result.exit_code == 1
    print_result(result)
    printed = capsys.readouterr().out
    assert ("1 task(s) failed for reasons a retry may fix (rate limits, server errors, timeouts, an unreachable "
            f"server); run them again with: python scripts/resume_collection.py s --output-dir {tmp_path} "
            "--retry-failed") in printed
    failed = {r["task_id"]: r for r in records(tmp_path / "s") if not r["llm_call_success"]}
    assert failed["enum_2"]["attempts"] == 6 and failed["enum_2"]["billed_attempts"] == 0


def test_only_bad_requests_failing_still_exits_0(tmp_path):
    picky = ScriptedModel(name="sim-model", script={"enum_4": [{"error": "bad_request"}]})
    result = run_virtual(CollectionRunner(settings(tmp_path, categories=["enum"]), models=[picky],
                                          handle_signals=False).run())
    assert result.status == "completed" and result.failed == 1 and result.exit_code == 0


def test_a_bad_key_stops_the_model_before_its_queued_requests_go_out(tmp_path):
    broken = ScriptedModel(name="sim-model", default={"error": "auth", "delay": 0.5})
    result = run_virtual(CollectionRunner(settings(tmp_path, model_concurrency=8, rpm=60), models=[broken],
                                          handle_signals=False).run())
    # eight workers, one request a second: the first 401 comes back while the other seven
    # wait their turn, and they are cancelled, not sent
    assert broken.calls == ["enum_1#0"]
    assert records(tmp_path / "s") == []  # refused before answering: left to do on resume
    assert result.status == "failed" and "sim-model" in result.stopped_models and result.exit_code == 1


def test_the_rate_margin_comes_from_the_environment(monkeypatch):
    from llm_solutions.limits import LimiterPool
    from llm_solutions.models.registry import load_registry

    monkeypatch.setenv("LLM_SOLUTIONS_RATE_MARGIN", "5%")
    limiter = LimiterPool(load_registry(), rpm=600).limiter_for(ScriptedModel())
    assert limiter.rate == 570.0


def test_a_bad_rate_margin_is_one_line_and_nothing_is_created(tmp_path, monkeypatch, capsys):
    from llm_solutions.cli import main

    monkeypatch.setenv("LLM_SOLUTIONS_RATE_MARGIN", "lots")
    out = tmp_path / "out"
    assert main(["collect", "--models", "offline", "--quick-test", "--no-progress", "--no-execute",
                 "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "LLM_SOLUTIONS_RATE_MARGIN=lots is not valid" in err
    assert not out.exists() or not any(p.is_dir() for p in out.iterdir())

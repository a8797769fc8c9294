"""Every provider, end to end through ``scripts/run_collection.py``'s code path, through its
real SDK, against the local fake provider server: records, costs, errors and budgets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llm_solutions.cli import main
from tests.support.fake_providers import FakeProviders, Fail

ROOT = Path(__file__).resolve().parent.parent
ONE_PER_PROVIDER = {
    "gpt-6-luna": "openai",
    "claude-haiku-5-5": "anthropic",
    "gemini-3.5-flash-lite": "gemini",
    "grok-4.20-non-reasoning": "xai",
    "deepseek-flash": "deepseek",
    "llama-4-scout": "together",
    "hf-llama-3.3-70b": "huggingface",
    "openrouter-llama-4-maverick": "openrouter",
    "local-openai-compatible": "local",
}


@pytest.fixture
async def fake(monkeypatch):
    async with FakeProviders() as server:
        for name, value in {**server.base_url_env(), **server.key_env()}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("OPENAI_COMPATIBLE_MODEL", raising=False)
        yield server


def records(session: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl")) for line in p.read_text().splitlines()]


async def collect(*args: str) -> int:
    # main() runs its own event loop: keep it off the test's loop, where the fake server lives.
    import asyncio

    return await asyncio.to_thread(main, ["collect", "--no-progress", "--no-execute", "--no-cache", *args])


async def test_every_provider_end_to_end(tmp_path, fake):
    out = tmp_path / "generated"
    code = await collect("--models", *ONE_PER_PROVIDER, "--categories", "enum", "--quick-test",
                         "--output-dir", str(out), "--session-id", "all")
    assert code == 0
    got = {r["model"]: r for r in records(out / "all")}
    assert set(got) == set(ONE_PER_PROVIDER)
    for model, record in got.items():
        assert record["llm_call_success"], (model, record["error"])
        assert record["extracted_solution"].startswith("def solve"), model
        assert record["input_tokens"] > 0 and record["output_tokens"] > 0, model
        if model != "local-openai-compatible":
            assert record["cost"] > 0, model
    assert {r.flavor for r in fake.requests} >= {"openai", "xai", "deepseek", "together", "huggingface",
                                                 "openrouter", "local"}
    assert {r.api for r in fake.requests} >= {"openai", "anthropic", "gemini"}
    summary = json.loads((out / "all" / "summary.json").read_text())
    assert summary["collection_metadata"]["total_cost"] == pytest.approx(sum(r["cost"] for r in got.values()))


async def test_rate_limit_is_retried_and_recorded_once(tmp_path, fake):
    fake.queue(Fail("rate_limit", retry_after=0.2), api="openai")
    out = tmp_path / "generated"
    assert await collect("--models", "gpt-6-luna", "--categories", "enum", "--quick-test",
                         "--output-dir", str(out), "--session-id", "rl") == 0
    [record] = records(out / "rl")
    assert record["llm_call_success"] and record["attempts"] == 2
    assert len(fake.of("openai")) == 2


async def test_auth_error_stops_one_model_others_go_on(tmp_path, fake, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "invalid-key")
    out = tmp_path / "generated"
    code = await collect("--models", "claude-haiku-5-5", "gpt-6-luna", "--categories", "enum", "json",
                         "--output-dir", str(out), "--session-id", "auth", "--max-concurrent", "1")
    assert code == 1
    by_model: dict[str, list[dict]] = {}
    for record in records(out / "auth"):
        by_model.setdefault(record["model"], []).append(record)
    assert len(by_model["gpt-6-luna"]) == 10 and all(r["llm_call_success"] for r in by_model["gpt-6-luna"])
    assert "claude-haiku-5-5" not in by_model  # refused before answering: its tasks stay to do
    printed = capsys.readouterr().out
    assert "claude-haiku-5-5: stopped before its first answer" in printed
    assert "model claude-haiku-5-5 was stopped" in printed and "check ANTHROPIC_API_KEY" in printed
    assert "--retry-failed" not in printed
    # The key fixed, a plain resume finishes the session.
    import asyncio

    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    resumed = await asyncio.to_thread(main, ["resume", "auth", "--output-dir", str(out), "--no-progress"])
    assert resumed == 0
    assert sum(r["model"] == "claude-haiku-5-5" and r["llm_call_success"] for r in records(out / "auth")) == 10


@pytest.mark.parametrize("kind, error_type", [("context_length", "context_length"), ("bad_request", "bad_request")])
async def test_non_retryable_errors_are_recorded_not_dropped(tmp_path, fake, kind, error_type):
    fake.queue(Fail(kind), api="openai")
    out = tmp_path / "generated"
    assert await collect("--models", "gpt-6-luna", "--categories", "enum", "--quick-test",
                         "--output-dir", str(out), "--session-id", "bad") == 0  # completed, with a failure
    [record] = records(out / "bad")
    assert not record["llm_call_success"] and record["error_type"] == error_type and record["error"]
    assert len(fake.of("openai")) == 1


async def test_max_cost_stops_launching_and_says_how_to_resume(tmp_path, fake, capsys):
    out = tmp_path / "generated"
    code = await collect("--models", "gpt-6-astra", "--categories", "enum", "json", "--max-concurrent", "1",
                         "--max-cost", "0.00001", "--output-dir", str(out), "--session-id", "budget")
    assert code == 1
    done = records(out / "budget")
    assert 1 <= len(done) < 10
    progress = json.loads((out / "budget" / "progress.json").read_text())
    assert progress["status"] == "interrupted"
    assert "resume with: python scripts/resume_collection.py budget" in capsys.readouterr().out


async def test_dry_run_prints_token_and_cost_estimate_per_model(fake, capsys):
    assert await collect("--models", "gpt-6-astra", "claude-haiku-5-5", "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "total tasks: 250" in printed  # 125 built-in problems (24 text categories and image) x 2 models
    rows = [line for line in printed.splitlines() if line.startswith(("gpt-6-astra", "claude-haiku-5-5"))]
    assert len(rows) == 2 and all(float(row.split()[-2]) > 0 for row in rows)
    assert not fake.requests


def test_missing_key_is_a_one_line_error():
    done = subprocess.run([sys.executable, "scripts/run_collection.py", "--models", "gpt-6-luna", "--dry-run"],
                          cwd=ROOT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "LLM_SOLUTIONS_NO_DOTENV": "1"})
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: missing API key: gpt-6-luna needs OPENAI_API_KEY; "
                                   "set it in the environment or .env")

"""Crash safety: a collection killed at random moments and resumed each time ends with
exactly the records of an uninterrupted run, and never pays twice for an answer.

The collector runs in a subprocess through ``scripts/run_collection.py`` against the local
fake provider server (OpenAI and Anthropic wire formats through the real SDKs).  Runs that
must die halfway through writing a record go through ``tests/support/faults.py``
instead, which injects that fault (``LLM_SOLUTIONS_FAULT_TORN_WRITE``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from llm_solutions.cache.key import cache_key
from llm_solutions.cache.response_cache import decode_completion
from llm_solutions.collection.tasks import build_request
from llm_solutions.dataset import load_dataset
from llm_solutions.models.registry import load_registry
from tests.support.fake_providers import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
GUARDED_SITE = ROOT / "tests" / "support" / "guarded_site"
TORN_WRITE = ROOT / "tests" / "support" / "faults.py"
TORN_WRITE_VAR = "LLM_SOLUTIONS_FAULT_TORN_WRITE"
SUBCOMMANDS = {"run_collection.py": "collect", "resume_collection.py": "resume"}
CATEGORIES = ["dataclass", "enum", "json", "regex", "sorting", "closure"]
MODELS_FILE = """
[[models]]
name = "fake-gpt"
provider = "openai"
model_params = { api_model = "gpt-test", max_tokens = 256, temperature = 0.0 }
input_price = 1.0
output_price = 4.0

[[models]]
name = "fake-claude"
provider = "anthropic"
model_params = { api_model = "claude-test", max_tokens = 256, temperature = 0.0 }
input_price = 3.0
output_price = 15.0
"""


@pytest.fixture
def fake():
    with serve_in_thread(latency=0.15) as server:
        yield server


@pytest.fixture
def env(tmp_path, fake):
    models_file = tmp_path / "models.toml"
    models_file.write_text(MODELS_FILE)
    values = {k: v for k, v in os.environ.items()
              if not k.endswith(("_API_KEY", "_BASE_URL")) and k != TORN_WRITE_VAR}
    values.update(
        PYTHONPATH=f"{GUARDED_SITE}{os.pathsep}{ROOT}",
        LLM_SOLUTIONS_NO_DOTENV="1",
        LLM_SOLUTIONS_MODELS_FILE=str(models_file),
        OPENAI_API_KEY="test-key", OPENAI_BASE_URL=f"{fake.url}/v1",
        ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake.url,
    )
    return values


def collect_cmd(out: Path, session: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "run_collection.py"), "--models", "fake-gpt", "fake-claude",
            "--categories", *CATEGORIES, "--no-execute", "--no-progress", "--max-concurrent", "2",
            "--batch-size", "3", "--rpm", "100000", "--tpm", "100000000", "--output-dir", str(out), "--session-id", session, "--log-level", "WARNING"]


def resume_cmd(out: Path, session: str) -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "resume_collection.py"), session, "--output-dir", str(out),
            "--no-progress", "--log-level", "WARNING"]


def torn_write_cmd(cmd: list[str], at: int) -> tuple[list[str], dict[str, str]]:
    """The same command through ``tests/support/faults.py``, with the environment
    change that makes its ``at``-th record a torn write followed by SIGKILL."""
    python, script, *args = cmd
    return [python, str(TORN_WRITE), SUBCOMMANDS[Path(script).name], *args], {TORN_WRITE_VAR: str(at)}


def records(session: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl")) for line in p.read_text().splitlines()]


def identity(record: dict) -> tuple[str, str, int]:
    return record["task_id"], record["model"], record["sample"]


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_records(session: Path, proc: subprocess.Popen, at_least: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None and len(records_lines(session)) < at_least:
        time.sleep(0.02)


def records_lines(session: Path) -> list[str]:
    return [line for p in session.glob("*/*.jsonl") for line in p.read_text(errors="replace").splitlines()]


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path, env, fake):
    rng = random.Random(20261122)
    out = tmp_path / "generated"

    # The reference: one run nobody interrupts (its own output dir, so its own cache).
    done = subprocess.run(collect_cmd(tmp_path / "reference", "reference"), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    reference = {identity(r) for r in records(tmp_path / "reference" / "reference")}
    assert len(reference) == len(CATEGORIES) * 5 * 2
    fake.reset()

    session = out / "crashy"
    kills = torn = 0
    cmd = collect_cmd(out, "crashy")
    for round_number in range(40):
        tearing = round_number in (2, 6)  # die halfway through writing a record
        if tearing:
            torn_cmd, fault = torn_write_cmd(cmd, at=rng.randint(1, 3))
            proc = start(torn_cmd, {**env, **fault})
        else:
            proc = start(cmd, env)
            # a different moment each time: after 1-4 new records, plus up to 0.15 s
            wait_for_records(session, proc, at_least=len(records_lines(session)) + rng.randint(1, 4))
            time.sleep(rng.uniform(0.0, 0.15))
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if proc.returncode == -signal.SIGKILL:
            kills += 1
            torn += tearing
        elif proc.returncode == 0:
            break
        cmd = resume_cmd(out, "crashy")
        if kills >= 12:
            break
    assert kills >= 10 and torn >= 1

    final = subprocess.run(resume_cmd(out, "crashy"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, final.stderr

    got = records(session)
    counts = Counter(identity(r) for r in got)
    assert not [k for k, n in counts.items() if n > 1], "duplicate records"
    assert set(counts) == reference, "lost or extra records"
    progress = json.loads((session / "progress.json").read_text())
    assert progress["status"] == "completed"
    assert list((session / "damaged").iterdir()), "torn lines must be kept aside, not deleted"

    # No answer that reached the collector (it is in the cache) was asked for again later.
    registry = load_registry(env["LLM_SOLUTIONS_MODELS_FILE"])
    problems = {p.task_id: p for p in load_dataset().problems}
    with sqlite3.connect(out / "cache.sqlite3") as db:
        created = dict(db.execute("SELECT cache_key, created_at FROM llm_solutions_cache"))
    for record in got:
        config = registry.get(record["model"])
        request = build_request(config, problems[record["task_id"]], record["sample"])
        received_at = created[cache_key(config, request, record["sample"])]
        prompt = request.messages[-1]["content"]
        later = [r for r in fake.requests if r.time > received_at and prompt in json.dumps(r.body)
                 and config.api_model in json.dumps(r.body)]
        assert not later, f"{record['task_id']} on {record['model']} was paid for twice"

    # What the session says it spent is what it paid for every answer that reached it,
    # including answers cached by a run killed before their record was written.
    with sqlite3.connect(out / "cache.sqlite3") as db:
        entries = list(db.execute("SELECT model_name, payload FROM llm_solutions_cache"))
    paid = sum(registry.get(name).price(decode_completion(payload)) for name, payload in entries)
    assert sum(r["cost"] for r in got) == pytest.approx(paid, rel=1e-6)
    summary = json.loads((session / "summary.json").read_text())
    assert summary["collection_metadata"]["total_cost"] == pytest.approx(paid, rel=1e-5)


def test_sigint_stops_cleanly_and_prints_the_resume_command(tmp_path, env):
    out = tmp_path / "generated"
    session = out / "sig"
    proc = start(collect_cmd(out, "sig"), env)
    wait_for_records(session, proc, at_least=3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "status: interrupted" in stdout
    assert f"resume with: python scripts/resume_collection.py sig --output-dir {out}" in stdout
    progress = json.loads((session / "progress.json").read_text())
    assert progress["status"] == "interrupted"
    assert progress["current_progress"]["completed_tasks"] == len(records(session))

    resumed = subprocess.run(resume_cmd(out, "sig"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert len({identity(r) for r in records(session)}) == len(records(session)) == len(CATEGORIES) * 10


def test_second_sigint_exits_at_once_without_damage(tmp_path, env, fake):
    fake.latency = 2.0  # requests in flight for a long time: the first Ctrl-C alone would wait
    out = tmp_path / "generated"
    proc = start(collect_cmd(out, "twice"), env)
    deadline = time.monotonic() + 30
    while len(fake.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - sent < 5
    assert "resume with:" in stderr
    for line in records_lines(out / "twice"):
        json.loads(line)  # every line that is there is whole


@pytest.mark.parametrize("name", ["TERM", "INT"])
def test_a_signal_while_the_run_starts_up_ends_it_interrupted_and_resumable(tmp_path, env, name):
    out = tmp_path / "generated"
    python, script, *args = collect_cmd(out, "early")
    done = subprocess.run([python, str(TORN_WRITE), "collect", *args], env={**env, "LLM_SOLUTIONS_FAULT_SIGNAL_AT_START": name},
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "status: interrupted" in done.stdout
    assert f"resume with: python scripts/resume_collection.py early --output-dir {out}" in done.stdout
    progress = json.loads((out / "early" / "progress.json").read_text())
    assert progress["status"] == "interrupted"
    assert records(out / "early") == []  # stopped before any request was sent
    resumed = subprocess.run(resume_cmd(out, "early"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert len(records(out / "early")) == len(CATEGORIES) * 10


def test_ctrl_c_stops_a_run_whose_model_never_waits(tmp_path, env):
    # The offline model with the cache off answers without ever giving the event loop a
    # turn: the workers must still yield, or the signal would wait for the whole run.
    out = tmp_path / "generated"
    cmd = [sys.executable, str(ROOT / "scripts" / "run_collection.py"), "--models", "offline", "--samples", "400",
           "--no-execute", "--no-progress", "--no-cache", "--output-dir", str(out), "--session-id", "fast",
           "--log-level", "WARNING"]
    proc = start(cmd, env)
    wait_for_records(out / "fast", proc, at_least=200)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1, stderr
    assert "status: interrupted" in stdout
    assert len(records(out / "fast")) < 120 * 400

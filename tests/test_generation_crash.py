"""Crash safety of generation: killed with SIGKILL at random moments (and once left with a
torn line) and resumed each time, a generation ends with the counts of an uninterrupted
run, no duplicate problem, a dataset that loads clean, and no answer paid for twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from itertools import count
from pathlib import Path

import pytest

from llm_solutions.cache.key import cache_key
from llm_solutions.dataset import load_dataset
from llm_solutions.generation import GenerationPlan
from llm_solutions.generation.requests import BatchSpec, call_sample, worker_request
from llm_solutions.models.registry import load_registry
from tests.support.fake_providers import serve_in_thread
from tests.support.fake_wire import Reply
from tests.support.problem_factory import asked, batch_text, good_item, user_prompt

ROOT = Path(__file__).resolve().parent.parent
GUARDED_SITE = ROOT / "tests" / "support" / "guarded_site"
MODELS_FILE = """
[[models]]
name = "gen-worker"
provider = "openai"
model_params = { api_model = "gen-test", max_tokens = 4096, temperature = 0.7 }
input_price = 1.0
output_price = 4.0
"""
PLAN = """
worker_model: gen-worker
batch_size: 3
max_concurrent: 2
checkpoint_every: 2
seed: 3
categories:
  - name: alpha
    count: 12
    complexity: 1-3
    subtopics: [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9]
  - name: beta
    count: 7
    complexity: 2-3
    subtopics: [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9]
"""


def responder():
    """Every batch: one good problem per complexity asked for, then one with too few tests."""
    numbers = count(500)

    def respond(api, body):
        try:
            _, _, levels, _ = asked(user_prompt(api, body))
        except ValueError:
            return None
        items = [good_item(next(numbers), level) for level in levels]
        bad = good_item(next(numbers), levels[0])
        items.append({**bad, "tests": bad["tests"][:1]})
        return Reply(text=batch_text(items))

    return respond


@pytest.fixture
def fake():
    with serve_in_thread(latency=0.1) as server:
        server.responder = responder()
        yield server


@pytest.fixture
def env(tmp_path, fake):
    (tmp_path / "models.toml").write_text(MODELS_FILE)
    (tmp_path / "plan.yaml").write_text(PLAN)
    values = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    values.update(PYTHONPATH=f"{GUARDED_SITE}{os.pathsep}{ROOT}", LLM_SOLUTIONS_NO_DOTENV="1",
                  LLM_SOLUTIONS_MODELS_FILE=str(tmp_path / "models.toml"),
                  OPENAI_API_KEY="test-key", OPENAI_BASE_URL=f"{fake.url}/v1")
    return values


def command(tmp_path: Path, out: Path, resume: bool = False) -> list[str]:
    base = [sys.executable, str(ROOT / "scripts" / "generate_dataset.py"), "--output", str(out), "--no-progress",
            "--rpm", "100000", "--tpm", "1000000000", "--log-level", "WARNING"]
    return base + (["--resume"] if resume else ["--plan", str(tmp_path / "plan.yaml")])


def lines(out: Path) -> int:
    files = [*out.glob("*.jsonl"), out / "generation" / "journal.jsonl"]
    return sum(len(p.read_text(errors="replace").splitlines()) for p in files if p.exists())


def report(out: Path) -> dict:
    return json.loads((out / "generation_report.json").read_text())


def test_killed_and_resumed_generation_equals_an_uninterrupted_one(tmp_path, env, fake):
    reference = tmp_path / "reference"
    done = subprocess.run(command(tmp_path, reference), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    expected = report(reference)
    fake.reset()

    rng = random.Random(2026)
    out = tmp_path / "crashy"
    kills, resume, torn = 0, False, False
    for round_number in range(12):
        victim = next((p for p in (out / "alpha.jsonl", out / "generation" / "journal.jsonl") if p.exists()), None)
        if round_number >= 2 and not torn and victim is not None:
            with victim.open("a") as handle:
                handle.write('{"task_id": "alpha_99", "name": "cut sh')  # a write a crash cut short
            torn = True
        proc = subprocess.Popen(command(tmp_path, out, resume), env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        resume = True
        target = lines(out) + rng.randint(1, 6)
        deadline = time.monotonic() + 30
        while proc.poll() is None and lines(out) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        kills += 1
        if kills >= 6:
            break
    assert kills >= 4 and torn
    final = subprocess.run(command(tmp_path, out, resume=True), env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
    assert final.returncode == 0, final.stderr

    got = report(out)
    assert got["status"] == "completed"
    assert got["accepted"]["by_category"] == expected["accepted"]["by_category"]
    assert got["rejected"]["by_reason"] == expected["rejected"]["by_reason"]
    assert list(expected["rejected"]["by_reason"]) == ["too_few_tests"]  # one bad item in every batch
    dataset = load_dataset(out)
    assert not dataset.skipped
    for category, total in (("alpha", 12), ("beta", 7)):
        ids = [p.task_id for p in dataset.problems if p.category == category]
        assert ids == [f"{category}_{i}" for i in range(1, total + 1)]
    assert len({p.problem for p in dataset.problems}) == len({p.name for p in dataset.problems}) == 19
    rejected = [json.loads(line) for line in (out / "generation" / "rejected.jsonl").read_text().splitlines()]
    assert len({(r["batch"], r["item"]) for r in rejected}) == len(rejected) == expected["rejected"]["total"]
    assert any((out / "generation" / "damaged").iterdir()), "the torn line is kept aside"

    # No answer that reached the generator (it is in the cache) was asked for again later.
    plan = GenerationPlan.load(tmp_path / "plan.yaml", {"output": str(out)}, env={})
    config = load_registry(env["LLM_SOLUTIONS_MODELS_FILE"]).get("gen-worker")
    with sqlite3.connect(out / "generation" / "cache.sqlite3") as db:
        created = dict(db.execute("SELECT cache_key, created_at FROM llm_solutions_cache"))
    journal = [json.loads(line) for line in (out / "generation" / "journal.jsonl").read_text().splitlines()]
    specs = {e["batch"]: BatchSpec.from_dict(e) for e in journal if e["event"] == "issued"}
    assert len(specs) == len({e["batch"] for e in journal if e["event"] == "done"})
    for spec in specs.values():
        request = worker_request(config, plan.category(spec.category), spec, plan.settings)
        answered = created[cache_key(config, request, call_sample(plan.settings.seed, spec.number))]
        asked_again = [r for r in fake.requests if r.time > answered and r.body["messages"] == list(request.messages)]
        assert not asked_again, f"{spec.id} was paid for twice"

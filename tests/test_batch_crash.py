"""``--batch`` crash safety: a collector SIGKILLed during submission (after a provider took
a batch, before the ledger named it), during polling and during ingestion, and at random
moments, then resumed, ends with every task recorded once, every batch the providers hold
known to the ledger, and no key sent again after a batch answered it.

The collector runs in subprocesses (``tests/support/faults.py`` kills it at the chosen
moments) against the fake batch endpoints of all three providers, through the real SDKs.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.fake_batches import FakeBatches
from tests.support.fake_providers import serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
FAULTS = ROOT / "tests" / "support" / "faults.py"
GUARDED_SITE = ROOT / "tests" / "support" / "guarded_site"
MODELS = ["gpt-6-luna", "claude-haiku-5-5", "gemini-3.5-flash-lite"]
CATEGORIES = ["enum", "json", "sorting"]
API = {"gpt-6-luna": "openai", "claude-haiku-5-5": "anthropic", "gemini-3.5-flash-lite": "gemini"}


@pytest.fixture
def fake():
    with serve_in_thread(FakeBatches) as server:
        assert isinstance(server, FakeBatches)
        server.polls_to_finish = 3
        yield server


@pytest.fixture
def env(fake):
    values = {k: v for k, v in os.environ.items()
              if not k.endswith(("_API_KEY", "_BASE_URL")) and not k.startswith("LLM_SOLUTIONS_FAULT")}
    values.update(PYTHONPATH=f"{GUARDED_SITE}{os.pathsep}{ROOT}", LLM_SOLUTIONS_NO_DOTENV="1",
                  **fake.base_url_env(), **fake.key_env())
    return values


def command(out: Path, first: bool) -> list[str]:
    common = ["--no-progress", "--output-dir", str(out), "--log-level", "WARNING"]
    if first:
        return [sys.executable, str(FAULTS), "collect", "--batch", "--batch-poll", "0.05", "--no-execute",
                "--models", *MODELS, "--categories", *CATEGORIES, "--quick-test", "--samples", "2",
                "--session-id", "crashy", *common]
    return [sys.executable, str(FAULTS), "resume", "crashy", *common]


def activity(fake: FakeBatches, session: Path) -> tuple[int, int, int]:
    return len(fake.batches), sum(b["polls"] for b in fake.batches.values()), len(records(session))


def records(session: Path) -> list[dict]:
    return [json.loads(line) for p in sorted(session.glob("*/*.jsonl"))
            for line in p.read_text(errors="replace").splitlines() if line.endswith("}")]


def test_batch_session_killed_at_every_stage_records_each_task_once(tmp_path, env, fake):
    rng = random.Random(20261201)
    out = tmp_path / "generated"
    session = out / "crashy"
    # Chosen moments first (each one's second occurrence, so earlier work is on disk),
    # then random ones: a kill from outside while batches are submitted, polled, ingested.
    faults = ["submit:1", "submit:2", "poll:3", "ingest:2", "poll:1", "ingest:5", None, None, None]
    kills, first = 0, True
    for fault in faults:
        extra = {"LLM_SOLUTIONS_FAULT_BATCH": fault} if fault else {}
        proc = subprocess.Popen(command(out, first), env={**env, **extra}, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if fault is None:
            # Once this process is at work (a batch created or looked at, or a record
            # written), at a random moment after that.
            before, deadline = activity(fake, session), time.monotonic() + 20
            while proc.poll() is None and activity(fake, session) == before and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 0.2))
            proc.send_signal(signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode in (0, -signal.SIGKILL), stderr
        kills += proc.returncode == -signal.SIGKILL
        first = False
        if fault and fault.startswith("submit"):
            # The moment this test is about: the provider holds a batch the ledger only
            # knows as an intent (the resume must find it, not send its tasks again).
            ledger = json.loads((session / "batches.json").read_text())["batches"]
            assert [e for e in ledger if e["state"] == "submitting" and not e["batch_id"]]
            known = {str(e["batch_id"]).removeprefix("batches/") for e in ledger if e["batch_id"]}
            assert len(set(fake.batches) - known) == 1
        if proc.returncode == 0:
            break
    assert kills >= 6

    final = subprocess.run(command(out, first=False), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert final.returncode == 0, final.stderr

    got = records(session)
    identities = Counter((r["task_id"], r["model"], r["sample"]) for r in got)
    assert not [k for k, n in identities.items() if n > 1], "a task was recorded twice"
    assert len(identities) == len(CATEGORIES) * len(MODELS) * 2, "a task was lost"  # --quick-test: 1 a category
    assert all(r["llm_call_success"] and r["batch_id"] for r in got)

    # Every batch a provider holds is in the ledger: none was lost by a crash between
    # "submitted" and "written down" (it would be paid for twice).
    ledger = json.loads((session / "batches.json").read_text())["batches"]
    known = {str(e["batch_id"]).removeprefix("batches/") for e in ledger if e["batch_id"]}
    assert set(fake.batches) == known
    # No key went out again once a batch had answered it.
    for batch_id, batch in fake.batches.items():
        api = batch["api"]
        for cid, _ in batch["requests"]:
            earlier = [b for b in fake.answered[api].get(cid, []) if b != batch_id
                       and list(fake.batches).index(b) < list(fake.batches).index(batch_id)]
            assert not earlier, f"{cid} sent again in {batch_id} after {earlier[0]} answered it"
    # Each record's batch is the one that answered its key.
    for record in got:
        batch = fake.batches[record["batch_id"].removeprefix("batches/")]
        assert batch["api"] == API[record["model"]]

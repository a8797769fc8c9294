"""Run one ``llm-solutions`` command with a fault injected at the worst moment.

``python tests/support/faults.py SUBCOMMAND ARGS...`` runs
``llm_solutions.cli.main([SUBCOMMAND, *ARGS])`` and exits with its return code, like
``scripts/run_collection.py`` (``collect``) and ``scripts/resume_collection.py``
(``resume``) do.  With ``LLM_SOLUTIONS_FAULT_TORN_WRITE=N`` (a test-only variable) the
``N``-th ``SessionStore.append`` of the process writes the first half of its JSON line,
flushes it, and SIGKILLs the process: the worst moment a crash can hit, which
``read_records(repair=True)`` on resume must clean up.  Without the variable nothing is
changed.  With ``LLM_SOLUTIONS_FAULT_SIGNAL_AT_START=TERM`` (or ``INT``) the process
sends itself that signal right after the session folder is created and before anything
is in it: a user's Ctrl-C or a scheduler's SIGTERM while the run is starting up.
With ``LLM_SOLUTIONS_FAULT_BATCH=MOMENT:N`` the process SIGKILLs itself at the ``N``-th
such moment of ``--batch``: ``submit`` right after a provider accepted a batch and before
the ledger names it (the intent alone is on disk), ``poll`` right after a provider told a
batch's state and before the ledger has it, ``ingest`` right after the ``N``-th record of
a batch result was written (the rest of that batch unrecorded).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, as the scripts do

from llm_solutions.cli import main  # noqa: E402
from llm_solutions.collection.store import SessionStore  # noqa: E402

ENV_VAR = "LLM_SOLUTIONS_FAULT_TORN_WRITE"
SIGNAL_VAR = "LLM_SOLUTIONS_FAULT_SIGNAL_AT_START"
BATCH_VAR = "LLM_SOLUTIONS_FAULT_BATCH"


def install(tear_at: int) -> None:
    """Make the ``tear_at``-th ``SessionStore.append`` of this process a torn write."""
    original = SessionStore.append
    calls = 0

    def append(self: SessionStore, record: dict[str, Any]) -> None:
        nonlocal calls
        calls += 1
        if calls != tear_at:
            original(self, record)
            return
        # The same line ``append`` would write.  The store flushes after every record, so
        # a second append-mode handle on its file lands the half line right after them.
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        path = self.records_file(record["model"], record["category"])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line[: len(line) // 2])
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    SessionStore.append = append  # type: ignore[method-assign]


def signal_at_start(name: str) -> None:
    """Send ``SIG<name>`` to this process when the session store is first locked."""
    original = SessionStore.lock

    def lock(self: SessionStore) -> None:
        os.kill(os.getpid(), getattr(signal, f"SIG{name}"))
        original(self)

    SessionStore.lock = lock  # type: ignore[method-assign]


def batch_fault(moment: str, at: int) -> None:
    """SIGKILL this process at the ``at``-th ``moment`` of a ``--batch`` run."""
    from llm_solutions.batch.anthropic import AnthropicBatches
    from llm_solutions.batch.google import GoogleBatches
    from llm_solutions.batch.openai import OpenAIBatches

    seen = 0

    def count() -> None:
        nonlocal seen
        seen += 1
        if seen == at:
            os.kill(os.getpid(), signal.SIGKILL)

    if moment == "ingest":
        original = SessionStore.append

        def append(self: SessionStore, record: dict[str, Any]) -> None:
            original(self, record)
            if record.get("batch_id"):
                count()

        SessionStore.append = append  # type: ignore[method-assign]
        return
    name = {"submit": "submit", "poll": "status"}[moment]
    for cls in (OpenAIBatches, AnthropicBatches, GoogleBatches):
        def wrap(method: Any) -> Any:
            async def wrapped(*args: Any, **kwargs: Any) -> Any:
                result = await method(*args, **kwargs)
                count()
                return result
            return wrapped

        setattr(cls, name, wrap(getattr(cls, name)))


if __name__ == "__main__":
    tear_at = int(os.environ.get(ENV_VAR) or 0)
    if tear_at > 0:
        install(tear_at)
    if os.environ.get(SIGNAL_VAR):
        signal_at_start(os.environ[SIGNAL_VAR])
    if os.environ.get(BATCH_VAR):
        moment, _, number = os.environ[BATCH_VAR].partition(":")
        batch_fault(moment, int(number))
    sys.exit(main(sys.argv[1:]))

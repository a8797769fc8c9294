"""``batch cancel SESSION``: cancel a session's open provider batches."""

from __future__ import annotations

import argparse
import asyncio

from llm_solutions.batch import BatchCollector, Ledger
from llm_solutions.calls import Caller
from llm_solutions.cli.flags import add_log_arguments, add_sessions_dir_argument
from llm_solutions.cli.output import configure_logging
from llm_solutions.collection.session import default_output_dir, session_parameters
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import ConfigError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.models.registry import build_models, close_models


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``batch``."""
    parser.add_argument("action", choices=["cancel"], help="cancel: ask the providers to stop the open batches")
    parser.add_argument("session", metavar="SESSION", help="session id (folder name) or path")
    add_sessions_dir_argument(parser)
    add_log_arguments(parser)


async def _cancel(store: SessionStore, resume: str) -> int:
    settings = CollectionSettings.from_dict(session_parameters(store))
    registry = settings.load_registry()
    ledger = Ledger(store.path)
    names = sorted({e.model for e in ledger.open_entries()})
    if not names:
        print(f"session {store.session_id} has no open batches")
        return 0
    models = build_models(registry, registry.get_all(names))
    try:
        collector = BatchCollector(store.path, Caller(LimiterPool(registry)), models, registry=registry)
        for entry, outcome in await collector.cancel():
            print(f"{entry.provider} batch {entry.batch_id} ({len(entry.keys)} requests): {outcome}")
    finally:
        await close_models(models)
    print(f"results finished before the cancel are recorded by the next resume, which sends the rest again: "
          f"{resume}")
    return 0


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_file)
    store = SessionStore.open(args.output_dir or default_output_dir(), args.session)
    if not Ledger.exists(store.path):
        raise ConfigError(f"session {store.session_id} never used --batch; there is nothing to cancel")
    store.lock()  # a running collection owns the ledger: stop it first (Ctrl-C leaves the batches running)
    try:
        resume = f"python scripts/resume_collection.py {store.session_id}"
        if args.output_dir:
            resume += f" --output-dir {args.output_dir}"
        return asyncio.run(_cancel(store, resume))
    finally:
        store.unlock()

"""``llm-solutions cache stats`` and ``llm-solutions cache prune``: look after the response cache.

Both work on the cache that ``collect`` would use (``--cache-url``, else
``LLM_SOLUTIONS_CACHE_URL`` or the config file, else ``<output dir>/cache.sqlite3``),
whether or not caching is switched on for runs.  The password of a MySQL URL is never
printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from llm_solutions.cache.backend import CacheBackend, CacheTotals, Selection
from llm_solutions.cache.response_cache import open_backend
from llm_solutions.cache.settings import CacheSettings, cache_settings
from llm_solutions.cli.output import byte_size
from llm_solutions.collection.settings import resolve_setting
from llm_solutions.errors import ConfigError

DAY = 86400.0


def _add_location(parser: argparse.ArgumentParser, default: object) -> None:
    # Accepted before and after the action word; SUPPRESS keeps the later one from
    # overwriting the earlier with its default.
    parser.add_argument(
        "--cache-url", default=default, metavar="URL",
        help="cache location: a path, sqlite:///path or mysql://user@host:port/db?table=name",
    )
    parser.add_argument(
        "--output-dir", default=default, metavar="DIR",
        help="output folder whose cache.sqlite3 is the default cache (default: generated)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``cache stats [--json]`` and ``cache prune --expired|--model|--older-than|--all``."""
    _add_location(parser, None)
    actions = parser.add_subparsers(dest="cache_action", metavar="ACTION", required=True)
    stats = actions.add_parser("stats", help="entries, size, per-model counts, age, expired entries")
    _add_location(stats, argparse.SUPPRESS)
    stats.add_argument("--json", action="store_true", help="print the totals as JSON")
    prune = actions.add_parser("prune", help="remove entries and say how many")
    _add_location(prune, argparse.SUPPRESS)
    which = prune.add_mutually_exclusive_group(required=True)
    which.add_argument("--expired", action="store_true", help="entries past their TTL")
    which.add_argument("--model", metavar="NAME", help="entries of one model (table name or wire id)")
    which.add_argument("--older-than", type=float, metavar="DAYS", help="entries stored more than DAYS ago")
    which.add_argument("--all", action="store_true", help="every entry")


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_totals(location: str, totals: CacheTotals, ttl: float | None) -> None:
    print(f"cache: {location}")
    print(f"entries: {totals.entries} ({totals.with_raw} with the raw provider response)")
    print(f"size: {byte_size(totals.payload_bytes)} of answers, {byte_size(totals.storage_bytes)} in storage")
    print(f"oldest: {_when(totals.oldest)}")
    print(f"newest: {_when(totals.newest)}")
    rule = f"stored TTL or the current TTL of {ttl:g} s" if ttl is not None else "their stored TTL"
    print(f"expired: {totals.expired} (by {rule}; remove with: llm-solutions cache prune --expired)")
    if totals.per_model:
        print("per model:")
        width = max(len(name) for name in totals.per_model)
        for name, count in totals.per_model.items():
            print(f"  {name:<{width}}  {count}")


def _missing_file(settings: CacheSettings) -> str | None:
    """The SQLite path when it does not exist yet (stats and prune must not create it)."""
    if settings.backend == "sqlite" and settings.sqlite_path != ":memory:" and not Path(settings.sqlite_path).exists():
        return settings.sqlite_path
    return None


def _selection(args: argparse.Namespace, settings: CacheSettings, now: float) -> tuple[Selection, str]:
    if args.expired:
        return Selection(expired_at=now, ttl_seconds=settings.ttl_seconds), "expired entries"
    if args.model is not None:
        return Selection(model=args.model), f"entries of model {args.model}"
    if args.older_than is not None:
        return Selection(created_before=now - args.older_than * DAY), f"entries older than {args.older_than:g} days"
    return Selection(everything=True), "all entries"


async def _run(args: argparse.Namespace, settings: CacheSettings) -> int:
    backend: CacheBackend = await open_backend(settings)
    try:
        now = time.time()
        if args.cache_action == "stats":
            totals = await backend.totals(now, settings.ttl_seconds)
            if args.json:
                data = dict(vars(totals), location=backend.describe())
                print(json.dumps(data, indent=2, sort_keys=True))
            else:
                _print_totals(backend.describe(), totals, settings.ttl_seconds)
            return 0
        selection, what = _selection(args, settings, now)
        removed = await backend.prune(selection)
        print(f"removed {removed} {'entry' if removed == 1 else 'entries'} ({what}) from {backend.describe()}")
        return 0
    finally:
        await backend.close()


def run(args: argparse.Namespace) -> int:
    """Show totals or prune entries; a missing SQLite file is reported, not created."""
    if args.cache_action == "prune" and args.older_than is not None and not args.older_than > 0:
        raise ConfigError(f"--older-than {args.older_than:g} is not valid; give a positive number of days")
    settings = cache_settings({"url": args.cache_url}, output_dir=resolve_setting("output_dir", args.output_dir))
    missing = _missing_file(settings)
    if missing is not None:
        if args.cache_action == "stats" and args.json:
            print(json.dumps({"location": f"sqlite:{missing}", "entries": 0}, indent=2))
        elif args.cache_action == "stats":
            print(f"cache: sqlite:{missing} does not exist yet (no answers stored); entries: 0")
        else:
            print(f"removed 0 entries: sqlite:{missing} does not exist yet")
        return 0
    return asyncio.run(_run(args, settings))

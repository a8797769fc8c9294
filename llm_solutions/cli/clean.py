"""``clean --older-than 30d [--status S...] [--dry-run] [--yes]``: remove old sessions.

Whole session folders only; the response cache is never touched (``cache prune`` is its
command).  Lists what it will remove and asks first, unless ``--yes``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llm_solutions.cli.flags import add_sessions_dir_argument
from llm_solutions.cli.output import byte_size
from llm_solutions.errors import ConfigError

STATUS_NAMES = ("completed", "failed", "interrupted", "in_progress", "unknown")


def _age(value: str) -> float:
    from llm_solutions.durations import parse_duration

    seconds = parse_duration(value)
    if seconds is None:
        raise ConfigError(f"--older-than {value}: not a duration; use e.g. 30d, 12h or 2w")
    return seconds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--older-than", required=True, type=_age, metavar="AGE",
                        help="remove sessions unchanged for this long (30d, 12h, 2w)")
    parser.add_argument("--status", nargs="+", choices=STATUS_NAMES, default=[], metavar="STATUS",
                        help=f"only sessions with one of these statuses ({', '.join(STATUS_NAMES)})")
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    parser.add_argument("--yes", action="store_true", help="do not ask before removing")
    add_sessions_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.retention import find_old_sessions, remove_sessions
    from llm_solutions.collection.session import default_output_dir
    from llm_solutions.text import visible

    root = Path(args.output_dir) if args.output_dir else default_output_dir()
    if not root.is_dir():
        raise ConfigError(f"--output-dir {root}: no such folder; pass the folder your sessions are in")
    old, busy = find_old_sessions(root, args.older_than, args.status)
    for session_id in busy:
        print(f"kept {visible(session_id)}: a process is working on it")
    if not old:
        print(f"no session in {root} matches (nothing removed; the response cache is never touched here)")
        return 0
    total = sum(s.size for s in old)
    print(f"{'would remove' if args.dry_run else 'will remove'} {len(old)} session(s) from {root}, "
          f"{byte_size(total)}:")
    for s in old:
        print(f"  {visible(s.info.session_id)}  {s.info.status}  last changed {s.age_days:.0f} days ago  "
              f"{s.info.completed} records  {byte_size(s.size)}")
    if args.dry_run:
        return 0
    if not args.yes:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            raise ConfigError("removing sessions needs a confirmation: pass --yes (or --dry-run to only list them)")
        if input("Remove them? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    freed, kept = remove_sessions(old)
    for session_id in kept:
        print(f"kept {visible(session_id)}: a process started working on it")
    print(f"removed {len(old) - len(kept)} session(s), freed {byte_size(freed)}")
    return 0

"""``resume`` (``scripts/resume_collection.py``): list, inspect and resume sessions."""

from __future__ import annotations

import argparse
import asyncio
import json

from llm_solutions.batch import Ledger
from llm_solutions.cli.flags import add_log_arguments, add_ray_argument, add_sessions_dir_argument
from llm_solutions.cli.output import configure_logging, print_result
from llm_solutions.collection.session import default_output_dir, list_sessions, resume_runner, session_info
from llm_solutions.collection.store import SessionStore
from llm_solutions.errors import ConfigError
from llm_solutions.text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``resume_collection.py``."""
    parser.add_argument("session", nargs="?", metavar="SESSION", help="session id (folder name) or path")
    parser.add_argument("--list-sessions", action="store_true", help="list sessions with status, counts and date")
    parser.add_argument("--status", action="store_true", help="show the session's status and exit")
    parser.add_argument("--json", action="store_true", help="with --status or --list-sessions: print JSON")
    parser.add_argument("--retry-failed", action="store_true", help="run again the tasks recorded as failed")
    parser.add_argument("--max-cost", type=float, metavar="USD", help="a new spend limit for the whole session")
    add_ray_argument(parser)
    parser.add_argument("--no-ray", dest="ray", action="store_const", const=False,
                        help="run the tests here even if the session ran them on Ray")
    add_sessions_dir_argument(parser)
    add_log_arguments(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_file)
    output_dir = args.output_dir or default_output_dir()
    if args.list_sessions:
        sessions = list_sessions(output_dir)
        if args.json:
            print(json.dumps([s.to_dict() for s in sessions], indent=2))
        elif not sessions:
            print(f"no sessions in {output_dir}")
        else:
            print(f"{'session':28} {'status':12} {'done/total':>13} {'ok':>6} {'failed':>6} {'spent $':>10}  "
                  f"{'started':16}  models")
        for s in [] if args.json else sessions:
            done = f"{s.completed}/{s.total}"
            print(visible(f"{s.session_id:28} {s.status:12} {done:>13} {s.successful:>6} {s.failed:>6} "
                          f"{s.cost:>10.4f}  {s.date:16}  {', '.join(s.models)}"))
        return 0
    if not args.session:
        raise ConfigError("name a session to resume (see --list-sessions)")
    if args.status:
        info = session_info(SessionStore.open(output_dir, args.session))
        if args.json:
            print(json.dumps(info.to_dict(), indent=2))
        else:
            print(f"session: {info.path}\nstatus: {info.status}\nstarted: {info.date}\n"
                  f"models: {', '.join(info.models)}\n"
                  f"tasks: {info.completed}/{info.total} ({info.successful} successful, {info.failed} failed)\n"
                  f"spent: ${info.cost:.4f}")
            for model, reason in info.stopped.items():
                print(visible(f"stopped: {model}: {reason}"))
            if Ledger.exists(info.path):
                for entry in Ledger(info.path).entries:
                    counts = ", ".join(f"{k} {v}" for k, v in entry.counts.items() if v) or "no counts yet"
                    print(visible(f"batch: {entry.provider} {entry.batch_id or entry.tag} {entry.model}: "
                                  f"{entry.state}{' (recorded)' if entry.ingested else ''}, {len(entry.keys)} "
                                  f"requests ({counts}), {entry.results} results recorded, ${entry.cost:.4f}"))
        return 0
    runner = resume_runner(args.session, output_dir, retry_failed=args.retry_failed,
                           max_cost=args.max_cost, show_progress=not args.no_progress, ray=args.ray)
    info = session_info(SessionStore.open(output_dir, args.session))
    if info.status == "completed" and not args.retry_failed and info.completed >= info.total:
        store = SessionStore.open(output_dir, args.session)
        if not store.reports_stale():
            print(f"session {info.session_id} is already completed ({info.completed}/{info.total} tasks); "
                  "nothing to do")
            return 0
        print(f"session {info.session_id} is completed but its reports are missing or stale; rebuilding them")
    result = asyncio.run(runner.run())
    print_result(result)
    return result.exit_code

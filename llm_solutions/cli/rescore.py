"""``rescore SESSION``: score stored answers again (extraction, validation, tests) into a new
session, without asking any answering model."""

from __future__ import annotations

import argparse
import asyncio

from llm_solutions.cli.flags import (
    add_log_arguments,
    add_ray_argument,
    add_sessions_dir_argument,
    add_timeout_arguments,
)
from llm_solutions.cli.output import configure_logging, print_model_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="session id (folder name) or path")
    add_sessions_dir_argument(parser)
    parser.add_argument("--new-session-id", metavar="ID", help="name of the new session (default "
                        "<id>_rescored_<time>); an unfinished rescore into ID continues")
    parser.add_argument("--no-execute", dest="execute", action="store_false", help="skip running the tests")
    parser.add_argument("--no-extraction-model", dest="extraction_model", action="store_false",
                        help="extract with the rules alone even if the session used an extraction model "
                        "(guarantees zero API calls)")
    add_timeout_arguments(parser)
    add_ray_argument(parser)
    add_log_arguments(parser, log_file=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.rescoring import rescore_session
    from llm_solutions.collection.settings import resolve_setting
    from llm_solutions.collection.store import read_json

    configure_logging(args.log_level)
    path = asyncio.run(rescore_session(args.session, args.output_dir, execute=args.execute,
                                       new_session_id=args.new_session_id, extraction_model=args.extraction_model,
                                       test_timeout=args.test_timeout, solution_timeout=args.solution_timeout,
                                       ray=resolve_setting("ray", args.ray), show_progress=not args.no_progress))
    metadata = (read_json(path / "summary.json") or {}).get("collection_metadata") or {}
    calls = int(metadata.get("api_calls") or 0)
    spent = float(metadata.get("session_spend") or 0.0)
    detail = "0 API calls" if not calls else f"{calls} extraction API call(s), ${spent:.4f}"
    print(f"rescored into: {path} ({detail})")
    print_model_lines(path)
    return 0

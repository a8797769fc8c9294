"""``rescore SESSION``: re-extract, re-validate and re-test stored answers into a new
session, with zero API calls."""

from __future__ import annotations

import argparse
import asyncio

from llm_solutions.cli.output import configure_logging


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="session id (folder name) or path")
    parser.add_argument("--output-dir", metavar="DIR", help="where sessions are (default OUTPUT_DIR or generated)")
    parser.add_argument("--new-session-id", metavar="ID", help="name of the new session (default <id>_rescored_<time>)")
    parser.add_argument("--no-execute", dest="execute", action="store_false", help="skip running the tests")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.rescoring import rescore_session

    configure_logging(args.log_level)
    path = asyncio.run(rescore_session(args.session, args.output_dir, execute=args.execute,
                                       new_session_id=args.new_session_id))
    print(f"rescored into: {path} (0 API calls)")
    return 0

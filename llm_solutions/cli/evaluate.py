"""``evaluate SESSION``: run the problems' tests against a finished session's solutions."""

from __future__ import annotations

import argparse
import asyncio

from llm_solutions.cli.flags import add_log_arguments, add_sessions_dir_argument, add_timeout_arguments
from llm_solutions.cli.output import configure_logging, print_model_lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="session id (folder name) or path")
    add_sessions_dir_argument(parser)
    add_timeout_arguments(parser)
    add_log_arguments(parser, log_file=False)


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.rescoring import evaluate_session

    configure_logging(args.log_level)
    path = asyncio.run(evaluate_session(args.session, args.output_dir, test_timeout=args.test_timeout,
                                        solution_timeout=args.solution_timeout))
    print(f"evaluated: {path} (summary.json has the pass rates and pass@k)")
    print_model_lines(path)
    return 0

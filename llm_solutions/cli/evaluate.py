"""``evaluate SESSION``: run the problems' tests against a finished session's solutions
(here, or on a Ray cluster with ``--ray``); run again after an interruption, it continues."""

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
    add_timeout_arguments(parser)
    add_ray_argument(parser)
    add_log_arguments(parser, log_file=False)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.rescoring import evaluate_session
    from llm_solutions.collection.settings import resolve_setting

    configure_logging(args.log_level)
    path = asyncio.run(evaluate_session(args.session, args.output_dir, test_timeout=args.test_timeout,
                                        solution_timeout=args.solution_timeout, ray=resolve_setting("ray", args.ray),
                                        show_progress=not args.no_progress))
    print(f"evaluated: {path} (summary.json has the pass rates and pass@k)")
    print_model_lines(path)
    return 0

"""``run RUN_FILE``: a collection run described by a run file (``run.example.yaml``).

The same program as ``collect --config RUN_FILE``: every ``collect`` flag is accepted and
wins over the file (and the environment wins over the file too), ``--dry-run`` prints the
plan, ``--force`` starts the file's session again from nothing.
"""

from __future__ import annotations

import argparse

from llm_solutions.cli import collect
from llm_solutions.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run file, then the options of ``collect``."""
    parser.add_argument("run_file", metavar="RUN_FILE", help="a run file: YAML (or TOML), see run.example.yaml")
    collect.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.config and args.config != args.run_file:
        raise ConfigError("run takes one run file; drop --config (or use collect --config FILE)")
    args.config = args.run_file
    return collect.run(args)

"""The command line: ``llm-solutions SUBCOMMAND ...`` and ``python -m llm_solutions``.

Each subcommand is a module in this package with ``add_arguments(parser)`` and
``run(args) -> int``.  ``main`` turns user errors into one line on stderr and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from typing import NoReturn

from llm_solutions.errors import ConfigError, UserError
from llm_solutions.settings import environment
from llm_solutions.text import visible

# name -> (module, one-line help); modules are imported only when their command runs.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "collect": ("llm_solutions.cli.collect", "collect solutions from models (run_collection.py)"),
    "run": ("llm_solutions.cli.run", "collect as a run file (YAML or TOML) says; flags win over it"),
    "info": ("llm_solutions.cli.info", "show what a run file would do: settings, keys, problems, tasks, cost"),
    "list": ("llm_solutions.cli.listing", "list sessions: status, models, tasks, pass rate, cost (filters, --json)"),
    "resume": ("llm_solutions.cli.resume", "list, inspect and resume sessions (resume_collection.py)"),
    "evaluate": ("llm_solutions.cli.evaluate", "run a session's solutions against the problems' tests"),
    "rescore": ("llm_solutions.cli.rescore", "re-extract, re-validate and re-evaluate a session, no API calls"),
    "check-dataset": ("llm_solutions.cli.check_dataset", "check a dataset: format, and canonical solutions pass"),
    "batch": ("llm_solutions.cli.batch", "cancel a session's open provider batches (batch cancel SESSION)"),
    "cache": ("llm_solutions.cli.cache", "show response-cache totals and prune entries"),
    "generate": ("llm_solutions.cli.generate", "generate a new verified problem dataset (generate_dataset.py)"),
    "export": ("llm_solutions.cli.export", "export sessions as fine-tuning data (chat, trl-sft, trl-dpo, sharegpt, "
               "alpaca, hf)"),
    "migrate": ("llm_solutions.cli.migrate", "write an upgraded copy of a session (current record schema)"),
    "clean": ("llm_solutions.cli.clean", "remove old sessions (never the cache)"),
    "report": ("llm_solutions.cli.report", "write an HTML report with plots of one session or several"),
    "stats": ("llm_solutions.cli.stats", "print per-model statistics of one session or several"),
}

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a closed pipe


class _Parser(argparse.ArgumentParser):
    """A parser whose mistakes are one line (a ``ConfigError``), not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see {self.prog} --help)")


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser; only the chosen subcommand's module is imported (fast ``--help``)."""
    parser = _Parser(
        prog="llm-solutions",
        description="Collect, check and compare code solutions from many LLM providers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit code."""
    try:
        environment.load_dotenv()
        argv = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(argv).parse_args(argv)
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"error: {visible(str(e))}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:
        # The reader went away (``... | head``): not an error worth a message.  Point stdout
        # at /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as e:
        # Disk full, permissions, a vanished folder: the records written so far are safe.
        logging.getLogger("llm_solutions").debug("I/O error", exc_info=True)
        print(f"error: {visible(str(e))}; fix it and resume the session (resume_collection.py --list-sessions)",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        logging.shutdown()

"""Command-line flags shared by several commands, and how they become settings.

Flags only say what the user typed; ``None`` means "not given", so the settings layer
falls through to the environment, the config file and the defaults.
"""

from __future__ import annotations

import argparse
from typing import Any

from llm_solutions.cache.credentials import Secret, split_password

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-cache``, ``--force-override-cache``, ``--cache-url`` and ``--cache-ttl``."""
    group = parser.add_argument_group("response cache")
    group.add_argument(
        "--no-cache", dest="cache_enabled", action="store_const", const=False, default=None,
        help="neither read nor write the response cache (env LLM_SOLUTIONS_CACHE=0)",
    )
    group.add_argument(
        "--force-override-cache", action="store_const", const=True, default=None,
        help="ask the models again even for cached answers, and store the new answers",
    )
    group.add_argument(
        "--cache-url", default=None, metavar="URL",
        help="cache location: a file path, sqlite:///path or mysql://user@host:port/db?table=name "
        "(env LLM_SOLUTIONS_CACHE_URL; default <output dir>/cache.sqlite3)",
    )
    group.add_argument(
        "--cache-ttl", default=None, metavar="DURATION",
        help="reuse cached answers only this long, e.g. 86400, 12h, 7d, or never (the default)",
    )


def cache_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The cache flags that were given, as ``cache_settings`` overrides.

    A password in ``--cache-url`` comes back as a ``Secret`` under ``password``, so the
    dict can be recorded with ``json.dumps(..., default=str)`` and shows ``***``; read back
    from a record, the cache settings ignore that marker and use ``MYSQL_PASSWORD``.
    """
    url = getattr(args, "cache_url", None)
    password = None
    if url is not None:
        url, password = split_password(url)
    values = {
        "enabled": getattr(args, "cache_enabled", None),
        "force_override_cache": getattr(args, "force_override_cache", None),
        "url": url,
        "ttl_seconds": getattr(args, "cache_ttl", None),
        "password": Secret(password) if password is not None else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def add_log_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, log_file: bool = True) -> None:
    """``--log-level`` (and ``--log-file``)."""
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                        help="DEBUG, INFO, WARNING or ERROR (any case)")
    if log_file:
        parser.add_argument("--log-file", metavar="FILE", help="also write the log to FILE")


def add_timeout_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--test-timeout`` and ``--solution-timeout``: the sandbox's time limits."""
    parser.add_argument("--test-timeout", type=float, metavar="S",
                        help="wall seconds one test may run in the sandbox (default 10)")
    parser.add_argument("--solution-timeout", type=float, metavar="S",
                        help="wall seconds all tests of one solution may take together (default 60)")


def add_sessions_dir_argument(parser: argparse.ArgumentParser) -> None:
    """``--output-dir`` for commands that work on existing sessions."""
    parser.add_argument("--output-dir", metavar="DIR", help="where sessions are (default OUTPUT_DIR or generated)")


def add_ray_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--ray [ADDRESS]``: run the tests on a Ray cluster (alone: a local Ray instance)."""
    parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                        help="run the tests on a Ray cluster: alone, a Ray instance started on this machine; "
                        "or a cluster's address (auto, host:port, ray://host:port); needs "
                        'pip install "llm-solutions[ray]"')

"""``migrate SESSION``: an upgraded copy of a session, beside the original (never in place)."""

from __future__ import annotations

import argparse

from llm_solutions.cli.flags import add_sessions_dir_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="session id (folder name) or path")
    add_sessions_dir_argument(parser)
    parser.add_argument("--new-session-id", metavar="ID", help="name of the copy (default <id>_v2)")


def run(args: argparse.Namespace) -> int:
    from llm_solutions.collection.migration import migrate_session
    from llm_solutions.collection.schema import SCHEMA_VERSION

    result = migrate_session(args.session, args.output_dir, new_session_id=args.new_session_id)
    versions = ", ".join(f"{count} from {version}" for version, count in result.by_version.items()) or "none"
    print(f"migrated {result.records} record(s) to schema {SCHEMA_VERSION} ({versions}; {result.prompts} distinct "
          f"prompt(s)) into {result.path}; the original is unchanged")
    return 0

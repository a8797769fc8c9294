"""``report SESSION... [--out FILE] [--open]``: write the HTML analysis report and print its path."""

from __future__ import annotations

import argparse

from llm_solutions.cli.flags import add_sessions_dir_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", nargs="+", metavar="SESSION",
                        help="session ids (folder names) or paths; several are compared with the first")
    parser.add_argument("--out", metavar="FILE",
                        help="HTML file to write (default: report.html in the session's folder, or in the current "
                        "folder for several sessions)")
    parser.add_argument("--open", action="store_true", help="open the report in the default browser")
    add_sessions_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from llm_solutions.report import write_report

    path = write_report(args.sessions, args.out, args.output_dir)
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0

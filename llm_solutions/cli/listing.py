"""``list``: the sessions in the output folder as a table, or JSON.

Id, start date, status, models, tasks done/total, pass rate and cost, filtered by
``--status``, ``--model`` and ``--since``.  Each session is described from its small files
(``progress.json`` while its records are unchanged since, ``summary.json`` for the pass
rate), so a folder of million-task sessions lists as fast as one of small ones.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from llm_solutions.cli.flags import add_sessions_dir_argument
from llm_solutions.collection.session import SessionInfo, default_output_dir, session_info
from llm_solutions.collection.store import SessionStore, list_session_dirs
from llm_solutions.durations import parse_duration
from llm_solutions.errors import ConfigError
from llm_solutions.text import visible

STATUSES = ("in_progress", "completed", "failed", "interrupted", "unknown")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Filters, ``--json`` and ``--output-dir``."""
    parser.add_argument("--status", nargs="+", choices=STATUSES, metavar="STATUS",
                        help=f"only sessions with one of these statuses ({', '.join(STATUSES)})")
    parser.add_argument("--model", nargs="+", metavar="NAME", help="only sessions that asked one of these models")
    parser.add_argument("--since", metavar="WHEN",
                        help="only sessions started since a date (2026-11-30, 2026-11-30T14:00) or for a "
                        "duration back (12h, 7d)")
    parser.add_argument("--json", action="store_true", help="print JSON: one object per session")
    add_sessions_dir_argument(parser)


def since_time(text: str, *, now: float | None = None) -> float:
    """Seconds since the epoch from a date, a date and time, or a duration back from now."""
    seconds = parse_duration(text)
    if seconds is not None:
        return (now if now is not None else time.time()) - seconds
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ConfigError(f"--since {text!r} is neither a date (2026-11-30) nor a duration (7d)") from None


def pass_rate(path: Path) -> float | None:
    """Percent of evaluated answers that passed all their tests, from ``summary.json``
    (each model's rate weighted by its answers); ``None`` when nothing was tested."""
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
        models = summary["model_summaries"].values()
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        return None
    passed = weight = 0.0
    for model in models:
        overall = model.get("overall_performance") if isinstance(model, dict) else None
        if isinstance(overall, dict) and isinstance(overall.get("pass_rate"), (int, float)):
            count = float(overall.get("solutions") or 0)
            passed, weight = passed + float(overall["pass_rate"]) * count, weight + count
    return round(passed / weight, 2) if weight else None


def sessions(output_dir: Path, *, statuses: list[str] | None = None, models: list[str] | None = None,
             since: float | None = None) -> list[dict[str, Any]]:
    """The sessions under ``output_dir`` that pass the filters, oldest first, as rows."""
    rows = []
    for path in list_session_dirs(output_dir):
        info: SessionInfo = session_info(SessionStore(path))
        if statuses and info.status not in statuses:
            continue
        if models and not set(models) & set(info.models):
            continue
        if since is not None and (info.started or 0) < since:
            continue
        rows.append({"session_id": info.session_id, "date": info.date, "started": info.started,
                     "status": info.status, "models": info.models, "completed": info.completed,
                     "total": info.total, "pass_rate": pass_rate(path), "cost": info.cost, "path": str(path)})
    return rows


def run(args: argparse.Namespace) -> int:
    output_dir = Path(args.output_dir) if args.output_dir else default_output_dir()
    since = since_time(args.since) if args.since else None
    rows = sessions(output_dir, statuses=args.status, models=args.model, since=since)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no sessions in {output_dir}" + (" match the filters" if args.status or args.model or since else ""))
        return 0
    print(f"{'session':28} {'date':16} {'status':12} {'tasks':>15} {'pass %':>7} {'cost $':>10}  models")
    for row in rows:
        tasks = f"{row['completed']}/{row['total']}"
        rate = f"{row['pass_rate']:.1f}" if row["pass_rate"] is not None else "-"
        print(visible(f"{row['session_id']:28} {row['date']:16} {row['status']:12} {tasks:>15} {rate:>7} "
                      f"{row['cost']:>10.4f}  {', '.join(row['models'])}"))
    return 0

"""``stats SESSION...``: the report's per-model table (or per category or complexity) on the
terminal, or every table as JSON."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from llm_solutions.cli.flags import add_sessions_dir_argument
from llm_solutions.text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", nargs="+", metavar="SESSION", help="session ids (folder names) or paths")
    parser.add_argument("--by", choices=["model", "category", "complexity"], default="model",
                        help="one row per model (default), per model and category, or per model and complexity")
    parser.add_argument("--json", action="store_true", help="every table as JSON (rates as fractions)")
    add_sessions_dir_argument(parser)


def run(args: argparse.Namespace) -> int:
    from llm_solutions.report import get_statistics

    stats = get_statistics(args.sessions, args.output_dir)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    table = {"model": "models", "category": "categories", "complexity": "complexities"}[args.by]
    rows = stats.rows(table)
    ks = sorted({k for r in rows for k in r if k.startswith("pass@")}, key=lambda k: int(k[5:]))
    columns: list[tuple[str, Any]] = [("model", lambda r: r["model"])]
    if stats.several:
        columns.insert(0, ("session", lambda r: r["session"]))
    if args.by != "model":
        columns.append((args.by, lambda r: r[args.by]))
    columns += [
        ("tasks", lambda r: f"{r['tasks']:,}"),
        ("valid", lambda r: _pct(r["valid_rate"])),
        ("pass", lambda r: _pct(r["pass_rate"])),
        ("95% CI", lambda r: f"{_pct(r['pass_low'], 0)}-{_pct(r['pass_high'], 0)}" if r["evaluated"] else "-"),
        *((k, lambda r, k=k: _pct(r.get(k, math.nan))) for k in ks),
        ("cost", lambda r: f"${r['cost']:.4f}"),
        ("$/pass", lambda r: "-" if math.isnan(r["cost_per_pass"]) else f"${r['cost_per_pass']:.4f}"),
        ("tokens in/out", lambda r: f"{r['input_tokens']:,}/{r['output_tokens']:,}"),
        ("p50 s", lambda r: _num(r["latency_p50"])),
        ("p95 s", lambda r: _num(r["latency_p95"])),
        ("attempts", lambda r: f"{r['attempts']:,}"),
        ("cache", lambda r: f"{r['cache_hits']:,}"),
        ("top failure", lambda r: r["top_failure"] or "-"),
    ]
    cells = [[name for name, _ in columns]] + [[visible(str(get(r))) for _, get in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    left = {"session", "model", "category", "top failure"}
    for line in cells:
        print("  ".join(text.ljust(width) if name in left else text.rjust(width)
                        for (name, _), text, width in zip(columns, line, widths, strict=True)).rstrip())
    return 0


def _pct(value: float, digits: int = 1) -> str:
    return "-" if math.isnan(value) else f"{value * 100:.{digits}f}%"


def _num(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"

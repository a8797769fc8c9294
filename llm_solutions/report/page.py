"""The report as one self-contained HTML page: styles inline, plots embedded as PNG in both
colour schemes, no script and nothing fetched from the network."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from llm_solutions.report import sections
from llm_solutions.report.figures import FIGURES
from llm_solutions.report.sections import count, esc
from llm_solutions.report.theme import Rendered, render

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from llm_solutions.report.statistics import Statistics
    from llm_solutions.report.theme import Theme

STYLE = """
:root { color-scheme: light dark; --bg: #ffffff; --fg: #1f2328; --muted: #57606a; --line: #d8dee4;
  --head: #f6f8fa; --code: #f6f8fa; --accent: #0969da; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8b949e; --line: #30363d; --head: #161b22; --code: #161b22;
    --accent: #4493f8; }
}
* { box-sizing: border-box; }
body { margin: 0 auto; padding: 24px 32px 64px; max-width: 1500px; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin-top: 40px; border-bottom: 1px solid var(--line); }
h3 { font-size: 16px; margin-top: 24px; } h4 { margin: 18px 0 6px; } h5 { margin: 8px 0 2px; color: var(--muted); }
a { color: var(--accent); } .note { color: var(--muted); }
nav ul { display: flex; flex-wrap: wrap; gap: 4px 18px; padding: 0; list-style: none; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
caption { text-align: left; color: var(--muted); }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; vertical-align: top; }
th { background: var(--head); text-align: left; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.list { max-width: 480px; }
figure { margin: 16px 0 28px; } figcaption { color: var(--muted); font-size: 13px; }
img.plot { max-width: 100%; height: auto; display: block; }
pre { background: var(--code); border: 1px solid var(--line); padding: 8px; overflow-x: auto; max-height: 420px;
  white-space: pre-wrap; word-break: break-word; font-size: 12px; }
details.example { margin: 4px 0 4px 12px; } details.example summary { cursor: pointer; }
.detail { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; white-space: pre-wrap;
  word-break: break-word; margin: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; }
dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; }
"""


def render_figures(stats: Statistics) -> list[Rendered]:
    """Every figure with something to show, in both themes."""
    found = []
    for name, title, draw in FIGURES:
        if not stats.tested:
            title = title.replace("Pass rate", "Valid code rate").replace("pass rate", "valid code rate")
        rendered = render(name, title, functools.partial(_draw, draw, stats))
        if rendered is not None:
            found.append(rendered)
    return found


def _draw(draw: Callable[[Statistics, Theme], Figure | None], stats: Statistics, theme: Theme) -> Figure | None:
    return draw(stats, theme)


def build_page(stats: Statistics, figures: list[Rendered], *, datasets: dict[str, str | None] | None = None) -> str:
    """The whole page as text."""
    by_name = {f.name: f for f in figures}

    def plot(name: str) -> str:
        return sections.figure(by_name[name]) if name in by_name else ""

    blocks: list[tuple[str, str, str]] = []  # (anchor, title, html)
    rate = "pass rate" if stats.tested else "valid code rate"
    blocks.append(("summary", "Per model", sections.headline(stats) + plot("pass_rates") + (
        "" if stats.tested else '<p class="note">No tests were run in these sessions (--no-execute), so pass '
        "rates are empty and the plots show the valid-code rate; <code>llm-solutions evaluate SESSION</code> "
        "runs the tests.</p>")))
    blocks.append(("categories", f"By category and complexity ({rate})", plot("category_heatmap") + plot("complexity")))
    blocks.append(("cost", "Cost and quality", plot("cost_quality") + (
        '<p class="note">Circled models are on the frontier: no other model is both cheaper per task and '
        f"better on {rate}.</p>")))
    blocks.append(("latency", "Latency", plot("latency")))
    blocks.append(("failures", "Failures", plot("failures") + sections.failure_tables(stats)
                   + "<h3>Examples</h3>" + sections.examples(stats)))
    blocks.append(("problems", "Problems", sections.problems(stats)))
    if stats.several:
        blocks.append(("sessions", f"Sessions compared with {stats.sessions[0]}",
                       '<p class="note">Each model against itself in the first session, on the problems both '
                       "tested. A problem is solved when at least half its samples passed; p is McNemar's exact "
                       "test on the paired outcomes (only problems that changed count).</p>"
                       + sections.comparisons(stats) + plot("session_deltas")))
    if stats.generation:
        blocks.append(("generation", "Generated dataset", sections.generation(stats) + plot("generation")))

    title = "llm_solutions report: " + ", ".join(stats.sessions)
    facts = [("sessions", ", ".join(stats.sessions)), ("records", count(stats.records)),
             ("models", count(len({m for _, m in stats.by_model}))),
             ("problems", count(len({t for _, t in stats.problems_seen}))),
             ("made", time.strftime("%Y-%m-%d %H:%M %Z"))]
    for session, dataset in (datasets or {}).items():
        if dataset:
            facts.append((f"dataset of {session}", dataset))
    head = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in facts)
    nav = "".join(f'<li><a href="#{a}">{esc(t)}</a></li>' for a, t, _ in blocks)
    body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{content}</section>' for a, t, content in blocks)
    definitions = (
        '<p class="note">Valid: the extracted code parses, defines the expected name and reads no undefined name '
        "(over all tasks). Pass: every test passed, over the tasks whose tests ran (a failed call has none), "
        "with a 95% Wilson interval. pass@k: the unbiased estimator over problems whose samples were all tested. "
        "Cost: what each task cost the session (answer and extraction model). Latency: per answered call.</p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="color-scheme" content="light dark"><title>{esc(title)}</title>'
            f"<style>{STYLE}</style></head><body><header><h1>Model comparison</h1>"
            f'<dl class="facts">{head}</dl><nav><ul>{nav}</ul></nav></header><main>{body}</main>'
            f"<footer>{definitions}</footer></body></html>\n")


def write_page(text: str, out: Path) -> Path:
    """Write the page atomically: a reader sees the old report or the new one."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out

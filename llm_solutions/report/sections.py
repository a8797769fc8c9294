"""The report's sections as HTML fragments.  Every piece of text from the records (answers,
error messages, names) goes through ``esc``: control characters and lone surrogates are
spelled out, then HTML-escaped, so no answer can add markup, run a script or break the page."""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

from llm_solutions.text import visible

if TYPE_CHECKING:
    from llm_solutions.report.statistics import Statistics

TOP_PROBLEMS = 25


def esc(value: Any) -> str:
    """Any value as text safe inside HTML elements and attributes."""
    return html.escape(visible(str(value)), quote=True)


def pct(value: float, digits: int = 1) -> str:
    return "–" if value is None or math.isnan(value) else f"{value * 100:.{digits}f}%"


def usd(value: float) -> str:
    if value is None or math.isnan(value):
        return "–"
    return f"${value:.4f}" if abs(value) < 100 else f"${value:,.2f}"


def seconds(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.2f} s"


def count(value: int) -> str:
    return f"{value:,}"


def cell(key: str, value: Any, text: str, cls: str = "num") -> str:
    """A table cell carrying its exact value (``data-value``), so tests and scripts can read
    the numbers without parsing the formatted text."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raw = ""
    elif isinstance(value, (str, list, dict, bool)):
        raw = value if isinstance(value, str) else json.dumps(value)
    else:
        raw = repr(value)  # numbers: every digit, so a float reads back exactly
    return f'<td class="{cls}" data-key="{esc(key)}" data-value="{esc(raw)}">{esc(text)}</td>'


def table(head: list[str], rows: list[str], table_id: str | None = None, caption: str | None = None) -> str:
    ident = f' id="{esc(table_id)}"' if table_id else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join(f"<tr>{r}</tr>" for r in rows)
    return f'<div class="scroll"><table{ident}>{cap}<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def headline(stats: Statistics) -> str:
    """The per-model table: the report's main numbers."""
    rows = stats.rows("models")
    ks = sorted({k for r in rows for k in r if k.startswith("pass@")}, key=lambda k: int(k[5:]))
    head = ["model", *(["session"] if stats.several else []), "tasks", "valid", "pass (95% CI)", *ks, "cost",
            "cost / pass", "tokens in / out", "median latency", "p95 latency", "attempts", "cache hits"]
    body = []
    for r in rows:
        interval = f" [{pct(r['pass_low'], 0)}–{pct(r['pass_high'], 0)}]" if r["evaluated"] else ""
        cells = [cell("model", r["model"], r["model"], "name")]
        if stats.several:
            cells.append(cell("session", r["session"], r["session"], "name"))
        cells += [
            cell("tasks", r["tasks"], count(r["tasks"])),
            cell("valid_rate", r["valid_rate"], pct(r["valid_rate"])),
            cell("pass_rate", r["pass_rate"], pct(r["pass_rate"]) + interval),
            *(cell(k, r.get(k), pct(r.get(k, math.nan))) for k in ks),
            cell("cost", r["cost"], usd(r["cost"])),
            cell("cost_per_pass", r["cost_per_pass"], usd(r["cost_per_pass"])),
            cell("tokens", [r["input_tokens"], r["output_tokens"]],
                 f"{count(r['input_tokens'])} / {count(r['output_tokens'])}"),
            cell("latency_p50", r["latency_p50"], seconds(r["latency_p50"])),
            cell("latency_p95", r["latency_p95"], seconds(r["latency_p95"])),
            cell("attempts", r["attempts"], count(r["attempts"])),
            cell("cache_hits", r["cache_hits"], count(r["cache_hits"])),
        ]
        body.append("".join(cells))
    return table(head, body, "headline")


def figure(rendered: Any) -> str:
    """A figure in both themes; the browser shows the one matching its colour scheme."""
    return (f'<figure id="fig-{esc(rendered.name)}"><picture>'
            f'<source media="(prefers-color-scheme: dark)" srcset="{rendered.data_uri("dark")}">'
            f'<img class="plot" src="{rendered.data_uri("light")}" width="{rendered.width_px}" '
            f'height="{rendered.height_px}" alt="{esc(rendered.title)}"></picture>'
            f"<figcaption>{esc(rendered.title)}</figcaption></figure>")


def failure_tables(stats: Statistics) -> str:
    """Failures by call error type, by extraction method and by test outcome."""
    parts = []
    keys = stats.model_keys()
    for prefix, title, table_id in (("call failed: ", "Failed calls by error type", "errors"),
                                    ("tests: ", "Failing solutions by test outcome (first test that did not pass)",
                                     "outcomes")):
        kinds = sorted({r[len(prefix):] for r in stats.reason_totals() if r.startswith(prefix)})
        if not kinds:
            parts.append(f"<h3>{esc(title)}</h3><p class=\"note\">none</p>")
            continue
        body = []
        for key in keys:
            reasons = stats.by_model[key].reasons
            body.append(cell("model", stats.label(key), stats.label(key), "name") + "".join(
                cell(kind, reasons.get(prefix + kind, 0), count(reasons.get(prefix + kind, 0))) for kind in kinds))
        parts.append(f"<h3>{esc(title)}</h3>" + table(["model", *kinds], body, table_id))
    body = [cell("method", r["method"], r["method"], "name") + cell("tasks", r["tasks"], count(r["tasks"]))
            + cell("valid_rate", r["valid_rate"], pct(r["valid_rate"]))
            + cell("pass_rate", r["pass_rate"], pct(r["pass_rate"]))
            + cell("failures", r["failures"], count(r["failures"]))
            for r in stats.rows("extraction")]
    parts.append("<h3>By extraction method</h3>" + table(["method", "tasks", "valid", "pass", "failing"], body,
                                                         "methods"))
    return "".join(parts)


def examples(stats: Statistics) -> str:
    """A few failing answers per reason, collapsed."""
    if not stats.examples:
        return '<p class="note">No failures.</p>'
    parts = []
    for reason, found in sorted(stats.examples.items(), key=lambda kv: -stats.reason_totals()[kv[0]]):
        items = []
        for ex in found:
            where = f"{ex.model} · {ex.task_id} · {ex.category}" + (f" · {ex.session}" if stats.several else "")
            detail = f"<p class=\"detail\">{esc(ex.detail)}</p>" if ex.detail else ""
            code = f"<h5>extracted code</h5><pre>{esc(ex.code)}</pre>" if ex.code and ex.code != ex.answer else ""
            items.append(f"<details class=\"example\"><summary>{esc(where)}</summary>{detail}"
                         f"<h5>answer</h5><pre>{esc(ex.answer) or '(empty)'}</pre>{code}</details>")
        parts.append(f"<h4>{esc(reason)} <span class=\"note\">({count(stats.reason_totals()[reason])})</span></h4>"
                     + "".join(items))
    return "".join(parts)


def problems(stats: Statistics) -> str:
    """The problems most models fail, and those models disagree on."""
    rows = stats.rows("problems")
    if not rows:
        return ('<p class="note">No tests were run in these sessions (collected with --no-execute); run '
                "<code>llm-solutions evaluate SESSION</code> first.</p>")
    hardest = [r for r in rows if r["failed"]][:TOP_PROBLEMS]
    split = sorted((r for r in rows if r["failed"] and r["solved"]),
                   key=lambda r: (-r["disagreement"], -r["failed"], r["task_id"]))[:TOP_PROBLEMS]

    def body(chosen: list[dict[str, Any]]) -> list[str]:
        return [cell("task_id", r["task_id"], r["task_id"], "name") + cell("category", r["category"], r["category"],
                                                                           "name")
                + cell("complexity", r["complexity"], str(r["complexity"]))
                + cell("failed", r["failed"], f"{r['failed']} of {r['runs']}")
                + cell("failed_by", r["failed_by"], ", ".join(r["failed_by"]), "list")
                + cell("solved_by", r["solved_by"], ", ".join(r["solved_by"]) or "–", "list") for r in chosen]

    head = ["problem", "category", "complexity", "failed", "failed by", "solved by"]
    out = "<h3>Failed by the most models</h3>"
    out += table(head, body(hardest), "hardest") if hardest else '<p class="note">Every model solved every problem.</p>'
    out += "<h3>Where models disagree</h3>"
    out += table(head, body(split), "disagreements") if split else '<p class="note">No disagreements.</p>'
    return out


def comparisons(stats: Statistics) -> str:
    """Per-model changes against the first session, with McNemar's exact test."""
    rows = stats.rows("comparisons")
    if not rows:
        return ('<p class="note">The sessions share no model with tests run on the same problems, so there is '
                "nothing to pair.</p>")
    body = [cell("model", r["model"], r["model"], "name") + cell("session", r["session"], r["session"], "name")
            + cell("problems", r["problems"], count(r["problems"]))
            + cell("baseline_rate", r["baseline_rate"], pct(r["baseline_rate"]))
            + cell("rate", r["rate"], pct(r["rate"]))
            + cell("delta", r["delta"], f"{r['delta'] * 100:+.1f} pp")
            + cell("worse", r["worse"], count(r["worse"])) + cell("better", r["better"], count(r["better"]))
            + cell("p_value", r["p_value"], f"{r['p_value']:.3g}")
            + cell("significant", r["significant"], "yes" if r["significant"] else "no (noise)", "name")
            for r in rows]
    head = ["model", "session", "shared problems", f"solved in {stats.sessions[0]}", "solved", "change",
            "worse", "better", "p (McNemar exact)", "significant at 5%"]
    return table(head, body, "comparisons")


def generation(stats: Statistics) -> str:
    """The generation report of each session whose dataset came from ``generate``."""
    parts = []
    for session, report in stats.generation.items():
        accepted = report.get("accepted") or {}
        rejected = report.get("rejected") or {}
        cost = report.get("cost") or {}
        calls = report.get("calls") or {}
        models = report.get("models") or {}
        facts = [("session", session), ("status", report.get("status")),
                 ("accepted", f"{accepted.get('total', 0)} of {accepted.get('planned', 0)} planned"),
                 ("rejected", rejected.get("total", 0)),
                 ("calls", f"{calls.get('calls', 0)} ({calls.get('cache_hits', 0)} from the cache, "
                           f"{calls.get('failed', 0)} failed)"),
                 ("cost", f"{usd(float(cost.get('total') or 0))}, {usd(float(cost.get('per_accepted_problem') or 0))}"
                          " per accepted problem"),
                 ("models", f"worker {models.get('worker')}, planner {models.get('planner')}")]
        rows = [cell("what", k, k, "name") + cell("value", v, str(v), "name") for k, v in facts]
        reasons = [cell("reason", r, r, "name") + cell("count", n, count(int(n)))
                   for r, n in sorted((rejected.get("by_reason") or {}).items(), key=lambda kv: -kv[1])]
        parts.append(table(["", ""], rows) + ("<h3>Rejections by reason</h3>" + table(["reason", "count"], reasons)
                                              if reasons else ""))
    return "".join(parts)

"""The report's plots, drawn with matplotlib from ``Statistics`` (never from records).

Each figure function takes the statistics and a theme and returns a ``Figure``, or ``None``
when the sessions hold nothing it could show (no tests run, a single session...).
Sizes grow with the number of models and categories so labels never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_solutions.report.theme import FIXED, LIGHT, Theme, series_color, themed

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from llm_solutions.report.statistics import Statistics


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _measure(stats: Statistics) -> tuple[str, str]:
    """The rate the plots show: the pass rate when tests ran, else the valid-code rate."""
    return ("pass_rate", "pass rate") if stats.tested else ("valid_rate", "valid code rate")


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(1.0, decimals=0))


def pass_rates(stats: Statistics, theme: Theme) -> Figure | None:
    """Pass rate per model with its 95% Wilson interval (valid rate when nothing was tested)."""
    rows = stats.rows("models")
    key, label = _measure(stats)
    rows = [r for r in rows if not math.isnan(r[key])]
    if not rows:
        return None
    figure = _figure(8.0, 1.2 + 0.32 * len(rows))
    ax = figure.subplots()
    names = [stats.label((r["session"], r["model"])) for r in rows][::-1]
    values = [r[key] for r in rows][::-1]
    colors = [series_color(i) for i in range(len(rows))][::-1]
    ax.barh(names, values, color=colors, height=0.6)
    if key == "pass_rate":
        low = [max(0.0, r["pass_rate"] - r["pass_low"]) for r in rows][::-1]
        high = [max(0.0, r["pass_high"] - r["pass_rate"]) for r in rows][::-1]
        ax.errorbar(values, names, xerr=[low, high], fmt="none", ecolor=theme.foreground, capsize=3, lw=1)
    ends = [r["pass_high"] if key == "pass_rate" else r[key] for r in rows][::-1]
    for y, (value, end) in enumerate(zip(values, ends, strict=True)):
        ax.text(min(max(value, end), 1.0) + 0.012, y, f"{value:.0%}", va="center", ha="left", fontsize=8)
    ax.set_xlim(0, 1.12)
    _percent_axis(ax.xaxis)
    ax.set_xlabel(f"{label} (bars: 95% Wilson interval)" if key == "pass_rate" else label)
    ax.grid(axis="y", visible=False)
    return figure


def category_heatmap(stats: Statistics, theme: Theme) -> Figure | None:
    """Pass rate per model and category, each cell labelled."""
    import numpy as np

    key, label = _measure(stats)
    rows = stats.rows("categories")
    categories = sorted({r["category"] for r in rows})
    models = [stats.label(k) for k in stats.model_keys()]
    if not rows or not categories:
        return None
    grid = np.full((len(models), len(categories)), np.nan)
    index = {name: i for i, name in enumerate(models)}
    for r in rows:
        grid[index[stats.label((r["session"], r["model"]))], categories.index(r["category"])] = r[key]
    figure = _figure(max(6.0, 2.6 + 0.42 * len(categories)), max(2.4, 1.9 + 0.34 * len(models)))
    ax = figure.subplots()
    ax.grid(False)
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="viridis", vmin=0, vmax=1, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(len(categories)), categories, rotation=45, ha="right")
    ax.set_yticks(range(len(models)), models)
    ax.set_xlabel("category")
    for (i, j), value in np.ndenumerate(grid):
        if not math.isnan(value):
            ax.text(j, i, f"{value * 100:.0f}", ha="center", va="center", fontsize=7, gid=FIXED,
                    color="#000000" if value > 0.55 else "#ffffff")
        else:
            ax.text(j, i, "–", ha="center", va="center", fontsize=7, color=theme.muted)
    bar = figure.colorbar(image, ax=ax, shrink=0.8, pad=0.01)
    bar.set_label(f"{label} (%, cells)")
    _percent_axis(bar.ax.yaxis)
    bar.outline.set_visible(False)
    return figure


def complexity_lines(stats: Statistics, theme: Theme) -> Figure | None:
    """Pass rate by problem complexity, one line per model."""
    key, label = _measure(stats)
    rows = [r for r in stats.rows("complexities") if isinstance(r["complexity"], (int, float))]
    levels = sorted({r["complexity"] for r in rows})
    if not levels:
        return None
    figure = _figure(8.0, 3.6)
    ax = figure.subplots()
    for i, model_key in enumerate(stats.model_keys()):
        points = sorted((r["complexity"], r[key]) for r in rows if (r["session"], r["model"]) == model_key
                        and not math.isnan(r[key]))
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=4, lw=1.5,
                    color=series_color(i), label=stats.label(model_key))
    ax.set_xticks(levels)
    ax.set_xlabel("complexity (1 = simplest)")
    ax.set_ylabel(label)
    ax.set_ylim(-0.03, 1.03)
    _percent_axis(ax.yaxis)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def frontier(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """The cheapest-for-quality frontier: points no other point beats on both cost (lower)
    and rate (higher), from cheapest to dearest."""
    best = -1.0
    chosen = []
    for cost, rate, name in sorted(points, key=lambda p: (p[0], -p[1])):
        if rate > best:
            chosen.append((cost, rate, name))
            best = rate
    return chosen


def cost_quality(stats: Statistics, theme: Theme) -> Figure | None:
    """Cost per task against pass rate per model, with the frontier marked."""
    key, label = _measure(stats)
    points = [(r["cost"] / r["tasks"], r[key], stats.label((r["session"], r["model"])))
              for r in stats.rows("models") if r["tasks"] and not math.isnan(r[key])]
    if not points:
        return None
    figure = _figure(8.0, 4.2)
    ax = figure.subplots()
    costs = [p[0] for p in points]
    log = min(costs) > 0 and max(costs) / min(costs) > 20
    labels: dict[tuple[float, float], list[str]] = {}
    for i, (cost, rate, name) in enumerate(points):
        ax.scatter([cost], [rate], s=36, color=series_color(i), zorder=3)
        labels.setdefault((round(cost, 12), round(rate, 6)), []).append(name)
    for (cost, rate), names in labels.items():  # models on the same spot share one label
        ax.annotate(", ".join(names), (cost, rate), textcoords="offset points", xytext=(5, 4), fontsize=7)
    line = frontier(points)
    ax.step([p[0] for p in line], [p[1] for p in line], where="post", color=theme.good, lw=1.4, ls="--",
            zorder=2, label="cheapest for its quality (frontier)")
    ax.scatter([p[0] for p in line], [p[1] for p in line], s=110, facecolors="none", edgecolors=theme.good,
               lw=1.4, zorder=4)
    if log:
        ax.set_xscale("log")
    ax.set_xlabel("cost per task (USD" + (", log scale)" if log else ")"))
    ax.set_ylabel(label)
    ax.set_ylim(-0.03, 1.08)
    _percent_axis(ax.yaxis)
    ax.legend(loc="lower right")
    return figure


def latency_boxes(stats: Statistics, theme: Theme) -> Figure | None:
    """Latency distribution per model: box from p25 to p75, median line, whiskers p5 to p95."""
    import numpy as np

    keys = [k for k in stats.model_keys() if len(stats.by_model[k].latencies)]
    if not keys:
        return None
    data = [np.frombuffer(stats.by_model[k].latencies, dtype=np.float64) for k in keys][::-1]
    figure = _figure(8.0, 1.2 + 0.34 * len(keys))
    ax = figure.subplots()
    ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False, widths=0.55,
               tick_labels=[stats.label(k) for k in keys][::-1], patch_artist=True,
               boxprops={"facecolor": theme.accent, "alpha": 0.55, "edgecolor": theme.foreground},
               medianprops={"color": theme.foreground, "lw": 1.6},
               whiskerprops={"color": theme.muted}, capprops={"color": theme.muted})
    low = min(float(np.percentile(d, 5)) for d in data)
    high = max(float(np.percentile(d, 95)) for d in data)
    if low > 0 and high / low > 30:  # models an order of magnitude apart: a log scale keeps both readable
        from matplotlib.ticker import ScalarFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("latency per answer (s); box p25-p75, line median, whiskers p5-p95")
    ax.grid(axis="y", visible=False)
    return figure


def failure_bars(stats: Statistics, theme: Theme) -> Figure | None:
    """Each model's records by failure reason, as shares of its tasks."""
    totals = stats.reason_totals()
    if not totals:
        return None
    reasons = [r for r, _ in totals.most_common(11)]
    keys = stats.model_keys()
    figure = _figure(8.0, 1.6 + 0.34 * len(keys) + 0.16 * len(reasons))
    ax = figure.subplots()
    left = [0.0] * len(keys)
    names = [stats.label(k) for k in keys]
    for i, reason in enumerate([*reasons, "other"] if len(totals) > len(reasons) else reasons):
        shares = []
        for key in keys:
            tally = stats.by_model[key]
            count = tally.reasons.get(reason, 0) if reason != "other" else \
                sum(n for r, n in tally.reasons.items() if r not in reasons)
            shares.append(count / tally.records if tally.records else 0.0)
        ax.barh(names[::-1], shares[::-1], left=left[::-1], color=series_color(i), height=0.6, label=reason)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    ax.set_xlim(0, max(max(left) * 1.05, 0.05))
    _percent_axis(ax.xaxis)
    ax.set_xlabel("share of the model's tasks")
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if len(keys) < 4 else -0.12), ncol=3)
    return figure


def session_deltas(stats: Statistics, theme: Theme) -> Figure | None:
    """Per model, the change in solved problems against the first session; filled markers
    are significant (McNemar, p < 0.05)."""
    rows = stats.rows("comparisons")
    if not rows:
        return None
    figure = _figure(8.0, 1.3 + 0.32 * len(rows))
    ax = figure.subplots()
    names = [f"{r['model']} ({r['session']})" for r in rows][::-1]
    deltas = [r["delta"] for r in rows][::-1]
    for y, r in enumerate(rows[::-1]):
        color = theme.good if r["delta"] > 0 else theme.bad if r["delta"] < 0 else theme.muted
        ax.plot([0, r["delta"]], [y, y], color=color, lw=2)
        ax.scatter([r["delta"]], [y], s=44, zorder=3, color=color if r["significant"] else theme.background,
                   edgecolors=color, linewidths=1.5)
        ax.annotate(f"p={r['p_value']:.3g}", (r["delta"], y), textcoords="offset points", xytext=(6, -3), fontsize=7)
    ax.axvline(0, color=theme.muted, lw=1)
    ax.set_yticks(range(len(names)), names)
    span = max(0.05, *(abs(d) for d in deltas)) * 1.35
    ax.set_xlim(-span, span)
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(f"change in solved share vs {stats.sessions[0]} (filled: p < 0.05)")
    ax.grid(axis="y", visible=False)
    return figure


def generation_bars(stats: Statistics, theme: Theme) -> Figure | None:
    """Accepted against planned problems per category, for each generated dataset."""
    reports = [r for r in stats.generation.values() if (r.get("accepted") or {}).get("by_category")]
    if not reports:
        return None
    by_category = reports[0]["accepted"]["by_category"]
    categories = sorted(by_category)
    figure = _figure(max(6.0, 2.0 + 0.42 * len(categories)), 3.4)
    ax = figure.subplots()
    xs = range(len(categories))
    ax.bar(xs, [by_category[c].get("planned", 0) for c in categories], color=theme.grid, label="planned", width=0.7)
    ax.bar(xs, [by_category[c].get("accepted", 0) for c in categories], color=theme.accent, label="accepted",
           width=0.45)
    ax.set_xticks(list(xs), categories, rotation=45, ha="right")
    ax.set_ylabel("problems")
    ax.legend(loc="upper right")
    return figure


#: (name, title, function), in the order the page shows them.
FIGURES: list[tuple[str, str, Callable[[Statistics, Theme], Figure | None]]] = [
    ("pass_rates", "Pass rate per model", pass_rates),
    ("category_heatmap", "Pass rate by model and category", category_heatmap),
    ("complexity", "Pass rate by complexity", complexity_lines),
    ("cost_quality", "Cost against pass rate", cost_quality),
    ("latency", "Latency per model", latency_boxes),
    ("failures", "Failure reasons per model", failure_bars),
    ("session_deltas", "Change against the first session", session_deltas),
    ("generation", "Generated dataset: accepted problems per category", generation_bars),
]


def make_figures(stats: Statistics, theme: Theme = LIGHT) -> dict[str, Figure]:
    """Every figure that has something to show, by name, in one theme (for notebooks)."""
    found = {}
    with themed(theme):
        for name, _, draw in FIGURES:
            figure = draw(stats, theme)
            if figure is not None:
                found[name] = figure
    return found

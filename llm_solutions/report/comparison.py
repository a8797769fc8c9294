"""Comparisons on the same problems: which problems models fail or disagree on, and whether a
model did better or worse in one session than in another, beyond noise.

A problem counts as solved by a model when at least half of the model's tested samples of it
passed all tests (with one sample: it passed).  Across sessions, each model is compared with
itself in the first session given (the baseline) on the problems both sessions tested, with
McNemar's exact test on the paired per-problem outcomes: only the problems whose outcome
changed carry information, and under "no difference" each change is equally likely to go
either way, so the count of improvements is Binomial(changes, 1/2).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_solutions.report.statistics import Statistics

SIGNIFICANCE = 0.05


def mcnemar_exact(worse: int, better: int) -> float:
    """Two-sided exact McNemar p-value for ``worse`` problems solved only in the baseline
    and ``better`` solved only in the other session (1.0 when nothing changed).

    Computed with integer binomials (``math.comb``), so it is exact at any size: the
    doubled smaller tail of Binomial(worse + better, 1/2), capped at 1.
    """
    if worse < 0 or better < 0:
        raise ValueError("counts of changed problems cannot be negative")
    changed = worse + better
    if changed == 0:
        return 1.0
    tail = sum(math.comb(changed, i) for i in range(min(worse, better) + 1))
    return min(1.0, 2 * tail / 2**changed)


def solved(runs: list[int]) -> bool | None:
    """Whether a model solved a problem (``None``: not all its samples were tested)."""
    samples, tested, passed = runs
    if not tested or tested != samples:
        return None
    return 2 * passed >= tested


def outcomes(stats: Statistics) -> dict[tuple[str, str], dict[str, bool]]:
    """(session, model) -> task_id -> solved, for every fully tested problem."""
    found: dict[tuple[str, str], dict[str, bool]] = defaultdict(dict)
    for (session, model, task_id), runs in stats.runs.items():
        result = solved(runs)
        if result is not None:
            found[(session, model)][task_id] = result
    return found


def problem_rows(stats: Statistics) -> list[dict[str, Any]]:
    """One row per tested problem: how many model runs solved and failed it, who failed it,
    and whether they disagree; hardest first."""
    by_task: dict[str, dict[str, bool]] = defaultdict(dict)
    for key, results in outcomes(stats).items():
        for task_id, result in results.items():
            by_task[task_id][stats.label(key)] = result
    meta = {task_id: value for (_, task_id), value in stats.problems_seen.items()}
    rows = []
    for task_id, results in by_task.items():
        failed = sorted(label for label, ok in results.items() if not ok)
        solvers = sorted(label for label, ok in results.items() if ok)
        category, complexity, name = meta.get(task_id, ("?", None, ""))
        rows.append({
            "task_id": task_id, "name": name, "category": category, "complexity": complexity,
            "runs": len(results), "failed": len(failed), "solved": len(solvers),
            "fail_share": len(failed) / len(results),
            "disagreement": min(len(failed), len(solvers)) / len(results),
            "failed_by": failed, "solved_by": solvers,
        })
    rows.sort(key=lambda r: (-r["failed"], -r["fail_share"], r["task_id"]))
    return rows


def comparison_rows(stats: Statistics) -> list[dict[str, Any]]:
    """Per model and later session: pass rates on the shared problems, the change, the
    problems that got worse or better, and McNemar's exact p-value against the baseline."""
    if not stats.several:
        return []
    found = outcomes(stats)
    baseline = stats.sessions[0]
    rows = []
    for session in stats.sessions[1:]:
        models = sorted({m for s, m in found if s == session} & {m for s, m in found if s == baseline})
        for model in models:
            before, after = found[(baseline, model)], found[(session, model)]
            shared = sorted(set(before) & set(after))
            if not shared:
                continue
            worse = sum(1 for t in shared if before[t] and not after[t])
            better = sum(1 for t in shared if after[t] and not before[t])
            rate_before = sum(before[t] for t in shared) / len(shared)
            rate_after = sum(after[t] for t in shared) / len(shared)
            p = mcnemar_exact(worse, better)
            rows.append({
                "baseline": baseline, "session": session, "model": model, "problems": len(shared),
                "baseline_rate": rate_before, "rate": rate_after, "delta": rate_after - rate_before,
                "worse": worse, "better": better, "p_value": p, "significant": p < SIGNIFICANCE,
            })
    return rows

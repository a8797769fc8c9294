"""What a generation did: the counters it keeps, ``generation_report.json``, the lines a
terminal shows at the end, and the progress bar while it runs.

Counts cover the whole generation (every run of a resumed one): accepted problems per
category and complexity, rejections per reason (overall and per category), calls by kind
(planner, worker, repair) with tokens, cache hits and cost, and the cost per accepted
problem.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)


@dataclass
class CallTotals:
    """Calls of one kind and what they used."""

    calls: int = 0
    requests_sent: int = 0
    cache_hits: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def add(self, event: dict[str, Any]) -> None:
        self.calls += 1
        self.requests_sent += int(event.get("attempts") or 0)
        self.cache_hits += bool(event.get("cache_hit"))
        self.failed += not event.get("ok", False)
        self.input_tokens += int(event.get("input_tokens") or 0)
        self.output_tokens += int(event.get("output_tokens") or 0)
        self.cost += float(event.get("cost") or 0.0)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["cost"] = round(self.cost, 6)
        return data


@dataclass
class Tally:
    """The counters a generation keeps, across runs."""

    planned: dict[str, dict[int, int]]
    accepted: dict[str, Counter[int]] = field(default_factory=dict)
    rejected: dict[str, Counter[str]] = field(default_factory=dict)
    calls: dict[str, CallTotals] = field(default_factory=dict)
    repaired_accepted: int = 0

    def __post_init__(self) -> None:
        for category in self.planned:
            self.accepted.setdefault(category, Counter())
            self.rejected.setdefault(category, Counter())

    def call(self, event: dict[str, Any]) -> None:
        self.calls.setdefault(str(event.get("kind", "worker")), CallTotals()).add(event)

    @property
    def accepted_total(self) -> int:
        return sum(sum(c.values()) for c in self.accepted.values())

    @property
    def rejected_total(self) -> int:
        return sum(sum(c.values()) for c in self.rejected.values())

    @property
    def cost(self) -> float:
        return sum(t.cost for t in self.calls.values())

    def reasons(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.rejected.values():
            total.update(counts)
        return total


def build_report(tally: Tally, *, status: str, plan: dict[str, Any], checks: dict[str, Any],
                 timing: dict[str, Any], stop: str | None, resume_command: str | None) -> dict[str, Any]:
    """The content of ``generation_report.json``."""
    totals = CallTotals()
    for kind in tally.calls.values():
        for name in ("calls", "requests_sent", "cache_hits", "failed", "input_tokens", "output_tokens"):
            setattr(totals, name, getattr(totals, name) + getattr(kind, name))
        totals.cost += kind.cost
    accepted = tally.accepted_total
    settings = plan.get("settings") or {}
    return {
        "status": status,
        "stop_reason": stop,
        "resume_command": resume_command,
        "accepted": {
            "total": accepted,
            "planned": sum(sum(levels.values()) for levels in tally.planned.values()),
            "repaired": tally.repaired_accepted,
            "by_category": {
                category: {
                    "accepted": sum(tally.accepted[category].values()),
                    "planned": sum(levels.values()),
                    "by_complexity": {str(level): tally.accepted[category][level] for level in sorted(levels)},
                    "planned_by_complexity": {str(level): n for level, n in sorted(levels.items())},
                }
                for category, levels in tally.planned.items()
            },
        },
        "rejected": {
            "total": tally.rejected_total,
            "by_reason": dict(sorted(tally.reasons().items())),
            "by_category": {category: dict(sorted(counts.items())) for category, counts in tally.rejected.items()},
        },
        "calls": {**totals.to_dict(), "by_kind": {kind: t.to_dict() for kind, t in sorted(tally.calls.items())}},
        "tokens": {"input": totals.input_tokens, "output": totals.output_tokens},
        "cost": {
            "total": round(totals.cost, 6),
            "per_accepted_problem": round(totals.cost / accepted, 6) if accepted else None,
            "max_cost": settings.get("max_cost"),
        },
        "models": {"worker": settings.get("worker_model"), "planner": settings.get("planner_model")},
        "checks": checks,
        "timing": timing,
        "plan": plan,
    }


def report_lines(report: dict[str, Any]) -> list[str]:
    """The end-of-run lines: one per category, then totals."""
    lines = []
    rejected = report["rejected"]["by_category"]
    for category, data in report["accepted"]["by_category"].items():
        levels = ", ".join(f"{level}: {n}" for level, n in data["by_complexity"].items())
        reasons = rejected.get(category) or {}
        why = ", ".join(f"{reason} {n}" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]))
        lines.append(f"  {category}: {data['accepted']}/{data['planned']} accepted (complexity {levels}), "
                     f"{sum(reasons.values())} rejected" + (f" ({why})" if why else ""))
    calls, cost = report["calls"], report["cost"]
    per = f", ${cost['per_accepted_problem']:.4f} per accepted problem" if cost["per_accepted_problem"] else ""
    lines.append(f"calls: {calls['calls']} ({calls['cache_hits']} from the cache, {calls['failed']} failed), "
                 f"tokens {report['tokens']['input']} in / {report['tokens']['output']} out, "
                 f"spent ${cost['total']:.4f}{per}")
    semantic = report["checks"].get("semantic_duplicates", {})
    if not semantic.get("enabled"):
        lines.append(f"semantic duplicates: {semantic.get('note', 'skipped')}")
    return lines


class ProgressBar:
    """Accepted problems out of the planned ones: a tqdm bar on a terminal, a log line
    every 30 s otherwise; its suffix shows rejections and each provider's request rate."""

    LOG_EVERY = 30.0

    def __init__(self, total: int, done: int, enabled: bool, status: Callable[[], dict[str, str]]) -> None:
        self.total, self.done, self.rejected = total, done, 0
        self._status = status
        self._started = time.monotonic()
        self._start_done = done
        self._last = self._started
        self._bar: tqdm | None = None
        if enabled and sys.stderr.isatty():
            self._bar = tqdm(total=total, initial=done, unit="problem", dynamic_ncols=True, file=sys.stderr)

    def _suffix(self) -> str:
        parts = [f"rejected {self.rejected}"] + [f"{name} {state}" for name, state in self._status().items()]
        return ", ".join(parts)

    def update(self, accepted: int = 0, rejected: int = 0) -> None:
        self.done += accepted
        self.rejected += rejected
        now = time.monotonic()
        if self._bar is not None:
            if accepted:
                self._bar.update(accepted)
            if now - self._last >= 1.0:
                self._last = now
                self._bar.set_postfix_str(self._suffix(), refresh=False)
        elif now - self._last >= self.LOG_EVERY:
            self._last = now
            rate = (self.done - self._start_done) / max(now - self._started, 1e-9)
            log.info("progress: %d/%d accepted (%.2f/s), %s", self.done, self.total, rate, self._suffix())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()

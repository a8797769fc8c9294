"""Session reports built from the records: ``summary.json``, ``final_report.json`` and
``cross_model_comparison.json``.

Everything here is derived from the JSONL files in one streaming pass, so the reports are
always consistent with the records and can be rebuilt at any time.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm_solutions.collection.progress import ProgressTracker
from llm_solutions.collection.records import record_costs
from llm_solutions.collection.store import SessionStore, write_json_atomic
from llm_solutions.evaluation.passk import pass_at_k_from_counts
from llm_solutions.files import write_json_stream

PASS_AT_K = (1, 5, 10)
#: What the processes of a session did that the records do not show: requests sent, the
#: cache's work, the extraction model's calls.  Each process adds its own to what the
#: earlier ones left in ``progress.json``, so a resumed session reports the whole run.
COUNTED = ("api_calls", "cache", "llm_extraction")


def _rate(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


@dataclass
class Tally:
    """Counters over a group of records (a model, or a model's category)."""

    solutions: int = 0
    successful: int = 0
    syntax_valid: int = 0
    fully_valid: int = 0
    time_total: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost: float = 0.0
    extraction_cost: float = 0.0
    cache_hits: int = 0
    evaluated: int = 0
    passed_all: int = 0
    tests_passed: int = 0
    tests_total: int = 0
    problems: set[str] = field(default_factory=set)

    def add(self, record: dict[str, Any]) -> None:
        validation = record.get("validation") or {}
        self.solutions += 1
        self.problems.add(record["task_id"])
        self.successful += bool(record.get("llm_call_success"))
        self.syntax_valid += bool((validation.get("syntax") or {}).get("is_valid"))
        self.fully_valid += bool(validation.get("is_fully_valid"))
        self.time_total += float(record.get("execution_time") or 0.0)
        self.input_tokens += int(record.get("input_tokens") or 0)
        self.output_tokens += int(record.get("output_tokens") or 0)
        self.cached_tokens += int(record.get("cached_tokens") or 0)
        self.cost += float(record.get("cost") or 0.0)
        self.extraction_cost += record_costs(record)[1]
        self.cache_hits += bool(record.get("cache_hit"))
        if record.get("tests_total") is not None:
            self.evaluated += 1
            self.passed_all += bool(record.get("passed_all"))
            self.tests_passed += int(record.get("tests_passed") or 0)
            self.tests_total += int(record.get("tests_total") or 0)

    def performance(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "solutions": self.solutions,
            "success_rate": _rate(self.successful, self.solutions),
            "syntax_validity_rate": _rate(self.syntax_valid, self.solutions),
            "full_validity_rate": _rate(self.fully_valid, self.solutions),
            "avg_execution_time": round(self.time_total / self.solutions, 3) if self.solutions else 0.0,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cost": round(self.cost, 6),
            "cache_hits": self.cache_hits,
        }
        if self.extraction_cost:
            data["extraction_cost"] = round(self.extraction_cost, 6)
        if self.evaluated:
            data["pass_rate"] = _rate(self.passed_all, self.evaluated)
            data["test_pass_rate"] = _rate(self.tests_passed, self.tests_total)
        return data


class Runs:
    """One model's samples of one problem, as counts (so the digest does not grow with
    the number of samples): how many, how many valid and their total time, how many
    were tested and how many of those passed."""

    __slots__ = ("evaluated", "passed", "runs", "time", "valid")

    def __init__(self) -> None:
        self.runs = self.valid = self.evaluated = self.passed = 0
        self.time = 0.0

    def add(self, passed: bool | None, valid: bool, seconds: float) -> None:
        self.runs += 1
        self.valid += valid
        self.time += seconds
        if passed is not None:
            self.evaluated += 1
            self.passed += bool(passed)

    @property
    def all_tested(self) -> bool:
        return self.runs > 0 and self.evaluated == self.runs


@dataclass
class SessionDigest:
    """One pass over a session's records, grouped the ways the reports need."""

    by_model: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_category: dict[tuple[str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    samples: dict[tuple[str, str], Runs] = field(default_factory=lambda: defaultdict(Runs))
    problems: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, record: dict[str, Any]) -> None:
        model, task_id = record["model"], record["task_id"]
        self.by_model[model].add(record)
        self.by_category[(model, record["category"])].add(record)
        valid = bool((record.get("validation") or {}).get("is_fully_valid"))
        passed = record.get("passed_all") if record.get("tests_total") is not None else None
        self.samples[(model, task_id)].add(passed, valid, float(record.get("execution_time") or 0.0))
        if task_id not in self.problems:
            self.problems[task_id] = {
                "task_id": task_id,
                "problem": record.get("problem"),
                "category": record["category"],
                "complexity": record.get("complexity"),
            }

    def pass_at_k(self, model: str, category: str | None = None) -> dict[str, float]:
        counts = [
            (runs.runs, runs.passed)
            for (m, task_id), runs in self.samples.items()
            if m == model
            and (category is None or self.problems[task_id]["category"] == category)
            and runs.all_tested
        ]
        return pass_at_k_from_counts(counts, PASS_AT_K)


def build_summary(
    digest: SessionDigest,
    *,
    session_id: str,
    parameters: dict[str, Any],
    start: float,
    end: float | None,
    total_tasks: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``summary.json`` document."""
    models = list(parameters.get("models") or sorted(digest.by_model))
    totals = Tally()
    summaries: dict[str, Any] = {}
    for model in models:
        tally = digest.by_model.get(model, Tally())
        for field_name in ("input_tokens", "output_tokens", "cached_tokens", "cost", "extraction_cost", "solutions",
                           "cache_hits"):
            setattr(totals, field_name, getattr(totals, field_name) + getattr(tally, field_name))
        overall = tally.performance()
        overall.update(digest.pass_at_k(model))
        categories = sorted(c for (m, c) in digest.by_category if m == model)
        per_category = {}
        for category in categories:
            performance = digest.by_category[(model, category)].performance()
            performance.update(digest.pass_at_k(model, category))
            per_category[category] = performance
        summaries[model] = {
            "model_name": model,
            "overview": {
                "total_problems": len(tally.problems),
                "total_solutions": tally.solutions,
                "categories_processed": categories,
            },
            "overall_performance": overall,
            "category_performance": per_category,
        }
    metadata = {
        "session_id": session_id,
        "collection_start": start,
        "collection_end": end,
        "total_problems": len(digest.problems),
        "total_tasks": total_tasks,
        "total_solutions": totals.solutions,
        "total_input_tokens": totals.input_tokens,
        "total_output_tokens": totals.output_tokens,
        "total_cached_tokens": totals.cached_tokens,
        "total_cost": round(totals.cost, 6),
        "total_extraction_cost": round(totals.extraction_cost, 6),
        "session_spend": round(totals.cost + totals.extraction_cost, 6),
        "models_evaluated": models,
        "categories_included": sorted({c for (_, c) in digest.by_category}) or parameters.get("categories"),
        "session_parameters": parameters,
    }
    metadata.update(extra or {})
    return {
        "session_id": session_id,
        "collection_metadata": metadata,
        "model_summaries": summaries,
        "collection_date": datetime.fromtimestamp(end or time.time()).strftime("%Y-%m-%d %H:%M:%S"),
    }


def counters(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a services report that add up across processes."""
    return {name: report[name] for name in COUNTED if name in report}


def add_counters(earlier: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    """``now`` with every number in ``earlier`` added to it (nested tables too); words
    such as the cache location are this process's, and the cache hit rate is recomputed."""
    merged: dict[str, Any] = {}
    for name in earlier.keys() | now.keys():
        old, new = earlier.get(name), now.get(name)
        if isinstance(old, dict) and isinstance(new, dict):
            merged[name] = add_counters(old, new)
        elif isinstance(old, (int, float)) and isinstance(new, (int, float)) and _number(old) and _number(new):
            total = old + new
            merged[name] = round(total, 8) if isinstance(total, float) else total
        else:
            merged[name] = new if name in now else old
    if _number(merged.get("hits")) and _number(merged.get("misses")) and "hit_rate" in merged:
        lookups = merged["hits"] + merged["misses"]
        merged["hit_rate"] = round(merged["hits"] / lookups, 4) if lookups else 0.0
    return merged


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def original_start(store: SessionStore) -> float:
    """When the session first started: from progress.json, else from summary.json (which
    remembers it too when progress.json is unreadable), else now."""
    for name, field_name in (("progress.json", "start_time"), ("summary.json", "collection_start")):
        data = _table(store.read_json(name))
        if name == "summary.json":
            data = _table(data.get("collection_metadata"))
        value = data.get(field_name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return time.time()


def earlier_counters(store: SessionStore) -> dict[str, Any]:
    """What the session's earlier processes counted (requests, cache, extraction)."""
    progress = _table(store.read_json("progress.json"))
    if isinstance(progress.get("counters"), dict):
        return dict(progress["counters"])
    return counters(_table(_table(store.read_json("summary.json")).get("collection_metadata")))


def _table(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (a damaged file reads as nothing)."""
    return value if isinstance(value, dict) else {}


def build_final_report(progress: dict[str, Any], *, end: float) -> dict[str, Any]:
    """The ``final_report.json`` document, from the final ``progress.json`` content."""
    current = progress["current_progress"]
    total = progress["total_tasks"]
    done = current["completed_tasks"]
    elapsed = end - progress["start_time"]
    remaining = max(total - done, 0)
    return {
        "session_id": progress["session_id"],
        "progress": {
            "completed": done,
            "total": total,
            "successful": current["successful_tasks"],
            "failed": current["failed_tasks"],
            "progress_percent": _rate(done, total),
            "success_rate": _rate(current["successful_tasks"], done),
        },
        "timing": {
            "elapsed_time": round(elapsed, 3),
            "estimated_remaining": round(elapsed / done * remaining, 3) if done and remaining else 0,
            "estimated_total": round(elapsed / done * total, 3) if done else None,
            "last_update": end,
        },
        "model_progress": current["model_progress"],
        "total_cost": current.get("total_cost", 0.0),
        "status": progress["status"],
        "end_time": end,
        "total_duration": round(elapsed, 3),
    }


def comparison_rows(digest: SessionDigest, models: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of ``cross_model_comparison.json``, one problem at a time.

    With one sample per problem ``<model>_valid`` and ``<model>_passed`` are that sample's;
    with several they are true when every sample is valid / at least one passes, and the
    ``_rate`` and ``pass@k`` fields give the detail.
    """
    for task_id, info in sorted(digest.problems.items()):
        row = dict(info)
        for model in models:
            runs = digest.samples.get((model, task_id))
            if runs is None or not runs.runs:
                continue
            row[f"{model}_valid"] = runs.valid == runs.runs
            row[f"{model}_time"] = round(runs.time / runs.runs, 3)
            if runs.runs > 1:
                row[f"{model}_valid_rate"] = round(runs.valid / runs.runs, 4)
            if runs.all_tested:
                row[f"{model}_passed"] = runs.passed > 0
                if runs.runs > 1:
                    row[f"{model}_pass_rate"] = round(runs.passed / runs.runs, 4)
                    for name, value in pass_at_k_from_counts([(runs.runs, runs.passed)], PASS_AT_K).items():
                        row[f"{model}_{name}"] = value
        yield row


def _comparison_summary(digest: SessionDigest, session_id: str, models: list[str]) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "models_evaluated": models,
        "categories_processed": sorted({info["category"] for info in digest.problems.values()}),
        "total_problems": len(digest.problems),
        "pass_at_k": {m: digest.pass_at_k(m) for m in models if digest.pass_at_k(m)},
    }


def write_reports(
    store: SessionStore,
    tracker: ProgressTracker,
    *,
    parameters: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> None:
    """Rewrite every derived file of a session from its records: progress, CSVs, reports."""
    tracker.save(force=True)
    end = time.time()
    digest = SessionDigest()
    store.write_csvs(on_record=digest.add)
    summary = build_summary(
        digest, session_id=store.session_id, parameters=parameters, start=tracker.start_time,
        end=end, total_tasks=tracker.total_tasks, extra=extra,
    )
    store.write_json("summary.json", summary)
    # Each model's folder also holds its own summary, as the original layout has it.
    for model, model_summary in summary["model_summaries"].items():
        folder = store.model_folder(model)
        if folder.is_dir():
            write_json_atomic(folder / "summary.json", {"session_id": store.session_id, **model_summary})
    store.write_json("final_report.json", build_final_report(tracker.to_dict(), end=end))
    # Written a row at a time: a large session's comparison is never whole in memory.
    write_json_stream(store.path / "cross_model_comparison.json",
                      {"summary": _comparison_summary(digest, store.session_id, tracker.models)},
                      "problems", comparison_rows(digest, tracker.models))

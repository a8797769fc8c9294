"""Two passes over the sessions: the first decides, the second writes.

The first pass reads every record once and keeps only small facts: which problems have an
example (for the split), counts by reason, and for DPO each candidate answer's location
and a hash of its text.  The second pass turns the chosen records into rows, one at a
time.  Neither holds records in memory, so an export of any size runs in flat memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llm_solutions.errors import UserError
from llm_solutions.export.formats import dpo_row, pair_meta, sft_row
from llm_solutions.export.selection import (
    Example,
    ExportFilters,
    Location,
    RecordReader,
    Source,
    build_example,
    iter_located,
    passed_all,
    share_passed,
    skip_reason,
)

SPLITS = ("train", "validation")


@dataclass(slots=True)
class _Candidate:
    """A few facts per DPO candidate answer (the first pass keeps one per record)."""

    passed: bool
    model: str
    text_hash: int
    where: Location


@dataclass
class ExportPlan:
    """What an export will write, decided by the first pass (``plan_export``)."""

    kind: str  # "sft" or "dpo"
    sources: list[Source]
    filters: ExportFilters
    validation: frozenset[str]
    counts: Counter[str] = field(default_factory=Counter)
    problems: int = 0
    models: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    pairs: list[tuple[str, Location, Location]] = field(default_factory=list)

    def split_of(self, task_id: str) -> str:
        return "validation" if task_id in self.validation else "train"


def _text_hash(record: dict[str, Any], filters: ExportFilters) -> int:
    text = record.get("extracted_solution") if filters.target == "code" else record.get("raw_response")
    digest = hashlib.sha256(str(text or "").strip().encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def _validation_problems(problems: set[str], fraction: float, seed: int) -> frozenset[str]:
    """The problems that go to validation: a seeded, order-free choice of ``fraction`` of them."""
    if fraction <= 0 or len(problems) < 2:
        return frozenset()
    ranked = sorted(problems, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode("utf-8", "surrogatepass")).digest())
    count = min(max(1, round(fraction * len(problems))), len(problems) - 1)
    return frozenset(ranked[:count])


def plan_export(sources: list[Source], filters: ExportFilters, kind: str) -> ExportPlan:
    """The first pass; raises ``UserError`` when the filters select nothing."""
    counts: Counter[str] = Counter()
    seen_models: set[str] = set()
    seen_categories: set[str] = set()
    seen_complexity: set[Any] = set()
    problems: set[str] = set()
    candidates: dict[str, list[_Candidate]] = defaultdict(list)
    tests_ran = False
    for where, record in iter_located(sources):
        counts["records"] += 1
        seen_models.add(str(record.get("model")))
        seen_categories.add(str(record.get("category")))
        seen_complexity.add(record.get("complexity"))
        reason = skip_reason(record, filters)
        if reason is not None:
            counts[f"skipped_{reason}"] += 1
            continue
        share = share_passed(record)
        tests_ran = tests_ran or share is not None
        task_id = str(record.get("task_id"))
        if kind == "dpo":
            if share is None:
                counts["skipped_not_tested"] += 1
                continue
            candidates[task_id].append(_Candidate(passed_all(record), str(record.get("model")),
                                                  _text_hash(record, filters), where))
            continue
        if filters.min_tests_passed > 0 and (share is None or share < filters.min_tests_passed):
            counts["skipped_not_tested" if share is None else "skipped_below_min_tests_passed"] += 1
            continue
        counts["selected"] += 1
        problems.add(task_id)
    _check_filters(filters, seen_models, seen_categories, seen_complexity)
    plan = ExportPlan(kind, sources, filters, frozenset(), counts, models=sorted(seen_models),
                      categories=sorted(seen_categories))
    if kind == "dpo":
        for task_id in sorted(candidates):
            found = _pairs(candidates[task_id], filters.pairs)
            plan.pairs.extend((task_id, chosen, rejected) for chosen, rejected in found)
        problems = {task_id for task_id, _, _ in plan.pairs}
        counts["pairs_planned"] = len(plan.pairs)
        if not plan.pairs:
            raise UserError(_nothing_selected(filters, kind, tests_ran, counts))
    elif not counts["selected"]:
        raise UserError(_nothing_selected(filters, kind, tests_ran, counts))
    plan.problems = len(problems)
    plan.validation = _validation_problems(problems, filters.val_fraction, filters.seed)
    return plan


def _pairs(found: list[_Candidate], mode: str) -> list[tuple[Location, Location]]:
    """Chosen (passing) and rejected (failing) answers of one problem, each text used once.

    Identical texts are one answer, written by every model that wrote it: a pair takes the
    copies whose models fit ``mode``.
    """
    def unique(items: list[_Candidate]) -> list[tuple[int, dict[str, Location]]]:
        texts: dict[int, dict[str, Location]] = {}
        for item in sorted(items, key=lambda c: (c.where, c.model)):
            texts.setdefault(item.text_hash, {}).setdefault(item.model, item.where)
        return [(key, texts[key]) for key in sorted(texts, key=lambda k: min(texts[k].values()))]

    def fit(chosen: dict[str, Location], rejected: dict[str, Location]) -> tuple[Location, Location] | None:
        for model_c, where_c in sorted(chosen.items()):
            for model_r, where_r in sorted(rejected.items()):
                if (mode == "same-model" and model_c != model_r) or (mode == "cross-model" and model_c == model_r):
                    continue
                return where_c, where_r
        return None

    passing = unique([c for c in found if c.passed])
    failing = unique([c for c in found if not c.passed])
    used: set[int] = set()
    pairs = []
    for rejected_hash, rejected in failing:
        for index, (chosen_hash, chosen) in enumerate(passing):
            if index in used or chosen_hash == rejected_hash:  # a text that passed once and failed once
                continue
            locations = fit(chosen, rejected)
            if locations is not None:
                used.add(index)
                pairs.append(locations)
                break
    return pairs


def _check_filters(filters: ExportFilters, models: set[str], categories: set[str], complexity: set[Any]) -> None:
    for flag, wanted, seen in (("--models", filters.models, models), ("--categories", filters.categories, categories),
                               ("--complexity", filters.complexity, complexity)):
        missing = [str(w) for w in wanted if w not in seen]
        if missing:
            have = ", ".join(sorted(str(s) for s in seen)) or "none"
            raise UserError(f"{flag} {' '.join(missing)}: not in these sessions, which have: {have}")


def _nothing_selected(filters: ExportFilters, kind: str, tests_ran: bool, counts: Counter[str]) -> str:
    why = ", ".join(f"{key.removeprefix('skipped_')} {value}" for key, value in sorted(counts.items())
                    if key.startswith("skipped_"))
    if kind == "dpo":
        hint = ("no problem has both a passing and a failing answer" + (" from the same model"
                if filters.pairs == "same-model" else " from different models" if filters.pairs == "cross-model"
                else ""))
        if not tests_ran:
            hint = "the sessions' tests never ran (run `llm-solutions evaluate SESSION` first)"
        return f"the filters select no preference pair: {hint} ({counts['records']} records; {why or 'none left out'})"
    hint = "loosen the filters"
    if filters.min_tests_passed > 0:
        hint = ("no answer passed its tests" if tests_ran else
                "the sessions' tests never ran (run `llm-solutions evaluate SESSION` first)") + \
            "; pass --min-tests-passed 0 to export answers whatever their tests say"
    return f"the filters select no answer ({counts['records']} records; left out: {why or 'none'}): {hint}"


def iter_rows(plan: ExportPlan, fmt: str, style: str = "conversational") -> Iterator[tuple[str, dict[str, Any]]]:
    """The second pass: ``(split, row)`` for every example or pair, in a fixed order."""
    filters = plan.filters
    counts = plan.counts
    if plan.kind == "dpo":
        reader = RecordReader(plan.sources)
        try:
            for task_id, chosen_at, rejected_at in plan.pairs:
                chosen = _example(plan, reader.read(chosen_at), chosen_at)
                rejected = _example(plan, reader.read(rejected_at), rejected_at)
                if chosen.target == rejected.target:  # identical once redacted
                    counts["pairs_dropped_identical"] += 1
                    continue
                counts["redactions"] += chosen.redactions + rejected.redactions
                counts["prompts_rebuilt"] += bool(chosen.meta["prompt_rebuilt"])
                split = plan.split_of(task_id)
                counts[f"{split}_rows"] += 1
                row = dpo_row(chosen, rejected, filters.include_reasoning, style)
                if fmt == "hf":
                    row.update(pair_meta(chosen, rejected))
                yield split, row
        finally:
            reader.close()
        return
    seen: set[int] = set()
    for where, record in iter_located(plan.sources):
        if skip_reason(record, filters) is not None:
            continue
        share = share_passed(record)
        if filters.min_tests_passed > 0 and (share is None or share < filters.min_tests_passed):
            continue
        example = _example(plan, record, where)
        if filters.dedupe:
            key = example.key()
            if key in seen:
                counts["duplicates_dropped"] += 1
                continue
            seen.add(key)
        counts["redactions"] += example.redactions
        counts["prompts_rebuilt"] += bool(example.meta["prompt_rebuilt"])
        split = plan.split_of(example.meta["task_id"])
        counts[f"{split}_rows"] += 1
        yield split, sft_row(fmt, example, filters.include_reasoning)


def _example(plan: ExportPlan, record: dict[str, Any], where: Location) -> Example:
    return build_example(record, plan.sources[where[0]].session_id, plan.filters)

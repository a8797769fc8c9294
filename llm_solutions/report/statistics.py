"""One streaming pass over sessions' records, and every table the report, ``stats`` and
notebooks show, computed from it once.

Memory does not grow with the records' text: a record is read, counted and dropped.  What is
kept is counts per group (model, category, complexity), per model and problem (samples and
passes, for pass@k and the paired comparisons), one 8-byte latency per answer, and at most
``EXAMPLES`` example answers per failure reason (``EXAMPLES_PER_MODEL`` from any one model),
each cut to ``EXAMPLE_CHARS`` characters.

Rates follow ``summary.json``: the pass rate is over the records whose tests were run (a
failed call has none), the valid rate over all records.  Cost is what each task cost the
session: its answer plus its extraction-model call.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_solutions.errors import SessionError
from llm_solutions.evaluation.passk import pass_at_k_from_counts
from llm_solutions.report.tally import Outcome, Tally

if TYPE_CHECKING:
    import pandas as pd

    from llm_solutions.report.sources import Source

PASS_AT_K = (1, 5, 10)
EXAMPLES = 6  # per failure reason ...
EXAMPLES_PER_MODEL = 2  # ... and at most this many from one model of one session, so several models show
EXAMPLE_CHARS = 4000

Key = tuple[str, str]  # (session, model)


@dataclass
class Example:
    """One failing answer kept to show what a failure reason looks like."""

    session: str
    model: str
    task_id: str
    category: str
    detail: str
    answer: str
    code: str


@dataclass
class Statistics:
    """Everything counted over the given sessions; the tables are built on first use.

    ``models``, ``categories``, ``complexities``, ``failures``, ``extraction``, ``problems``
    and ``comparisons`` are pandas DataFrames (rates as fractions, NaN when undefined);
    ``rows(name)`` gives the same tables as lists of dicts.
    """

    sessions: list[str]
    generation: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_model: dict[Key, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_category: dict[tuple[str, str, str], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_complexity: dict[tuple[str, str, Any], Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_method: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    # (session, model, task_id) -> [samples, samples tested, samples passed]
    runs: dict[tuple[str, str, str], list[int]] = field(default_factory=dict)
    # (session, task_id) -> (category, complexity, name)
    problems_seen: dict[tuple[str, str], tuple[str, Any, str]] = field(default_factory=dict)
    examples: dict[str, list[Example]] = field(default_factory=lambda: defaultdict(list))
    _tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _tested_runs: dict[Key, list[tuple[str, Any, int, int]]] | None = None

    # --- counting ------------------------------------------------------------------------

    def add(self, session: str, record: dict[str, Any]) -> None:
        """Count one record of ``session``."""
        model = str(record.get("model"))
        task_id = str(record.get("task_id"))
        category = str(record.get("category"))
        complexity = record.get("complexity")
        outcome = Outcome(record)
        self.by_model[(session, model)].add(outcome)
        self.by_category[(session, model, category)].add(outcome)
        self.by_complexity[(session, model, complexity)].add(outcome)
        self.by_method[outcome.method].add(outcome)
        runs = self.runs.get((session, model, task_id))
        if runs is None:
            runs = self.runs[(session, model, task_id)] = [0, 0, 0]
        runs[0] += 1
        runs[1] += outcome.evaluated
        runs[2] += outcome.passed
        if (session, task_id) not in self.problems_seen:
            self.problems_seen[(session, task_id)] = (category, complexity, str(record.get("name") or ""))
        kept = self.examples[outcome.reason] if outcome.reason is not None else None
        if kept is not None and len(kept) < EXAMPLES and \
                sum(1 for ex in kept if ex.session == session and ex.model == model) < EXAMPLES_PER_MODEL:
            kept.append(Example(
                session, model, task_id, category, _detail(record, outcome),
                _cut(record.get("raw_response")), _cut(record.get("extracted_solution"))))
        self._tables.clear()
        self._tested_runs = None

    # --- labels --------------------------------------------------------------------------

    @property
    def several(self) -> bool:
        return len(self.sessions) > 1

    def label(self, key: Key) -> str:
        """A model's name, with its session when several sessions are compared."""
        return f"{key[1]} ({key[0]})" if self.several else key[1]

    def model_keys(self) -> list[Key]:
        """(session, model) in session order, then by model name."""
        order = {s: i for i, s in enumerate(self.sessions)}
        return sorted(self.by_model, key=lambda k: (order.get(k[0], 0), k[1]))

    @property
    def tested(self) -> bool:
        """Whether any record's tests were run."""
        return any(t.evaluated for t in self.by_model.values())

    @property
    def records(self) -> int:
        return sum(t.records for t in self.by_model.values())

    # --- tables --------------------------------------------------------------------------

    def pass_at_k(self, session: str, model: str, category: str | None = None,
                  complexity: Any = ...) -> dict[str, float]:
        """Mean pass@k over the problems whose samples were all tested."""
        if self._tested_runs is None:
            index: dict[Key, list[tuple[str, Any, int, int]]] = defaultdict(list)
            for (s, m, task_id), (n, tested, passed) in self.runs.items():
                if tested == n:
                    meta = self.problems_seen[(s, task_id)]
                    index[(s, m)].append((meta[0], meta[1], n, passed))
            self._tested_runs = index
        counts = [(n, passed) for cat, level, n, passed in self._tested_runs.get((session, model), ())
                  if (category is None or cat == category) and (complexity is ... or level == complexity)]
        return pass_at_k_from_counts(counts, PASS_AT_K)

    def rows(self, name: str) -> list[dict[str, Any]]:
        """One table as a list of dicts (see the class docstring for the names)."""
        if name not in self._tables:
            from llm_solutions.report import comparison

            builders = {
                "models": self._model_rows,
                "categories": self._category_rows,
                "complexities": self._complexity_rows,
                "failures": self._failure_rows,
                "extraction": self._method_rows,
                "problems": lambda: comparison.problem_rows(self),
                "comparisons": lambda: comparison.comparison_rows(self),
            }
            if name not in builders:
                raise KeyError(f"no table {name!r}; tables: {', '.join(builders)}")
            self._tables[name] = builders[name]()
        return self._tables[name]

    def _model_rows(self) -> list[dict[str, Any]]:
        rows = []
        for key in self.model_keys():
            row = {"session": key[0], "model": key[1], **self.by_model[key].row()}
            row.update(self.pass_at_k(*key))
            rows.append(row)
        return rows

    def _category_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (session, model, category), tally in sorted(self.by_category.items(), key=_sort_key):
            row = {"session": session, "model": model, "category": category, **tally.row()}
            row.update(self.pass_at_k(session, model, category=category))
            rows.append(row)
        return rows

    def _complexity_rows(self) -> list[dict[str, Any]]:
        rows = []
        for (session, model, complexity), tally in sorted(self.by_complexity.items(), key=_sort_key):
            row = {"session": session, "model": model, "complexity": complexity, **tally.row()}
            row.update(self.pass_at_k(session, model, complexity=complexity))
            rows.append(row)
        return rows

    def _failure_rows(self) -> list[dict[str, Any]]:
        rows = []
        for key in self.model_keys():
            tally = self.by_model[key]
            for reason, count in sorted(tally.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
                rows.append({"session": key[0], "model": key[1], "reason": reason, "count": count,
                             "share": count / tally.records})
        return rows

    def _method_rows(self) -> list[dict[str, Any]]:
        return [{"method": method, **tally.row()}
                for method, tally in sorted(self.by_method.items(), key=lambda kv: -kv[1].records)]

    def reason_totals(self) -> Counter[str]:
        """Every failure reason over all models."""
        total: Counter[str] = Counter()
        for tally in self.by_model.values():
            total.update(tally.reasons)
        return total

    # --- pandas --------------------------------------------------------------------------

    def frame(self, name: str) -> pd.DataFrame:
        """One table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.rows(name))

    @property
    def models(self) -> pd.DataFrame:
        return self.frame("models")

    @property
    def categories(self) -> pd.DataFrame:
        return self.frame("categories")

    @property
    def complexities(self) -> pd.DataFrame:
        return self.frame("complexities")

    @property
    def failures(self) -> pd.DataFrame:
        return self.frame("failures")

    @property
    def extraction(self) -> pd.DataFrame:
        return self.frame("extraction")

    @property
    def problems(self) -> pd.DataFrame:
        return self.frame("problems")

    @property
    def comparisons(self) -> pd.DataFrame:
        return self.frame("comparisons")

    def to_dict(self) -> dict[str, Any]:
        """Every table, JSON-ready (NaN as None)."""
        names = ("models", "categories", "complexities", "failures", "extraction", "problems", "comparisons")
        return {"sessions": self.sessions,
                **{name: [{k: _plain(v) for k, v in row.items()} for row in self.rows(name)] for name in names}}


def compute_statistics(sources: Iterable[Source]) -> Statistics:
    """Count every record of every source in one pass."""
    sources = list(sources)
    stats = Statistics(sessions=[s.session_id for s in sources])
    for source in sources:
        if source.generation is not None:
            stats.generation[source.session_id] = source.generation
        found = 0
        for record in source.records():
            if isinstance(record, dict) and record.get("model") is not None:
                stats.add(source.session_id, record)
                found += 1
        if not found:
            raise SessionError(f"session {source.session_id} ({source.store.path}) has no readable records; "
                               "run or resume the collection first (resume_collection.py --list-sessions)")
    return stats


def _sort_key(item: tuple[tuple[str, str, Any], Tally]) -> tuple[str, str, str]:
    session, model, group = item[0]
    return (session, model, f"{group:>12}" if isinstance(group, int) else str(group))


def _cut(text: Any) -> str:
    text = text if isinstance(text, str) else ""
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS] + f"\n... ({len(text) - EXAMPLE_CHARS} more)"


def _detail(record: dict[str, Any], outcome: Outcome) -> str:
    """The words that say why this record failed: the call's error, or the first failing test."""
    if not outcome.ok:
        return str(record.get("error") or "")
    if outcome.test_outcome is not None:
        evaluation = record.get("evaluation") or {}
        for test in evaluation.get("tests") or ():
            if isinstance(test, dict) and test.get("status") != "passed":
                parts = [test.get("exc_type"), test.get("message") or test.get("reason")]
                return _cut(": ".join(str(p) for p in parts if p))
        return str(evaluation.get("error") or "")
    syntax = ((record.get("validation") or {}).get("syntax") or {})
    if syntax.get("error"):
        return f"line {syntax.get('line')}: {syntax['error']}"
    structure = (record.get("validation") or {}).get("structure") or {}
    if structure.get("undefined_names"):
        return "undefined: " + ", ".join(map(str, structure["undefined_names"]))
    return ""


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value

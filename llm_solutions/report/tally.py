"""Counters over one group of records (a model, a model's category or complexity), and the
numbers read from them: rates with Wilson intervals, latency percentiles, failure reasons.

What each record contributes is decided once, in ``Outcome``, so the model, category and
complexity tables, the figures and ``stats`` all count the same thing the same way.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from typing import Any

from llm_solutions.collection.records import record_spend

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054

#: The test outcomes of a failing solution, by its first test that did not pass.
TEST_OUTCOMES = {"failed": "assertion", "error": "error", "timeout": "timeout"}


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95% by default), as fractions.

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 or n
    successes and for small n, which is where model comparisons usually are.
    """
    if trials <= 0:
        return (math.nan, math.nan)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or n successes the bound is exactly 0 or 1; floating point would miss it by 1e-16.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return (low, high)


def percentile(values: array, q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's and pandas'
    defaults compute it; NaN for no values."""
    if not len(values):
        return math.nan
    import numpy as np

    return float(np.percentile(np.frombuffer(values, dtype=np.float64), q))


class Outcome:
    """What one record says, reduced to what the statistics count (read once per record,
    then added to every group the record belongs to)."""

    __slots__ = ("attempts", "billed_attempts", "cache_hit", "cached_tokens", "cost", "evaluated", "input_tokens",
                 "latency", "method", "ok", "output_tokens", "passed", "reason", "reasoning_tokens", "test_outcome",
                 "valid")

    def __init__(self, record: dict[str, Any]) -> None:
        get = record.get
        self.ok = ok = bool(get("llm_call_success"))
        validation = get("validation") or {}
        self.valid = valid = bool(validation.get("is_fully_valid"))
        self.evaluated = evaluated = get("tests_total") is not None
        self.passed = passed = evaluated and bool(get("passed_all"))
        extraction = get("extraction") or {}
        self.method = str(extraction.get("method") or ("none" if not ok else "unknown"))
        self.test_outcome: str | None = None
        if not ok:
            self.reason: str | None = f"call failed: {get('error_type') or 'unknown'}"
        elif not (get("extracted_solution") or "").strip():
            self.reason = "no code extracted"
        elif not valid:
            self.reason = _invalid_reason(validation)
        elif evaluated and not passed:
            self.test_outcome = first_failing_test(record)
            self.reason = f"tests: {self.test_outcome}"
        else:
            self.reason = None
        self.input_tokens = _count(get("input_tokens"))
        self.output_tokens = _count(get("output_tokens"))
        self.reasoning_tokens = _count(get("reasoning_tokens"))
        self.cached_tokens = _count(get("cached_tokens"))
        self.attempts = _count(get("attempts"))
        self.billed_attempts = _count(get("billed_attempts"))
        self.cache_hit = bool(get("cache_hit"))
        self.cost = record_spend(record)
        latency = get("latency")
        self.latency = float(latency) if ok and isinstance(latency, (int, float)) and not isinstance(latency, bool) \
            and math.isfinite(latency) else None


def _invalid_reason(validation: dict[str, Any]) -> str:
    if not (validation.get("syntax") or {}).get("is_valid", False):
        return "invalid code: syntax error"
    structure = validation.get("structure") or {}
    if structure.get("has_expected_name") is False:
        return "invalid code: expected name missing"
    if structure.get("undefined_names"):
        return "invalid code: undefined names"
    return "invalid code: other"


def first_failing_test(record: dict[str, Any]) -> str:
    """``assertion``, ``error`` or ``timeout``: the first test that did not pass, or
    ``error`` when the run itself failed (no tests, a sandbox error)."""
    evaluation = record.get("evaluation") or {}
    for test in evaluation.get("tests") or ():
        status = test.get("status") if isinstance(test, dict) else None
        if status in TEST_OUTCOMES:
            return TEST_OUTCOMES[status]
    return "error"


class Tally:
    """Counts and sums over a group of records; latencies kept as 8-byte floats, so a
    group of a million records costs 8 MB (percentiles need every value to be exact)."""

    __slots__ = ("attempts", "billed_attempts", "cache_hits", "cached_tokens", "cost", "evaluated", "input_tokens",
                 "latencies", "ok", "output_tokens", "passed", "reasoning_tokens", "reasons", "records", "valid")

    def __init__(self) -> None:
        self.records = self.ok = self.valid = self.evaluated = self.passed = 0
        self.input_tokens = self.output_tokens = self.reasoning_tokens = self.cached_tokens = 0
        self.attempts = self.billed_attempts = self.cache_hits = 0
        self.cost = 0.0
        self.latencies = array("d")
        self.reasons: Counter[str] = Counter()

    def add(self, outcome: Outcome) -> None:
        """Count one record, as ``Outcome`` read it."""
        self.records += 1
        self.ok += outcome.ok
        self.valid += outcome.valid
        self.evaluated += outcome.evaluated
        self.passed += outcome.passed
        self.input_tokens += outcome.input_tokens
        self.output_tokens += outcome.output_tokens
        self.reasoning_tokens += outcome.reasoning_tokens
        self.cached_tokens += outcome.cached_tokens
        self.attempts += outcome.attempts
        self.billed_attempts += outcome.billed_attempts
        self.cache_hits += outcome.cache_hit
        self.cost += outcome.cost
        if outcome.latency is not None:
            self.latencies.append(outcome.latency)
        if outcome.reason is not None:
            self.reasons[outcome.reason] += 1

    def row(self) -> dict[str, Any]:
        """The group's numbers: rates as fractions (NaN when undefined), sums, percentiles."""
        low, high = wilson_interval(self.passed, self.evaluated)
        return {
            "tasks": self.records,
            "answered": self.ok,
            "valid": self.valid,
            "valid_rate": self.valid / self.records if self.records else math.nan,
            "evaluated": self.evaluated,
            "passed": self.passed,
            "pass_rate": self.passed / self.evaluated if self.evaluated else math.nan,
            "pass_low": low,
            "pass_high": high,
            "cost": self.cost,
            "cost_per_pass": self.cost / self.passed if self.passed else math.nan,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_tokens": self.cached_tokens,
            "tokens": self.input_tokens + self.output_tokens,
            "latency_p50": percentile(self.latencies, 50),
            "latency_p90": percentile(self.latencies, 90),
            "latency_p95": percentile(self.latencies, 95),
            "latency_p99": percentile(self.latencies, 99),
            "attempts": self.attempts,
            "billed_attempts": self.billed_attempts,
            "cache_hits": self.cache_hits,
            "failures": sum(self.reasons.values()),
            "top_failure": self.reasons.most_common(1)[0][0] if self.reasons else None,
        }


def _count(value: Any) -> int:
    # Damaged or hand-edited numbers count as nothing rather than stopping a report.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return 0
    return int(value)

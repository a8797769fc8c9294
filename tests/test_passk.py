"""pass@k: the unbiased estimator against hand-computed values, and which k the summary reports."""

from __future__ import annotations

from math import comb

import pytest

from llm_solutions.evaluation.passk import pass_at_k, pass_at_k_summary


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (10, 0, 5, 0.0),
        (10, 10, 1, 1.0),
        (10, 8, 5, 1.0),  # n - c = 2 < k: every draw of 5 holds a correct one
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (20, 1, 1, 0.05),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_the_binomial_formula_and_stays_stable_for_large_n():
    for n, c, k in [(50, 7, 10), (100, 30, 1), (37, 2, 20)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), rel=1e-9)
    # C(2000, 1000) does not fit a float; the product form has no trouble.
    assert 0.0 < pass_at_k(2000, 1, 1000) == pytest.approx(0.5)


@pytest.mark.parametrize(("n", "c", "k"), [(0, 0, 1), (5, 6, 1), (5, -1, 1), (5, 2, 0), (5, 2, 6)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_summary_averages_tasks_and_reports_only_k_up_to_the_smallest_n():
    results = {
        "a": [True, False, False, False, False],  # n=5, c=1
        "b": [True, True, False, False, False, False, False, False, False, False],  # n=10, c=2
    }
    summary = pass_at_k_summary(results, ks=(1, 5, 10))
    assert set(summary) == {"pass@1", "pass@5"}  # 10 > min n = 5
    assert summary["pass@1"] == pytest.approx((0.2 + 0.2) / 2)
    assert summary["pass@5"] == pytest.approx((1.0 + (1 - comb(8, 5) / comb(10, 5))) / 2)


def test_summary_with_one_sample_each_is_the_plain_pass_rate():
    results = {"a": [True], "b": [False], "c": [True], "d": [False]}
    assert pass_at_k_summary(results) == {"pass@1": pytest.approx(0.5)}


def test_summary_of_nothing_is_empty_and_empty_tasks_are_ignored():
    assert pass_at_k_summary({}) == {}
    assert pass_at_k_summary({"a": []}) == {}
    assert pass_at_k_summary({"a": [], "b": [True, True]}, ks=(1, 2)) == {"pass@1": 1.0, "pass@2": 1.0}


def test_summary_orders_and_deduplicates_ks():
    summary = pass_at_k_summary({"a": [True, False, True]}, ks=(3, 1, 1, 0))
    assert list(summary) == ["pass@1", "pass@3"]
    assert summary["pass@3"] == 1.0

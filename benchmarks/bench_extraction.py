"""Speed of the rules extractor plus validation, per answer, next to a naive baseline.

Two sets of answers: the extraction corpus (``tests/data/extraction_corpus``: model answers
of many styles) and the built-in dataset's canonical solutions wrapped as a chat answer.
For each answer the script times ``extract_code`` and ``validate_code`` (each the fastest
of ``--repeat`` runs, none helped by an earlier run's parse) and, in the same run, a naive
extractor (the first fenced block, by one regular expression) followed by the same
validation.  It prints the medians over the answers in microseconds, their ratio to the
baseline, and how often each extractor found code that defines the expected name.  The
target is a median of at most 250 µs for extraction plus validation.

    python benchmarks/bench_extraction.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.extraction import extract_code
from llm_solutions.validation import parse, validate_code

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "extraction_corpus"
TARGET_US = 250.0
_FIRST_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)


def naive_extract(answer: str) -> str:
    """The baseline: the body of the first fenced block, or nothing."""
    match = _FIRST_FENCE.search(answer)
    return match.group(1).strip("\n") if match else ""


def corpus_answers() -> list[tuple[str, str]]:
    answers = []
    for path in sorted(CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                answers.append((case["answer"], case["name"]))
    return answers


def dataset_answers() -> list[tuple[str, str]]:
    return [
        (f"Sure! Here is an implementation of `{p.name}`:\n\n```python\n{p.canonical_solution.strip()}\n```\n\n"
         "It uses only the standard library.\n", p.name)
        for p in load_dataset(BUILTIN_DATASET).problems
    ]


def best_us(step: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` runs of ``step`` in µs (the least disturbed by other work
    on the machine), each starting with no parse cached: in a run every answer is new, and
    only validation finds the code that extraction just parsed."""
    times = []
    for _ in range(repeat):
        parse.cache_clear()
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times) * 1e6


def measure(answers: list[tuple[str, str]], repeat: int) -> dict[str, float]:
    rows: dict[str, list[float]] = {"extract": [], "validate": [], "total": [], "naive": [], "naive total": []}
    found = {"rules": 0, "naive": 0}
    for answer, name in answers:
        code = extract_code(answer, name).code
        naive = naive_extract(answer)
        rows["extract"].append(best_us(lambda a=answer, n=name: extract_code(a, n), repeat))
        rows["validate"].append(best_us(lambda c=code, n=name: validate_code(c, n), repeat))
        rows["total"].append(best_us(lambda a=answer, n=name: validate_code(extract_code(a, n).code, n), repeat))
        rows["naive"].append(best_us(lambda a=answer: naive_extract(a), repeat))
        rows["naive total"].append(best_us(lambda a=answer, n=name: validate_code(naive_extract(a), n), repeat))
        found["rules"] += validate_code(code, name)["structure"]["has_expected_name"]
        found["naive"] += validate_code(naive, name)["structure"]["has_expected_name"]
    result = {key: statistics.median(values) for key, values in rows.items()}
    result.update({f"found {k}": 100 * v / len(answers) for k, v in found.items()})
    return result


def report(title: str, answers: list[tuple[str, str]], repeat: int) -> None:
    m = measure(answers, repeat)
    verdict = "meets" if m["total"] <= TARGET_US else "misses"
    print(f"\n{title}: {len(answers)} answers, median per answer (µs)")
    print(f"  rules:    extract {m['extract']:7.1f}   validate {m['validate']:7.1f}   "
          f"extract+validate {m['total']:7.1f}  ({verdict} the {TARGET_US:.0f} µs target)")
    print(f"  baseline: extract {m['naive']:7.1f}   (first-fence regex)     extract+validate {m['naive total']:7.1f}")
    print(f"  ratio rules/baseline: extract+validate {m['total'] / m['naive total']:.2f}x, "
          f"extract alone {m['extract'] / m['naive']:.0f}x")
    print(f"  code that defines the expected name: rules {m['found rules']:.1f}%, baseline {m['found naive']:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per answer and step (default 15)")
    args = parser.parse_args()
    gc.disable()  # collections would land on random answers; the medians hide the rest
    try:
        report("extraction corpus", corpus_answers(), args.repeat)
        report("built-in dataset, canonical solutions as answers", dataset_answers(), args.repeat)
    finally:
        gc.enable()


if __name__ == "__main__":
    main()

"""The HTML report of a large session: time and peak memory for 10k and 100k records.

The session is synthesized in the store's format (``SessionStore.append``): 10 models, the
built-in categories, problems of complexity 1-3, ``--samples`` answers each, with the
mix of outcomes a real session has (passes, assertion failures, errors, timeouts, syntax
errors, missing code, failed calls), answers of about 700 characters and five test results
per record.  The report is built in a fresh process for each size, so peak RSS is its own.
Baseline, measured in the same run: reading and parsing the same records and nothing else.

    python benchmarks/bench_report.py [--records 10000 100000] [--samples 10]

Target (issue 14): the report of 100k records in under 15 s on this machine.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS = ["gpt-6-luna", "gpt-6.1-sol", "claude-haiku-5-5", "claude-sonnet-5-5", "gemini-3.8-flash",
          "gemini-3.1-pro", "grok-4.3", "deepseek-flash", "llama-4-maverick", "local-openai-compatible"]
ANSWER = ("Here is a solution that satisfies the requirements.\n\n```python\n" + "def solve(items):\n"
          "    result = []\n    for item in items:\n        if item not in result:\n            result.append(item)\n"
          "    return result\n" * 4 + "```\n\nThe implementation keeps the order of first appearance.")


try:  # records are written in the store's current version, as a collection writes them today
    from llm_solutions.collection.schema import SCHEMA_VERSION
except ImportError:  # a store from before record versions
    SCHEMA_VERSION = None


def synthesize(folder: Path, records: int, samples: int, seed: int = 7) -> None:
    """Write a session of ``records`` records in the store's format."""
    from llm_solutions.collection.store import SessionStore
    from llm_solutions.dataset import load_dataset

    categories = sorted(load_dataset().categories)
    rng = random.Random(seed)
    store = SessionStore.create(folder.parent, folder.name)
    problems = max(1, records // (len(MODELS) * samples))
    skill = {model: 0.45 + 0.05 * i for i, model in enumerate(MODELS)}
    written = 0
    for p in range(problems):
        category = categories[p % len(categories)]
        complexity = 1 + p % 3
        for model in MODELS:
            for sample in range(samples):
                if written >= records:
                    break
                store.append(_record(rng, model, category, complexity, f"{category}_{p}", sample,
                                     skill[model] - 0.1 * complexity))
                written += 1
    store.write_json("progress.json", {"session_id": folder.name, "status": "completed", "models": MODELS})
    store.close()


def _record(rng: random.Random, model: str, category: str, complexity: int, task_id: str, sample: int,
            skill: float) -> dict:
    roll = rng.random()
    ok = roll > 0.02
    valid = ok and roll > 0.06
    passed = valid and rng.random() < skill
    status = "passed" if passed else rng.choice(["failed", "failed", "error", "timeout"])
    tests = [{"status": "passed" if passed or i < 2 else status, "phase": "assertion", "exc_type": None if passed
              else "AssertionError", "message": None if passed else "assert solve([1, 1]) == [1]"} for i in range(5)]
    problem = f"Write solve() for {task_id}. " * 8
    return {
        **({"schema_version": SCHEMA_VERSION} if SCHEMA_VERSION else {}),
        "messages": [{"role": "system", "content": "You write Python solutions."},
                     {"role": "user", "content": problem}],
        "task_id": task_id, "model": model, "problem": problem, "name": "solve",
        "category": category, "complexity": complexity, "sample": sample,
        "raw_response": ANSWER if ok else None, "reasoning": None,
        "extracted_solution": ANSWER[60:400] if ok and roll > 0.04 else "",
        "extraction": {"method": "fenced" if roll > 0.04 else "no_code", "blocks_found": 1, "ambiguous": False,
                       "reasoning_stripped": False} if ok else {},
        "validation": {"is_fully_valid": valid, "syntax": {"is_valid": roll > 0.05, "error": None, "line": None},
                       "structure": {"has_expected_name": True, "found_names": ["solve"], "undefined_names": []},
                       "code_length": 340, "line_count": 24} if ok else {},
        **({"evaluation": {"tests": tests, "isolation": "bwrap"}, "tests_passed": 5 if passed else 2,
            "tests_total": 5, "passed_all": passed} if ok else {}),
        "llm_call_success": ok, "error": None if ok else "server error (HTTP 500)",
        "error_type": None if ok else "transient", "attempts": 1 + (rng.random() < 0.05),
        "billed_attempts": 1, "cache_hit": rng.random() < 0.1, "execution_time": 1.0,
        "latency": round(rng.lognormvariate(0.3 + 0.1 * MODELS.index(model), 0.5), 4) if ok else None,
        "input_tokens": 180 + rng.randrange(60), "output_tokens": 150 + rng.randrange(200), "cached_tokens": 0,
        "reasoning_tokens": 0, "cost": round(1e-6 * (1 + MODELS.index(model)) * 300, 8),
        "timestamp": 1795300000.0,
    }


def measure(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter; its wall time (printed by itself) and peak RSS in MB."""
    wrapped = (f"import resource, sys, time\nsys.path.insert(0, {str(ROOT)!r})\nstarted = time.perf_counter()\n"
               f"{code}\nprint(time.perf_counter() - started, "
               "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    out = subprocess.run([sys.executable, "-c", wrapped], check=True, capture_output=True, text=True).stdout
    seconds, rss = out.split()[-2:]
    return float(seconds), float(rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"{'records':>8} {'MB on disk':>10} {'read only s':>11} {'report s':>9} {'ratio':>6} "
          f"{'report RSS MB':>13} {'page KB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for records in args.records:
            folder = Path(tmp) / f"bench_{records}"
            synthesize(folder, records, args.samples)
            size = sum(p.stat().st_size for p in folder.glob("*/*.jsonl")) / 1e6
            read_s, _ = measure("from llm_solutions.collection.store import SessionStore\n"
                                f"n = sum(1 for _ in SessionStore({str(folder)!r}).read_records())")
            out = Path(tmp) / f"report_{records}.html"
            report_s, rss = measure("from llm_solutions.report import write_report\n"
                                    f"write_report([{str(folder)!r}], {str(out)!r})")
            print(f"{records:>8,} {size:>10.1f} {read_s:>11.2f} {report_s:>9.2f} {report_s / read_s:>6.2f} "
                  f"{rss:>13.0f} {out.stat().st_size / 1024:>8.0f}")
    print("target: the report of 100k records in under 15 s")
    print(json.dumps({"python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

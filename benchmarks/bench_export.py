"""Export speed and memory: sessions of 10k and 100k records (schema 2.0, prompt table,
realistic record sizes, 70% passing) exported as ``chat``, ``trl-dpo`` and ``hf``.

Each export runs in a fresh process that reports its own time and peak RSS; the baseline,
measured in the same run, is one plain pass that reads every record through the store
(JSON parsing and the schema upgrade), which any export must do at least twice (plan,
then write).  Goal: 100k records in under 30 s, peak RSS about the same at 10k and 100k.

    python benchmarks/bench_export.py [--records 10000 100000] [--formats chat trl-dpo hf]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from llm_solutions.collection.store import SessionStore  # noqa: E402

SOLUTION = ("def solve_{p}(values: list[int]) -> int:\n    total = 0\n    for v in values:\n"
            "        total += v * {s}\n    return total  # variant {s}\n"
            + "\n".join(f"# padding line {i} of a realistic answer" for i in range(12)))


def make_session(folder: Path, records: int) -> Path:
    """A session of ``records`` records: 1,000 problems, 2 models, as many samples as needed."""
    store = SessionStore.create(folder, f"bench_{records}")
    problems = 1000
    per_problem = max(1, records // problems)
    models = ("model-a", "model-b")
    written = 0
    for p in range(problems):
        prompt = [{"role": "system", "content": "You are an expert Python engineer. " * 5},
                  {"role": "user", "content": f"Solve problem {p}: " + "Write a function that sums values. " * 12}]
        for s in range(per_problem):
            if written >= records:
                break
            model = models[s % 2]
            code = SOLUTION.format(p=p, s=s)
            passed = (p + s) % 10 < 7
            store.append({
                "schema_version": "2.0", "task_id": f"cat_{p}", "model": model, "problem": prompt[1]["content"],
                "name": f"solve_{p}", "category": f"cat{p % 20}", "complexity": 1 + p % 5, "sample": s,
                "raw_response": f"Here is the solution.\n\n```python\n{code}\n```\n\nIt sums the values.",
                "reasoning": None, "extracted_solution": code,
                "extraction": {"method": "fenced", "blocks_found": 1, "ambiguous": False},
                "validation": {"is_fully_valid": True, "syntax": {"is_valid": True}, "code_length": len(code)},
                "evaluation": {"tests": [{"status": "passed" if passed or i < 3 else "failed", "duration": 0.01}
                                         for i in range(5)], "isolation": "bwrap"},
                "tests_passed": 5 if passed else 3, "tests_total": 5, "passed_all": passed,
                "llm_call_success": True, "error": None, "error_type": None, "execution_time": 1.2, "latency": 1.1,
                "attempts": 1, "billed_attempts": 1, "cache_hit": False, "finish_reason": "stop",
                "requested_model": model, "served_model": model, "waited": 0.0, "input_tokens": 180,
                "output_tokens": 120, "cached_tokens": 0, "reasoning_tokens": 0, "cost": 0.00007,
                "timestamp": 1795300000.0 + written, "messages": prompt,
                "request": {"max_tokens": 4096, "temperature": 0.0, "top_p": None},
            })
            written += 1
    store.close()
    return store.path


def child(args: argparse.Namespace) -> None:
    """One measured step in this (fresh) process; prints seconds and peak RSS as JSON."""
    started = time.perf_counter()
    if args.child == "read":
        count = sum(1 for _ in SessionStore(Path(args.session)).read_records())
    else:
        from llm_solutions.export import ExportFilters, export_sessions

        result = export_sessions([args.session], args.child, args.out, force=True,
                                 filters=ExportFilters(val_fraction=0.1, min_tests_passed=1.0))
        count = result.counts["records"]
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "records": count,
                      "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(step: str, session: Path, out: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", step, "--session", str(session), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", nargs="+", type=int, default=[10_000, 100_000])
    parser.add_argument("--formats", nargs="+", default=["chat", "trl-dpo", "hf"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_export_") as tmp:
        root = Path(tmp)
        results = {}
        for records in args.records:
            started = time.perf_counter()
            session = make_session(root, records)
            size = sum(p.stat().st_size for p in session.rglob("*.jsonl")) / 1e6
            print(f"{records:>7} records: session written in {time.perf_counter() - started:.1f} s ({size:.0f} MB)")
            base = measure("read", session, root / "unused")
            print(f"         baseline, one read of every record: {base['seconds']:.2f} s, "
                  f"peak RSS {base['rss_mb']:.0f} MB")
            for fmt in args.formats:
                got = measure(fmt, session, root / f"out_{fmt}_{records}")
                results[(fmt, records)] = got
                print(f"         export {fmt:<8} {got['seconds']:6.2f} s ({records / got['seconds']:,.0f} records/s, "
                      f"{got['seconds'] / base['seconds']:.1f}x the read), peak RSS {got['rss_mb']:.0f} MB")
            for path in root.glob(f"out_*_{records}"):
                subprocess.run(["rm", "-rf", str(path)], check=True)
            subprocess.run(["rm", "-rf", str(session)], check=True)
        if len(args.records) > 1:
            low, high = min(args.records), max(args.records)
            for fmt in args.formats:
                ratio = results[(fmt, high)]["rss_mb"] / results[(fmt, low)]["rss_mb"]
                print(f"{fmt}: peak RSS at {high:,} / at {low:,} records = {ratio:.2f}x "
                      f"({high / low:.0f}x the records); {high:,} in {results[(fmt, high)]['seconds']:.1f} s "
                      f"(goal < 30 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

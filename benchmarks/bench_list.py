"""How long ``llm-solutions list`` takes for a folder holding a large session.

Collects one session with the offline model (tests off) of ``--samples`` answers per
built-in problem, then times, in the same run: ``list``'s rows for the folder (which read
``progress.json`` and ``summary.json`` only, while the records are unchanged), and the
baseline of counting the session from its records (what a description costs without the
fast path).  Prints both and their ratio.

    python benchmarks/bench_list.py [--samples 400]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from llm_solutions.cli import main
from llm_solutions.cli.listing import sessions
from llm_solutions.collection.session import _count_records
from llm_solutions.collection.store import SessionStore


def measure(samples: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        started = time.perf_counter()
        code = main(["collect", "--models", "offline", "--samples", str(samples), "--no-execute", "--no-cache",
                     "--output-dir", str(root), "--session-id", "big", "--no-progress", "--yes",
                     "--log-level", "WARNING"])
        assert code == 0, code
        made = time.perf_counter() - started
        records = sum(p.stat().st_size for p in (root / "big").glob("*/*.jsonl"))
        tasks = 125 * samples
        runs = 5
        started = time.perf_counter()
        for _ in range(runs):
            rows = sessions(root)
        listed = (time.perf_counter() - started) / runs
        assert rows[0]["completed"] == tasks, rows
        started = time.perf_counter()
        counted = _count_records(SessionStore(root / "big"))
        baseline = time.perf_counter() - started
        assert counted[0] == tasks
        print(f"session: {tasks:,} tasks, records {records / 1e6:.1f} MB (collected in {made:.1f} s)")
        print(f"list (fast path):        {listed * 1000:8.1f} ms")
        print(f"count from the records:  {baseline * 1000:8.1f} ms")
        print(f"ratio list / baseline:   {listed / baseline:8.4f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=400, help="answers per problem (125 problems)")
    measure(parser.parse_args().samples)

"""Session size against memory and time: a collection with the offline model (tests off)
at 1k, 100k and 1M tasks, its peak memory, how long it ran, what a checkpoint costs, and
how long resuming the completed session takes.

Tasks are problems x samples.  ``--shape samples`` (the default) keeps the dataset at
``--problems`` problems and raises the samples per problem, so what grows is the session
alone; ``--shape problems`` grows the dataset instead (one sample each), so the dataset
itself, which is held in memory, grows with it.  Each run is its own process
(``scripts/run_collection.py``), measured from outside: peak RSS from ``wait4``, wall
time, the size of ``progress.json`` (rewritten at every checkpoint) and the time of
``scripts/resume_collection.py`` on the finished session.

    python benchmarks/bench_session_scale.py [--tasks 1000 100000 1000000]
                                             [--shape samples|problems] [--problems 1000]

Targets (issue 19): peak memory flat in the number of tasks, checkpoint cost not growing
with the session, resume of a completed 1M-task session under 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ROOT / "llm_solutions" / "dataset" / "builtin"


def write_dataset(folder: Path, problems: int) -> None:
    """``problems`` problems made from the built-in ones under new task ids."""
    source = [json.loads(line) for path in sorted(BUILTIN.glob("*.jsonl")) for line in path.read_text().splitlines()]
    folder.mkdir(parents=True)
    (folder / "images").symlink_to(BUILTIN / "images")  # the image problems name their files relatively
    with (folder / "scaled.jsonl").open("w") as handle:
        for index in range(problems):
            row = dict(source[index % len(source)])
            row["task_id"] = f"{row['task_id']}_r{index}"
            row["category"] = "scaled"
            handle.write(json.dumps(row) + "\n")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, exit code) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status and proc.stderr is not None:
        sys.stderr.write(proc.stderr.read().decode(errors="replace")[-2000:])
    return seconds, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def measure(tasks: int, shape: str, problems: int, work: Path, env: dict[str, str]) -> dict[str, float]:
    if shape == "samples":
        count, samples = min(problems, tasks), max(1, tasks // min(problems, tasks))
    else:
        count, samples = tasks, 1
    dataset = work / f"data_{tasks}_{shape}"
    write_dataset(dataset, count)
    out = work / f"out_{tasks}_{shape}"
    collect = [sys.executable, str(ROOT / "scripts" / "run_collection.py"), "--models", "offline",
               "--dataset", str(dataset), "--samples", str(samples), "--no-execute", "--no-progress",
               "--output-dir", str(out), "--session-id", "scale", "--log-level", "WARNING",
               "--batch-size", "1000", "--max-concurrent", "64"]
    seconds, peak, code = run(collect, env)
    if code != 0:
        raise SystemExit(f"collection of {tasks} tasks failed with exit code {code}")
    progress_size = (out / "scale" / "progress.json").stat().st_size
    resume = [sys.executable, str(ROOT / "scripts" / "resume_collection.py"), "scale", "--output-dir", str(out),
              "--no-progress", "--log-level", "WARNING"]
    resume_seconds, resume_peak, code = run(resume, env)
    if code != 0:
        raise SystemExit(f"resume of {tasks} tasks failed with exit code {code}")
    records = sum(p.stat().st_size for p in (out / "scale").glob("*/*.jsonl"))
    return {"tasks": count * samples, "problems": count, "samples": samples, "seconds": seconds,
            "tasks_per_s": count * samples / seconds, "peak_mb": peak, "progress_kb": progress_size / 1024,
            "records_mb": records / 2**20, "resume_s": resume_seconds, "resume_peak_mb": resume_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, nargs="+", default=[1_000, 100_000, 1_000_000])
    parser.add_argument("--shape", choices=["samples", "problems"], default="samples")
    parser.add_argument("--problems", type=int, default=1_000, help="dataset size for --shape samples")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(LLM_SOLUTIONS_NO_DOTENV="1", PYTHONPATH=str(ROOT))
    print(f"{'tasks':>9} {'problems':>9} {'samples':>7} {'run s':>8} {'tasks/s':>8} {'peak MB':>8} "
          f"{'progress KB':>11} {'records MB':>10} {'resume s':>8} {'resume MB':>9}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tasks in args.tasks:
            row = measure(tasks, args.shape, args.problems, Path(tmp), env)
            rows.append(row)
            print(f"{row['tasks']:>9,} {row['problems']:>9,} {row['samples']:>7} {row['seconds']:>8.1f} "
                  f"{row['tasks_per_s']:>8.0f} {row['peak_mb']:>8.1f} {row['progress_kb']:>11.1f} "
                  f"{row['records_mb']:>10.1f} {row['resume_s']:>8.2f} {row['resume_peak_mb']:>9.1f}", flush=True)
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"\npeak memory at {last['tasks']:,} tasks / at {first['tasks']:,}: "
              f"{last['peak_mb'] / first['peak_mb']:.2f}x (target: flat, about 1x)")
        print(f"progress.json at {last['tasks']:,} / at {first['tasks']:,}: "
              f"{last['progress_kb'] / first['progress_kb']:.2f}x (target: about 1x)")
        print(f"resume of the completed {last['tasks']:,}-task session: {last['resume_s']:.2f} s (target < 2 s)")


if __name__ == "__main__":
    main()

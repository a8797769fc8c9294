"""A ``--batch`` session at scale: 5,000 and 50,000 requests to one OpenAI model (one batch
each, the Batch API's maximum) against the local fake batch endpoints, through the real
SDK, tests off, response cache on (SQLite, the default).

Each size runs in a fresh process (``--child``) that reports its own numbers; its peak RSS
is measured from outside (``wait4``).  Reported: submission time (building, uploading and
creating the batch, ledger writes included), ingestion rate (records per second from the
first result recorded to the last: download, cost, cache write, extraction, validation,
record line; per wall second and per second of the collector's own CPU time, which other
work on a shared machine does not change), the ledger's size and writes, and peak RSS.  The baseline, measured in the
same process, is one plain pass over the same results through the SDK (download and
parse only, nothing recorded), so the ratio says what recording adds to reading.  The fake
server runs in a process of its own.

Goals (issue 16): ingestion at least 2,000 records/s; peak RSS about the same at 5k and
50k.

    python benchmarks/bench_batch.py [--requests 5000 50000] [--cache on off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROBLEMS = 125  # the built-in dataset
MODEL = "gpt-6-luna"


def child(out: Path, requests: int, cache: str) -> None:
    """Run one collection here, timing its stages; print the numbers as JSON."""
    from llm_solutions.batch.collector import BatchCollector
    from llm_solutions.batch.ledger import Ledger
    from llm_solutions.cli import main
    from llm_solutions.collection.store import SessionStore

    times: dict[str, Any] = {"records": 0, "ledger_writes": 0, "ledger_seconds": 0.0}
    send, append, save = BatchCollector._send, SessionStore.append, Ledger.save

    async def timed_send(self: BatchCollector, *args: Any) -> int:
        started = time.perf_counter()
        sent = await send(self, *args)
        times["submit_seconds"] = times.get("submit_seconds", 0.0) + time.perf_counter() - started
        return sent

    def timed_append(self: SessionStore, record: dict[str, Any]) -> None:
        append(self, record)
        now, cpu = time.perf_counter(), time.process_time()
        times.setdefault("first_record", now)
        times.setdefault("first_cpu", cpu)
        times["last_record"], times["last_cpu"] = now, cpu
        times["records"] += 1

    def timed_save(self: Ledger) -> None:
        started = time.perf_counter()
        save(self)
        times["ledger_writes"] += 1
        times["ledger_seconds"] += time.perf_counter() - started

    BatchCollector._send = timed_send  # type: ignore[method-assign]
    SessionStore.append = timed_append  # type: ignore[method-assign]
    Ledger.save = timed_save  # type: ignore[method-assign]
    samples = requests // PROBLEMS
    code = main(["collect", "--batch", "--yes", "--batch-poll", "0.2", "--no-execute", "--no-progress", "--log-level",
                 "WARNING", "--models", MODEL, "--samples", str(samples), "--output-dir", str(out),
                 "--session-id", "bench", *(["--no-cache"] if cache == "off" else [])])
    ledger = out / "bench" / "batches.json"
    entries = json.loads(ledger.read_text())["batches"]
    result = {"exit": code, "records": times["records"], "submit_seconds": round(times.get("submit_seconds", 0), 3),
              "ingest_seconds": round(times["last_record"] - times["first_record"], 3),
              "ingest_cpu_seconds": round(times["last_cpu"] - times["first_cpu"], 3),
              "ledger_bytes": ledger.stat().st_size, "ledger_writes": times["ledger_writes"],
              "ledger_seconds": round(times["ledger_seconds"], 3), "batches": len(entries)}
    result["baseline_seconds"] = round(asyncio.run(read_results(entries[0]["batch_id"])), 3)
    print(json.dumps(result))


async def read_results(batch_id: str) -> float:
    """Seconds for one pass over a batch's results through the SDK, recording nothing."""
    from llm_solutions.batch.openai import OpenAIBatches
    from llm_solutions.models.registry import build_models, close_models, load_registry

    registry = load_registry()
    [model] = build_models(registry, [registry.get(MODEL)])
    try:
        started = time.perf_counter()
        count = 0
        async for _ in OpenAIBatches(model).results(batch_id):
            count += 1
        return time.perf_counter() - started
    finally:
        await close_models([model])


async def serve() -> None:
    """The fake batch endpoints until SIGTERM; prints the port once listening."""
    import signal

    from tests.support.fake_batches import FakeBatches

    fake = await FakeBatches().start()
    print(fake.port, flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await fake.stop()


def measure(requests: int, cache: str, work: Path, env: dict[str, str]) -> dict[str, Any]:
    out = work / f"run_{requests}_{cache}"
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(out), str(requests), cache], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.perf_counter()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stdout, stderr = proc.stdout.read() if proc.stdout else "", proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"the {requests}-request run failed:\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result.update(requests=requests, cache=cache, wall_seconds=round(wall, 2),
                  peak_rss_mb=round(usage.ru_maxrss / 1024, 1))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--cache", nargs="+", choices=["on", "off"], default=["on"],
                        help="run with the response cache on (SQLite, the default) and/or off")
    parser.add_argument("--child", nargs=3, metavar=("OUT", "N", "CACHE"), help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), int(args.child[1]), args.child[2])
        return 0
    if args.serve:
        asyncio.run(serve())
        return 0
    from tests.support.fake_batches import FakeBatches

    # The server runs in a process of its own: a child's peak RSS on Linux starts from its
    # parent's at fork, and the server holds every batch it was sent.
    server = subprocess.Popen([sys.executable, __file__, "--serve"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().strip())
        fake = FakeBatches(port=port)
        env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
        env.update(LLM_SOLUTIONS_NO_DOTENV="1", **fake.base_url_env(), **fake.key_env())
        with tempfile.TemporaryDirectory() as tmp:
            rows = [measure(n, cache, Path(tmp), env) for cache in args.cache for n in args.requests]
    finally:
        server.terminate()
        server.wait(10)
    print(f"{'requests':>9} {'cache':>5} {'submit s':>9} {'ingest s':>9} {'records/s':>10} {'per CPU s':>10} "
          f"{'baseline/s':>11} {'ratio':>6} "
          f"{'ledger KB':>10} {'writes':>7} {'peak MB':>8} {'wall s':>7}")
    for row in rows:
        rate = row["records"] / max(row["ingest_seconds"], 1e-9)
        base = row["records"] / max(row["baseline_seconds"], 1e-9)
        cpu_rate = row["records"] / max(row["ingest_cpu_seconds"], 1e-9)
        print(f"{row['requests']:>9} {row['cache']:>5} {row['submit_seconds']:>9.2f} {row['ingest_seconds']:>9.2f} "
              f"{rate:>10.0f} {cpu_rate:>10.0f} "
              f"{base:>11.0f} {rate / base:>6.2f} {row['ledger_bytes'] / 1024:>10.0f} {row['ledger_writes']:>7} "
              f"{row['peak_rss_mb']:>8.1f} {row['wall_seconds']:>7.1f}")
    for cache in args.cache:
        same = [row for row in rows if row["cache"] == cache]
        if len(same) > 1:
            print(f"cache {cache}: peak RSS at {same[-1]['requests']} vs {same[0]['requests']} requests: "
                  f"{same[-1]['peak_rss_mb'] / same[0]['peak_rss_mb']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Collector overhead: tasks per second end to end next to a bare aiohttp loop, and peak memory.

Against a local OpenAI-compatible server with no latency and no rate limit, it measures

* a bare aiohttp loop sending the same chat requests (the ceiling for this machine),
* our OpenAI model class alone in a loop (what the SDK itself costs), and
* the collector doing the whole job per task: the request through the real ``openai`` SDK
  and our rate limiter, extraction, validation, and the record appended to the session's
  JSONL (tests not run, cache off),

at 1k and 20k tasks, each in a fresh process so peak memory (max RSS) is that run's alone.
Memory should not grow with the task count: records go to disk, not into a list.

    python benchmarks/bench_overhead.py [--concurrency 32] [--sizes 1000 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "benchmarks" / "rate_limited_server.py"
MODELS_FILE = """
[[models]]
name = "bench"
provider = "openai"
model_params = { api_model = "bench-model", max_tokens = 256, temperature = 0.0 }
input_price = 1.0
output_price = 2.0
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def bare_loop(base_url: str, tasks: int, concurrency: int) -> float:
    """Requests per second of a plain aiohttp client posting the collector's kind of request."""
    import aiohttp

    body = {"model": "bench-model", "max_tokens": 256, "temperature": 0.0,
            "messages": [{"role": "system", "content": "You write Python."},
                         {"role": "user", "content": "Solve the problem. " * 40}]}
    headers = {"Authorization": "Bearer bench"}
    remaining = iter(range(tasks))

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            async with session.post(f"{base_url}/chat/completions", json=body, headers=headers) as response:
                await response.json()

    started = time.perf_counter()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return tasks / (time.perf_counter() - started)


async def sdk_loop(base_url: str, tasks: int, concurrency: int) -> float:
    """Requests per second of our OpenAI model class alone: the SDK with nothing around it."""
    from llm_solutions.models.base import Request
    from llm_solutions.models.registry import build_models, close_models, load_registry

    os.environ.update(OPENAI_API_KEY="bench", OPENAI_BASE_URL=base_url)
    registry = load_registry()
    [model] = build_models(registry, [registry.get("gpt-6-luna")])
    request = Request(messages=({"role": "system", "content": "You write Python."},
                                {"role": "user", "content": "Solve the problem. " * 40}), max_tokens=256)
    remaining = iter(range(tasks))

    async def worker() -> None:
        for _ in remaining:
            await model.generate(request)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = tasks / (time.perf_counter() - started)
    await close_models([model])
    return rate


async def collector(base_url: str, tasks: int, concurrency: int, out: Path) -> float:
    """Tasks per second of a real collection session of ``tasks`` tasks."""
    from llm_solutions.collection.runner import CollectionRunner
    from llm_solutions.collection.settings import CollectionSettings
    from llm_solutions.dataset import load_dataset

    problems = len(load_dataset().problems)
    samples = -(-tasks // problems)
    models_file = out / "models.toml"
    models_file.write_text(MODELS_FILE)
    os.environ.update(OPENAI_API_KEY="bench", OPENAI_BASE_URL=base_url)
    settings = CollectionSettings(
        models=["bench"], samples=samples, output_dir=str(out), session_id="bench", models_file=str(models_file),
        execute=False, cache={"enabled": False}, model_concurrency=concurrency,
        provider_concurrency=concurrency, rpm=10_000_000, tpm=10_000_000_000, checkpoint_every=100,
    )
    runner = CollectionRunner(settings, handle_signals=False)
    started = time.perf_counter()
    result = await runner.run()
    elapsed = time.perf_counter() - started
    assert result.status == "completed", result
    return result.completed / elapsed


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if args.child == "bare":
            rate = asyncio.run(bare_loop(args.url, args.tasks, args.concurrency))
        elif args.child == "sdk":
            rate = asyncio.run(sdk_loop(args.url, args.tasks, args.concurrency))
        else:
            rate = asyncio.run(collector(args.url, args.tasks, args.concurrency, Path(tmp)))
    print(json.dumps({"rate": rate, "peak_rss_mb": peak_rss_mb()}))


def measure(kind: str, url: str, tasks: int, concurrency: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--url", url, "--tasks", str(tasks),
         "--concurrency", str(concurrency)],
        capture_output=True, text=True, env={**os.environ, "LLM_SOLUTIONS_NO_DOTENV": "1"}, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{kind} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000])
    parser.add_argument("--child", choices=("bare", "sdk", "collector"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    port = free_port()
    server = subprocess.Popen([sys.executable, str(SERVER), "--port", str(port), "--rpm", "0", "--latency", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/v1"
        print(f"overhead benchmark: zero latency, no rate limit, concurrency {args.concurrency}, "
              f"{os.cpu_count()} cores")
        print(f"{'tasks':>7} {'bare aiohttp/s':>15} {'SDK alone/s':>12} {'collector/s':>12} "
              f"{'vs bare':>8} {'vs SDK':>7} {'bare MB':>8} {'collector MB':>13}")
        for size in args.sizes:
            bare = measure("bare", url, size, args.concurrency)
            sdk = measure("sdk", url, size, args.concurrency)
            full = measure("collector", url, size, args.concurrency)
            print(f"{size:7} {bare['rate']:15.0f} {sdk['rate']:12.0f} {full['rate']:12.0f} "
                  f"{full['rate'] / bare['rate']:8.2f} {full['rate'] / sdk['rate']:7.2f} "
                  f"{bare['peak_rss_mb']:8.0f} {full['peak_rss_mb']:13.0f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()

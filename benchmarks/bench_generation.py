"""Dataset generation throughput: accepted problems per second against the ideal, the share
of time verification takes, and memory as the dataset grows.

A local OpenAI-compatible server (``tests/support/fake_providers.py``, in its own process)
answers every worker call after ``--latency`` seconds with one good, distinct problem per
problem asked for (``tests/support/problem_factory.py``).  The generator runs the whole
path for each: the real ``openai`` SDK, our limiter and cache, answer parsing, the static
checks, the diversity index (exact, structural, MinHash LSH), the sandbox (tests twice,
two stubs) and the append to the dataset.  With nothing rejected, the ideal rate is
``max_concurrent x batch_size / latency``: every call in flight all the time.

Printed: accepted problems/s and its ratio to the ideal (target >= 0.8), the share of the
run during which at least one candidate was being verified, and the generator's resident
memory when 200 and when all problems were accepted (target: flat).

    python benchmarks/bench_generation.py [--problems 2000] [--latency 0.5]
                                           [--max-concurrent 4] [--batch-size 2]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODELS_FILE = """
[[models]]
name = "bench-worker"
provider = "openai"
model_params = { api_model = "bench-gen", max_tokens = 4096, temperature = 0.7 }
input_price = 0.1
output_price = 0.4
"""


def rss_mb() -> float:
    """The resident memory of this process now (not its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- the server, in its own process ----------------------------------------------------


async def serve(port: int, latency: float) -> None:
    from tests.support.fake_providers import FakeProviders
    from tests.support.fake_wire import Reply
    from tests.support.problem_factory import asked, batch_text, good_item, user_prompt

    numbers = itertools.count()

    def respond(api, body):
        _, _, levels, kind = asked(user_prompt(api, body))
        return Reply(text=batch_text([good_item(next(numbers), level, kind) for level in levels]))

    fake = await FakeProviders(port=port, latency=latency).start()
    fake.responder = respond
    print(f"FAKE_PROVIDERS_URL={fake.url}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    while not stop.is_set():
        fake.requests.clear()  # a benchmark server need not remember every request
        try:
            await asyncio.wait_for(stop.wait(), 5.0)
        except TimeoutError:
            pass
    await fake.stop()


# --- the generator ---------------------------------------------------------------------


async def generate(url: str, work: Path, problems: int, batch_size: int, max_concurrent: int) -> dict:
    from llm_solutions.generation import GenerationPlan, GenerationRunner

    os.environ.update(OPENAI_BASE_URL=f"{url}/v1", OPENAI_API_KEY="bench", LLM_SOLUTIONS_NO_DOTENV="1")
    (work / "models.toml").write_text(MODELS_FILE)
    half = problems // 2
    plan = GenerationPlan.load(
        {"categories": [{"name": "chains", "count": problems - half},
                        {"name": "machines", "count": half, "object": "class"}]},
        {"worker_model": "bench-worker", "output": str(work / "dataset"), "models_file": str(work / "models.toml"),
         "batch_size": batch_size, "max_concurrent": max_concurrent, "rpm": 1_000_000, "tpm": 10**10},
        env={})
    runner = GenerationRunner(plan, handle_signals=False)
    memory: dict[int, float] = {}

    async def sample() -> None:
        marks = sorted({200, problems // 2, problems})
        while marks:
            tally = getattr(runner, "tally", None)
            done = tally.accepted_total if tally is not None else 0
            while marks and done >= marks[0]:
                memory[marks.pop(0)] = rss_mb()
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    result = await runner.run()
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.1)
    sampler.cancel()
    return {"result": result, "elapsed": elapsed, "memory": memory}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.5, help="seconds the server takes per call")
    parser.add_argument("--max-concurrent", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--serve", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        asyncio.run(serve(args.serve, args.latency))
        return 0

    server = subprocess.Popen([sys.executable, __file__, "--serve", "0", "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip().split("=", 1)[1]
        with tempfile.TemporaryDirectory() as tmp:
            found = asyncio.run(generate(url, Path(tmp), args.problems, args.batch_size, args.max_concurrent))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    result, elapsed, memory = found["result"], found["elapsed"], found["memory"]
    report = result.report
    timing = report["timing"]
    ideal = args.max_concurrent * args.batch_size / args.latency
    rate = result.accepted / elapsed
    print(f"generated {result.accepted}/{args.problems} problems ({result.status}), {result.rejected} rejected, "
          f"{report['calls']['calls']} worker calls, in {elapsed:.1f} s")
    print(f"accepted: {rate:.2f} problems/s; ideal {args.max_concurrent} x {args.batch_size} / {args.latency:g} s "
          f"= {ideal:.2f}/s; ratio {rate / ideal:.2f} (target >= 0.80)")
    print(f"verification: busy {timing['verification_busy_seconds']:.1f} s of {timing['this_run_seconds']:.1f} s "
          f"({100 * timing['verification_share']:.0f}% of the run); {timing['verification_seconds']:.1f} s "
          f"summed over {timing['verified_this_run']} candidates "
          f"({1000 * timing['verification_seconds'] / max(1, timing['verified_this_run']):.0f} ms each)")
    marks = sorted(memory)
    print("memory (generator RSS): " + ", ".join(f"{memory[m]:.1f} MB at {m}" for m in marks))
    if len(marks) >= 2:
        first, last = memory[marks[0]], memory[marks[-1]]
        print(f"growth from {marks[0]} to {marks[-1]} problems: {last - first:+.1f} MB ({last / first:.3f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

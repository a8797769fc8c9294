"""How many requests per second each provider SDK sustains, per HTTP transport.

Starts the fake provider server in a child process (loopback only, so client and server
do not share one event loop) with a fixed answer delay,
sends a bounded number of requests at a fixed concurrency through each provider class,
and prints throughput and client-side overhead (latency above the server's delay).  It
compares the aiohttp transport the provider modules use with the SDKs' default httpx
transport.  Run from the repository root::

    python benchmarks/bench_provider_transport.py [--requests 600] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anthropic  # noqa: E402
import openai  # noqa: E402

from llm_solutions.models.anthropic import AnthropicModel  # noqa: E402
from llm_solutions.models.base import BaseModel, Request  # noqa: E402
from llm_solutions.models.config import ModelConfig  # noqa: E402
from llm_solutions.models.google import GoogleModel  # noqa: E402
from llm_solutions.models.openai import OpenAIModel  # noqa: E402

REQUEST = Request(messages=({"role": "user", "content": "Write solve(x)."},), max_tokens=256)


def _httpx_openai(url: str) -> Any:
    return openai.AsyncOpenAI(api_key="sk-bench", base_url=url + "/v1", max_retries=0, timeout=60)


def _httpx_anthropic(url: str) -> Any:
    return anthropic.AsyncAnthropic(api_key="bench", base_url=url, max_retries=0, timeout=60)


async def _run(model: BaseModel, requests: int, concurrency: int, delay: float) -> tuple[float, float, float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one() -> None:
        async with gate:
            started = time.perf_counter()
            await model.generate(REQUEST)
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(one() for _ in range(min(concurrency, requests))))  # warm-up: connections, imports
    latencies.clear()
    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(requests)))
    elapsed = time.perf_counter() - started
    overhead = [(lat - delay) * 1000 for lat in latencies]
    return requests / elapsed, statistics.median(overhead), statistics.quantiles(overhead, n=20)[-1]


async def _start_server(delay: float) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.fake_providers", "--port", "0", "--latency", str(delay),
        stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
    )
    assert process.stdout is not None
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
    return process, line.split("=", 1)[1]


async def main(requests: int, concurrency: int, delay: float) -> None:
    process, url = await _start_server(delay)
    try:
        cases: list[tuple[str, type[BaseModel], str, Any]] = [
            ("openai    aiohttp", OpenAIModel, "gpt-6-luna", OpenAIModel.create_client("sk-bench", url + "/v1")),
            ("openai    httpx", OpenAIModel, "gpt-6-luna", _httpx_openai(url)),
            ("anthropic aiohttp", AnthropicModel, "claude-haiku-5-5", AnthropicModel.create_client("b", url)),
            ("anthropic httpx", AnthropicModel, "claude-haiku-5-5", _httpx_anthropic(url)),
            ("gemini    aiohttp", GoogleModel, "gemini-3.8-flash", GoogleModel.create_client("b", url)),
        ]
        print(f"{requests} requests, concurrency {concurrency}, server delay {delay * 1000:.0f} ms")
        print(f"{'provider/transport':20} {'req/s':>8} {'overhead p50 ms':>16} {'p95 ms':>8}")
        for label, cls, name, client in cases:
            config = ModelConfig(name=name, provider=cls.provider, reasoning=True, model_params={"api_model": name})
            model = cls(config, client=client)
            rate, p50, p95 = await _run(model, requests, concurrency, delay)
            print(f"{label:20} {rate:8.0f} {p50:16.1f} {p95:8.1f}")
            await cls.close_client(client)
    finally:
        process.terminate()
        await process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.05, help="server answer delay in seconds")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.delay))

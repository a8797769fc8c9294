"""How the limiter holds up against a provider's real limits: rate achieved, 429s, recovery.

Requests go through the real stack: ``Caller`` -> ``ProviderLimiter`` -> the real
``openai`` or ``anthropic`` SDK -> a local server (``rate_limited_server.py``, on its own
thread and event loop) that enforces a sliding 60 s window and answers with OpenAI's or
Anthropic's real 429 bodies and headers.  The last two scenarios run the real
``collect`` command in a subprocess.  The server's own clock and counts are the
measurement; each scenario prints its figure next to its goal.

  known-openai, known-anthropic   limit known, configured exactly (300/min): >= 98%, 0 429s
  unknown-headers, unknown-bare   limit 300/min unknown, configured 1,200/min, with and
                                  without quota headers: >= 90% after the first minute, <= 1% 429s
  random-room, random-bare        2% random 429s, no real limit, ceiling 600/min (quota headers
                                  showing room, or none): >= 80% of the ceiling over 3 minutes
  burst                           60 s of 429s for everything, then none: >= 90% of the ceiling
                                  within 60 s of the end
  tpm                             30,000 tokens/min binding, 1 s latency, answers of ~30 tokens
                                  with max_tokens 4,096: >= 90% of the TPM, <= 1% 429s
  latency                         1 s latency, no limit, 50 in flight: >= 95% of 50/s
  accounting                      30% of answers empty (billed, then retried): the records'
                                  tokens equal the server's billed tokens
  down                            the server stops mid-run: provider paused within 10 s, its
                                  models stopped with one message, exit code 1

    python benchmarks/bench_rate_limits.py                     # everything, ~45 minutes
    python benchmarks/bench_rate_limits.py --only tpm burst --verbose
    python benchmarks/bench_rate_limits.py --scale 0.3         # a quick look (figures not final)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rate_limited_server import OUTPUT_TOKENS, ServerConfig, ServerStats, ServerThread

from llm_solutions.calls import Caller
from llm_solutions.limits import LimiterPool, RetryPolicy
from llm_solutions.models.anthropic import AnthropicModel
from llm_solutions.models.base import BaseModel, Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.openai import OpenAIModel
from llm_solutions.models.registry import load_registry

ROOT = Path(__file__).resolve().parents[1]
REQUEST = Request(
    messages=(
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write solve(values) returning the sorted distinct values. " * 8},
    ),
    max_tokens=4096,
)


@dataclass
class Row:
    key: str
    title: str
    goal: str
    measured: str
    met: bool


@dataclass
class Drive:
    """One run of callers against the server: its stats and the callers' failures."""

    stats: ServerStats
    started: float
    failed: int
    pool: LimiterPool


def build_model(api: str, url: str, provider: str, concurrency: int) -> BaseModel:
    if api == "anthropic":
        config = ModelConfig(name="bench", provider="anthropic", model_params={"api_model": "bench"})
        client = AnthropicModel.create_client("sk-bench", url, max_connections=concurrency * 2)
        return AnthropicModel(config, api_key="sk-bench", base_url=url, client=client)
    config = ModelConfig(name="bench", provider=provider, model_params={"api_model": "bench"})
    client = OpenAIModel.create_client("sk-bench", url + "/v1", max_connections=concurrency * 2)
    return OpenAIModel(config, api_key="sk-bench", base_url=url + "/v1", client=client)


async def drive(server_config: ServerConfig, *, api: str = "openai", provider: str = "openai_compatible",
                rpm: float, tpm: float | None = None, max_concurrent: int = 32, workers: int = 64,
                seconds: float, verbose: bool = False) -> Drive:
    """Callers asking as fast as the limiter lets them, for ``seconds``."""
    loop = asyncio.get_running_loop()
    with ServerThread(server_config) as server:
        model = build_model(api, server.url, provider, max_concurrent)
        pool = LimiterPool(load_registry(), rpm=rpm, tpm=tpm or 10**12, max_concurrent=max_concurrent)
        caller = Caller(pool, policy=RetryPolicy(rng=random.Random(1)), timeout=60.0)
        deadline = loop.time() + seconds
        failed = 0
        started = time.monotonic()

        async def worker() -> None:
            nonlocal failed
            while loop.time() < deadline:
                if not (await caller.call(model, REQUEST)).ok:
                    failed += 1

        async def monitor() -> None:
            stats = server.server.stats
            while True:
                await asyncio.sleep(10)
                now = time.monotonic()
                recent = sum(1 for t in stats.accepted_at if t >= now - 10) * 6
                print(f"    t={now - started:4.0f}s {pool.status()} server accepted {recent}/min "
                      f"requests={stats.requests} 429s={stats.rejected}", flush=True)

        tasks = [asyncio.create_task(worker()) for _ in range(workers)]
        watcher = asyncio.create_task(monitor()) if verbose else None
        await asyncio.sleep(seconds)
        for task in [*tasks, *([watcher] if watcher else [])]:
            task.cancel()
        await asyncio.gather(*tasks, *([watcher] if watcher else []), return_exceptions=True)
        await type(model).close_client(model.client)
        return Drive(server.server.stats, server.server.stats.first_request or started, failed, pool)


def rate(stats: ServerStats, start: float, end: float) -> float:
    """Requests per minute the server accepted in ``[start, end)`` (its clock)."""
    return sum(1 for t in stats.accepted_at if start <= t < end) / (end - start) * 60.0


# --- the scenarios ------------------------------------------------------------------------


def known(api: str, scale: float, verbose: bool) -> Row:
    limit, seconds = 300.0, 300 * scale
    run = asyncio.run(drive(ServerConfig(rpm=limit, mode="window"), api=api, rpm=limit, seconds=seconds,
                            verbose=verbose))
    achieved = rate(run.stats, run.started, run.started + seconds)
    return Row(f"known-{api}", f"known limit, configured exactly ({api} 429s and headers)",
               ">= 98% of the limit, 0 429s", f"{achieved:.0f}/min ({achieved / limit:.1%}), {run.stats.rejected} 429s",
               achieved >= 0.98 * limit and run.stats.rejected == 0)


def unknown(headers: bool, scale: float, verbose: bool) -> Row:
    limit, seconds, warmup = 300.0, 300 * scale, 60.0
    run = asyncio.run(drive(ServerConfig(rpm=limit, mode="window", quota_headers=headers), rpm=4 * limit,
                            seconds=seconds, verbose=verbose))
    achieved = rate(run.stats, run.started + warmup, run.started + seconds)
    share = run.stats.rejected / max(1, run.stats.requests)
    which = "with quota headers" if headers else "429s only"
    return Row(f"unknown-{'headers' if headers else 'bare'}", f"unknown limit, configured 4x too high, {which}",
               ">= 90% of the limit after 60 s, <= 1% 429s",
               f"{achieved:.0f}/min ({achieved / limit:.1%}), {share:.2%} 429s ({run.stats.rejected})",
               achieved >= 0.9 * limit and share <= 0.01)


def random_429s(headers: bool, scale: float, verbose: bool) -> Row:
    ceiling, seconds = 600.0, 180 * scale
    run = asyncio.run(drive(ServerConfig(rpm=None, random_429=0.02, quota_headers=headers), rpm=ceiling,
                            seconds=seconds, verbose=verbose))
    achieved = rate(run.stats, run.started, run.started + seconds)
    which = "quota headers show room" if headers else "no quota headers"
    return Row(f"random-{'room' if headers else 'bare'}", f"2% random 429s, no real limit ({which})",
               ">= 80% of the ceiling over 3 minutes",
               f"{achieved:.0f}/min ({achieved / ceiling:.1%}), {run.stats.rejected} 429s",
               achieved >= 0.8 * ceiling)


def burst(scale: float, verbose: bool) -> Row:
    ceiling = 600.0
    start, end = 30.0 * scale, 90.0 * scale
    run = asyncio.run(drive(ServerConfig(rpm=None, quota_headers=False, burst_429=(start, end)), rpm=ceiling,
                            seconds=end + 90.0, verbose=verbose))
    over = run.started + end
    back = next((t for t in range(0, 90) if rate(run.stats, over + t, over + t + 10) >= 0.9 * ceiling), None)
    minute = rate(run.stats, over + 50, over + 60)
    shown = f"{back} s" if back is not None else "not within 90 s"
    return Row("burst", f"recovery after a {end - start:.0f} s burst of 429s stops",
               ">= 90% of the ceiling within 60 s",
               f"10-s rate >= 90% after {shown}; {minute / ceiling:.0%} in the 10 s to +60 s",
               back is not None and back + 10 <= 60)


def tpm(scale: float, verbose: bool) -> Row:
    limit, seconds, warmup = 30_000.0, 300 * scale, 60.0
    run = asyncio.run(drive(ServerConfig(rpm=None, tpm=limit, latency=1.0), rpm=100_000, tpm=limit,
                            seconds=seconds, verbose=verbose))
    start, end = run.started + warmup, run.started + seconds
    tokens = sum(amount for t, amount in run.stats.tokens_at if start <= t < end) / (end - start) * 60.0
    share = run.stats.rejected / max(1, run.stats.requests)
    return Row("tpm", f"TPM limit binding, 1 s latency, answers of {OUTPUT_TOKENS} tokens (max_tokens 4096)",
               ">= 90% of the TPM limit, <= 1% 429s",
               f"{tokens:,.0f} tokens/min ({tokens / limit:.1%}), {share:.2%} 429s ({run.stats.rejected})",
               tokens >= 0.9 * limit and share <= 0.01)


def latency(scale: float, verbose: bool) -> Row:
    seconds = max(20.0, 60 * scale)
    run = asyncio.run(drive(ServerConfig(rpm=None, latency=1.0), rpm=1_000_000, max_concurrent=50, workers=100,
                            seconds=seconds, verbose=verbose))
    per_second = rate(run.stats, run.started + 3, run.started + seconds) / 60.0
    return Row("latency", "latency hiding (1 s latency, 50 in flight, no limit)", ">= 95% of 50/s",
               f"{per_second:.1f}/s ({per_second / 50:.1%})", per_second >= 0.95 * 50)


# --- the collect command against the server -----------------------------------------------


def collect(url: str, out: Path, categories: list[str], samples: int, log: Callable[[str], None] | None = None
            ) -> tuple[int, list[str]]:
    """Run ``collect`` against the server; its exit code and its stderr lines."""
    env = {**os.environ, "OPENAI_COMPATIBLE_BASE_URL": url + "/v1", "OPENAI_COMPATIBLE_MODEL": "bench",
           "LLM_SOLUTIONS_NO_DOTENV": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "llm_solutions", "collect", "--models", "local-openai-compatible",
               "--categories", *categories, "--samples", str(samples), "--no-execute", "--no-cache", "--no-progress",
               "--model-concurrency", "8", "--output-dir", str(out), "--session-id", "bench"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line.rstrip("\n"))
        if log is not None:
            log(line.rstrip("\n"))
    process.wait()
    return process.returncode, lines


def accounting(scale: float, verbose: bool) -> Row:
    with ServerThread(ServerConfig(rpm=None, latency=0.05, empty_share=0.3)) as server, \
            tempfile.TemporaryDirectory() as tmp:
        code, _ = collect(server.url, Path(tmp), ["enum", "json", "regex", "typing"], 3)
        records = [json.loads(line) for path in (Path(tmp) / "bench").glob("*/*.jsonl")
                   for line in path.read_text().splitlines()]
        stats = server.server.stats
    tokens_in = sum(r["input_tokens"] for r in records)
    tokens_out = sum(r["output_tokens"] for r in records)
    billed = sum(r["billed_attempts"] for r in records)
    met = tokens_in == stats.billed_input and tokens_out == stats.billed_output and billed == stats.answered
    return Row("accounting", f"usage accounting, {stats.empty / max(1, stats.answered):.0%} of answers empty "
               "(billed, then retried)", "records' tokens == server's billed tokens",
               f"records {tokens_in:,}+{tokens_out:,} tokens in {billed} billed attempts; server "
               f"{stats.billed_input:,}+{stats.billed_output:,} in {stats.answered} "
               f"({len(records)} records, exit {code})", met)


def down(scale: float, verbose: bool) -> Row:
    stop_after = 20.0
    stamped: list[tuple[float, str]] = []

    def log(line: str) -> None:
        stamped.append((time.monotonic(), line))
        if verbose:
            print("    |", line, flush=True)

    with ServerThread(ServerConfig(rpm=None, latency=0.5)) as server, tempfile.TemporaryDirectory() as tmp:
        stopped_at: list[float] = []

        def stop() -> None:
            time.sleep(stop_after)
            server.stop_serving()
            stopped_at.append(time.monotonic())

        threading.Thread(target=stop, daemon=True).start()
        code, _ = collect(server.url, Path(tmp), ["enum", "json", "regex", "typing", "sorting", "closure"], 10, log)
        progress = json.loads((Path(tmp) / "bench" / "progress.json").read_text())
        summary = json.loads((Path(tmp) / "bench" / "summary.json").read_text())
        answered = server.server.stats.answered
    paused = next((t for t, line in stamped if "cannot be reached" in line), None)
    gave_up = [line for _, line in stamped if " ERROR " in line and "cannot reach" in line]
    errors = [line for _, line in stamped if " ERROR " in line or " WARNING " in line]
    after = (paused - stopped_at[0]) if paused is not None and stopped_at else None
    calls_after = summary["collection_metadata"].get("api_calls", 0) - answered
    measured = (f"paused {after:.1f} s after the stop; {len(gave_up)} stop message; {len(errors)} warning/error "
                f"lines; {calls_after} requests after the stop; status {progress['status']}, exit {code}"
                if after is not None else f"never paused; exit {code}")
    met = after is not None and after <= 10.0 and len(gave_up) == 1 and code == 1 and \
        progress["status"] == "interrupted"
    return Row("down", "server stopped mid-run (connection refused)",
               "paused within 10 s; models stopped with one message; exit 1", measured, met)


SCENARIOS: dict[str, Callable[[float, bool], Row]] = {
    "known-openai": lambda s, v: known("openai", s, v),
    "known-anthropic": lambda s, v: known("anthropic", s, v),
    "unknown-headers": lambda s, v: unknown(True, s, v),
    "unknown-bare": lambda s, v: unknown(False, s, v),
    "random-room": lambda s, v: random_429s(True, s, v),
    "random-bare": lambda s, v: random_429s(False, s, v),
    "burst": burst,
    "tpm": tpm,
    "latency": latency,
    "accounting": accounting,
    "down": down,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="scenarios to run")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply durations (0.3 for a quick look)")
    parser.add_argument("--verbose", action="store_true", help="limiter status every 10 s, and its log lines")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="    %(message)s")
    if args.verbose:
        logging.getLogger("llm_solutions.limits").setLevel(logging.INFO)
    rows = []
    for key in args.only or list(SCENARIOS):
        print(f"running {key} ...", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            row = SCENARIOS[key](args.scale, args.verbose)
            rows.append(row)
            print(f"  {row.measured}  (goal: {row.goal}) {'met' if row.met else 'NOT MET'}", flush=True)
    print()
    print(f"{'scenario':<72} {'goal':<46} {'measured':<70} met")
    print("-" * 196)
    for row in rows:
        print(f"{row.title:<72} {row.goal:<46} {row.measured:<70} {'yes' if row.met else 'NO'}")
    print(f"\nscale {args.scale}; the server enforces a sliding 60 s window and answers with real 429 bodies "
          "and headers; figures are by the server's clock.")


if __name__ == "__main__":
    main()

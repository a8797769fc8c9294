"""How close the limiter gets to a provider's real limit: rate achieved, 429s, throughput.

Requests go through the real stack: ``Caller`` -> ``ProviderLimiter`` -> ``OpenAIModel``
(the ``openai`` SDK) -> a local server enforcing an RPM limit with real 429s
(``rate_limited_server.py``, on its own thread and event loop).  The server's own clock
and counts are the measurement.  Scenarios:

1. known limit: the collector is configured at the server's RPM; target >= 95% of it
   with zero 429s.
2. unknown limit: the collector is configured at twice the server's RPM; target >= 85% of
   the limit after convergence with <= 2% of requests answered 429.  Run with the quota
   headers on successful answers (as OpenAI sends them), and without them (429s are the
   only signal: pure AIMD).
3. latency hiding: 1 s latency, no limit, concurrency C; target >= 90% of C per second.

    python benchmarks/bench_rate_limits.py            # all scenarios, ~6 minutes
    python benchmarks/bench_rate_limits.py --only 2b --verbose
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from rate_limited_server import ServerConfig, ServerThread

from llm_solutions.calls import Caller
from llm_solutions.limits import LimiterPool, RetryPolicy
from llm_solutions.models.base import Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.openai import OpenAIModel
from llm_solutions.models.registry import load_registry

REQUEST = Request(
    messages=(
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write solve(values) returning the sorted distinct values. " * 8},
    ),
    max_tokens=256,
)


@dataclass
class Scenario:
    key: str
    title: str
    server: ServerConfig
    rpm: float
    max_concurrent: int
    duration: float
    warmup: float
    workers: int


@dataclass
class Result:
    scenario: Scenario
    rate: float  # accepted requests per minute in the measured window
    overall_rate: float
    requests: int
    rejected: int
    answered: int
    failed: int


async def run(scenario: Scenario, verbose: bool) -> Result:
    loop = asyncio.get_running_loop()
    with ServerThread(scenario.server) as server:
        config = ModelConfig(name="bench", provider="openai", model_params={"api_model": "bench", "max_tokens": 256})
        client = OpenAIModel.create_client("sk-bench", server.base_url, max_connections=scenario.max_concurrent * 2)
        model = OpenAIModel(config, api_key="sk-bench", base_url=server.base_url, client=client)
        # Only the request rate and concurrency are under test; tokens are left unlimited.
        pool = LimiterPool(load_registry(), rpm=scenario.rpm, tpm=10**12, max_concurrent=scenario.max_concurrent)
        caller = Caller(pool, policy=RetryPolicy(), timeout=30.0)
        deadline = loop.time() + scenario.duration
        failed = 0

        async def worker() -> None:
            nonlocal failed
            while loop.time() < deadline:
                if not (await caller.call(model, REQUEST)).ok:
                    failed += 1

        async def monitor() -> None:
            stats = server.server.stats
            while True:
                await asyncio.sleep(10)
                print(f"    {scenario.key} t={loop.time() - deadline + scenario.duration:5.0f}s "
                      f"{pool.status()} requests={stats.requests} 429s={stats.rejected}", flush=True)

        tasks = [asyncio.create_task(worker()) for _ in range(scenario.workers)]
        watcher = asyncio.create_task(monitor()) if verbose else None
        await asyncio.sleep(scenario.duration)
        for task in [*tasks, watcher]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*tasks, *(t for t in [watcher] if t), return_exceptions=True)
        await OpenAIModel.close_client(client)
    stats = server.server.stats
    start = stats.first_request or time.monotonic()
    window = (start + scenario.warmup, start + scenario.duration)
    in_window = sum(1 for t in stats.accepted_at if window[0] <= t < window[1])
    overall = sum(1 for t in stats.accepted_at if t < window[1])
    return Result(
        scenario=scenario,
        rate=in_window / (window[1] - window[0]) * 60.0,
        overall_rate=overall / scenario.duration * 60.0,
        requests=stats.requests,
        rejected=stats.rejected,
        answered=stats.answered,
        failed=failed,
    )


def scenarios(scale: float, mode: str) -> list[Scenario]:
    limit = 600.0
    # A sliding window remembers a minute: the warm-up must cover the pause it imposes
    # after the first minute's burst, or the measurement is of that pause.
    warmup = 60.0 if mode == "window" else 30 * scale
    return [
        Scenario("1", "known limit (configured = server RPM)", ServerConfig(rpm=limit, latency=0.2, mode=mode),
                 rpm=limit, max_concurrent=32, duration=60 * scale, warmup=0, workers=64),
        Scenario("2a", "unknown limit (configured 2x), quota headers",
                 ServerConfig(rpm=limit / 2, latency=0.2, mode=mode),
                 rpm=limit, max_concurrent=32, duration=max(120 * scale, warmup + 30), warmup=warmup, workers=64),
        Scenario("2b", "unknown limit (configured 2x), 429s only",
                 ServerConfig(rpm=limit / 2, latency=0.2, mode=mode, quota_headers=False),
                 rpm=limit, max_concurrent=32, duration=max(120 * scale, warmup + 30), warmup=warmup, workers=64),
        Scenario("3", "latency hiding (1 s latency, C=50, no limit)", ServerConfig(rpm=None, latency=1.0),
                 rpm=1_000_000, max_concurrent=50, duration=30 * scale, warmup=3, workers=100),
    ]


def verdict(result: Result) -> tuple[str, str, bool]:
    """(target, measured, met) for the table."""
    s = result.scenario
    share = result.rejected / max(1, result.requests)
    if s.key == "1":
        met = result.rate >= 0.95 * s.server.rpm and result.rejected == 0  # type: ignore[operator]
        return (f">= {0.95 * s.server.rpm:.0f}/min, 0 429s",  # type: ignore[operator]
                f"{result.rate:.0f}/min, {result.rejected} 429s", met)
    if s.key.startswith("2"):
        limit = float(s.server.rpm or 0)
        met = result.rate >= 0.85 * limit and share <= 0.02
        return (f">= {0.85 * limit:.0f}/min, <= 2% 429s",
                f"{result.rate:.0f}/min ({result.rate / limit:.0%}), {share:.1%} 429s", met)
    per_second = result.rate / 60.0
    return (f">= {0.9 * s.max_concurrent:.0f}/s", f"{per_second:.1f}/s", per_second >= 0.9 * s.max_concurrent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="scenario keys to run (1, 2a, 2b, 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply durations (0.5 for a quick run)")
    parser.add_argument("--server-mode", choices=("bucket", "window"), default="bucket",
                        help="how the server enforces its limit (see rate_limited_server.py)")
    parser.add_argument("--verbose", action="store_true", help="limiter status every 10 s, and pause logs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="    %(message)s")
    if args.verbose:
        logging.getLogger("llm_solutions.limits").setLevel(logging.INFO)
    chosen = [s for s in scenarios(args.scale, args.server_mode) if not args.only or s.key in args.only]
    results = []
    for scenario in chosen:
        print(f"running {scenario.key}: {scenario.title} ({scenario.duration:.0f} s)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            results.append(asyncio.run(run(scenario, args.verbose)))
    print()
    header = f"{'scenario':<50} {'target':<24} {'measured':<30} {'overall':>12} {'requests':>9} {'429s':>6}  met"
    print(header)
    print("-" * len(header))
    for result in results:
        target, measured, met = verdict(result)
        s = result.scenario
        print(f"{s.key + '. ' + s.title:<50} {target:<24} {measured:<30} "
              f"{result.overall_rate:>8.0f}/min {result.requests:>9} {result.rejected:>6}  {'yes' if met else 'NO'}")
    print(f"\nserver enforcement: {args.server_mode}; 'measured' is the rate the server accepted "
          "after the warm-up; 'overall' includes it.")


if __name__ == "__main__":
    main()

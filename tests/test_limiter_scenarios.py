"""Whole scenarios on the virtual-time loop: the caller and its limiter against a provider
that enforces a sliding 60 s window with OpenAI's and Anthropic's 429 bodies and headers
(``tests/support/simulated_provider.py``).

Each scenario of the issue's table runs here in simulated minutes, so the behaviour is
checked exactly and quickly; ``benchmarks/bench_rate_limits.py`` measures the same
scenarios against a real server through the real SDKs.  Figures are what the simulated
server accepted, by its own clock.
"""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from support.simulated_provider import SimulatedModel, SimulatedServer, wall_clock
from support.virtual_time import run_virtual

from llm_solutions.calls import Caller, CallResult
from llm_solutions.collection.records import build_record
from llm_solutions.collection.tasks import Task
from llm_solutions.dataset import load_dataset
from llm_solutions.errors import AuthenticationError
from llm_solutions.limits import LimiterPool, ProviderDownError, RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ProviderConfig
from llm_solutions.models.registry import Registry

REQUEST = Request(messages=({"role": "user", "content": "x" * 400},), max_tokens=4096)


def registry() -> Registry:
    return Registry(providers={"sim": ProviderConfig(name="sim", model_class="x:Y")}, models={})


async def drive(server: SimulatedServer, *, rpm: float, tpm: float | None = None, max_concurrent: int = 64,
                workers: int = 128, seconds: float, model: BaseModel | None = None, finish: bool = False,
                **options: object) -> tuple[list[CallResult], LimiterPool]:
    """Callers asking as fast as the limiter lets them, for ``seconds`` of loop time (then
    cancelled, or with ``finish`` left to end the calls they started)."""
    loop = asyncio.get_running_loop()
    pool = LimiterPool(registry(), rpm=rpm, tpm=tpm or 10**12, max_concurrent=max_concurrent,
                       wall_clock=wall_clock, **options)
    caller = Caller(pool, policy=RetryPolicy(rng=random.Random(3)), timeout=120)
    the_model = model or SimulatedModel(server)
    end = loop.time() + seconds
    results: list[CallResult] = []

    async def worker() -> None:
        while loop.time() < end:
            result = await caller.call(the_model, REQUEST)
            results.append(result)
            if result.stopped:
                return

    tasks = [asyncio.create_task(worker()) for _ in range(workers)]
    await asyncio.sleep(seconds)
    if not finish:
        for task in tasks:
            task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return results, pool


def per_minute(server: SimulatedServer, start: float, end: float) -> float:
    return server.accepted_between(start, end) / (end - start) * 60.0


@pytest.mark.parametrize("style", ["openai", "anthropic"])
def test_a_known_limit_configured_exactly_runs_just_under_it_without_a_429(style):
    server = SimulatedServer(rpm=300, style=style)
    run_virtual(drive(server, rpm=300, seconds=300))
    assert server.refused == 0
    assert per_minute(server, 0, 300) >= 0.98 * 300


@pytest.mark.parametrize("style", ["openai", "anthropic"])
@pytest.mark.parametrize("headers", [True, False], ids=["quota-headers", "429s-only"])
def test_an_unknown_limit_configured_four_times_too_high_is_found(style, headers):
    server = SimulatedServer(rpm=300, style=style, quota_headers=headers)
    run_virtual(drive(server, rpm=1200, seconds=300))
    assert per_minute(server, 60, 300) >= 0.9 * 300
    assert server.refused <= 0.01 * server.requests


@pytest.mark.parametrize("headers", [True, False], ids=["headers-show-room", "no-headers"])
def test_random_429s_without_a_real_limit_keep_most_of_the_ceiling(headers):
    # 2% of requests refused at random (Retry-After 1 s), nothing else limits.
    server = SimulatedServer(rpm=100_000 if headers else None, random_429=0.02, quota_headers=headers)
    _, pool = run_virtual(drive(server, rpm=600, seconds=180))
    assert per_minute(server, 0, 180) >= 0.8 * 600
    assert pool.limiters[0].requests.limit is None  # nothing learned from 429s that were not ours


def test_the_rate_is_back_near_the_ceiling_within_a_minute_of_a_burst_of_429s():
    server = SimulatedServer(rpm=None, burst=(30.0, 90.0))
    run_virtual(drive(server, rpm=600, seconds=180))
    assert server.accepted_between(30, 90) == 0
    assert per_minute(server, 140, 150) >= 0.9 * 600  # the tenth 10 s after the burst
    assert per_minute(server, 150, 180) >= 0.95 * 600


def test_a_binding_token_limit_at_1_s_latency_is_used_fully():
    # Answers of 200 tokens with max_tokens 4096: reserving max_tokens would allow one
    # request at a time; the learned reservation keeps the limit busy.
    server = SimulatedServer(rpm=None, tpm=30_000, latency=1.0, output_tokens=200)
    run_virtual(drive(server, rpm=100_000, tpm=30_000, seconds=300))
    billed = server.billed_input + server.billed_output
    assert billed / 5 >= 0.9 * 30_000  # tokens per minute over the five minutes
    assert server.refused <= 0.01 * server.requests


def test_latency_is_hidden_by_requests_in_flight():
    server = SimulatedServer(rpm=None, latency=1.0)
    run_virtual(drive(server, rpm=1_000_000, max_concurrent=50, seconds=60))
    assert server.accepted_between(5, 60) / 55 >= 0.95 * 50


def test_records_account_for_every_billed_attempt():
    # 30% of answers come back empty: billed, then retried.  The records must add up to
    # what the server billed.
    server = SimulatedServer(rpm=None, empty_share=0.3, latency=0.1)
    results, _ = run_virtual(drive(server, rpm=6000, seconds=30, workers=8, finish=True))
    problem = load_dataset().problems[0]
    records = [build_record(Task(problem, "sim-model", 0), result, None, execution_time=0.1)
               for result in results if not result.stopped]
    assert sum(r["input_tokens"] for r in records) == server.billed_input
    assert sum(r["output_tokens"] for r in records) == server.billed_output
    assert sum(r["billed_attempts"] for r in records) == server.requests - server.refused
    assert any(r["billed_attempts"] > 1 for r in records)
    # each record lists its billed attempts, and they add up to its totals
    assert all(len(r["billed"]) == r["billed_attempts"] for r in records)
    assert all(sum(a["output_tokens"] for a in r["billed"]) == r["output_tokens"] for r in records)
    assert all(abs(sum(a["cost"] for a in r["billed"]) - r["cost"]) < 1e-7 for r in records)


def test_a_server_that_stops_answering_is_paused_probed_then_given_up(caplog):
    server = SimulatedServer(rpm=None, down=(20.0, 10**9))
    with caplog.at_level(logging.INFO, logger="llm_solutions"):
        results, _ = run_virtual(drive(server, rpm=600, seconds=200, give_up_after=120.0))
    down = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert down == ["sim: http://sim cannot be reached (connection refused, 3 failures in a row); holding its "
                    "requests and probing it one request at a time"]
    stopped = [r for r in results if r.stopped]
    assert len(stopped) == 128 and all(isinstance(r.error, ProviderDownError) for r in stopped)
    # while down, one request at a time probed it: a dozen requests, not 128 tasks x 6 attempts
    assert server.requests - server.accepted_between(0, 20) <= 3 + 16
    assert not [r for r in results if not r.ok and not r.stopped]  # no task spent its attempts on it
    gave_up = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(gave_up) == 1 and "cannot reach http://sim since" in gave_up[0]
    assert "its models are stopped" in gave_up[0]


def test_a_server_back_within_the_limit_is_used_again():
    server = SimulatedServer(rpm=None, down=(20.0, 50.0))
    results, _ = run_virtual(drive(server, rpm=600, seconds=120))
    assert not any(r.stopped for r in results)
    assert per_minute(server, 70, 120) >= 0.95 * 594


class Unauthorised(BaseModel):
    """Every request is refused with a 401 after a short wait."""

    provider = "sim"

    def __init__(self) -> None:
        super().__init__(SimulatedModel(SimulatedServer()).config, api_key="bad")
        self.calls = 0

    async def generate(self, request: Request) -> Completion:
        self.calls += 1
        await asyncio.sleep(0.05)
        raise AuthenticationError("sim: invalid api key", provider="sim", status=401)


def test_a_model_stopping_error_cancels_that_models_queued_requests_at_once():
    async def body():
        model = Unauthorised()
        # one request a second, 10 callers: after the first 401 the other nine must not go out
        pool = LimiterPool(registry(), rpm=60, max_concurrent=10)
        caller = Caller(pool, policy=RetryPolicy(rng=random.Random(1)))
        results = await asyncio.gather(*(caller.call(model, REQUEST) for _ in range(10)))
        return model.calls, results, asyncio.get_running_loop().time()

    calls, results, elapsed = run_virtual(body())
    assert calls == 1 and elapsed < 1.0
    assert sum(1 for r in results if isinstance(r.error, AuthenticationError) and not r.stopped) == 1
    assert sum(1 for r in results if r.stopped and "was stopped" in (r.message or "")) == 9

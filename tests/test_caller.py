"""The caller, the one path of every model call: budget, cache, retries, billed attempts,
and typed results instead of attributes on exceptions."""

from __future__ import annotations

import random
from typing import Any

import pytest

from llm_solutions.cache import cache_settings, open_cache
from llm_solutions.calls import Budget, Caller
from llm_solutions.errors import AuthenticationError, EmptyResponseError, TransientError
from llm_solutions.limits import LimiterPool, RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request, Usage
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.registry import Registry

# $1 per million input tokens, $2 per million output tokens.
CONFIG = ModelConfig(name="m", provider="scripted", model_params={"api_model": "m-1"},
                     input_price=1.0, output_price=2.0)
REQUEST = Request(messages=({"role": "user", "content": "solve it"},), max_tokens=64)


class Script(BaseModel):
    """Each call takes the next step: a Completion to return or an error to raise."""

    provider = "scripted"

    def __init__(self, *steps: Any) -> None:
        super().__init__(CONFIG)
        self.steps = list(steps)
        self.calls = 0

    async def generate(self, request: Request) -> Completion:
        self.calls += 1
        step = self.steps.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


def answer(text: str = "```python\ndef f():\n    return 1\n```", tokens: tuple[int, int] = (1000, 500)) -> Completion:
    return Completion(text=text, input_tokens=tokens[0], output_tokens=tokens[1], model="m-1")


def empty_but_billed() -> EmptyResponseError:
    billed = Completion(text="", input_tokens=1000, output_tokens=2000, finish_reason="length")
    return EmptyResponseError("m: empty answer", provider="scripted", status=200, completion=billed)


def pool() -> LimiterPool:
    provider = ProviderConfig(name="scripted", model_class="x:Y", rpm=1_000_000, tpm=None)
    return LimiterPool(Registry(providers={"scripted": provider}, models={"m": CONFIG}))


def caller(**options: Any) -> Caller:
    options.setdefault("policy", RetryPolicy(base_delay=0.0, max_delay=0.0, rng=random.Random(1)))
    return Caller(pool(), **options)


async def test_every_billed_attempt_is_counted_in_the_result_and_the_budget():
    budget = Budget()
    model = Script(empty_but_billed(), answer())
    result = await caller(budget=budget).call(model, REQUEST)
    assert result.ok and result.attempts == 2 and model.calls == 2
    # the empty answer was billed (1000 in, 2000 out) and so was the real one (1000, 500)
    assert result.usage == Usage(input_tokens=2000, output_tokens=2500)
    assert result.billed_attempts == 2
    # each billed attempt on its own: the empty answer, then the real one
    assert [(a["input_tokens"], a["output_tokens"], a["cost"]) for a in result.billed] == [
        (1000, 2000, pytest.approx(0.005)), (1000, 500, pytest.approx(0.002))]
    expected = (2000 * 1.0 + 2500 * 2.0) / 1_000_000
    assert result.cost == pytest.approx(expected)
    assert budget.spent == pytest.approx(expected) and budget.by_purpose["answer"] == pytest.approx(expected)


async def test_a_failed_call_is_a_typed_result_not_an_exception_with_extras():
    model = Script(empty_but_billed(), empty_but_billed())
    result = await caller(policy=RetryPolicy(max_attempts=2, base_delay=0.0)).call(model, REQUEST)
    assert not result.ok and isinstance(result.error, EmptyResponseError)
    assert result.attempts == 2 and result.completion is not None and result.completion.text == ""
    assert result.cost == pytest.approx(2 * (1000 + 4000) / 1_000_000)
    assert result.message == "m: empty answer (HTTP 200)"
    # nothing was stuck onto the exception on the way
    assert not {"attempts", "total_wait", "_explained"} & set(vars(result.error))


async def test_errors_that_stop_the_model_are_not_retried():
    model = Script(AuthenticationError("bad key", provider="scripted", status=401), answer())
    result = await caller().call(model, REQUEST)
    assert isinstance(result.error, AuthenticationError) and result.attempts == 1 and model.calls == 1


async def test_the_budget_refuses_new_calls_once_spent_but_lets_finishing_calls_through():
    budget = Budget(limit=0.001)
    the_caller = caller(budget=budget)
    first = await the_caller.call(Script(answer(tokens=(1000, 1000))), REQUEST)  # $0.003
    assert first.ok and budget.exhausted
    model = Script(answer())
    refused = await the_caller.call(model, REQUEST)
    assert refused.refused and not refused.ok and refused.attempts == 0 and model.calls == 0
    assert "--max-cost" in refused.message
    finishing = await the_caller.call(model, REQUEST, purpose="extraction", gated=False)
    assert finishing.ok and model.calls == 1
    assert budget.by_purpose["extraction"] > 0 and budget.spent == pytest.approx(first.cost + finishing.cost)


async def test_cache_hits_cost_nothing_and_every_purpose_is_cached(tmp_path):
    cache = await open_cache(cache_settings({"url": str(tmp_path / "c.sqlite3")}, env={}))
    the_caller = caller(cache=cache)
    model = Script(answer(), answer(), answer("other"))
    for purpose, prompt in (("answer", "solve it"), ("extraction", "find the code")):
        request = Request(messages=({"role": "user", "content": prompt},), max_tokens=64)
        first = await the_caller.call(model, request, purpose=purpose)
        again = await the_caller.call(model, request, purpose=purpose)
        assert not first.cache_hit and again.cache_hit and again.cost == 0 and again.attempts == 0
        assert again.cost_saved == pytest.approx(first.cost) and again.text == first.text
    assert model.calls == 2
    other = await the_caller.call(model, REQUEST, sample=1)  # another sample is another answer
    assert not other.cache_hit and model.calls == 3
    assert the_caller.requests_sent == 3
    await cache.close()


async def test_transient_errors_are_retried_and_unknown_purposes_refused():
    model = Script(TransientError("502", provider="scripted", status=502), answer())
    result = await caller().call(model, REQUEST)
    assert result.ok and result.attempts == 2 and result.usage == Usage.of(answer())
    assert result.billed_attempts == 1  # the 502 was not billed
    with pytest.raises(ValueError, match="unknown call purpose"):
        await caller().call(model, REQUEST, purpose="chit-chat")


def test_a_budget_needs_a_positive_limit():
    with pytest.raises(ValueError):
        Budget(limit=0)


async def test_a_stopped_model_gets_no_more_calls_and_says_why():
    the_caller = caller()
    model = Script(AuthenticationError("bad key", provider="scripted", status=401))
    first = await the_caller.call(model, REQUEST)
    assert isinstance(first.error, AuthenticationError) and not first.stopped and first.attempts == 1
    later = await the_caller.call(model, REQUEST)
    assert later.stopped and not later.ok and later.attempts == 0 and model.calls == 1
    assert later.message == ("not sent: m was stopped (bad key (HTTP 401) - the key was refused: "
                             "check the model's API key, then resume)")
    assert isinstance(later.error, AuthenticationError)  # what stopped it travels with the result


async def test_a_refused_key_names_the_variable_to_fix_in_one_log_line(caplog):
    provider = ProviderConfig(name="scripted", model_class="x:Y", rpm=1_000_000, tpm=None,
                              api_key_env="SCRIPTED_API_KEY")
    the_caller = Caller(LimiterPool(Registry(providers={"scripted": provider}, models={"m": CONFIG})))
    model = Script(AuthenticationError("bad key", provider="scripted", status=401))
    results = [await the_caller.call(model, REQUEST, sample=n) for n in range(3)]
    assert "check SCRIPTED_API_KEY (environment or .env)" in results[0].message
    logged = [r for r in caplog.records if "bad key" in r.getMessage()]
    assert len(logged) == 1 and "SCRIPTED_API_KEY" in logged[0].getMessage()


async def test_an_answer_paid_for_by_a_killed_run_is_that_sessions_spend_on_resume(tmp_path):
    # A run stores the answer in the cache, then dies before writing the record.  Its
    # resume gets the answer from the cache: that is what the session paid, not a saving.
    settings = cache_settings({"url": str(tmp_path / "c.sqlite3")}, env={})
    cache = await open_cache(settings)
    first_run = caller(cache=cache)
    first_run.session_id = "/out/session_a"
    paid = await first_run.call(Script(answer()), REQUEST)
    assert paid.cost > 0 and not paid.cache_hit
    await cache.close()

    cache = await open_cache(settings)
    budget = Budget()
    resumed = caller(cache=cache, budget=budget)
    resumed.session_id = "/out/session_a"
    again = await resumed.call(Script(), REQUEST)
    assert again.cache_hit and again.recovered and again.attempts == 0
    assert again.cost == pytest.approx(paid.cost) and again.cost_saved == 0
    assert budget.spent == pytest.approx(paid.cost)
    assert cache.stats.cost_saved == 0

    other = caller(cache=cache)
    other.session_id = "/out/session_b"  # another session reuses it: a real saving
    reused = await other.call(Script(), REQUEST)
    assert reused.cache_hit and not reused.recovered and reused.cost == 0
    assert reused.cost_saved == pytest.approx(paid.cost)
    await cache.close()


async def test_halting_the_run_sends_nothing_that_was_waiting_and_lets_the_flight_land():
    import asyncio

    class Slow(Script):
        async def generate(self, request: Request) -> Completion:
            self.calls += 1
            await asyncio.sleep(0.2)
            return answer()

    provider = ProviderConfig(name="scripted", model_class="x:Y", rpm=1_000_000, tpm=None, max_concurrent=1)
    the_caller = Caller(LimiterPool(Registry(providers={"scripted": provider}, models={"m": CONFIG})))
    model = Slow()
    calls = [asyncio.create_task(the_caller.call(model, REQUEST, sample=n)) for n in range(5)]
    await asyncio.sleep(0.05)  # one in flight, four waiting on the limiter
    assert the_caller.halt("Ctrl-C") == 4
    results = await asyncio.gather(*calls)
    assert model.calls == 1
    assert [r.ok for r in results].count(True) == 1
    assert all(r.stopped and not r.billed_attempts and "Ctrl-C" in r.message for r in results if not r.ok)
    late = await the_caller.call(model, REQUEST, sample=9)
    assert late.stopped and model.calls == 1

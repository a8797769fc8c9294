"""Every provider class, through its real SDK, against the local fake server.

Success mapping (text, tokens, cached and reasoning tokens, reasoning kept apart, finish
reason, headers, OpenRouter's cost), the request parameters each kind of model is sent,
and that one SDK client is made per provider and reused over few connections.  Failure
mapping is in ``test_provider_errors.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

import aiohttp
import pytest

from llm_solutions.errors import BadRequestError, TransientError
from llm_solutions.models.base import Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import load_registry
from llm_solutions.models.openai import KEYLESS_PLACEHOLDER, OpenAIChatModel, OpenAIModel
from tests.support.fake_providers import Reply
from tests.support.provider_harness import fake, harness  # noqa: F401  (fixtures)

# google-genai subclasses aiohttp.ClientSession, which aiohttp flags; nothing we can change.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

# One row per provider: (table name, api the fake sees, header only that provider sends).
PROVIDER_ROWS = [
    ("gpt-6.1-sol", "openai", "x-ratelimit-limit-requests"),
    ("grok-4.7", "openai", "x-ratelimit-limit-requests"),
    ("deepseek-flash-thinking", "openai", "x-request-id"),
    ("llama-4-maverick", "openai", "x-request-id"),
    ("hf-llama-3.3-70b", "openai", "x-request-id"),
    ("openrouter-gpt-6.1-sol", "openai", "x-request-id"),
    ("local-openai-compatible", "openai", "x-request-id"),
    ("claude-sonnet-5-5", "anthropic", "anthropic-ratelimit-requests-limit"),
    ("gemini-3.8-flash", "gemini", "server-timing"),
]
RETURNS_REASONING_TEXT = {"deepseek-flash-thinking", "openrouter-gpt-6.1-sol", "claude-sonnet-5-5",
                          "gemini-3.8-flash", "grok-4.7"}


@pytest.mark.parametrize("name,api,header", PROVIDER_ROWS)
async def test_success_maps_text_tokens_reasoning_and_headers(harness, fake, name, api, header):
    model = harness.model(name)
    fake.queue(Reply(input_tokens=120, output_tokens=80, cached_tokens=40, reasoning="Think first."), api=api)

    result = await model.generate(harness.request())

    assert "```python" in result.text and "def solve" in result.text
    assert "Think first." not in result.text
    assert result.cached_tokens == 40
    assert result.output_tokens == 80
    # Anthropic reports the uncached part only; the provider adds the cache reads back.
    assert result.input_tokens == 120
    assert result.finish_reason in ("stop", "end_turn", "STOP")
    assert result.latency > 0
    assert header in result.headers and all(k == k.lower() for k in result.headers)
    assert result.model == model.api_model or (name == "local-openai-compatible" and result.model == "local-test-model")
    json.dumps(result.raw)  # the raw payload must be storable as JSON
    if name in RETURNS_REASONING_TEXT:
        assert result.reasoning == "Think first."
        assert result.reasoning_tokens > 0
    else:
        assert result.reasoning is None
    assert (result.cost is not None) == (name == "openrouter-gpt-6.1-sol")


async def test_openrouter_cost_is_the_provider_reported_cost(harness, fake):
    fake.queue(Reply(cost=0.0123), api="openai")
    result = await harness.model("openrouter-deepseek-v4.1-flash").generate(harness.request())
    assert result.cost == pytest.approx(0.0123)
    assert fake.requests[-1].body["usage"] == {"include": True}


async def test_openai_reasoning_model_gets_max_completion_tokens_and_effort_but_no_sampling(harness, fake):
    await harness.model("gpt-6.1-sol").generate(harness.request(max_tokens=777))
    body = fake.of("openai")[-1].body
    assert body["max_completion_tokens"] == 777 and "max_tokens" not in body
    assert body["reasoning_effort"] == "medium"
    assert "temperature" not in body and "top_p" not in body
    assert body["messages"][0] == {"role": "system", "content": "You write Python."}


async def test_request_effort_overrides_the_row(harness, fake):
    await harness.model("gpt-6-luna").generate(harness.request(reasoning_effort="high"))
    assert fake.of("openai")[-1].body["reasoning_effort"] == "high"


async def test_openai_non_reasoning_model_gets_sampling_parameters(harness, fake):
    row = harness.row("gpt-6-luna", name="gpt-4.1-test", reasoning=False,
                      model_params={"api_model": "gpt-4.1", "reasoning_effort": None})
    await harness.model(row).generate(harness.request())
    body = fake.of("openai")[-1].body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["max_completion_tokens"] == 1024 and "reasoning_effort" not in body


async def test_fake_refuses_sampling_parameters_for_an_openai_reasoning_model(harness, fake):
    # A row wrongly marked non-reasoning sends temperature; OpenAI answers 400, and so does the fake.
    row = harness.row("gpt-6.1-sol", name="gpt-6.1-sol-wrong", reasoning=False)
    with pytest.raises(BadRequestError, match="temperature"):
        await harness.model(row).generate(harness.request())


async def test_compatible_providers_get_max_tokens_and_temperature(harness, fake):
    await harness.model("llama-4-maverick").generate(harness.request())
    body = fake.of("openai")[-1].body
    assert fake.requests[-1].flavor == "together"
    assert body["max_tokens"] == 1024 and body["temperature"] == 0.3
    assert "max_completion_tokens" not in body


async def test_deepseek_thinking_switch_travels_in_the_body(harness, fake):
    plain = await harness.model("deepseek-flash").generate(harness.request())
    assert fake.requests[-1].body["thinking"] == {"type": "disabled"}
    assert plain.reasoning is None and plain.reasoning_tokens == 0
    thinking = await harness.model("deepseek-flash-thinking").generate(harness.request())
    body = fake.requests[-1].body
    assert body["thinking"] == {"type": "enabled"} and body["reasoning_effort"] == "high"
    assert "temperature" not in body
    assert thinking.reasoning and thinking.reasoning not in thinking.text


async def test_openrouter_effort_uses_its_reasoning_object(harness, fake):
    await harness.model("openrouter-gpt-6.1-sol").generate(harness.request())
    body = fake.requests[-1].body
    assert body["reasoning"] == {"effort": "medium"} and "reasoning_effort" not in body


async def test_anthropic_adaptive_model_gets_effort_system_and_no_sampling(harness, fake):
    await harness.model("claude-opus-5-5").generate(harness.request())
    record = fake.of("anthropic")[-1]
    body = record.body
    assert body["system"] == "You write Python."
    assert body["messages"] == [{"role": "user", "content": "Write solve(x) that returns x."}]
    assert body["output_config"] == {"effort": "medium"}
    assert body["thinking"] == {"type": "adaptive", "display": "summarized"}
    assert body["max_tokens"] == 1024
    assert "temperature" not in body and "top_p" not in body
    assert record.headers["authorization"] == "Bearer fake-anthropic-api-key"
    assert record.headers["anthropic-version"]


async def test_anthropic_thinking_budget_keeps_room_for_the_answer(harness, fake):
    row = harness.row("claude-haiku-5-5", name="claude-haiku-4-5-test", reasoning=True,
                      model_params={"api_model": "claude-haiku-4-5", "thinking_budget": 2048,
                                    "thinking": None, "thinking_display": None, "reasoning_effort": None})
    result = await harness.model(row).generate(harness.request(max_tokens=1000))
    body = fake.of("anthropic")[-1].body
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert body["max_tokens"] == 3048
    assert "temperature" not in body and "output_config" not in body
    assert result.reasoning and result.reasoning not in result.text


async def test_fake_refuses_a_thinking_budget_on_an_adaptive_only_model(harness, fake):
    row = harness.row("claude-sonnet-5-5", name="sonnet-budget", model_params={"thinking_budget": 2048})
    with pytest.raises(BadRequestError, match="thinking.type.enabled"):
        await harness.model(row).generate(harness.request())


async def test_anthropic_non_reasoning_model_sends_temperature(harness, fake):
    row = harness.row("claude-haiku-5-5", name="claude-3-haiku-test", reasoning=False,
                      model_params={"api_model": "claude-3-haiku", "thinking": None, "thinking_display": None})
    result = await harness.model(row).generate(harness.request())
    body = fake.of("anthropic")[-1].body
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and "thinking" not in body
    assert result.reasoning is None


async def test_gemini_reasoning_model_gets_thinking_level_and_thoughts(harness, fake):
    result = await harness.model("gemini-3.1-pro").generate(harness.request())
    record = fake.of("gemini")[-1]
    config = record.body["generationConfig"]
    assert record.path.endswith("/models/gemini-3.1-pro-preview:generateContent")
    assert record.headers["x-goog-api-key"] == "fake-google-api-key"
    assert config["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "MEDIUM"}
    assert config["maxOutputTokens"] == 1024
    assert "temperature" not in config and "topP" not in config
    assert record.body["systemInstruction"]["parts"] == [{"text": "You write Python."}]
    assert result.reasoning and result.reasoning not in result.text
    assert result.output_tokens > result.reasoning_tokens > 0


async def test_gemini_thinking_budget_and_plain_models(harness, fake):
    budget = harness.row("gemini-3.8-flash", name="gemini-2.5-flash-test",
                         model_params={"api_model": "gemini-2.5-flash", "thinking_budget": 512})
    await harness.model(budget).generate(harness.request())
    assert fake.of("gemini")[-1].body["generationConfig"]["thinkingConfig"] == {
        "includeThoughts": True, "thinkingBudget": 512}
    plain = harness.row("gemini-3.8-flash", name="gemini-2.0-flash-test", reasoning=False,
                        model_params={"api_model": "gemini-2.0-flash"})
    result = await harness.model(plain).generate(harness.request())
    config = fake.of("gemini")[-1].body["generationConfig"]
    assert config["temperature"] == 0.3 and config["topP"] == 0.9 and "thinkingConfig" not in config
    assert result.reasoning is None


async def test_local_server_model_is_listed_or_taken_from_env(harness, fake, monkeypatch):
    fake.local_models = ["qwen-coder-local", "other"]
    model = harness.model("local-openai-compatible")
    await model.generate(harness.request())
    await model.generate(harness.request())
    assert [r.api for r in fake.requests].count("models") == 1  # looked up once, then cached
    assert fake.of("openai")[-1].body["model"] == "qwen-coder-local"
    assert model.api_model == "qwen-coder-local"  # what a cache key or record should use
    monkeypatch.setenv("OPENAI_COMPATIBLE_MODEL", "llama3.1:8b")
    chosen = harness.model(load_registry().get("local-openai-compatible"))  # the registry reads it
    assert chosen.config.api_model == "llama3.1:8b"  # so the cache key names the real model
    await chosen.generate(harness.request())
    assert fake.of("openai")[-1].body["model"] == "llama3.1:8b" == chosen.api_model


async def test_local_server_without_key_never_gets_the_openai_key(harness, fake, monkeypatch):
    monkeypatch.delenv("OPENAI_COMPATIBLE_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-secret")
    await harness.model("local-openai-compatible").generate(harness.request())
    assert fake.of("openai")[-1].headers["authorization"] == f"Bearer {KEYLESS_PLACEHOLDER}"


async def test_org_and_project_headers_only_for_openai(harness, fake, monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")
    await harness.model("gpt-6-luna").generate(harness.request())
    openai_headers = fake.requests[-1].headers
    assert openai_headers["openai-organization"] == "org-test"
    assert openai_headers["openai-project"] == "proj-test"
    for name in ("grok-4.7", "deepseek-flash", "openrouter-gpt-6.1-sol", "local-openai-compatible"):
        await harness.model(name).generate(harness.request())
        headers = fake.requests[-1].headers
        assert "openai-organization" not in headers and "openai-project" not in headers, name


@pytest.mark.parametrize("names,api", [
    (("gpt-6.1-sol", "gpt-6-luna"), "openai"),
    (("claude-sonnet-5-5", "claude-haiku-5-5"), "anthropic"),
    (("gemini-3.8-flash", "gemini-3.5-flash-lite"), "gemini"),
])
async def test_one_client_per_provider_reused_over_few_connections(harness, fake, monkeypatch, names, api):
    cls = type(harness.model(names[0]))
    calls = []
    real = cls.create_client.__func__

    def counting(klass, *args, **kwargs):
        calls.append(args)
        return real(klass, *args, **kwargs)

    monkeypatch.setattr(cls, "create_client", classmethod(counting))
    first, second = harness.models(*(harness.row(n) for n in names))
    assert len(calls) == 1 and first.client is second.client
    for _ in range(5):
        await first.generate(harness.request())
        await second.generate(harness.request())
    assert fake.connections == 1  # ten sequential calls over one kept-alive connection
    await asyncio.gather(*(first.generate(harness.request()) for _ in range(20)))
    assert len(fake.of(api)) == 30
    assert fake.connections <= 21


def test_every_openai_compatible_class_names_its_provider():
    from llm_solutions.models.table import PROVIDERS

    for provider in PROVIDERS.values():
        cls = provider.load_class()
        if issubclass(cls, OpenAIChatModel):
            assert cls.provider == provider.name


async def test_fake_server_runs_in_a_subprocess_and_is_scripted_over_http():
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.fake_providers", "--port", "0", "--text", "```python\npass\n```",
        stdout=asyncio.subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
    )
    try:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        assert line.startswith("FAKE_PROVIDERS_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        async with aiohttp.ClientSession() as http:
            await http.post(f"{url}/_fake/queue", json={"api": "openai", "items": [{"fail": {"kind": "server_error"}}]})
            client = OpenAIModel.create_client("sk-test", url + "/v1")
            model = OpenAIModel(ModelConfig(name="gpt-6-luna", provider="openai", reasoning=True), client=client)
            request = Request(messages=({"role": "user", "content": "hi"},), max_tokens=64)
            with pytest.raises(TransientError):
                await model.generate(request)
            assert (await model.generate(request)).text == "```python\npass\n```"
            await OpenAIModel.close_client(client)
            recorded = await (await http.get(f"{url}/_fake/requests")).json()
        assert [r["api"] for r in recorded] == ["openai", "openai"]
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0


async def test_two_local_servers_serving_the_same_model_id_never_share_cached_answers(harness, fake, tmp_path):
    from llm_solutions.cache import cache_settings, open_cache
    from llm_solutions.calls import Caller
    from llm_solutions.limits import LimiterPool
    from tests.support.fake_providers import FakeProviders

    cache = await open_cache(cache_settings({"url": str(tmp_path / "c.sqlite3")}, env={}))
    caller = Caller(LimiterPool(harness.registry), cache=cache)
    async with FakeProviders(default_text="```python\ndef solve(x):\n    return 'second'\n```") as second:
        row = harness.row("local-openai-compatible", model_params={"api_model": "local-test-model"})
        first_model = harness.model(row)
        other_row = dataclasses.replace(row, base_url=f"{second.url}/local/v1")
        second_model = harness.model(other_row)
        one = await caller.call(first_model, harness.request())
        two = await caller.call(second_model, harness.request())
        assert one.ok and two.ok and not two.cache_hit
        assert "second" in two.text and "second" not in one.text
        assert len(second.of("openai")) == 1
        again = await caller.call(first_model, harness.request())
        assert again.cache_hit and again.text == one.text
    await cache.close()

"""Failures from each provider, as its real SDK raises them, mapped to our error types.

The fake server answers with each provider's real error bodies and headers; each case
checks the error type, the HTTP status and headers passed along, the retry hint, and
that the SDK did not retry on its own (the server saw exactly one request).
"""

from __future__ import annotations

import time

import pytest

from llm_solutions.errors import (
    AuthenticationError,
    BadRequestError,
    ContentRefusedError,
    ContextLengthError,
    EmptyResponseError,
    QuotaExhaustedError,
    RateLimitError,
    RequestTimeoutError,
    TransientError,
)
from llm_solutions.headers import retry_after as retry_after_from_headers
from tests.support.fake_providers import Fail, Reply
from tests.support.provider_harness import fake, harness  # noqa: F401  (fixtures)

# google-genai subclasses aiohttp.ClientSession, which aiohttp flags; nothing we can change.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

ROW = {"openai": "gpt-6-luna", "anthropic": "claude-haiku-5-5", "gemini": "gemini-3.5-flash-lite"}
API = {"openai": "openai", "anthropic": "anthropic", "gemini": "gemini"}


async def fail_once(harness, fake, name: str, api: str, failure: Fail, **client_options):
    model = harness.model(name, **client_options)
    fake.queue(failure, api=api)
    with pytest.raises(Exception) as caught:
        await model.generate(harness.request())
    assert len(fake.of(api)) == 1, "the SDK must not retry: the runner owns retries"
    return caught.value


@pytest.mark.parametrize("api,retry_after,header", [
    ("openai", 2.5, "x-ratelimit-remaining-requests"),
    ("anthropic", 3.0, "anthropic-ratelimit-requests-remaining"),
    ("gemini", 7.0, None),
])
async def test_rate_limit_carries_the_retry_hint(harness, fake, api, retry_after, header):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("rate_limit", retry_after=retry_after))
    assert type(error) is RateLimitError and error.retryable and not error.stops_model
    assert error.status == 429 and error.retry_after == pytest.approx(retry_after)
    assert error.provider == harness.row(ROW[api]).provider
    if header:
        assert error.headers[header] == "0"


async def test_openai_retry_after_ms_wins_over_whole_seconds(harness, fake):
    error = await fail_once(harness, fake, "gpt-6-luna", "openai", Fail("rate_limit", retry_after=0.25))
    assert error.headers["retry-after"] == "0" and error.retry_after == pytest.approx(0.25)


@pytest.mark.parametrize("name,api,status", [
    ("gpt-6-luna", "openai", 429),               # insufficient_quota
    ("openrouter-llama-4-maverick", "openai", 402),
    ("deepseek-flash", "openai", 402),
    ("claude-haiku-5-5", "anthropic", 400),      # credit balance too low
    ("gemini-3.5-flash-lite", "gemini", 429),    # per-day quota id
])
async def test_exhausted_quota_stops_the_model(harness, fake, name, api, status):
    error = await fail_once(harness, fake, name, api, Fail("quota"))
    assert type(error) is QuotaExhaustedError and error.stops_model and not error.retryable
    assert error.status == status


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("kind,status", [("server_error", 500), ("overloaded", None)])
async def test_server_failures_are_transient(harness, fake, api, kind, status):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail(kind))
    assert type(error) is TransientError and error.retryable
    expected = status or {"openai": 503, "anthropic": 529, "gemini": 503}[api]
    assert error.status == expected
    assert error.headers  # the response headers travel with the error


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_context_too_long(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("context_length"))
    assert type(error) is ContextLengthError and error.status == 400 and not error.retryable


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_bad_key_stops_the_model(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("auth"))
    assert type(error) is AuthenticationError and error.stops_model
    assert error.status in (400, 401)


async def test_rejected_key_from_the_environment(harness, fake, monkeypatch):
    monkeypatch.setenv("XAI_API_KEY", "invalid-key")
    with pytest.raises(AuthenticationError):
        await harness.model("grok-4.7").generate(harness.request())


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_other_bad_requests(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("bad_request"))
    assert type(error) is BadRequestError and error.status == 400


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_malformed_json_is_transient(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("malformed_json"))
    assert isinstance(error, TransientError) and error.retryable


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_empty_answer_keeps_the_billed_usage(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("empty"))
    assert type(error) is EmptyResponseError and error.retryable
    assert error.completion.input_tokens > 0 and error.completion.text == ""


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_safety_refusal(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("refusal"))
    assert type(error) is ContentRefusedError and not error.retryable
    assert error.completion is not None


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_dropped_connection_is_transient(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Fail("disconnect"))
    assert isinstance(error, TransientError)


@pytest.mark.parametrize("api", ["openai", "anthropic", "gemini"])
async def test_slow_answer_times_out_once(harness, fake, api):
    error = await fail_once(harness, fake, ROW[api], API[api], Reply(delay=3.0), timeout=0.3)
    assert isinstance(error, RequestTimeoutError)


async def test_error_inside_a_200_is_not_taken_as_an_answer(harness):
    # OpenRouter reports an upstream failure as {"error": ...} with HTTP status 200.
    model = harness.model("openrouter-llama-4-maverick")
    with pytest.raises(TransientError) as caught:
        model.completion({"error": {"code": 502, "message": "upstream provider returned an error"}}, {}, 0.1)
    assert caught.value.status == 502
    with pytest.raises(RateLimitError):
        model.completion({"error": {"code": 429, "message": "upstream rate limited"}}, {}, 0.1)


def test_retry_after_header_forms():
    assert retry_after_from_headers({"Retry-After": "12"}) == 12.0
    assert retry_after_from_headers({"retry-after-ms": "1500", "retry-after": "2"}) == 1.5
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 <= retry_after_from_headers({"retry-after": future}) <= 31
    assert retry_after_from_headers({"retry-after": "soon"}) is None
    assert retry_after_from_headers({}) is None

"""Failures from each provider, as its real SDK raises them, mapped to our error types.

The fake server answers with each provider's real error bodies and headers; each case
checks the error type, the HTTP status and headers passed along, the retry hint, and
that the SDK did not retry on its own (the server saw exactly one request).
"""

from __future__ import annotations

import asyncio
import socket
import struct
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
from llm_solutions.models.failures import ConnectionFailedError, error_for_status
from llm_solutions.models.google import split_api_version
from llm_solutions.models.registry import load_registry
from tests.support.fake_providers import Fail, FakeProviders, Reply
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


# --- servers that cannot be reached ------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("name,env", [
    ("gpt-6-luna", "OPENAI_BASE_URL"), ("claude-haiku-5-5", "ANTHROPIC_BASE_URL"),
    ("gemini-3.5-flash-lite", "GOOGLE_GEMINI_BASE_URL"), ("grok-4.7", "XAI_BASE_URL"),
])
async def test_a_refused_connection_says_the_server_could_not_be_reached(harness, monkeypatch, name, env):
    # The OpenAI SDK's aiohttp transport reports a refused connection as a timeout: the
    # mapping looks below it.
    url = f"http://127.0.0.1:{closed_port()}" + ("/v1" if env in ("OPENAI_BASE_URL", "XAI_BASE_URL") else "")
    monkeypatch.setenv(env, url)
    harness.registry = load_registry()
    model = harness.model(name, timeout=5.0)
    started = time.monotonic()
    with pytest.raises(ConnectionFailedError) as caught:
        await model.generate(harness.request())
    error = caught.value
    assert time.monotonic() - started < 2.0  # refused at once, not after a timeout
    assert error.kind == "connection" and error.retryable and isinstance(error, TransientError)
    assert error.reason == "connection refused" and error.target == url
    assert str(error) == f"{name}: could not reach the server at {url} (connection refused)"


async def test_a_reset_connection_is_a_connection_error(harness, monkeypatch):
    # A server that accepts and at once resets the connection (a crashing proxy).
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    server = await asyncio.start_server(reset, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    harness.registry = load_registry()
    try:
        with pytest.raises(ConnectionFailedError) as caught:
            await harness.model("gpt-6-luna", timeout=5.0).generate(harness.request())
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.reason in ("connection reset by the server", "the server closed the connection")


def test_multi_line_server_messages_become_one_line():
    page = "<html>\n  <body>\n    502 Bad Gateway\n  </body>\n</html>\n" + "x" * 800
    error = error_for_status("openai", 502, f"gpt: {page}")
    assert "\n" not in str(error) and str(error).startswith("gpt: <html> <body> 502 Bad Gateway </body>")
    assert len(error.message) <= 500 and error.message.endswith("...")


# --- Gemini behind a proxy that serves another API version --------------------------------


@pytest.fixture
async def beta_only():
    """A Gemini-compatible server that serves only /v1beta (as some proxies do)."""
    from aiohttp import web

    fake = FakeProviders()
    seen: list[str] = []

    async def served(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        return await fake._gemini(request)

    async def refused(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        return web.Response(status=405, text="405: Method Not Allowed\nonly /v1beta is served here")

    app = web.Application()
    app.router.add_post("/v1beta/models/{target}", served)
    app.router.add_route("*", "/{tail:.*}", refused)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_gemini_keeps_the_servers_text_and_says_how_to_set_the_api_version(harness, monkeypatch, beta_only):
    url, seen = beta_only
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url)
    harness.registry = load_registry()
    with pytest.raises(BadRequestError) as caught:
        await harness.model("gemini-3.5-flash-lite").generate(harness.request())
    message = str(caught.value)
    assert seen == ["/v1/models/gemini-3.5-flash-lite:generateContent"]
    assert "405: Method Not Allowed only /v1beta is served here" in message  # the server's own words, one line
    assert "GOOGLE_GENAI_API_VERSION=v1beta" in message and caught.value.status == 405


@pytest.mark.parametrize("how", ["variable", "base-url"])
async def test_gemini_api_version_from_the_setting_or_the_base_url(harness, monkeypatch, beta_only, how):
    url, seen = beta_only
    if how == "variable":
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url)
        monkeypatch.setenv("GOOGLE_GENAI_API_VERSION", "v1beta")
    else:
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", url + "/v1beta")
    harness.registry = load_registry()
    result = await harness.model("gemini-3.5-flash-lite").generate(harness.request())
    assert result.text and seen == ["/v1beta/models/gemini-3.5-flash-lite:generateContent"]


def test_gemini_base_urls_ending_in_a_version_are_split():
    assert split_api_version("http://proxy:4000/v1beta") == ("http://proxy:4000/", "v1beta")
    assert split_api_version("http://proxy:4000/gemini/v1/") == ("http://proxy:4000/gemini/", "v1")
    assert split_api_version("http://proxy:4000/v1alpha2") == ("http://proxy:4000/", "v1alpha2")
    assert split_api_version("https://generativelanguage.googleapis.com/") == (
        "https://generativelanguage.googleapis.com/", None)
    assert split_api_version(None) == (None, None)

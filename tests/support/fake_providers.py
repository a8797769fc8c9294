"""A local server speaking OpenAI, Anthropic and Gemini wire formats, for tests and demos.

Point the real SDKs at it through the ``<PROVIDER>_BASE_URL`` variables (``base_url_env``
gives the whole set) and it answers like the real services: it checks each request's
shape (a malformed one gets the provider's own 400), returns realistic bodies with usage,
cached and reasoning tokens, and produces each provider's real error bodies and headers.
Every request is recorded, and tests can queue scripted replies and failures, or set a
``responder`` that writes the reply to each request from its body (queued items go first).
Embedding requests have a queue and a responder of their own (``queue_embedding``,
``embedding_responder``), so a reply scripted for a chat call is never taken by an embedding.

The OpenAI-compatible providers share ``/chat/completions`` and are told apart by a path
prefix (``/xai/v1``, ``/deepseek``, ``/openrouter/v1``...), which selects that provider's
quirks: DeepSeek's ``reasoning_content``, OpenRouter's ``usage.cost``, and so on.

In a pytest test::

    async with FakeProviders() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.url + "/v1")
        fake.queue(Fail("rate_limit", retry_after=3), api="openai")

From another process (end-to-end tests)::

    python -m tests.support.fake_providers --port 0
    # prints FAKE_PROVIDERS_URL=http://127.0.0.1:PORT; control it over HTTP:
    # POST /_fake/queue {"api": "openai", "items": [{"fail": {"kind": "server_error"}}]}
    #   (add "embedding": true to script embedding requests instead of chat ones)
    # GET /_fake/requests, POST /_fake/reset, POST /_fake/config {"default_text": "..."}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web

from tests.support.fake_wire import (
    DEFAULT_TEXT,
    Fail,
    Reply,
    Wire,
    anthropic_failure,
    anthropic_success,
    anthropic_validate,
    camel_keys,
    gemini_embeddings,
    gemini_failure,
    gemini_success,
    gemini_validate,
    openai_embeddings,
    openai_failure,
    openai_success,
    openai_validate,
)

APIS = ("openai", "anthropic", "gemini")
# Path prefix per OpenAI-compatible provider, and the env vars that point each SDK here.
FLAVOR_PREFIX = {
    "openai": "/v1", "xai": "/xai/v1", "deepseek": "/deepseek", "together": "/together/v1",
    "huggingface": "/huggingface/v1", "openrouter": "/openrouter/v1", "local": "/local/v1",
}
BASE_URL_ENV = {
    "OPENAI_BASE_URL": "openai", "XAI_BASE_URL": "xai", "DEEPSEEK_BASE_URL": "deepseek",
    "TOGETHER_BASE_URL": "together", "HUGGINGFACE_BASE_URL": "huggingface",
    "OPENROUTER_BASE_URL": "openrouter", "OPENAI_COMPATIBLE_BASE_URL": "local",
}
KEY_ENV = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "XAI_API_KEY", "DEEPSEEK_API_KEY",
           "TOGETHER_API_KEY", "HUGGINGFACE_API_KEY", "OPENROUTER_API_KEY")


@dataclass
class Recorded:
    """One request as the server saw it."""

    api: str
    flavor: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    connection: int
    time: float = 0.0  # when it arrived (time.time()), to order requests against other events


class FakeProviders:
    """The fake server: start it, point SDKs at ``url``, script it, read ``requests``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_text: str = DEFAULT_TEXT,
                 latency: float = 0.0) -> None:
        self.host, self.port = host, port
        self.default_text = default_text
        self.latency = latency
        self.bad_keys: set[str] = {"invalid-key"}
        self.reasoning_models: set[str] = set()
        self.local_models: list[str] = ["local-test-model"]
        self.requests: list[Recorded] = []
        self._queue: list[tuple[str | None, Reply | Fail]] = []
        # (api, request body) -> the reply, or None for the default one; used when nothing
        # is queued for the request's API.
        self.responder: Callable[[str, Any], Reply | Fail | None] | None = None
        # The same for embedding requests, kept apart from the chat requests' script.
        self._embedding_queue: list[tuple[str | None, Reply | Fail]] = []
        self.embedding_responder: Callable[[str, Any], Reply | Fail | None] | None = None
        self._runner: web.AppRunner | None = None
        self._connections: dict[int, int] = {}

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeProviders:
        # Batch input files run to hundreds of MB (aiohttp's default cap is 1 MB).
        app = web.Application(client_max_size=1024**3)
        app.router.add_post(r"/{prefix:.*}chat/completions", self._openai)
        app.router.add_get(r"/{prefix:.*}models", self._models)
        app.router.add_post(r"/{prefix:.*}embeddings", self._openai_embeddings)
        app.router.add_post(r"/{prefix:.*}v1/messages", self._anthropic)
        # google-genai 3.x defaults to API version v1; older clients and the docs use v1beta.
        app.router.add_post(r"/{prefix:.*}v1beta/models/{target}", self._gemini)
        app.router.add_post(r"/{prefix:.*}v1/models/{target}", self._gemini)
        self.add_routes(app)
        app.router.add_post("/_fake/queue", self._admin_queue)
        app.router.add_get("/_fake/requests", self._admin_requests)
        app.router.add_post("/_fake/reset", self._admin_reset)
        app.router.add_post("/_fake/config", self._admin_config)
        # A short shutdown timeout cancels scripted slow answers instead of waiting them out.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # the port the OS chose for port 0
        return self

    def add_routes(self, app: web.Application) -> None:
        """Where a subclass adds endpoints (``fake_batches``: the batch APIs)."""

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeProviders:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- scripting -----------------------------------------------------------------------

    def queue(self, *items: Reply | Fail, api: str | None = None) -> None:
        """Queue replies and failures, served in order to requests of ``api`` (any if None)."""
        if api is not None and api not in APIS:
            raise ValueError(f"api must be one of {APIS}")
        self._queue.extend((api, item) for item in items)

    def queue_embedding(self, *items: Reply | Fail, api: str | None = None) -> None:
        """Queue replies and failures for embedding requests only (``queue`` serves chat)."""
        if api is not None and api not in APIS:
            raise ValueError(f"api must be one of {APIS}")
        self._embedding_queue.extend((api, item) for item in items)

    def reset(self) -> None:
        self._queue.clear()
        self._embedding_queue.clear()
        self.requests.clear()
        self._connections.clear()

    def of(self, api: str) -> list[Recorded]:
        """The recorded requests to one API."""
        return [r for r in self.requests if r.api == api]

    @property
    def connections(self) -> int:
        """How many distinct TCP connections have sent requests."""
        return len(self._connections)

    def base_url_env(self) -> dict[str, str]:
        """Every ``<PROVIDER>_BASE_URL`` variable pointing at this server."""
        env = {name: self.url + FLAVOR_PREFIX[flavor] for name, flavor in BASE_URL_ENV.items()}
        env["ANTHROPIC_BASE_URL"] = self.url
        env["GOOGLE_GEMINI_BASE_URL"] = self.url
        return env

    def key_env(self) -> dict[str, str]:
        """A fake key for every provider, so models pass the registry's key check."""
        return {name: f"fake-{name.lower().replace('_', '-')}" for name in KEY_ENV}

    def _next(self, api: str, body: Any = None, *, embedding: bool = False) -> Reply | Fail:
        queue = self._embedding_queue if embedding else self._queue
        for index, (wanted, item) in enumerate(queue):
            if wanted is None or wanted == api:
                del queue[index]
                return item
        responder = self.embedding_responder if embedding else self.responder
        if responder is not None:
            return responder(api, body) or Reply()
        return Reply()

    # --- request handling ----------------------------------------------------------------

    async def _record(self, request: web.Request, api: str, flavor: str) -> Any:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        peer = request.transport.get_extra_info("peername") if request.transport else None
        connection = hash(peer)
        self._connections[connection] = self._connections.get(connection, 0) + 1
        self.requests.append(Recorded(api, flavor, request.method, request.path,
                                      {k.lower(): v for k, v in request.headers.items()}, body, connection,
                                      time.time()))
        return body

    async def _respond(self, request: web.Request, item: Reply | Fail, wire: Wire) -> web.StreamResponse:
        delay = self.latency + item.delay
        if delay:
            await asyncio.sleep(delay)
        if isinstance(item, Fail) and item.kind == "disconnect":
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        if wire.raw is not None:
            return web.Response(status=wire.status, body=wire.raw, headers=wire.headers,
                                content_type="application/json")
        return web.json_response(wire.body, status=wire.status, headers=wire.headers)

    @staticmethod
    def _flavor(prefix: str) -> str:
        head = prefix.strip("/").split("/")[0] if prefix.strip("/") else ""
        return head if head in FLAVOR_PREFIX and head != "openai" else "openai"

    async def _openai(self, request: web.Request) -> web.StreamResponse:
        flavor = self._flavor(request.match_info["prefix"])
        body = await self._record(request, "openai", flavor)
        headers = {k.lower(): v for k, v in request.headers.items()}
        invalid = openai_validate(flavor, headers, body, self.bad_keys, self.reasoning_models)
        if invalid is not None:
            return await self._respond(request, Reply(), invalid)
        item = self._next("openai", body)
        if isinstance(item, Fail):
            return await self._respond(request, item, openai_failure(flavor, item, body))
        text = self.default_text if item.text is None else item.text
        return await self._respond(request, item, openai_success(flavor, body, item, text, self.reasoning_models))

    async def _openai_embeddings(self, request: web.Request) -> web.StreamResponse:
        flavor = self._flavor(request.match_info["prefix"])
        body = await self._record(request, "openai", flavor)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:].strip() in self.bad_keys:
            return await self._respond(request, Reply(), openai_failure(flavor, Fail("auth"), body or {}))
        item = self._next("openai", body, embedding=True)
        if isinstance(item, Fail):
            return await self._respond(request, item, openai_failure(flavor, item, body or {}))
        return await self._respond(request, item, openai_embeddings(body))

    async def _gemini_embeddings(self, request: web.Request, model: str, body: Any) -> web.StreamResponse:
        key = request.headers.get("x-goog-api-key") or request.query.get("key") or ""
        if not key or key in self.bad_keys:
            return await self._respond(request, Reply(), gemini_failure(Fail("auth"), model))
        item = self._next("gemini", body, embedding=True)
        if isinstance(item, Fail):
            return await self._respond(request, item, gemini_failure(item, model, body))
        return await self._respond(request, item, gemini_embeddings(model, body))

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Recorded("models", self._flavor(request.match_info["prefix"]), "GET", request.path,
                                      {k.lower(): v for k, v in request.headers.items()}, None, 0))
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "local"} for name in self.local_models]
        return web.json_response({"object": "list", "data": data})

    async def _anthropic(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request, "anthropic", "anthropic")
        headers = {k.lower(): v for k, v in request.headers.items()}
        invalid = anthropic_validate(headers, body, self.bad_keys)
        if invalid is not None:
            return await self._respond(request, Reply(), invalid)
        item = self._next("anthropic", body)
        if isinstance(item, Fail):
            return await self._respond(request, item, anthropic_failure(item, body))
        text = self.default_text if item.text is None else item.text
        return await self._respond(request, item, anthropic_success(body, item, text))

    async def _gemini(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].partition(":")
        body = camel_keys(await self._record(request, "gemini", "gemini"))
        self.requests[-1].body = body  # recorded in the API's documented camelCase spelling
        if method == "batchEmbedContents":
            return await self._gemini_embeddings(request, model, body)
        if method != "generateContent":
            return web.json_response({"error": {"code": 404, "message": f"{method} is not faked",
                                                "status": "NOT_FOUND"}}, status=404)
        headers = {k.lower(): v for k, v in request.headers.items()}
        invalid = gemini_validate(model, headers, request.query.get("key"), body, self.bad_keys)
        if invalid is not None:
            return await self._respond(request, Reply(), invalid)
        item = self._next("gemini", body)
        if isinstance(item, Fail):
            return await self._respond(request, item, gemini_failure(item, model, body))
        text = self.default_text if item.text is None else item.text
        return await self._respond(request, item, gemini_success(model, body, item, text))

    # --- control over HTTP (for a server in another process) -----------------------------

    async def _admin_queue(self, request: web.Request) -> web.Response:
        data = await request.json()
        items: list[Reply | Fail] = []
        for entry in data.get("items", []):
            items.append(Fail(**entry["fail"]) if "fail" in entry else Reply(**entry.get("reply", {})))
        if data.get("embedding"):  # {"embedding": true}: for embedding requests
            self.queue_embedding(*items, api=data.get("api"))
        else:
            self.queue(*items, api=data.get("api"))
        return web.json_response({"queued": len(items)})

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(r) for r in self.requests])

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"reset": True})

    async def _admin_config(self, request: web.Request) -> web.Response:
        data = await request.json()
        self.default_text = data.get("default_text", self.default_text)
        self.latency = float(data.get("latency", self.latency))
        self.reasoning_models.update(data.get("reasoning_models", []))
        return web.json_response({"default_text": self.default_text, "latency": self.latency})


@contextlib.contextmanager
def serve_in_thread(kind: type[FakeProviders] | None = None, **options: Any) -> Iterator[FakeProviders]:
    """Run a ``FakeProviders`` (or the subclass ``kind``) on its own event loop in a daemon
    thread (for sync code)."""
    loop = asyncio.new_event_loop()
    fake = (kind or FakeProviders)(**options)
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="fake-providers", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("fake provider server did not start within 10 s")
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        # Handlers still waiting out a scripted delay for a client that is gone: end them
        # here rather than letting the loop's destructor warn about them.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.close()


async def _serve_forever(port: int, text: str, latency: float) -> None:
    fake = await FakeProviders(port=port, default_text=text, latency=latency).start()
    print(f"FAKE_PROVIDERS_URL={fake.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await fake.stop()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; prints ``FAKE_PROVIDERS_URL=...`` once listening."""
    parser = argparse.ArgumentParser(description="Fake OpenAI/Anthropic/Gemini server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--text", default=DEFAULT_TEXT, help="default answer text")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every answer")
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args.port, args.text, args.latency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A local OpenAI- and Anthropic-compatible server that enforces rate limits like the real ones.

It answers ``POST /v1/chat/completions`` (OpenAI's format) and ``POST /v1/messages``
(Anthropic's) after a configurable latency with a minimal valid answer (usage counts and
a fenced python block), and refuses requests over its limits with the 429s those APIs
send: OpenAI's ``error`` body with ``code: rate_limit_exceeded``, ``retry-after`` /
``retry-after-ms`` and ``x-ratelimit-*`` headers (Go-style durations); Anthropic's
``rate_limit_error`` body, a whole-seconds ``retry-after`` and ``anthropic-ratelimit-*``
headers (RFC 3339 reset times).  It counts requests, answers, 429s and billed tokens,
and keeps the arrival time of every accepted request so a benchmark can measure what
the server actually saw, by its own clock.

How the request limit is enforced:

* ``window``: at most ``rpm`` requests in any sliding 60 s; limit = ``rpm``, remaining =
  what the window still admits, reset = when its newest entry expires;
* ``bucket``: a token bucket refilled at ``rpm / 60`` per second holding ``burst``
  seconds' worth (continuous replenishment); the headers describe that bucket.

``tpm`` adds a sliding 60 s window of tokens counted as they are used: the prompt when
a request arrives, the answer when it is sent.  ``random_429`` refuses that share of
requests at random (``Retry-After: 1``; the quota headers, if on, show the room left),
``burst_429`` refuses everything between two times (seconds after the first request),
``empty_share`` answers that share with an empty (but billed) answer.
``ServerThread.stop_serving`` closes the listening socket and every connection, as a
stopped local server does: new connections are refused.

Run it alone with ``python benchmarks/rate_limited_server.py --rpm 600 --latency 0.2``, or
use ``ServerThread`` to run it beside a client in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

ANSWER = (
    "Here is a solution:\n\n```python\ndef solve(values):\n"
    "    return sorted(set(values))\n```\n\nIt removes duplicates and sorts."
)
OUTPUT_TOKENS = len(ANSWER) // 4


@dataclass
class ServerConfig:
    """How the server behaves; ``rpm=None`` means no request limit, ``tpm=None`` no token limit."""

    rpm: float | None = 600.0
    latency: float = 0.2
    mode: str = "bucket"
    burst: float = 1.0
    quota_headers: bool = True
    tpm: float | None = None
    random_429: float = 0.0
    burst_429: tuple[float, float] | None = None
    empty_share: float = 0.0
    seed: int = 7


@dataclass
class ServerStats:
    """What the server saw, in its own clock (``time.monotonic``)."""

    requests: int = 0
    answered: int = 0
    rejected: int = 0
    accepted_at: list[float] = field(default_factory=list)
    tokens_at: list[tuple[float, int]] = field(default_factory=list)
    first_request: float | None = None
    billed_input: int = 0
    billed_output: int = 0
    empty: int = 0


class RateLimitedServer:
    """The request handlers and the limit state."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stats = ServerStats()
        self._ids = itertools.count(1)
        self._rng = random.Random(config.seed)
        rate = (config.rpm or 0.0) / 60.0
        self._refill = rate
        self._capacity = max(1.0, rate * config.burst)
        self._tokens = self._capacity
        self._checked = time.monotonic()
        self._window: collections.deque[float] = collections.deque()
        self._used: collections.deque[tuple[float, int]] = collections.deque()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_get("/v1/models", self.models)
        return app

    # --- limits ----------------------------------------------------------------------

    def _admit_requests(self, now: float) -> tuple[bool, float, float, float]:
        """(admitted, wait if not, remaining, seconds until full) for the request limit."""
        if self.config.rpm is None:
            return True, 0.0, math.inf, 0.0
        if self.config.mode == "window":
            limit = float(self.config.rpm)
            while self._window and self._window[0] <= now - 60.0:
                self._window.popleft()
            admitted = len(self._window) < limit
            wait = 0.0 if admitted else self._window[0] + 60.0 - now
            if admitted:
                self._window.append(now)
            reset = self._window[-1] + 60.0 - now if self._window else 0.0
            return admitted, wait, limit - len(self._window), reset
        self._tokens = min(self._capacity, self._tokens + (now - self._checked) * self._refill)
        self._checked = now
        admitted = self._tokens >= 1.0
        if admitted:
            self._tokens -= 1.0
        wait = 0.0 if admitted else (1.0 - self._tokens) / self._refill
        return admitted, wait, math.floor(self._tokens), (self._capacity - self._tokens) / self._refill

    def _token_room(self, now: float) -> tuple[float, float]:
        """(tokens left in the last 60 s, seconds until the newest leaves) for the token limit."""
        while self._used and self._used[0][0] <= now - 60.0:
            self._used.popleft()
        used = sum(amount for _, amount in self._used)
        reset = self._used[-1][0] + 60.0 - now if self._used else 0.0
        return float(self.config.tpm or 0) - used, reset

    def _count_tokens(self, now: float, amount: int) -> None:
        if self.config.tpm is not None:
            self._used.append((now, amount))
        self.stats.tokens_at.append((now, amount))

    # --- headers and bodies in each API's format -------------------------------------

    def _quota(self, api: str, now: float, remaining: float, reset: float) -> dict[str, str]:
        if not self.config.quota_headers:
            return {}
        headers: dict[str, str] = {}
        if self.config.rpm is not None:
            limit = int(self.config.rpm if self.config.mode == "window" else self._capacity)
            headers.update(_limit_headers(api, "requests", limit, max(0, int(remaining)), reset))
        elif self.config.random_429:
            # A server with room to spare still says so (a nominal limit far above use).
            headers.update(_limit_headers(api, "requests", 100_000, 99_999, 0.001))
        if self.config.tpm is not None:
            left, token_reset = self._token_room(now)
            headers.update(_limit_headers(api, "tokens", int(self.config.tpm), max(0, int(left)), token_reset))
        return headers

    def _refusal(self, api: str, what: str, wait: float, quota: dict[str, str]) -> web.Response:
        self.stats.rejected += 1
        headers = dict(quota)
        headers["retry-after"] = str(max(1, math.ceil(wait)))
        if api == "anthropic":
            body: dict[str, Any] = {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": f"This request would exceed your organization's rate limit of {what} per minute. "
                           "For details, refer to: https://docs.claude.com/en/api/rate-limits."},
                "request_id": f"req_{next(self._ids):020d}"}
        else:
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            unit = "tokens per min (TPM)" if "token" in what else "requests per min (RPM)"
            body = {"error": {
                "message": f"Rate limit reached for bench in organization org-bench on {unit}: "
                           f"Limit {what.split()[0]}. Please try again in {_duration(wait)}.",
                "type": "tokens" if "token" in what else "requests", "param": None, "code": "rate_limit_exceeded"}}
        return web.json_response(body, status=429, headers=headers)

    # --- handlers --------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.Response:
        return await self._serve(request, "openai")

    async def messages(self, request: web.Request) -> web.Response:
        return await self._serve(request, "anthropic")

    async def _serve(self, request: web.Request, api: str) -> web.Response:
        now = time.monotonic()
        body = await request.json()
        stats = self.stats
        stats.requests += 1
        if stats.first_request is None:
            stats.first_request = now
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", [])) + str(body.get("system", ""))
        prompt_tokens = max(1, len(prompt) // 4)
        burst = self.config.burst_429
        if burst is not None and burst[0] <= now - stats.first_request < burst[1]:
            return self._refusal(api, f"{int(self.config.rpm or 100_000)} requests", 1.0, self._quota(api, now, 0, 1.0))
        if self.config.tpm is not None:
            left, reset = self._token_room(now)
            if left < prompt_tokens:
                wait = self._used[0][0] + 60.0 - now if self._used else 1.0
                return self._refusal(api, f"{int(self.config.tpm)} tokens", wait, self._quota(api, now, 1, 0.0))
        admitted, wait, remaining, reset = self._admit_requests(now)
        if not admitted:
            return self._refusal(api, f"{int(self.config.rpm or 0)} requests", wait,
                                 self._quota(api, now, remaining, reset))
        if self.config.random_429 and self._rng.random() < self.config.random_429:
            if self.config.mode == "window" and self._window:
                self._window.pop()  # refused after all: it does not count
            return self._refusal(api, "capacity: 100000 requests", 1.0, self._quota(api, now, remaining, reset))
        stats.accepted_at.append(now)
        self._count_tokens(now, prompt_tokens)
        await asyncio.sleep(self.config.latency)
        empty = bool(self.config.empty_share) and self._rng.random() < self.config.empty_share
        output = 1 if empty else OUTPUT_TOKENS
        done = time.monotonic()
        self._count_tokens(done, output)
        stats.billed_input += prompt_tokens
        stats.billed_output += output
        stats.empty += empty
        stats.answered += 1
        quota = self._quota(api, done, *self._admit_peek(done))
        text = "" if empty else ANSWER
        if api == "anthropic":
            payload: dict[str, Any] = {
                "id": f"msg_{next(self._ids):020d}", "type": "message", "role": "assistant",
                "model": body.get("model", "bench"), "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": prompt_tokens, "output_tokens": output, "cache_read_input_tokens": 0,
                          "cache_creation_input_tokens": 0},
            }
        else:
            payload = {
                "id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model", "bench"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                             "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": output,
                          "total_tokens": prompt_tokens + output},
            }
        return web.json_response(payload, headers=quota)

    def _admit_peek(self, now: float) -> tuple[float, float]:
        """(remaining, reset) of the request limit without admitting anything."""
        if self.config.rpm is None:
            return math.inf, 0.0
        if self.config.mode == "window":
            while self._window and self._window[0] <= now - 60.0:
                self._window.popleft()
            reset = self._window[-1] + 60.0 - now if self._window else 0.0
            return float(self.config.rpm) - len(self._window), reset
        level = min(self._capacity, self._tokens + (now - self._checked) * self._refill)
        return math.floor(level), (self._capacity - level) / self._refill

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "me"}]})


def _limit_headers(api: str, dimension: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
    if api == "anthropic":
        # RFC 3339 at second precision, as Anthropic writes them: when the bucket is full again.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + reset))
        return {f"anthropic-ratelimit-{dimension}-limit": str(limit),
                f"anthropic-ratelimit-{dimension}-remaining": str(remaining),
                f"anthropic-ratelimit-{dimension}-reset": stamp}
    return {f"x-ratelimit-limit-{dimension}": str(limit), f"x-ratelimit-remaining-{dimension}": str(remaining),
            f"x-ratelimit-reset-{dimension}": _duration(reset)}


def _duration(seconds: float) -> str:
    """OpenAI's way of writing a duration: ``20ms``, ``1.5s``, ``6m0s``."""
    if seconds < 1.0:
        return f"{max(0, round(seconds * 1000))}ms"
    if seconds < 60.0:
        return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}m{rest:.0f}s"


class ServerThread:
    """The server on its own event loop in a thread, so it keeps its own timing."""

    def __init__(self, config: ServerConfig, port: int = 0) -> None:
        self.server = RateLimitedServer(config)
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="rate-limited-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the benchmark server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(10)

    def stop_serving(self) -> None:
        """Close the listening socket and every connection: from now on connections are refused."""
        future = asyncio.run_coroutine_threadsafe(self._close(), self._loop)
        future.result(10)

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        # Handlers still sleeping out their latency for clients that are gone: end them
        # here rather than let the loop's destructor complain about them.
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.wait(pending))
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._runner = web.AppRunner(self.server.app(), access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await self._close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rpm", type=float, default=600.0, help="requests per minute; 0 for no limit")
    parser.add_argument("--tpm", type=float, default=0.0, help="tokens per minute (sliding 60 s); 0 for no limit")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--mode", choices=("bucket", "window"), default="bucket")
    parser.add_argument("--burst", type=float, default=1.0, help="bucket size in seconds of rate")
    parser.add_argument("--no-quota-headers", action="store_true", help="send no x-ratelimit-* headers")
    parser.add_argument("--random-429", type=float, default=0.0, help="share of requests refused at random")
    parser.add_argument("--empty-share", type=float, default=0.0, help="share of answers empty but billed")
    args = parser.parse_args()
    config = ServerConfig(
        rpm=args.rpm or None, latency=args.latency, mode=args.mode, burst=args.burst,
        quota_headers=not args.no_quota_headers, tpm=args.tpm or None, random_429=args.random_429,
        empty_share=args.empty_share,
    )
    server = RateLimitedServer(config)
    print(f"serving on http://127.0.0.1:{args.port}/v1 with {json.dumps(config.__dict__)}")
    web.run_app(server.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""A local OpenAI-compatible chat server that enforces a requests-per-minute limit.

It answers ``POST /v1/chat/completions`` after a configurable latency with a minimal valid
completion (usage counts and a fenced python block), and rejects requests over its limit
with real 429s in OpenAI's format: an ``error`` body with ``code: rate_limit_exceeded``,
``retry-after``/``retry-after-ms`` and the ``x-ratelimit-*`` headers.  It counts requests,
answers and 429s, and keeps the arrival time of every accepted request so a benchmark can
measure the rate the server actually saw.

Two ways of enforcing the limit:

* ``bucket`` (default): a token bucket refilled at ``rpm / 60`` per second holding
  ``burst`` seconds' worth of requests, the way OpenAI and Anthropic enforce limits
  (continuous replenishment, quantised to short periods).  The headers describe that
  bucket: limit = its size, remaining = what is in it, reset = time until it is full.
* ``window``: at most ``rpm`` requests in any sliding 60 s; limit = ``rpm``, remaining =
  what the window still admits, reset = time until the window is empty.

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
import threading
import time
from dataclasses import dataclass, field
from typing import Self

from aiohttp import web

ANSWER = (
    "Here is a solution:\n\n```python\ndef solve(values):\n"
    "    return sorted(set(values))\n```\n\nIt removes duplicates and sorts."
)


@dataclass
class ServerConfig:
    """How the server behaves; ``rpm=None`` means no limit."""

    rpm: float | None = 600.0
    latency: float = 0.2
    mode: str = "bucket"
    burst: float = 1.0
    quota_headers: bool = True


@dataclass
class ServerStats:
    """What the server saw, in its own clock (``time.monotonic``)."""

    requests: int = 0
    answered: int = 0
    rejected: int = 0
    accepted_at: list[float] = field(default_factory=list)
    first_request: float | None = None


class RateLimitedServer:
    """The request handler and its limit state."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.stats = ServerStats()
        self._ids = itertools.count(1)
        rate = (config.rpm or 0.0) / 60.0
        self._refill = rate
        self._capacity = max(1.0, rate * config.burst)
        self._tokens = self._capacity
        self._checked = time.monotonic()
        self._window: collections.deque[float] = collections.deque()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.models)
        return app

    # --- limit -----------------------------------------------------------------------

    def _admit(self, now: float) -> tuple[bool, dict[str, str], float]:
        """Whether to serve this request, the quota headers, and the wait when not."""
        if self.config.rpm is None:
            return True, {}, 0.0
        if self.config.mode == "window":
            return self._admit_window(now)
        self._tokens = min(self._capacity, self._tokens + (now - self._checked) * self._refill)
        self._checked = now
        admitted = self._tokens >= 1.0
        if admitted:
            self._tokens -= 1.0
        wait = 0.0 if admitted else (1.0 - self._tokens) / self._refill
        reset = (self._capacity - self._tokens) / self._refill
        return admitted, self._headers(self._capacity, math.floor(self._tokens), reset), wait

    def _admit_window(self, now: float) -> tuple[bool, dict[str, str], float]:
        limit = float(self.config.rpm or 0)
        while self._window and self._window[0] <= now - 60.0:
            self._window.popleft()
        admitted = len(self._window) < limit
        if admitted:
            self._window.append(now)
        wait = 0.0 if admitted else self._window[0] + 60.0 - now
        reset = self._window[-1] + 60.0 - now if self._window else 0.0
        return admitted, self._headers(limit, limit - len(self._window), reset), wait

    @staticmethod
    def _headers(limit: float, remaining: float, reset: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(int(limit)),
            "x-ratelimit-remaining-requests": str(int(max(0, remaining))),
            "x-ratelimit-reset-requests": _duration(reset),
        }

    # --- handlers --------------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        body = await request.json()
        self.stats.requests += 1
        if self.stats.first_request is None:
            self.stats.first_request = now
        admitted, quota, wait = self._admit(now)
        if not admitted:
            self.stats.rejected += 1
            headers = dict(quota)
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))
            error = {
                "message": f"Rate limit reached for requests per min (RPM): Limit {self.config.rpm:g}. "
                f"Please try again in {_duration(wait)}.",
                "type": "requests",
                "param": None,
                "code": "rate_limit_exceeded",
            }
            return web.json_response({"error": error}, status=429, headers=headers)
        self.stats.accepted_at.append(now)
        await asyncio.sleep(self.config.latency)
        prompt = "".join(str(m.get("content", "")) for m in body.get("messages", []))
        usage = {"prompt_tokens": max(1, len(prompt) // 4), "completion_tokens": len(ANSWER) // 4}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        payload = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "bench"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": usage,
        }
        self.stats.answered += 1
        return web.json_response(payload, headers=quota if self.config.quota_headers else None)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model", "owned_by": "me"}]})


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

    def __init__(self, config: ServerConfig) -> None:
        self.server = RateLimitedServer(config)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="rate-limited-server", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the benchmark server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)  # type: ignore[union-attr]
        self._thread.join(10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--rpm", type=float, default=600.0, help="requests per minute; 0 for no limit")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds before each answer")
    parser.add_argument("--mode", choices=("bucket", "window"), default="bucket")
    parser.add_argument("--burst", type=float, default=1.0, help="bucket size in seconds of rate")
    parser.add_argument("--no-quota-headers", action="store_true", help="send x-ratelimit-* only on 429s")
    args = parser.parse_args()
    config = ServerConfig(
        rpm=args.rpm or None, latency=args.latency, mode=args.mode, burst=args.burst,
        quota_headers=not args.no_quota_headers,
    )
    server = RateLimitedServer(config)
    print(f"serving on http://127.0.0.1:{args.port}/v1 with {json.dumps(config.__dict__)}")
    web.run_app(server.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()

"""A provider simulated in-process, for limiter behaviour tests on the virtual-time loop.

``SimulatedServer`` enforces what real providers enforce (a sliding 60 s window of
requests and tokens, or nothing), and can add what they also do: random 429s, a burst
of 429s, empty answers that are billed, a stretch of refused connections.  Its 429s are
the errors the real SDK mappings produce from OpenAI's and Anthropic's bodies and
headers (``models.failures.error_for_status`` with the same messages and headers the
fake wire sends), so the limiter reads exactly what it reads in production.
``SimulatedModel`` is a ``BaseModel`` that asks it; the clock is the event loop's, so
minutes of traffic take milliseconds of real time and every figure is exact.

It counts what it accepted (by arrival time), what it refused and the tokens it billed,
so tests assert on the server's view, as the benchmarks do against the real server.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from dataclasses import dataclass, field

from llm_solutions.errors import EmptyResponseError, ProviderError
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.failures import ConnectionFailedError, error_for_status
from llm_solutions.models.tokens import prompt_tokens

EPOCH = 1_800_000_000.0  # the simulated wall clock at loop time 0


def wall_clock() -> float:
    """Epoch seconds on the simulation's clock (for reset headers given as dates)."""
    return EPOCH + asyncio.get_running_loop().time()


@dataclass
class SimulatedServer:
    """What the server enforces and does; see the module docstring.

    ``rpm``/``tpm``: sliding 60 s window limits (``None``: none).  ``style``: the
    provider whose 429 bodies and headers it sends (``openai``, ``anthropic``).
    ``quota_headers``: whether answers and 429s carry the remaining-quota headers.
    ``random_429``: the share of requests refused at random (``Retry-After: 1``), with
    headers showing room.  ``burst``: (start, end) loop times during which everything
    is refused as a rate limit.  ``down``: (start, end) during which connections are
    refused.  ``empty_share``: answers that come back empty but billed.
    """

    rpm: float | None = None
    tpm: float | None = None
    style: str = "openai"
    quota_headers: bool = True
    latency: float = 0.2
    output_tokens: int = 200
    random_429: float = 0.0
    burst: tuple[float, float] | None = None
    down: tuple[float, float] | None = None
    empty_share: float = 0.0
    seed: int = 1
    accepted: list[float] = field(default_factory=list)
    refused: int = 0
    requests: int = 0
    billed_input: int = 0
    billed_output: int = 0
    _rng: random.Random = field(init=False)
    _window: collections.deque[float] = field(init=False, default_factory=collections.deque)
    _tokens: collections.deque[tuple[float, int]] = field(init=False, default_factory=collections.deque)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    # --- the server's side -------------------------------------------------------------

    def _expire(self, now: float) -> None:
        while self._window and self._window[0] <= now - 60.0:
            self._window.popleft()
        while self._tokens and self._tokens[0][0] <= now - 60.0:
            self._tokens.popleft()

    def _tokens_used(self) -> int:
        return sum(amount for _, amount in self._tokens)

    def _headers(self, now: float) -> dict[str, str]:
        if not self.quota_headers or self.rpm is None:
            return {}
        remaining = max(0, int(self.rpm) - len(self._window))
        reset = (self._window[-1] + 60.0 - now) if self._window else 0.0
        headers = {}
        if self.style == "anthropic":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH + now + reset))
            headers.update({"anthropic-ratelimit-requests-limit": str(int(self.rpm)),
                            "anthropic-ratelimit-requests-remaining": str(remaining),
                            "anthropic-ratelimit-requests-reset": stamp})
        else:
            headers.update({"x-ratelimit-limit-requests": str(int(self.rpm)),
                            "x-ratelimit-remaining-requests": str(remaining),
                            "x-ratelimit-reset-requests": f"{reset:.3f}s"})
        if self.tpm is not None:
            left = max(0, int(self.tpm) - self._tokens_used())
            token_reset = (self._tokens[-1][0] + 60.0 - now) if self._tokens else 0.0
            if self.style == "anthropic":
                headers.update({"anthropic-ratelimit-tokens-limit": str(int(self.tpm)),
                                "anthropic-ratelimit-tokens-remaining": str(left),
                                "anthropic-ratelimit-tokens-reset": time.strftime(
                                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH + now + token_reset))})
            else:
                headers.update({"x-ratelimit-limit-tokens": str(int(self.tpm)),
                                "x-ratelimit-remaining-tokens": str(left),
                                "x-ratelimit-reset-tokens": f"{token_reset:.3f}s"})
        return headers

    def _refuse(self, now: float, what: str, wait: float, headers: dict[str, str]) -> ProviderError:
        self.refused += 1
        headers = {**headers, "retry-after": str(max(1, round(wait)))}
        if self.style == "anthropic":
            message = (f"This request would exceed your organization's rate limit of {what} per minute. "
                       "Please try again later.")
        else:
            headers["retry-after-ms"] = str(max(1, int(wait * 1000)))
            message = f"Rate limit reached for requests per min (RPM): Limit {what}. Please try again in {wait:.3f}s."
        return error_for_status("sim", 429, f"sim: {message}", headers)

    async def serve(self, request: Request) -> Completion:
        """Answer one request, as the real server would."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.requests += 1
        if self.down is not None and self.down[0] <= now < self.down[1]:
            raise ConnectionFailedError("sim: could not reach the server at http://sim (connection refused)",
                                        reason="connection refused", target="http://sim", provider="sim")
        self._expire(now)
        prompt = prompt_tokens(request.messages)
        if self.burst is not None and self.burst[0] <= now < self.burst[1]:
            full = {**self._headers(now)}
            if self.quota_headers:
                for name in list(full):
                    if "remaining" in name:
                        full[name] = "0"
            raise self._refuse(now, f"{int(self.rpm or 10_000)} requests", 1.0, full)
        if self.rpm is not None and len(self._window) >= self.rpm:
            raise self._refuse(now, f"{int(self.rpm)} requests", self._window[0] + 60.0 - now, self._headers(now))
        if self.tpm is not None and self._tokens_used() + prompt > self.tpm:
            wait = self._tokens[0][0] + 60.0 - now if self._tokens else 1.0
            raise self._refuse(now, f"{int(self.tpm)} input tokens", wait, self._headers(now))
        if self.random_429 and self._rng.random() < self.random_429:
            raise self._refuse(now, "capacity", 1.0, self._headers(now))
        self._window.append(now)
        self._tokens.append((now, prompt))
        self.accepted.append(now)
        await asyncio.sleep(self.latency)
        empty = self.empty_share and self._rng.random() < self.empty_share
        output = 1 if empty else self.output_tokens
        self._tokens.append((loop.time(), output))
        self.billed_input += prompt
        self.billed_output += output
        completion = Completion(text="" if empty else "```python\ndef solve():\n    return 1\n```",
                                input_tokens=prompt, output_tokens=output, finish_reason="stop",
                                latency=self.latency, headers=self._headers(loop.time()))
        if empty:
            raise EmptyResponseError("sim: empty answer", provider="sim", status=200, completion=completion)
        return completion

    def accepted_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.accepted if start <= t < end)


class SimulatedModel(BaseModel):
    """A model whose answers come from a ``SimulatedServer``."""

    provider = "sim"

    def __init__(self, server: SimulatedServer, name: str = "sim-model", max_tokens: int = 4096) -> None:
        super().__init__(ModelConfig(name=name, provider="sim", model_params={"max_tokens": max_tokens},
                                     input_price=1.0, output_price=2.0), api_key="key", base_url="http://sim")
        self.server = server

    async def generate(self, request: Request) -> Completion:
        return await self.server.serve(request)

"""Anthropic's Messages API through the official ``anthropic`` SDK.

Thinking is driven by the model row: ``model_params["thinking_budget"]`` sends manual
extended thinking (``{"type": "enabled", "budget_tokens": N}``, for models that still
accept it); ``model_params["thinking"]`` names another thinking type (``"adaptive"``,
``"disabled"``) and ``thinking_display`` how thinking text comes back; the request's
``reasoning_effort`` (or ``model_params["reasoning_effort"]``) becomes
``output_config.effort``.  Reasoning models get no temperature or top_p.  The Messages API
has no JSON mode, so ``Request.json_output`` sends nothing: the prompt asks for JSON.  The
module maps the wire only: no retries (the SDK's are off), no rate limiting, no pricing.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar

import anthropic
import httpx2

from llm_solutions.errors import (
    ContentRefusedError,
    EmptyResponseError,
    ProviderError,
    TransientError,
)
from llm_solutions.headers import lowered
from llm_solutions.models.base import BaseModel, Completion, Request, split_data_url, token_count
from llm_solutions.models.failures import error_for_status, lost_connection

DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_CONNECTIONS = 256
_QUOTA_CODES = {"enforced_spend_limit_reached", "contract_spend_limit_reached",
                "linked_organization_spend_limit_reached"}


class AnthropicModel(BaseModel):
    """A Claude model behind ``POST /v1/messages``."""

    provider: ClassVar[str] = "anthropic"

    @classmethod
    def create_client(
        cls,
        api_key: str | None,
        base_url: str | None,
        *,
        timeout: float | None = None,
        max_connections: int | None = None,
        **options: Any,
    ) -> anthropic.AsyncAnthropic:
        """An ``AsyncAnthropic`` on the aiohttp transport with SDK retries off."""
        limits = httpx2.Limits(
            max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
            max_keepalive_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
        )
        http_client = anthropic.DefaultAioHttpClient(timeout=timeout or DEFAULT_TIMEOUT, limits=limits)
        return anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            max_retries=0,
            timeout=timeout or DEFAULT_TIMEOUT,
            http_client=http_client,
        )

    # --- request -------------------------------------------------------------------------

    @staticmethod
    def messages(request: Request) -> list[dict[str, Any]]:
        """The chat messages; images go with the last user message as base64 ``image``
        blocks, before its text (where Claude reads them best)."""
        messages: list[dict[str, Any]] = request.chat
        if request.images:
            last = max(i for i, m in enumerate(messages) if m["role"] == "user")
            blocks: list[dict[str, Any]] = []
            for url in request.images:
                media_type, data = split_data_url(url)
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
            blocks.append({"type": "text", "text": messages[last]["content"]})
            messages[last] = {"role": "user", "content": blocks}
        return messages

    def body(self, request: Request) -> dict[str, Any]:
        """Keyword arguments for ``messages.create`` (unknown fields go in ``extra_body``)."""
        params = self.config.model_params
        max_tokens = request.max_tokens
        kwargs: dict[str, Any] = {"model": self.api_model, "messages": self.messages(request)}
        if request.system:
            kwargs["system"] = request.system
        thinking: dict[str, Any] | None = None
        budget = params.get("thinking_budget")
        if budget:
            budget = int(budget)
            thinking = {"type": "enabled", "budget_tokens": budget}
            if max_tokens <= budget:
                # Thinking counts toward max_tokens; keep the answer's own budget on top.
                max_tokens = budget + request.max_tokens
        elif params.get("thinking"):
            thinking = {"type": str(params["thinking"])}
        if thinking is not None and params.get("thinking_display"):
            thinking["display"] = str(params["thinking_display"])
        if thinking is not None:
            kwargs["thinking"] = thinking
        kwargs["max_tokens"] = max_tokens
        effort = request.reasoning_effort or params.get("reasoning_effort")
        if effort and self.config.reasoning:
            kwargs["output_config"] = {"effort": effort}
        extra: dict[str, Any] = {}
        if not self.config.reasoning and thinking is None:
            # This SDK version has no sampling arguments; older models still accept them.
            if request.temperature is not None:
                extra["temperature"] = request.temperature
            if request.top_p is not None:
                extra["top_p"] = request.top_p
        extra.update(params.get("extra") or {})
        extra.update(request.extra)
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    # --- call ----------------------------------------------------------------------------

    async def generate(self, request: Request) -> Completion:
        kwargs = self.body(request)
        headers: dict[str, str] = {}
        started = time.perf_counter()
        try:
            raw = await self.client.messages.with_raw_response.create(**kwargs)
            headers = lowered(raw.headers)
            payload = raw.http_response.json()
        except anthropic.APIStatusError as e:
            raise self.status_error(e) from e
        except anthropic.APIConnectionError as e:
            # APITimeoutError included: a refused connection may surface as either.
            raise lost_connection(self.provider, self.name, self.base_url, e,
                                  timed_out=isinstance(e, anthropic.APITimeoutError)) from e
        except json.JSONDecodeError as e:
            raise TransientError(
                f"{self.name}: response is not valid JSON ({e})", provider=self.provider, status=200,
                headers=headers,
            ) from e
        except anthropic.AnthropicError as e:
            raise ProviderError(f"{self.name}: {e}", provider=self.provider) from e
        return self.completion(payload, headers, time.perf_counter() - started)

    def status_error(self, e: anthropic.APIStatusError) -> ProviderError:
        message = e.api_message or e.message or "request failed"
        kind = e.type or ""
        quota = True if kind == "billing_error" or e.error_code in _QUOTA_CODES else None
        return error_for_status(
            self.provider,
            e.status_code,
            f"{self.name}: {message}",
            e.response.headers,
            quota=quota,
        )

    # --- response ------------------------------------------------------------------------

    def completion(self, payload: Any, headers: dict[str, str], latency: float) -> Completion:
        if not isinstance(payload, dict):
            raise TransientError(
                f"{self.name}: response is not a JSON object", provider=self.provider, status=200,
                headers=headers,
            )
        texts: list[str] = []
        thoughts: list[str] = []
        for block in payload.get("content") or []:
            if not isinstance(block, dict):
                continue
            if block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "thinking" and block.get("thinking"):
                thoughts.append(str(block["thinking"]))
        usage = payload.get("usage") or {}
        cache_read = token_count(usage.get("cache_read_input_tokens"))
        # input_tokens counts only the uncached part; the total is all three summed.
        total_input = token_count(usage.get("input_tokens")) + cache_read + token_count(
            usage.get("cache_creation_input_tokens")
        )
        details = usage.get("output_tokens_details") or {}
        result = Completion(
            text="".join(texts),
            input_tokens=total_input,
            output_tokens=token_count(usage.get("output_tokens")),
            cached_tokens=cache_read,
            reasoning_tokens=token_count(details.get("thinking_tokens")),
            finish_reason=payload.get("stop_reason"),
            latency=latency,
            reasoning="\n\n".join(thoughts) or None,
            model=payload.get("model"),
            raw=payload,
            headers=headers,
        )
        self.check_answer(result, payload)
        return result

    def check_answer(self, result: Completion, payload: dict[str, Any]) -> None:
        """Refusals and empty answers become errors that carry the billed answer (``completion``)."""
        error: ProviderError | None = None
        if result.finish_reason == "refusal":
            details = payload.get("stop_details") or {}
            why = details.get("explanation") or details.get("category") or "refusal"
            error = ContentRefusedError(
                f"{self.name}: refused: {why}", provider=self.provider, status=200, headers=result.headers,
                completion=result,
            )
        elif not result.text.strip():
            why = f" (stop_reason {result.finish_reason})" if result.finish_reason else ""
            error = EmptyResponseError(
                f"{self.name}: empty answer{why}", provider=self.provider, status=200,
                headers=result.headers, completion=result,
            )
        if error is not None:
            raise error

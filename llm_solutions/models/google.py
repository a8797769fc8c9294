"""Google Gemini's ``generateContent`` through the official ``google-genai`` SDK.

Thinking is driven by the model row: reasoning models get ``thinking_config`` with
``include_thoughts`` so thought parts come back separately from the answer, plus
``thinking_budget`` (Gemini 2.5) or ``thinking_level`` (Gemini 3; also taken from the
request's ``reasoning_effort``).  Reasoning models get no temperature or top_p.  The
module maps the wire only: no retries (the SDK's, including its silent reconnect, are
off), no rate limiting, no pricing.

The SDK puts an API version between the base URL and the path (``v1`` in google-genai
3.x).  A server that serves another one (a proxy with only ``/v1beta``) is reached by
setting the version: the provider's ``api_version`` client option (``client_env``), or a
base URL that ends in the version (``http://proxy:4000/v1beta``).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Awaitable
from typing import Any, ClassVar, TypeVar

import aiohttp
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from llm_solutions.durations import parse_duration
from llm_solutions.errors import (
    BadRequestError,
    ContentRefusedError,
    EmptyResponseError,
    ProviderError,
    TransientError,
)
from llm_solutions.headers import lowered
from llm_solutions.models.base import BaseModel, Completion, Request, split_data_url, token_count
from llm_solutions.models.failures import error_for_status, lost_connection, one_line
from llm_solutions.models.tokens import text_tokens

DEFAULT_TIMEOUT = 180.0
T = TypeVar("T")
_REFUSAL_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "MODEL_ARMOR"}
# A base URL ending in an API version ("/v1beta", "/v1", "/v1alpha2").
_VERSION_SUFFIX = re.compile(r"^(?P<base>.*?)/(?P<version>v\d+(?:(?:alpha|beta)\d*)?)/*$")
_EFFORT_LEVELS = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "xhigh": "XHIGH",
                  "max": "XHIGH"}


def _error_details(details: Any) -> list[dict[str, Any]]:
    """The ``error.details`` list of a Google API error body, whatever shape the SDK kept."""
    if isinstance(details, dict):
        inner = details.get("error", details)
        found = inner.get("details") if isinstance(inner, dict) else None
        return [d for d in found or [] if isinstance(d, dict)]
    return []


def split_api_version(base_url: str | None) -> tuple[str | None, str | None]:
    """``(base URL, API version)``: a version at the end of the URL is moved out of it."""
    if not base_url:
        return base_url, None
    found = _VERSION_SUFFIX.match(base_url)
    if found is None:
        return base_url, None
    return found.group("base") + "/", found.group("version")


def _server_text(e: genai_errors.APIError) -> str:
    """The server's own words: the error message, else whatever body it sent, else the status."""
    if e.message:
        return str(e.message)
    details = e.details
    if isinstance(details, dict):
        inner = details.get("error", details)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if details:
            return one_line(json.dumps(details, default=str))
    elif details:
        return one_line(str(details))
    return str(e.status or "request failed")


class GoogleModel(BaseModel):
    """A Gemini model behind ``POST /v1beta/models/{model}:generateContent``."""

    provider: ClassVar[str] = "google"

    @classmethod
    def create_client(
        cls,
        api_key: str | None,
        base_url: str | None,
        *,
        timeout: float | None = None,
        max_connections: int | None = None,
        **options: Any,
    ) -> genai.Client:
        """A ``genai.Client`` for the Gemini Developer API.

        The SDK uses aiohttp for its async calls whenever aiohttp is installed and no httpx
        client is given; it creates one session per event loop on first use.
        ``attempts=1`` turns off both its retry policy and its implicit reconnect-and-resend.
        ``max_connections`` is accepted for a uniform interface; this SDK sizes its own pool.
        ``options["api_version"]`` (or a base URL ending in a version) picks the API version.
        """
        base, version = split_api_version(base_url)
        version = options.get("api_version") or version
        http_options = types.HttpOptions(
            base_url=base,
            api_version=version,
            timeout=int((timeout or DEFAULT_TIMEOUT) * 1000),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        return genai.Client(vertexai=False, api_key=api_key, http_options=http_options)

    @classmethod
    async def close_client(cls, client: genai.Client) -> None:
        """Close the async (aiohttp) side and the sync side the SDK also opened."""
        await client.aio.aclose()
        client.close()

    # --- request -------------------------------------------------------------------------

    def contents(self, request: Request) -> list[types.Content]:
        """The chat as contents; images go with the last user turn as ``inline_data``
        parts (the decoded bytes; the SDK sends them base64), before its text."""
        contents = [
            types.Content(
                role="model" if m["role"] == "assistant" else "user",
                parts=[types.Part(text=m["content"])],
            )
            for m in request.chat
        ]
        if request.images:
            last = max(i for i, c in enumerate(contents) if c.role == "user")
            images = []
            for url in request.images:
                media_type, data = split_data_url(url)
                images.append(types.Part(inline_data=types.Blob(mime_type=media_type, data=base64.b64decode(data))))
            contents[last].parts = [*images, *(contents[last].parts or [])]
        return contents

    def config_for(self, request: Request) -> types.GenerateContentConfig:
        """The ``GenerateContentConfig``; unknown ``extra`` fields are refused up front."""
        params = self.config.model_params
        fields: dict[str, Any] = {
            "max_output_tokens": request.max_tokens,
            # No tools are sent, so nothing for the SDK to call on its own.
            "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
        }
        if request.system:
            fields["system_instruction"] = request.system
        if self.config.reasoning:
            thinking: dict[str, Any] = {"include_thoughts": True}
            if params.get("thinking_budget") is not None:
                thinking["thinking_budget"] = int(params["thinking_budget"])
            effort = request.reasoning_effort or params.get("reasoning_effort")
            level = params.get("thinking_level") or _EFFORT_LEVELS.get(str(effort).lower() if effort else "")
            if level and "thinking_budget" not in thinking:
                thinking["thinking_level"] = str(level).upper()
            fields["thinking_config"] = types.ThinkingConfig(**thinking)
        else:
            if request.temperature is not None:
                fields["temperature"] = request.temperature
            if request.top_p is not None:
                fields["top_p"] = request.top_p
        if request.json_output:
            fields["response_mime_type"] = "application/json"
        fields.update(params.get("extra") or {})
        fields.update(request.extra)
        try:
            return types.GenerateContentConfig(**fields)
        except pydantic.ValidationError as e:
            raise BadRequestError(
                f"{self.name}: invalid generation settings in the model row: {e}", provider=self.provider
            ) from e

    # --- call ----------------------------------------------------------------------------

    async def answered(self, sent: Awaitable[T]) -> T:
        """The SDK's answer to ``sent``, its errors mapped to ours (chat and embeddings alike)."""
        try:
            return await sent
        except genai_errors.APIError as e:
            raise self.status_error(e) from e
        except (TimeoutError, aiohttp.ClientError) as e:
            raise lost_connection(self.provider, self.name, self.base_url, e,
                                  timed_out=isinstance(e, (TimeoutError, aiohttp.ServerTimeoutError))) from e
        except (json.JSONDecodeError, pydantic.ValidationError) as e:
            raise TransientError(
                f"{self.name}: response is not valid JSON ({e})", provider=self.provider, status=200
            ) from e

    async def generate(self, request: Request) -> Completion:
        config = self.config_for(request)
        contents = self.contents(request)
        started = time.perf_counter()
        response = await self.answered(self.client.aio.models.generate_content(
            model=self.api_model, contents=contents, config=config))
        return self.completion(response, time.perf_counter() - started)

    def status_error(self, e: genai_errors.APIError) -> ProviderError:
        status = e.code if isinstance(e.code, int) else None
        message = _server_text(e)
        if status in (404, 405) and not _error_details(e.details):
            # Not a Gemini error body: most likely a server that serves another API
            # version than the one the SDK asked for.
            path = getattr(getattr(e.response, "url", None), "path", None) or "the API path"
            message = (f"the server at {self.base_url} answered {status} for {path} ({message}); if it serves "
                       "another API version, set it: GOOGLE_GENAI_API_VERSION=v1beta for the google provider, "
                       "or a base URL ending in /v1beta")
        headers = lowered(getattr(e.response, "headers", None))
        details = _error_details(e.details)
        retry_after: float | None = None
        quota: bool | None = None
        auth = False
        for detail in details:
            kind = str(detail.get("@type", ""))
            if kind.endswith("google.rpc.RetryInfo"):
                retry_after = parse_duration(str(detail.get("retryDelay") or ""))
            elif kind.endswith("google.rpc.QuotaFailure"):
                ids = [str(v.get("quotaId", "")) for v in detail.get("violations") or [] if isinstance(v, dict)]
                # Gemini words every 429 as "exceeded your current quota"; only the quota id
                # tells a per-minute limit (wait) from a per-day one (stop for today).
                quota = any("PerDay" in quota_id for quota_id in ids)
            elif kind.endswith("google.rpc.ErrorInfo") and detail.get("reason") in (
                "API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"
            ):
                auth = True
        if status == 429 and quota is None:
            quota = False
        if auth:
            status = 401  # Gemini answers a bad key with 400 INVALID_ARGUMENT
        return error_for_status(
            self.provider, status, f"{self.name}: {message}", headers, retry_after=retry_after, quota=quota
        )

    # --- response ------------------------------------------------------------------------

    def completion(self, response: types.GenerateContentResponse, latency: float) -> Completion:
        headers = lowered(response.sdk_http_response.headers if response.sdk_http_response else None)
        raw = response.model_dump(mode="json", exclude_none=True, exclude={"sdk_http_response"})
        texts: list[str] = []
        thoughts: list[str] = []
        candidate = response.candidates[0] if response.candidates else None
        if candidate is not None and candidate.content is not None:
            for part in candidate.content.parts or []:
                if part.text is None:
                    continue
                (thoughts if part.thought else texts).append(part.text)
        usage = response.usage_metadata
        thought_tokens = token_count(usage.thoughts_token_count) if usage else 0
        finish = candidate.finish_reason if candidate is not None else None
        finish_name = getattr(finish, "value", finish)
        result = Completion(
            text="".join(texts),
            input_tokens=token_count(usage.prompt_token_count) if usage else 0,
            # Gemini bills thinking as output; candidates_token_count excludes it.
            output_tokens=(token_count(usage.candidates_token_count) + thought_tokens) if usage else 0,
            cached_tokens=token_count(usage.cached_content_token_count) if usage else 0,
            reasoning_tokens=thought_tokens,
            finish_reason=str(finish_name) if finish_name else None,
            latency=latency,
            reasoning="".join(thoughts) or None,
            model=response.model_version,
            raw=raw,
            headers=headers,
        )
        self.check_answer(result, response)
        return result

    def check_answer(self, result: Completion, response: types.GenerateContentResponse) -> None:
        """Blocked prompts, safety stops and empty answers become errors carrying the billed answer."""
        blocked = response.prompt_feedback.block_reason if response.prompt_feedback else None
        error: ProviderError | None = None
        if blocked:
            error = ContentRefusedError(
                f"{self.name}: prompt blocked: {getattr(blocked, 'value', blocked)}",
                provider=self.provider, status=200, headers=result.headers, completion=result,
            )
        elif not result.text.strip() and result.finish_reason in _REFUSAL_REASONS:
            error = ContentRefusedError(
                f"{self.name}: answer blocked: {result.finish_reason}",
                provider=self.provider, status=200, headers=result.headers, completion=result,
            )
        elif not result.text.strip():
            why = f" (finish_reason {result.finish_reason})" if result.finish_reason else ""
            error = EmptyResponseError(
                f"{self.name}: empty answer{why}", provider=self.provider, status=200,
                headers=result.headers, completion=result,
            )
        if error is not None:
            raise error


class GoogleEmbeddingModel(GoogleModel):
    """A Gemini embedding model (``embed_content``, sent as one ``batchEmbedContents``):
    each user message of the request is one input; ``raw["embeddings"]`` holds the vectors.
    The Developer API reports no token usage for embeddings, so the inputs' estimated
    tokens are billed; ``model_params["dimensions"]`` sets ``output_dimensionality``."""

    async def generate(self, request: Request) -> Completion:
        inputs = [m["content"] for m in request.messages if m["role"] == "user"]
        dimensions = self.config.model_params.get("dimensions")
        config = types.EmbedContentConfig(output_dimensionality=int(dimensions) if dimensions else None)
        started = time.perf_counter()
        response = await self.answered(self.client.aio.models.embed_content(
            model=self.api_model, contents=inputs, config=config))
        vectors = [list(e.values or []) for e in response.embeddings or []]
        if len(vectors) != len(inputs) or not all(vectors):
            raise TransientError(f"{self.name}: {len(vectors)} embeddings for {len(inputs)} inputs",
                                 provider=self.provider, status=200)
        headers = lowered(response.sdk_http_response.headers if response.sdk_http_response else None)
        return Completion(text="", input_tokens=sum(text_tokens(text) for text in inputs),
                          latency=time.perf_counter() - started, model=self.api_model,
                          raw={"embeddings": vectors}, headers=headers)

"""OpenAI chat completions, and every provider that speaks the same wire format.

One class per provider so each has its own name in errors and its own client; they differ
only in small wire details: OpenAI wants ``max_completion_tokens`` and honours the
organisation and project ids, DeepSeek returns ``reasoning_content``, OpenRouter returns
``reasoning`` and the provider-reported ``usage.cost``, the local server may need its model
id looked up.  The module maps the wire only: no retries (the SDK's are off), no rate
limiting, no pricing.
"""

from __future__ import annotations

import json
import time
from typing import Any, ClassVar, cast

import httpx2
import openai

from llm_solutions.errors import (
    BadRequestError,
    ContentRefusedError,
    EmptyResponseError,
    ProviderError,
    TransientError,
)
from llm_solutions.headers import lowered
from llm_solutions.models.base import BaseModel, Completion, Request, token_count
from llm_solutions.models.failures import connection_failure, error_for_status, lost_connection, one_line

DEFAULT_TIMEOUT = 180.0
DEFAULT_MAX_CONNECTIONS = 256
# Local servers started without an API key ignore the Authorization header, but the SDK
# refuses to send a request without one; never fall back to OPENAI_API_KEY for them.
KEYLESS_PLACEHOLDER = "no-key"


def build_openai_client(
    api_key: str | None,
    base_url: str | None,
    *,
    timeout: float | None = None,
    max_connections: int | None = None,
    organization: str | None = None,
    project: str | None = None,
    default_headers: dict[str, str] | None = None,
) -> openai.AsyncOpenAI:
    """An ``AsyncOpenAI`` on the aiohttp transport with SDK retries off.

    Key, base URL, organisation and project are always passed explicitly: the SDK would
    otherwise read ``OPENAI_*`` variables on behalf of every OpenAI-compatible provider.
    """
    limits = httpx2.Limits(
        max_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
        max_keepalive_connections=max_connections or DEFAULT_MAX_CONNECTIONS,
    )
    http_client = openai.DefaultAioHttpClient(timeout=timeout or DEFAULT_TIMEOUT, limits=limits)
    client = openai.AsyncOpenAI(
        api_key=api_key or KEYLESS_PLACEHOLDER,
        base_url=base_url,
        max_retries=0,
        timeout=timeout or DEFAULT_TIMEOUT,
        http_client=http_client,
        default_headers=default_headers,
    )
    # Given None, the SDK fills these from OPENAI_ORG_ID/OPENAI_PROJECT_ID; only the OpenAI
    # provider gets them (from the registry), so another provider never receives them.
    client.organization = organization
    client.project = project
    return client


def _message_text(content: Any) -> str:
    """Message content as text; some servers send a list of typed parts instead of a string."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def chat_messages(request: Request) -> list[dict[str, Any]]:
    """The messages on the wire; images go with the last user message as ``image_url``
    parts holding their data URLs, before its text."""
    messages: list[dict[str, Any]] = [dict(m) for m in request.messages]
    if request.images:
        last = max(i for i, m in enumerate(messages) if m["role"] == "user")
        parts: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": url}} for url in request.images]
        parts.append({"type": "text", "text": messages[last]["content"]})
        messages[last]["content"] = parts
    return messages


class OpenAIChatModel(BaseModel):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint."""

    provider: ClassVar[str] = "openai_compatible"
    # Which body field carries the output budget; OpenAI's own API deprecated max_tokens.
    token_param: ClassVar[str] = "max_tokens"
    default_headers: ClassVar[dict[str, str] | None] = None

    @classmethod
    def create_client(
        cls,
        api_key: str | None,
        base_url: str | None,
        *,
        timeout: float | None = None,
        max_connections: int | None = None,
        **options: Any,
    ) -> openai.AsyncOpenAI:
        """One SDK client per key and base URL; ``timeout`` is per request, in seconds.

        ``options`` may carry ``organization`` and ``project`` (OpenAI's own provider row
        reads them from ``OPENAI_ORG_ID`` and ``OPENAI_PROJECT_ID``).
        """
        return build_openai_client(
            api_key,
            base_url,
            timeout=timeout,
            max_connections=max_connections,
            organization=options.get("organization"),
            project=options.get("project"),
            default_headers=cls.default_headers,
        )

    # --- request -------------------------------------------------------------------------

    def effort(self, request: Request) -> str | None:
        return request.reasoning_effort or self.config.model_params.get("reasoning_effort")

    def body(self, request: Request, model_id: str) -> dict[str, Any]:
        """The request body; reasoning models get no sampling parameters."""
        params = self.config.model_params
        body: dict[str, Any] = {"model": model_id, "messages": chat_messages(request)}
        body[str(params.get("token_param", self.token_param))] = request.max_tokens
        if not self.config.reasoning:
            if request.temperature is not None:
                body["temperature"] = request.temperature
            if request.top_p is not None:
                body["top_p"] = request.top_p
        effort = self.effort(request)
        if effort and self.config.reasoning:
            body.update(self.effort_fields(effort))
        if request.json_output:
            body["response_format"] = {"type": "json_object"}
        body.update(params.get("extra") or {})
        body.update(request.extra)
        return body

    def effort_fields(self, effort: str) -> dict[str, Any]:
        return {"reasoning_effort": effort}

    async def resolve_model_id(self) -> str:
        return self.api_model

    # --- call ----------------------------------------------------------------------------

    async def generate(self, request: Request) -> Completion:
        model_id = await self.resolve_model_id()
        body = self.body(request, model_id)
        named = {k: body.pop(k) for k in ("model", "messages")}
        headers: dict[str, str] = {}
        started = time.perf_counter()
        try:
            raw = await self.client.chat.completions.with_raw_response.create(**named, extra_body=body)
            headers = lowered(raw.headers)
            payload = raw.http_response.json()
        except openai.APIStatusError as e:
            raise self.status_error(e) from e
        except openai.APIConnectionError as e:
            # APITimeoutError included: the SDK's aiohttp transport reports a refused
            # connection as a connect timeout, so look below it first.
            raise lost_connection(self.provider, self.name, self.base_url, e,
                                  timed_out=isinstance(e, openai.APITimeoutError)) from e
        except json.JSONDecodeError as e:
            raise TransientError(
                f"{self.name}: response is not valid JSON ({e})", provider=self.provider, status=200,
                headers=headers,
            ) from e
        except openai.OpenAIError as e:
            raise ProviderError(f"{self.name}: {e}", provider=self.provider) from e
        latency = time.perf_counter() - started
        return self.completion(payload, headers, latency)

    def status_error(self, e: openai.APIStatusError) -> ProviderError:
        body = e.body if isinstance(e.body, dict) else {}
        message = str(body.get("message") or e.message or "request failed")
        code = str(body.get("code") or body.get("type") or "")
        quota = True if code == "insufficient_quota" else None
        context = True if code == "context_length_exceeded" else None
        refusal = True if code in ("content_filter", "content_policy_violation") else None
        return error_for_status(
            self.provider,
            e.status_code,
            f"{self.name}: {message}",
            e.response.headers,
            quota=quota,
            context_length=context,
            refusal=refusal,
        )

    # --- response ------------------------------------------------------------------------

    def reasoning_text(self, message: dict[str, Any]) -> str | None:
        text = message.get("reasoning_content") or message.get("reasoning")
        return str(text) if text else None

    def completion(self, payload: Any, headers: dict[str, str], latency: float) -> Completion:
        if not isinstance(payload, dict):
            raise TransientError(
                f"{self.name}: response is not a JSON object", provider=self.provider, status=200,
                headers=headers,
            )
        if isinstance(payload.get("error"), dict):
            # OpenRouter and some local servers report upstream failures inside a 200.
            error = payload["error"]
            status = token_count(error.get("code")) or 502
            raise error_for_status(
                self.provider, status, f"{self.name}: {error.get('message', 'upstream error')}", headers
            )
        choices = payload.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        usage = payload.get("usage") or {}
        prompt_details = usage.get("prompt_tokens_details") or {}
        output_details = usage.get("completion_tokens_details") or {}
        cost = usage.get("cost")
        result = Completion(
            text=_message_text(message.get("content")),
            input_tokens=token_count(usage.get("prompt_tokens")),
            output_tokens=token_count(usage.get("completion_tokens")),
            cached_tokens=token_count(prompt_details.get("cached_tokens") or usage.get("prompt_cache_hit_tokens")),
            reasoning_tokens=token_count(output_details.get("reasoning_tokens")),
            finish_reason=choice.get("finish_reason"),
            latency=latency,
            reasoning=self.reasoning_text(message),
            model=payload.get("model"),
            cost=float(cost) if isinstance(cost, (int, float)) else None,
            raw=payload,
            headers=headers,
        )
        self.check_answer(result, message)
        return result

    def check_answer(self, result: Completion, message: dict[str, Any]) -> None:
        """Refusals and empty answers become errors that carry the billed answer (``completion``)."""
        refusal = message.get("refusal")
        error: ProviderError | None = None
        if refusal or (result.finish_reason == "content_filter" and not result.text.strip()):
            error = ContentRefusedError(
                f"{self.name}: refused: {refusal or 'content filter'}",
                provider=self.provider, status=200, headers=result.headers, completion=result,
            )
        elif not result.text.strip():
            why = " (max_tokens reached)" if result.finish_reason == "length" else ""
            error = EmptyResponseError(
                f"{self.name}: empty answer{why}", provider=self.provider, status=200,
                headers=result.headers, completion=result,
            )
        if error is not None:
            raise error


class OpenAIModel(OpenAIChatModel):
    """OpenAI's own API: ``max_completion_tokens``, organisation and project headers."""

    provider = "openai"
    token_param = "max_completion_tokens"


class XAIModel(OpenAIChatModel):
    """xAI Grok through its OpenAI-compatible endpoint."""

    provider = "xai"


class DeepSeekModel(OpenAIChatModel):
    """DeepSeek; thinking mode returns its reasoning as ``reasoning_content``."""

    provider = "deepseek"


class TogetherModel(OpenAIChatModel):
    """Together AI (Meta Llama and other open models)."""

    provider = "together"


class HuggingFaceModel(OpenAIChatModel):
    """Hugging Face's OpenAI-compatible inference router."""

    provider = "huggingface"


class OpenRouterModel(OpenAIChatModel):
    """OpenRouter: reasoning as ``reasoning``, the billed cost as ``usage.cost``."""

    provider = "openrouter"
    default_headers: ClassVar[dict[str, str] | None] = {"X-Title": "llm_solutions"}

    def body(self, request: Request, model_id: str) -> dict[str, Any]:
        body = super().body(request, model_id)
        body.setdefault("usage", {"include": True})
        return body

    def effort_fields(self, effort: str) -> dict[str, Any]:
        return {"reasoning": {"effort": effort}}


class LocalOpenAIModel(OpenAIChatModel):
    """A local OpenAI-compatible server (vLLM, Ollama, LM Studio, llama.cpp).

    The model id is the row's ``api_model`` (the registry puts ``OPENAI_COMPATIBLE_MODEL``
    there); when it is ``"auto"``, the first id the server lists at ``/models`` is used (a
    server with one loaded model needs no configuration).
    """

    provider = "openai_compatible"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listed_model: str | None = None

    @property
    def api_model(self) -> str:
        """The id actually requested: the row's, or the listed id once known."""
        chosen = super().api_model
        return self._listed_model if chosen == "auto" and self._listed_model else chosen

    async def cache_identity(self) -> dict[str, Any]:
        """The server's address and the model it serves (looked up once when "auto")."""
        try:
            served = await self.resolve_model_id()
        except ProviderError:
            served = self.api_model  # the call itself will fail and say why
        return {"server": self.base_url, "model": served}

    async def resolve_model_id(self) -> str:
        chosen = self.api_model
        if chosen != "auto":
            return chosen
        if self._listed_model is None:
            try:
                page = await self.client.models.list()
                ids = [m.id for m in page.data]
            except openai.APIStatusError as e:
                raise self.status_error(e) from e
            except openai.APIConnectionError as e:
                unreachable = connection_failure(self.provider, self.name, self.base_url, e)
                raise unreachable or TransientError(
                    f"{self.name}: cannot list the models at {self.base_url}: {one_line(str(e))}",
                    provider=self.provider,
                ) from e
            if not ids:
                raise BadRequestError(
                    f"{self.name}: the server at {self.base_url} lists no models; "
                    "set OPENAI_COMPATIBLE_MODEL", provider=self.provider,
                )
            self._listed_model = ids[0]
        return self._listed_model


class EmbeddingMixin:
    """``/embeddings`` instead of ``/chat/completions``: each user message of the request is
    one input, and the answer's ``raw["embeddings"]`` holds one vector per input, in order.
    ``model_params["dimensions"]`` asks for shorter vectors (text-embedding-3 models)."""

    async def generate(self, request: Request) -> Completion:
        model = cast(OpenAIChatModel, self)
        inputs = [m["content"] for m in request.messages if m["role"] == "user"]
        body: dict[str, Any] = {"encoding_format": "float"}
        dimensions = model.config.model_params.get("dimensions")
        if dimensions:
            body["dimensions"] = int(dimensions)
        body.update(model.config.model_params.get("extra") or {})
        body.update(request.extra)
        headers: dict[str, str] = {}
        started = time.perf_counter()
        try:
            model_id = await model.resolve_model_id()
            raw = await model.client.embeddings.with_raw_response.create(model=model_id, input=inputs, **body)
            headers = lowered(raw.headers)
            payload = raw.http_response.json()
        except openai.APIStatusError as e:
            raise model.status_error(e) from e
        except openai.APIConnectionError as e:
            raise lost_connection(model.provider, model.name, model.base_url, e,
                                  timed_out=isinstance(e, openai.APITimeoutError)) from e
        except json.JSONDecodeError as e:
            raise TransientError(f"{model.name}: response is not valid JSON ({e})", provider=model.provider,
                                 status=200, headers=headers) from e
        except openai.OpenAIError as e:
            raise ProviderError(f"{model.name}: {e}", provider=model.provider) from e
        data = payload.get("data") if isinstance(payload, dict) else None
        items = sorted((d for d in data or [] if isinstance(d, dict)), key=lambda d: int(d.get("index", 0)))
        vectors = [d.get("embedding") for d in items]
        if len(vectors) != len(inputs) or not all(isinstance(v, list) and v for v in vectors):
            raise TransientError(f"{model.name}: {len(vectors)} embeddings for {len(inputs)} inputs",
                                 provider=model.provider, status=200, headers=headers)
        usage = payload.get("usage") or {}
        return Completion(text="", input_tokens=token_count(usage.get("prompt_tokens")),
                          latency=time.perf_counter() - started, model=payload.get("model"),
                          raw={"embeddings": vectors}, headers=headers)


class OpenAIEmbeddingModel(EmbeddingMixin, OpenAIModel):
    """OpenAI's embedding models (``embeddings.create``)."""


class LocalOpenAIEmbeddingModel(EmbeddingMixin, LocalOpenAIModel):
    """An embedding model served by a local OpenAI-compatible server."""


class OpenAICompatibleEmbeddingModel(EmbeddingMixin, OpenAIChatModel):
    """An embedding model behind another OpenAI-compatible service (a ``[[providers]]`` row)."""

"""The three wire formats the fake provider server speaks, as the real services write them.

For each API: a validator (returns a provider-format 400 for a malformed request, the way
the real service would refuse it), a success body, and the error bodies and headers for
each failure kind.  Kept apart from the server so the formats read like a spec.
"""

from __future__ import annotations

import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEXT = (
    "Here is a solution:\n\n```python\ndef solve(x):\n    return x\n```\n\n"
    "It returns its input unchanged."
)
DEFAULT_REASONING = "The task asks for the identity function, so return the argument."

FAILURES = (
    "rate_limit", "quota", "server_error", "overloaded", "context_length", "auth",
    "malformed_json", "empty", "refusal", "bad_request", "disconnect",
)


@dataclass
class Reply:
    """A scripted success; ``None`` fields take the server's defaults."""

    text: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_tokens: int = 0
    cost: float | None = None
    delay: float = 0.0


@dataclass
class Fail:
    """A scripted failure of one of ``FAILURES``, in the provider's own format."""

    kind: str
    retry_after: float = 2.0
    message: str | None = None
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in FAILURES:
            raise ValueError(f"unknown failure {self.kind!r}; choose from {', '.join(FAILURES)}")


@dataclass
class Wire:
    """What to send back: status, JSON body (or raw bytes), headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None


def tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def prompt_text(messages: Any) -> str:
    return json.dumps(messages, sort_keys=True) if messages else ""


# --- OpenAI chat completions (and the compatible providers) ------------------------------

OPENAI_REASONING = re.compile(r"^(o\d|gpt-5|gpt-6)")


def openai_error(status: int, message: str, kind: str, code: str | None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> Wire:
    return Wire(status, {"error": {"message": message, "type": kind, "param": param, "code": code}}, headers or {})


def openai_validate(flavor: str, headers: dict[str, str], body: Any, bad_keys: set[str],
                    reasoning_models: set[str]) -> Wire | None:
    auth = headers.get("authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:].strip():
        return openai_error(401, "You didn't provide an API key.", "invalid_request_error", None)
    if auth[7:].strip() in bad_keys:
        return openai_error(401, f"Incorrect API key provided: {auth[7:12]}***.", "invalid_request_error",
                            "invalid_api_key")
    if not isinstance(body, dict):
        return openai_error(400, "We could not parse the JSON body of your request.", "invalid_request_error", None)
    if not body.get("model"):
        return openai_error(400, "you must provide a model parameter", "invalid_request_error", None, "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return openai_error(400, "'messages' must contain at least 1 item.", "invalid_request_error", None, "messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("system", "developer", "user", "assistant") \
                or not (isinstance(m.get("content"), str) or openai_parts_valid(m)):
            return openai_error(400, f"Invalid message: {m!r}", "invalid_request_error", None, "messages")
    if "max_tokens" not in body and "max_completion_tokens" not in body:
        return openai_error(400, "the fake requires an output limit (max_tokens or max_completion_tokens)",
                            "invalid_request_error", None, "max_tokens")
    reasoning = body["model"] in reasoning_models or (flavor == "openai" and OPENAI_REASONING.match(body["model"]))
    if flavor == "openai" and reasoning:
        for name in ("max_tokens", "temperature", "top_p"):
            if name in body:
                hint = " Use 'max_completion_tokens' instead." if name == "max_tokens" else ""
                return openai_error(400, f"Unsupported parameter: '{name}' is not supported with this model.{hint}",
                                    "invalid_request_error", "unsupported_parameter", name)
    if flavor == "openai" and not reasoning and "reasoning_effort" in body:
        return openai_error(400, "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
                            "invalid_request_error", "unsupported_parameter", "reasoning_effort")
    return None


DATA_URL = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]+=*$")


def openai_parts_valid(message: dict[str, Any]) -> bool:
    """A user message's content as typed parts: text, and images as ``image_url`` data URLs."""
    parts = message.get("content")
    if message.get("role") != "user" or not isinstance(parts, list) or not parts:
        return False
    for part in parts:
        if not isinstance(part, dict):
            return False
        if part.get("type") == "text" and isinstance(part.get("text"), str):
            continue
        url = (part.get("image_url") or {}).get("url") if part.get("type") == "image_url" else None
        if not isinstance(url, str) or not DATA_URL.match(url):
            return False
    return True


def embedding_vector(text: str, dimensions: int = 8) -> list[float]:
    """A made-up but stable vector for ``text``."""
    rng = random.Random(text)  # seeded by the text itself: the same vector in every process
    return [round(rng.random() - 0.5, 6) for _ in range(dimensions)]


def openai_embeddings(body: Any) -> Wire:
    """``POST /embeddings``: OpenAI's limits (2,048 inputs, 8,192 tokens each, 300,000 per
    request) enforced with its own 400s."""
    if not isinstance(body, dict) or not body.get("model"):
        return openai_error(400, "you must provide a model parameter", "invalid_request_error", None, "model")
    inputs = body.get("input")
    inputs = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(inputs, list) or not inputs or not all(isinstance(i, str) and i for i in inputs):
        return openai_error(400, "'$.input' is invalid. Please check the API reference.", "invalid_request_error",
                            None, "input")
    if len(inputs) > 2048:
        return openai_error(400, f"Invalid 'input': maximum array size is 2048, got {len(inputs)}.",
                            "invalid_request_error", None, "input")
    counts = [tokens(text) for text in inputs]
    if max(counts) > 8192 or sum(counts) > 300_000:
        return openai_error(400, "This model's maximum context length is 8192 tokens, or 300000 tokens per "
                            "request.", "invalid_request_error", None, "input")
    size = int(body.get("dimensions") or 8)
    data = [{"object": "embedding", "index": i, "embedding": embedding_vector(text, size)}
            for i, text in enumerate(inputs)]
    return Wire(200, {"object": "list", "data": data, "model": body["model"],
                      "usage": {"prompt_tokens": sum(counts), "total_tokens": sum(counts)}}, openai_headers(999))


def gemini_embeddings(model: str, body: Any) -> Wire:
    """``models/{model}:batchEmbedContents``: at most 100 requests, each a text content."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return gemini_error(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: requests is empty")
    if len(requests) > 100:
        return gemini_error(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: at most 100 requests "
                            "can be in one batch")
    values = []
    for item in requests:
        parts = ((item or {}).get("content") or {}).get("parts") or []
        text = "".join(str(part.get("text", "")) for part in parts if isinstance(part, dict))
        if not text:
            return gemini_error(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests[].content: "
                                "contents is not specified")
        size = int((item or {}).get("outputDimensionality") or 8)
        values.append({"values": embedding_vector(text, size)})
    return Wire(200, {"embeddings": values})


def openai_reasoning_field(flavor: str, body: dict[str, Any]) -> str | None:
    """Where this flavor returns thinking text, when the request asked for thinking."""
    if flavor == "deepseek" and (body.get("thinking") or {}).get("type") != "disabled":
        return "reasoning_content"
    if flavor == "openrouter" and "reasoning" in body:
        return "reasoning"
    if flavor == "xai" and "reasoning_effort" in body:
        return "reasoning_content"
    return None


def openai_success(flavor: str, body: dict[str, Any], reply: Reply, text: str, reasoning_models: set[str]) -> Wire:
    field_name = openai_reasoning_field(flavor, body)
    thinks = bool(field_name) or body["model"] in reasoning_models or (
        flavor == "openai" and OPENAI_REASONING.match(body["model"]))
    reasoning = reply.reasoning if reply.reasoning is not None else (DEFAULT_REASONING if thinks else None)
    reasoning_tokens = tokens(reasoning or "") if thinks else 0
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if field_name and reasoning:
        message[field_name] = reasoning
    prompt = reply.input_tokens if reply.input_tokens is not None else tokens(prompt_text(body["messages"]))
    output = reply.output_tokens if reply.output_tokens is not None else tokens(text) + reasoning_tokens
    usage: dict[str, Any] = {
        "prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
    }
    if flavor == "deepseek":
        usage["prompt_cache_hit_tokens"] = reply.cached_tokens
        usage["prompt_cache_miss_tokens"] = prompt - reply.cached_tokens
    if flavor == "openrouter":
        usage["cost"] = reply.cost if reply.cost is not None else round((prompt + 4 * output) * 1e-6, 8)
    payload = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
        "model": body["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason or "stop"}],
        "usage": usage,
    }
    return Wire(200, payload, openai_headers(remaining=499))


def openai_headers(remaining: int) -> dict[str, str]:
    return {
        "x-request-id": f"req_{uuid.uuid4().hex[:16]}", "openai-processing-ms": "42",
        "x-ratelimit-limit-requests": "500", "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": "120ms", "x-ratelimit-limit-tokens": "500000",
        "x-ratelimit-remaining-tokens": str(remaining * 1000), "x-ratelimit-reset-tokens": "1s",
    }


def openai_failure(flavor: str, fail: Fail, body: dict[str, Any]) -> Wire:
    wait = fail.retry_after
    limit_headers = {**openai_headers(remaining=0), "retry-after": str(int(round(wait))),
                     "retry-after-ms": str(int(wait * 1000))}
    if fail.kind == "rate_limit":
        return openai_error(429, fail.message or (
            f"Rate limit reached for {body.get('model')} in organization org-fake on tokens per min (TPM): "
            f"Limit 30000, Used 29500, Requested 1200. Please try again in {wait}s."),
            "tokens", "rate_limit_exceeded", headers=limit_headers)
    if fail.kind == "quota":
        if flavor == "openrouter":
            return Wire(402, {"error": {"code": 402, "message": "Insufficient credits. Add more using "
                                        "https://openrouter.ai/settings/credits"}})
        if flavor == "deepseek":
            return Wire(402, {"error": {"message": "Insufficient Balance", "type": "unknown_error",
                                        "param": None, "code": "invalid_request_error"}})
        return openai_error(429, "You exceeded your current quota, please check your plan and billing details.",
                            "insufficient_quota", "insufficient_quota")
    if fail.kind == "server_error":
        return openai_error(500, "The server had an error while processing your request. Sorry about that!",
                            "server_error", None)
    if fail.kind == "overloaded":
        return openai_error(503, "The engine is currently overloaded, please try again later.", "server_error", None)
    if fail.kind == "context_length":
        return openai_error(400, "This model's maximum context length is 128000 tokens. However, your messages "
                            "resulted in 131072 tokens. Please reduce the length of the messages.",
                            "invalid_request_error", "context_length_exceeded", "messages")
    if fail.kind == "auth":
        return openai_error(401, "Incorrect API key provided: sk-fake***.", "invalid_request_error", "invalid_api_key")
    if fail.kind == "bad_request":
        return openai_error(400, fail.message or "Invalid value for 'n': must be 1.", "invalid_request_error", None)
    if fail.kind == "refusal":
        reply = openai_success(flavor, body, Reply(), "", set())
        reply.body["choices"][0]["message"].update(content=None, refusal="I'm sorry, I can't help with that.")
        return reply
    if fail.kind == "empty":
        return openai_success(flavor, body, Reply(output_tokens=0), "", set())
    return Wire(200, None, {"content-type": "application/json"}, raw=b'{"id": "chatcmpl-1", "choices": [')


# --- Anthropic messages ------------------------------------------------------------------

ANTHROPIC_ADAPTIVE_ONLY = re.compile(r"^claude-(fable|mythos|opus|sonnet|haiku)-5")


def anthropic_error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Wire:
    return Wire(status, {"type": "error", "error": {"type": kind, "message": message},
                         "request_id": f"req_{uuid.uuid4().hex[:20]}"}, headers or {})


def anthropic_validate(headers: dict[str, str], body: Any, bad_keys: set[str]) -> Wire | None:
    # SDK 2.x sends the key as a Bearer token; older clients and curl use x-api-key.
    bearer = headers.get("authorization", "")
    key = headers.get("x-api-key") or (bearer[7:].strip() if bearer.startswith("Bearer ") else "")
    if not key or key in bad_keys:
        return anthropic_error(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
    if not isinstance(body, dict):
        return anthropic_error(400, "invalid_request_error", "There was an error parsing the body of your request")
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return anthropic_error(400, "invalid_request_error", f"{name}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        return anthropic_error(400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1")
    for m in body["messages"] or [None]:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            role = m.get("role") if isinstance(m, dict) else None
            return anthropic_error(400, "invalid_request_error",
                                   f"messages: Unexpected role \"{role}\". Use the top-level `system` parameter.")
        if isinstance(m.get("content"), list):
            for index, block in enumerate(m["content"]):
                source = block.get("source") if isinstance(block, dict) else None
                ok = isinstance(block, dict) and (
                    (block.get("type") == "text" and isinstance(block.get("text"), str))
                    or (block.get("type") == "image" and isinstance(source, dict) and source.get("type") == "base64"
                        and source.get("media_type") in ("image/png", "image/jpeg", "image/gif", "image/webp")
                        and isinstance(source.get("data"), str) and source["data"]))
                if not ok:
                    return anthropic_error(400, "invalid_request_error", f"messages.0.content.{index}: invalid block")
    thinking = body.get("thinking") or {}
    adaptive_only = bool(ANTHROPIC_ADAPTIVE_ONLY.match(str(body["model"])))
    if adaptive_only and thinking.get("type") in ("enabled", "disabled"):
        return anthropic_error(400, "invalid_request_error", f"\"thinking.type.{thinking['type']}\" is not supported "
                               "for this model. Use \"thinking.type.adaptive\" and \"output_config.effort\".")
    if adaptive_only and ("temperature" in body or "top_p" in body):
        return anthropic_error(400, "invalid_request_error", "temperature and top_p are not supported for this model")
    if thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024 or budget >= body["max_tokens"]:
            return anthropic_error(400, "invalid_request_error",
                                   "thinking.budget_tokens: must be >= 1024 and less than max_tokens")
        if body.get("temperature", 1) != 1:
            return anthropic_error(400, "invalid_request_error",
                                   "`temperature` may only be set to 1 when thinking is enabled.")
    return None


def anthropic_headers(remaining: int) -> dict[str, str]:
    reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
    return {
        "request-id": f"req_{uuid.uuid4().hex[:20]}",
        "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": str(remaining),
        "anthropic-ratelimit-requests-reset": reset,
        "anthropic-ratelimit-input-tokens-limit": "30000",
        "anthropic-ratelimit-input-tokens-remaining": str(remaining * 600),
        "anthropic-ratelimit-input-tokens-reset": reset,
        "anthropic-ratelimit-output-tokens-limit": "8000",
        "anthropic-ratelimit-output-tokens-remaining": str(remaining * 160),
        "anthropic-ratelimit-output-tokens-reset": reset,
    }


def anthropic_success(body: dict[str, Any], reply: Reply, text: str) -> Wire:
    thinking = body.get("thinking") or {}
    thinks = thinking.get("type") in ("enabled", "adaptive") or (
        bool(ANTHROPIC_ADAPTIVE_ONLY.match(str(body["model"]))) and thinking.get("type") != "between_tools")
    reasoning = reply.reasoning if reply.reasoning is not None else (DEFAULT_REASONING if thinks else None)
    content: list[dict[str, Any]] = []
    if reasoning:
        shown = "" if thinking.get("display") == "omitted" else reasoning
        content.append({"type": "thinking", "thinking": shown, "signature": "c2lnbmF0dXJl"})
    content.append({"type": "text", "text": text})
    thinking_tokens = tokens(reasoning or "")
    prompt = reply.input_tokens if reply.input_tokens is not None else tokens(
        prompt_text(body["messages"]) + str(body.get("system", "")))
    output = reply.output_tokens if reply.output_tokens is not None else tokens(text) + thinking_tokens
    payload = {
        "id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant", "model": body["model"],
        "content": content, "stop_reason": reply.finish_reason or "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": max(prompt - reply.cached_tokens, 0), "output_tokens": output,
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": reply.cached_tokens,
                  "output_tokens_details": {"thinking_tokens": thinking_tokens}, "service_tier": "standard"},
    }
    return Wire(200, payload, anthropic_headers(remaining=49))


def anthropic_failure(fail: Fail, body: dict[str, Any]) -> Wire:
    limits = {**anthropic_headers(remaining=0), "retry-after": str(int(round(fail.retry_after)))}
    if fail.kind == "rate_limit":
        return anthropic_error(429, "rate_limit_error", fail.message or (
            "This request would exceed the rate limit for your organization of 30,000 input tokens per minute. "
            "Please reduce the prompt length or the maximum tokens requested, or try again later."), limits)
    if fail.kind == "quota":
        return anthropic_error(400, "invalid_request_error", "Your credit balance is too low to access the "
                               "Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.")
    if fail.kind == "server_error":
        return anthropic_error(500, "api_error", "Internal server error")
    if fail.kind == "overloaded":
        return anthropic_error(529, "overloaded_error", "Overloaded")
    if fail.kind == "context_length":
        return anthropic_error(400, "invalid_request_error", "prompt is too long: 1048977 tokens > 1000000 maximum")
    if fail.kind == "auth":
        return anthropic_error(401, "authentication_error", "invalid x-api-key")
    if fail.kind == "bad_request":
        return anthropic_error(400, "invalid_request_error", fail.message or "messages.0.content: Field required")
    if fail.kind == "refusal":
        wire = anthropic_success(body, Reply(reasoning=""), "")
        wire.body.update(content=[], stop_reason="refusal", stop_details={
            "type": "refusal", "category": "cyber", "explanation": "The request could enable cyber harm."})
        return wire
    if fail.kind == "empty":
        return anthropic_success(body, Reply(reasoning="", output_tokens=1), "")
    return Wire(200, None, {"content-type": "application/json"}, raw=b'{"id": "msg_1", "content": [')


# --- Gemini generateContent --------------------------------------------------------------

GEMINI_NO_SAMPLING = re.compile(r"^gemini-3\.([6-9]|\d\d)")


def gemini_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> Wire:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return Wire(code, {"error": error}, headers or {})


def camel_keys(value: Any) -> Any:
    """Google's JSON parser accepts snake_case and lowerCamelCase field names alike."""
    if isinstance(value, dict):
        return {re.sub(r"_([a-z])", lambda m: m.group(1).upper(), k): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def gemini_validate(model: str, headers: dict[str, str], query_key: str | None, body: Any,
                    bad_keys: set[str]) -> Wire | None:
    key = headers.get("x-goog-api-key") or query_key or ""
    if not key:
        return gemini_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                            "established identity). Please use API Key or other form of API consumer identity.")
    if key in bad_keys:
        return gemini_failure(Fail("auth"), model)
    if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
        return gemini_error(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
    for item in body["contents"]:
        if not isinstance(item, dict) or item.get("role") not in ("user", "model") or not item.get("parts"):
            return gemini_error(400, "INVALID_ARGUMENT", "Please use a valid role: user, model.")
    config = body.get("generationConfig") or {}
    thinking = config.get("thinkingConfig") or {}
    if "thinkingBudget" in thinking and "thinkingLevel" in thinking:
        return gemini_error(400, "INVALID_ARGUMENT", "You can only set one of thinking budget and thinking level.")
    if GEMINI_NO_SAMPLING.match(model) and ("temperature" in config or "topP" in config):
        return gemini_error(400, "INVALID_ARGUMENT", "temperature and topP are not supported for this model.")
    return None


def gemini_success(model: str, body: dict[str, Any], reply: Reply, text: str) -> Wire:
    thinking = (body.get("generationConfig") or {}).get("thinkingConfig") or {}
    reasoning = reply.reasoning if reply.reasoning is not None else (
        DEFAULT_REASONING if thinking.get("includeThoughts") else None)
    parts: list[dict[str, Any]] = [{"text": reasoning, "thought": True}] if reasoning else []
    parts.append({"text": text})
    thought_tokens = tokens(reasoning or "")
    prompt = reply.input_tokens if reply.input_tokens is not None else tokens(
        prompt_text(body["contents"]) + prompt_text(body.get("systemInstruction")))
    # Reply.output_tokens is the billed output; Gemini reports thoughts apart from it.
    answer = max(reply.output_tokens - thought_tokens, 0) if reply.output_tokens is not None else tokens(text)
    payload = {
        "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": reply.finish_reason or "STOP",
                        "index": 0}],
        "usageMetadata": {"promptTokenCount": prompt, "candidatesTokenCount": answer,
                          "thoughtsTokenCount": thought_tokens, "cachedContentTokenCount": reply.cached_tokens,
                          "totalTokenCount": prompt + answer + thought_tokens},
        "modelVersion": model, "responseId": uuid.uuid4().hex[:22],
    }
    return Wire(200, payload, {"x-fake-request-id": uuid.uuid4().hex[:16], "server-timing": "gfet4t7; dur=42"})


def gemini_quota_details(quota_id: str, delay: str) -> list[dict[str, Any]]:
    return [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_paid_tier_input_token_count",
            "quotaId": quota_id, "quotaDimensions": {"location": "global", "model": "gemini"}, "quotaValue": "1000"}]},
        {"@type": "type.googleapis.com/google.rpc.Help", "links": [{
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]


def gemini_failure(fail: Fail, model: str, body: dict[str, Any] | None = None) -> Wire:
    exceeded = ("You exceeded your current quota, please check your plan and billing details. For more "
                "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.")
    if fail.kind == "rate_limit":
        delay = f"{int(fail.retry_after)}s" if fail.retry_after == int(fail.retry_after) else f"{fail.retry_after}s"
        return gemini_error(429, "RESOURCE_EXHAUSTED", fail.message or exceeded,
                            gemini_quota_details("GenerateRequestsPerMinutePerProjectPerModel", delay))
    if fail.kind == "quota":
        return gemini_error(429, "RESOURCE_EXHAUSTED", exceeded,
                            gemini_quota_details("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "43200s"))
    if fail.kind == "server_error":
        return gemini_error(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                            "https://developers.generativeai.google/guide/troubleshooting")
    if fail.kind == "overloaded":
        return gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if fail.kind == "context_length":
        return gemini_error(400, "INVALID_ARGUMENT", "The input token count (1200000) exceeds the maximum number "
                            "of tokens allowed (1048576).")
    if fail.kind == "auth":
        return gemini_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
             "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}])
    if fail.kind == "bad_request":
        return gemini_error(400, "INVALID_ARGUMENT", fail.message or "Invalid JSON payload received.")
    if fail.kind == "refusal":
        return Wire(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                          "usageMetadata": {"promptTokenCount": 12, "totalTokenCount": 12}, "modelVersion": model})
    if fail.kind == "empty":
        wire = gemini_success(model, body or {"contents": []}, Reply(reasoning="", output_tokens=0), "")
        wire.body["candidates"][0]["content"]["parts"] = []
        return wire
    return Wire(200, None, {"content-type": "application/json"}, raw=b'{"candidates": [')

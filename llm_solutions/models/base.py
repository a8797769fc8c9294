"""The model interface: one request in, one ``Completion`` out.

A provider module subclasses ``BaseModel`` and implements ``generate`` (the wire mapping)
plus ``create_client`` (how to build its SDK client).  Everything else (cache, rate
limits, retries, cost, budget) lives in ``llm_solutions.calls.Caller``, the one path every
model call takes, so a provider module stays small and a new provider is one short file.
"""

from __future__ import annotations

import abc
import base64
import binascii
import hashlib
from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from llm_solutions.text import sendable

if TYPE_CHECKING:
    from llm_solutions.models.config import ModelConfig


@dataclass(frozen=True)
class Request:
    """What to send: chat messages plus sampling parameters, provider-neutral.

    ``messages`` are ``{"role": "system"|"user"|"assistant", "content": str}`` dicts.
    ``None`` means "do not send this parameter" (reasoning models reject temperature).
    ``extra`` carries provider-specific body fields from the model table unchanged.
    ``json_output`` asks for a JSON object as the answer, in the provider's own way where it
    has one (OpenAI-compatible ``response_format``, Gemini's response MIME type); where it
    has none (Anthropic) the prompt itself must ask for JSON.
    ``metadata`` is never sent and never part of the cache key: it tells the offline model
    and test doubles which problem is being asked (task id, canonical solution).
    ``images`` are ``data:`` URLs (``data:image/png;base64,...``) shown with the last user
    message, each provider in its own wire format; the cache key covers their content hash.
    """

    messages: tuple[dict[str, str], ...]
    max_tokens: int
    temperature: float | None = None
    top_p: float | None = None
    reasoning_effort: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict, compare=False)
    json_output: bool = False
    images: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", tuple(self.images))
        # A problem or an answer quoted in a prompt may hold lone surrogates, which no
        # UTF-8 request body can carry (the SDKs fail on them): send U+FFFD instead.
        messages = tuple(
            {key: sendable(value) if isinstance(value, str) else value for key, value in message.items()}
            for message in self.messages
        )
        object.__setattr__(self, "messages", messages)

    @property
    def system(self) -> str | None:
        """The system prompt, for wire formats that send it outside the messages."""
        parts = [m["content"] for m in self.messages if m["role"] == "system"]
        return "\n\n".join(parts) if parts else None

    @property
    def chat(self) -> list[dict[str, str]]:
        """The messages without the system prompt."""
        return [dict(m) for m in self.messages if m["role"] != "system"]

    def to_dict(self) -> dict[str, Any]:
        # Field by field: ``asdict`` would deep-copy the metadata (a whole canonical
        # solution) and the images only to drop them; records are built from this in bulk.
        data = {name: deepcopy(getattr(self, name)) if name == "extra" else getattr(self, name)
                for name in self.__dataclass_fields__ if name not in ("metadata", "images")}
        data["messages"] = [dict(m) for m in self.messages]
        # Images can be megabytes: their hashes name them (as in the cache key).
        data["images"] = [image_digest(url) for url in self.images]
        if not data["images"]:
            data.pop("images")
        return data


def split_data_url(url: str) -> tuple[str, str]:
    """``(media type, base64 data)`` of a ``data:<type>;base64,<data>`` URL; ``ValueError`` otherwise."""
    head, comma, data = url.partition(",")
    if not comma or not head.startswith("data:") or not head.endswith(";base64"):
        raise ValueError("is not a base64 data URL (data:image/png;base64,...)")
    media_type = head[len("data:"):-len(";base64")] or "application/octet-stream"
    return media_type, data


def image_digest(url: str) -> str:
    """``<media type>:<SHA-256 of the image's bytes>``, which names it in cache keys."""
    try:
        media_type, data = split_data_url(url)
        raw = base64.b64decode(data, validate=False)
    except (ValueError, binascii.Error):
        media_type, raw = "unknown", url.encode("utf-8", "replace")
    return f"{media_type}:{hashlib.sha256(raw).hexdigest()}"


@dataclass
class Completion:
    """One answer from a model, with everything needed to account for it.

    ``text`` is the answer shown to a user; ``reasoning`` holds a reasoning model's thinking
    when the provider returns it separately (kept in the record, never fed to extraction).
    ``cost`` is the provider-reported cost in USD when the provider reports one
    (OpenRouter); otherwise ``ModelConfig.price`` prices the tokens from the model table.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    finish_reason: str | None = None
    latency: float = 0.0
    reasoning: str | None = None
    model: str | None = None
    cost: float | None = None
    raw: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Completion:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Usage:
    """Tokens billed, summed over one or more completions (retried attempts included)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @classmethod
    def of(cls, completion: Completion | None) -> Usage:
        """The usage one completion reports; nothing for ``None``."""
        if completion is None:
            return cls()
        return cls(completion.input_tokens, completion.output_tokens, completion.cached_tokens,
                   completion.reasoning_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int]:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "cached_tokens": self.cached_tokens, "reasoning_tokens": self.reasoning_tokens}


def token_count(value: Any) -> int:
    """A usage field from a provider payload as an int; missing or malformed counts as 0."""
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class BaseModel(abc.ABC):
    """A model the collector can ask for answers.

    Subclasses set ``provider`` and implement ``generate``; ones that talk to a service
    also implement ``create_client``.  The registry builds one client per provider, key and
    base URL and hands the same client to every model that shares them, so connections are
    pooled across models and requests.
    """

    provider: ClassVar[str] = ""

    def __init__(
        self,
        config: ModelConfig,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: Any = None,
    ) -> None:
        self.config = config
        self.api_key = api_key
        self.base_url = base_url
        self.client = client

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def api_model(self) -> str:
        """The model id sent on the wire."""
        return str(self.config.model_params.get("api_model", self.config.name))

    @classmethod
    def create_client(
        cls,
        api_key: str | None,
        base_url: str | None,
        *,
        timeout: float | None = None,
        max_connections: int | None = None,
        **options: Any,
    ) -> Any:
        """Build the SDK client for one key and base URL; ``None`` for clientless models.

        ``timeout`` is per request in seconds; ``options`` are the provider's client
        settings read from the environment by the registry (``ProviderConfig.client_env``).
        """
        return None

    @classmethod
    async def close_client(cls, client: Any) -> None:
        """Release the connections of a client made by ``create_client``."""
        close = getattr(client, "close", None) or getattr(client, "aclose", None)
        if close is not None:
            result = close()
            if hasattr(result, "__await__"):
                await result

    async def cache_identity(self) -> dict[str, Any]:
        """What names this model's answers beyond its table row, for the cache key.

        Empty for hosted providers (the row's wire id names the model); a self-hosted
        server returns its address and the model it serves, so two servers that serve the
        same model id never share cached answers.
        """
        return {}

    @abc.abstractmethod
    async def generate(self, request: Request) -> Completion:
        """Send one request and return the answer, or raise a ``ProviderError``."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"

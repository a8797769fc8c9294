"""The cache key: which answer a request asks for, as a stable hash.

The key covers exactly what changes a model's answer: the model on the wire (provider and
``api_model``), the sampling parameters, the messages, provider body fields (``extra``) and
the sample index, so N samples of one prompt stay N answers; a request for a JSON answer
(``json_output``) gets a key of its own, and images shown with the prompt enter it by the
hash of their content (``models.base.image_digest``), never their bytes.  Operational settings
(timeouts, retries, rate limits) and ``Request.metadata`` never enter it, so a quick test
and a full run with different limits share answers.  The material is serialised as
canonical JSON (sorted keys, fixed separators, floats for float parameters), which makes
the key the same in every process and Python version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.models.base import Request, image_digest
from llm_solutions.models.config import ModelConfig

# Bumped when the key material changes shape, so old entries are never misread.
KEY_VERSION = 1

#: Every parameter a key can cover, and what each reads.
KNOWN_KEY_PARAMS: dict[str, str] = {
    "model": "provider and wire model id (ModelConfig.api_model)",
    "name": "the model's table name (ModelConfig.name)",
    "temperature": "Request.temperature",
    "top_p": "Request.top_p",
    "max_tokens": "Request.max_tokens",
    "messages": "Request.messages (system prompt included)",
    "reasoning_effort": "Request.reasoning_effort",
    "extra": "Request.extra (provider body fields)",
    "sample": "the sample index",
    "json_output": "Request.json_output (a JSON answer asked for; covered only when set)",
    "images": "Request.images by content hash (covered only when the request has images)",
}

DEFAULT_KEY_PARAMS: tuple[str, ...] = (
    "model",
    "temperature",
    "top_p",
    "max_tokens",
    "messages",
    "reasoning_effort",
    "extra",
    "sample",
    "json_output",
    "images",
)

HASH_ALGORITHMS = ("blake2b", "sha256")
DEFAULT_HASH_ALGORITHM = "blake2b"
DEFAULT_DIGEST_SIZE = 32


def validate_key_params(params: Iterable[str]) -> tuple[str, ...]:
    """The params as a tuple without duplicates; an unknown name is a ``ConfigError``."""
    result: list[str] = []
    for name in params:
        name = str(name).strip()
        if name not in KNOWN_KEY_PARAMS:
            raise ConfigError(
                f"unknown cache key parameter {name!r}; use some of: {', '.join(KNOWN_KEY_PARAMS)}"
            )
        if name not in result:
            result.append(name)
    if not result:
        raise ConfigError(f"the cache key needs at least one parameter; use some of: {', '.join(KNOWN_KEY_PARAMS)}")
    return tuple(result)


def _float_or_none(value: Any) -> float | None:
    # 1 and 1.0 must give one key; JSON would write them differently.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return value


def _canonical(value: Any, where: str) -> Any:
    """``value`` as plain JSON types, or a ``ConfigError`` naming where it came from."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"cache key: {where} is {value!r}; use a finite number")
        return value
    if isinstance(value, dict):
        return {str(k): _canonical(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [_canonical(v, f"{where}[]") for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    raise ConfigError(
        f"cache key: {where} has a {type(value).__name__}, which cannot be hashed stably; "
        "use strings, numbers, lists and tables in model parameters"
    )


def key_material(
    config: ModelConfig,
    request: Request,
    sample: int,
    params: Iterable[str] = DEFAULT_KEY_PARAMS,
    identity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values the key hashes, as plain JSON data (useful to explain a miss).

    ``identity`` is what else names a model's answers beyond the table row: a
    self-hosted server's address and the model it reports serving
    (``BaseModel.cache_identity``), so two local servers never share answers.  Models
    without one keep the keys they always had.
    """
    readers = {
        "model": lambda: {"provider": config.provider, "api_model": config.api_model},
        "name": lambda: config.name,
        "temperature": lambda: _float_or_none(request.temperature),
        "top_p": lambda: _float_or_none(request.top_p),
        "max_tokens": lambda: request.max_tokens,
        "messages": lambda: [dict(m) for m in request.messages],
        "reasoning_effort": lambda: request.reasoning_effort,
        "extra": lambda: dict(request.extra),
        "sample": lambda: int(sample),
        "json_output": lambda: True,
        "images": lambda: [image_digest(url) for url in request.images],
    }
    material: dict[str, Any] = {"v": KEY_VERSION}
    for name in params:
        if name not in readers:
            raise ConfigError(f"unknown cache key parameter {name!r}; use some of: {', '.join(KNOWN_KEY_PARAMS)}")
        if name == "json_output" and not request.json_output:
            continue  # requests without it keep the keys they had before the field existed
        if name == "images" and not request.images:
            continue  # likewise: text-only requests keep their keys
        material[name] = _canonical(readers[name](), name)
    if identity:
        material["identity"] = _canonical(identity, "identity")
    return material


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and fixed separators: the same text for the same data anywhere."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def cache_key(
    config: ModelConfig,
    request: Request,
    sample: int,
    *,
    params: Iterable[str] = DEFAULT_KEY_PARAMS,
    algorithm: str = DEFAULT_HASH_ALGORITHM,
    digest_size: int = DEFAULT_DIGEST_SIZE,
    identity: dict[str, Any] | None = None,
) -> str:
    """The hex key of one answer: ``params`` of the request hashed with ``algorithm``.

    ``digest_size`` (bytes, 1..64) applies to blake2b; sha256 always gives 32 bytes.
    """
    data = canonical_json(key_material(config, request, sample, params, identity)).encode("utf-8")
    if algorithm == "blake2b":
        return hashlib.blake2b(data, digest_size=digest_size).hexdigest()
    if algorithm == "sha256":
        return hashlib.sha256(data).hexdigest()
    raise ConfigError(f"unknown cache hash algorithm {algorithm!r}; use one of: {', '.join(HASH_ALGORITHMS)}")

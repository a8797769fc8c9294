"""Embeddings through the one path every model call takes.

``Embedder(model, caller)`` turns texts into a numpy array, one row per text, in order:

* each distinct input is looked up in the caller's response cache under the key (model,
  input), so a text embedded once is never paid for again, in any run;
* the misses are sent in batches as large as the provider takes (the model row's
  ``max_batch`` inputs and ``max_batch_tokens`` estimated tokens), each batch one call
  through ``Caller.call``: the budget, the provider's rate limiter, retries and cost;
* each vector of a batch is then stored in the cache on its own, with its share of the
  batch's cost, so a later batch of other texts still finds it.

An input longer than the row's ``max_input_tokens`` (estimated) is refused before anything
is sent, naming it, rather than failing a whole batch at the provider.

``embed_texts`` opens the model, a caller and a response cache, embeds, and closes them;
``ls.embed`` (``llm_solutions.collection.embeddings``) puts the settings layers in front.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import numpy as np

from llm_solutions.cache.response_cache import open_cache
from llm_solutions.cache.settings import CacheSettings
from llm_solutions.calls.budget import Budget
from llm_solutions.calls.caller import Caller
from llm_solutions.errors import ConfigError, ProviderError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, build_models, close_models
from llm_solutions.models.tokens import text_tokens

DEFAULT_MAX_BATCH = 256
_VECTOR_PREFIX = "f32:"  # cached vectors: float32, little-endian, base64


def require_embedding_model(config: ModelConfig) -> None:
    """A ``ConfigError`` unless ``config`` is an embedding model."""
    if config.kind != "embedding":
        raise ConfigError(f"model '{config.name}' is a {config.kind} model, not an embedding model; choose one "
                          "whose kind is embedding (text-embedding-3-small, gemini-embedding-001, ...; "
                          "see --list-models)")


def input_request(text: str, dimensions: int | None = None) -> Request:
    """The request that names one input in the cache: (model, input), and the vector size
    when the row asks for one (shorter vectors are other answers)."""
    extra = {"dimensions": int(dimensions)} if dimensions else {}
    return Request(messages=({"role": "user", "content": text},), max_tokens=0, temperature=None, extra=extra)


def encode_vector(vector: np.ndarray) -> str:
    """A vector as cache text (float32 bytes, base64)."""
    return _VECTOR_PREFIX + base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str) -> np.ndarray | None:
    """The vector ``encode_vector`` wrote, or ``None`` for anything else."""
    if not text.startswith(_VECTOR_PREFIX):
        return None
    try:
        return np.frombuffer(base64.b64decode(text[len(_VECTOR_PREFIX):]), dtype="<f4").astype(np.float32)
    except ValueError:
        return None


class Embedder:
    """Texts in, vectors out (``await embedder(texts)``), through ``caller``.

    ``embedder.model_name`` names the model (reports); ``embedder.cache_hits`` and
    ``embedder.sent`` count inputs answered by the cache and inputs sent.
    """

    def __init__(self, model: BaseModel, caller: Caller, *, purpose: str = "embedding") -> None:
        require_embedding_model(model.config)
        self.model = model
        self.caller = caller
        self.purpose = purpose
        params = model.config.model_params
        self.max_batch = int(params.get("max_batch") or DEFAULT_MAX_BATCH)
        self.max_input_tokens = int(params["max_input_tokens"]) if params.get("max_input_tokens") else None
        self.max_batch_tokens = int(params["max_batch_tokens"]) if params.get("max_batch_tokens") else None
        self.dimensions = int(params["dimensions"]) if params.get("dimensions") else None
        self.cache_hits = 0
        self.sent = 0

    @property
    def model_name(self) -> str:
        return self.model.name

    async def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text, in order (float32)."""
        items = list(texts)
        self._check(items)
        found: dict[str, np.ndarray] = {}
        distinct = list(dict.fromkeys(items))
        cache = self.caller.cache
        identity = await self.model.cache_identity() if cache is not None else {}
        if cache is not None:
            for text in distinct:
                hit = await cache.lookup(self.model.config, input_request(text, self.dimensions), 0,
                                         session=self.caller.session_id, identity=identity)
                vector = decode_vector(hit.completion.text) if hit is not None else None
                if vector is not None:
                    found[text] = vector
                    self.cache_hits += 1
        missing = [text for text in distinct if text not in found]
        batches = self._batches(missing)
        results = await asyncio.gather(*(self._send(batch, identity) for batch in batches))
        for batch, vectors in zip(batches, results, strict=True):
            found.update(zip(batch, vectors, strict=True))
        if not items:
            return np.zeros((0, 0), dtype=np.float32)
        sizes = {len(found[text]) for text in distinct}
        if len(sizes) != 1:
            raise ConfigError(f"{self.model_name}: vectors of different sizes {sorted(sizes)} for one call (cached "
                              "answers from another dimensions setting?); clear them with cache prune")
        return np.stack([found[text] for text in items])

    def _check(self, items: list[str]) -> None:
        for index, text in enumerate(items):
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"embedding input {index} is {'empty' if isinstance(text, str) else type(text)}; "
                                  "give non-empty texts")
            if self.max_input_tokens is not None and text_tokens(text) > self.max_input_tokens:
                raise ConfigError(f"embedding input {index} is about {text_tokens(text):,} tokens, more than "
                                  f"{self.model_name}'s limit of {self.max_input_tokens:,}; shorten or split it")

    def _batches(self, texts: list[str]) -> list[list[str]]:
        batches: list[list[str]] = []
        current: list[str] = []
        tokens = 0
        for text in texts:
            size = text_tokens(text)
            full = len(current) >= self.max_batch or (
                self.max_batch_tokens is not None and tokens + size > self.max_batch_tokens)
            if current and full:
                batches.append(current)
                current, tokens = [], 0
            current.append(text)
            tokens += size
        if current:
            batches.append(current)
        return batches

    async def _send(self, batch: list[str], identity: dict[str, Any]) -> list[np.ndarray]:
        request = Request(messages=tuple({"role": "user", "content": text} for text in batch), max_tokens=0)
        result = await self.caller.call(self.model, request, purpose=self.purpose, cached=False)
        if not result.ok or result.completion is None:
            if result.error is not None:
                raise result.error
            raise ProviderError(result.message or f"{self.model_name}: embedding call not sent",
                                provider=self.model.config.provider)
        self.sent += len(batch)
        vectors = [np.asarray(v, dtype=np.float32) for v in (result.completion.raw or {})["embeddings"]]
        cache = self.caller.cache
        if cache is not None:
            weights = [text_tokens(text) for text in batch]
            total = sum(weights)
            for text, vector, weight in zip(batch, vectors, weights, strict=True):
                share = Completion(text=encode_vector(vector), input_tokens=weight, model=result.completion.model)
                await cache.store(self.model.config, input_request(text, self.dimensions), 0, share, identity=identity,
                                  paid_by=self.caller.session_id, paid=result.cost * weight / total)
        return vectors


async def embed_texts(
    texts: Sequence[str],
    model: str,
    *,
    registry: Registry,
    cache: CacheSettings,
    max_cost: float | None = None,
    timeout: float = 180.0,
) -> np.ndarray:
    """Embed ``texts`` with the table's model ``model``, through a caller of its own and the
    response cache ``cache`` names (opened and closed here).  The settings are resolved by
    the caller of this function (``ls.embed``: the same layers as ``collect``)."""
    config = registry.get(model)
    require_embedding_model(config)
    registry.require_keys([config])
    [built] = build_models(registry, [config], timeout=timeout)
    caller = Caller(LimiterPool(registry), policy=RetryPolicy(), timeout=timeout, budget=Budget(limit=max_cost))
    try:
        caller.cache = await open_cache(cache)
        return await Embedder(built, caller)(texts)
    finally:
        if caller.cache is not None:
            await caller.cache.close()
        await close_models([built])

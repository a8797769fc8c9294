"""``ls.embed``: embeddings from plain code or a notebook, with the settings ``collect`` uses.

The response cache is resolved exactly as a collection run resolves it: the cache settings
by defaults < config file (``[cache]``) < environment < the ``cache`` argument, and the
default SQLite file inside the output folder, itself defaults < config file
(``[collection] output_dir``) < ``OUTPUT_DIR`` < the ``output_dir`` argument.  The model
table is the run's too (``models_file``, else ``LLM_SOLUTIONS_MODELS_FILE`` or the config
file's).  The embedding itself is ``llm_solutions.calls.embedding``'s: one path for every
model call.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from llm_solutions.cache.settings import CacheSettings, cache_settings
from llm_solutions.calls.embedding import embed_texts
from llm_solutions.collection.settings import resolve_setting
from llm_solutions.errors import ConfigError
from llm_solutions.models.registry import Registry, load_registry

#: What the ``cache`` argument takes.
CacheChoice = bool | str | os.PathLike[str] | Mapping[str, Any] | CacheSettings | None


def embedding_cache(cache: CacheChoice = None, output_dir: str | os.PathLike[str] | None = None) -> CacheSettings:
    """The cache settings ``ls.embed`` uses: ``cache`` is ``None``/``True`` (the settings
    layers decide), ``False`` (no cache), a cache URL or path, a mapping of cache settings
    given on top of the layers, or ready ``CacheSettings`` (used as they are)."""
    if isinstance(cache, CacheSettings):
        return cache
    overrides: dict[str, Any]
    if cache is None or cache is True:
        overrides = {}
    elif cache is False:
        overrides = {"enabled": False}
    elif isinstance(cache, (str, os.PathLike)):
        if not str(cache).strip():
            raise ConfigError("cache='' is not valid; give a cache URL or path, True, False or a mapping of settings")
        overrides = {"url": str(cache)}
    elif isinstance(cache, Mapping):
        overrides = dict(cache)
    else:
        raise ConfigError(f"cache={cache!r} is not valid; give a cache URL or path, True, False or a mapping of "
                          "settings such as {'ttl_seconds': '7d'}")
    # As collect: the overrides checked as the run's cache setting, the folder as its output_dir.
    checked = resolve_setting("cache", overrides or None)
    return cache_settings(checked, output_dir=resolve_setting("output_dir", output_dir and str(output_dir)))


async def embed_async(
    texts: Sequence[str],
    model: str = "text-embedding-3-small",
    *,
    registry: Registry | None = None,
    models_file: str | os.PathLike[str] | None = None,
    cache: CacheChoice = None,
    output_dir: str | os.PathLike[str] | None = None,
    max_cost: float | None = None,
    timeout: float = 180.0,
) -> np.ndarray:
    """``embed`` for code already inside an event loop (``await ls.embed_async(...)``)."""
    settings = embedding_cache(cache, output_dir)
    if registry is None:
        registry = load_registry(resolve_setting("models_file", models_file and str(models_file)))
    return await embed_texts(texts, model, registry=registry, cache=settings, max_cost=max_cost, timeout=timeout)


def embed(texts: Sequence[str], model: str = "text-embedding-3-small", **options: Any) -> np.ndarray:
    """Embed ``texts`` with an embedding model of the table; one float32 row per text.

    Cached by (model, input) in the response cache that ``collect`` would use (the default
    file is ``<output dir>/cache.sqlite3``, the output dir resolved as ``collect`` resolves
    it; ``cache=False`` turns it off, ``cache="path/or/url"`` names another, a mapping
    gives settings such as ``{"ttl_seconds": "7d"}``), batched to the provider's limits,
    rate-limited and retried like every call; ``max_cost`` caps the spend.  Works in plain
    code and in a notebook's running loop alike.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(embed_async(texts, model, **options))
    # Inside a running loop (a notebook cell): run on a loop of its own in a thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, embed_async(texts, model, **options)).result()

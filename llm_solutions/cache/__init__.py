"""The response cache: reuse paid answers across quick tests, full runs and resumes.

Entries live in SQLite (default, ``<output dir>/cache.sqlite3``) or MySQL/MariaDB for a
team.  A run opens one ``ResponseCache`` with ``open_cache``; the caller
(``llm_solutions.calls``) calls ``lookup`` before and ``store`` after each model call.
"""

from llm_solutions.cache.key import DEFAULT_KEY_PARAMS, cache_key, key_material
from llm_solutions.cache.response_cache import (
    CacheHit,
    CacheSessionStats,
    ResponseCache,
    open_backend,
    open_cache,
)
from llm_solutions.cache.settings import CacheSettings, cache_settings

__all__ = [
    "DEFAULT_KEY_PARAMS",
    "CacheHit",
    "CacheSessionStats",
    "CacheSettings",
    "ResponseCache",
    "cache_key",
    "cache_settings",
    "key_material",
    "open_backend",
    "open_cache",
]

"""The response cache: reuse paid answers across quick tests, full runs and resumes.

Entries live in SQLite (default, ``<output dir>/cache.sqlite3``) or MySQL/MariaDB for a
team.  The runner opens one ``ResponseCache`` per run with ``open_cache`` and calls
``lookup`` before and ``store`` after each model call; see ``response_cache``.
"""

from llm_solutions.cache.key import DEFAULT_KEY_PARAMS, cache_key, key_material
from llm_solutions.cache.response_cache import (
    CacheHit,
    CacheSessionStats,
    ResponseCache,
    open_backend,
    open_cache,
)
from llm_solutions.cache.settings import (
    CacheSettings,
    add_cache_arguments,
    cache_settings,
    overrides_from_args,
    settings_from_args,
)

__all__ = [
    "DEFAULT_KEY_PARAMS",
    "CacheHit",
    "CacheSessionStats",
    "CacheSettings",
    "ResponseCache",
    "add_cache_arguments",
    "cache_key",
    "cache_settings",
    "key_material",
    "open_backend",
    "open_cache",
    "overrides_from_args",
    "settings_from_args",
]

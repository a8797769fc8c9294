"""Cache settings: defaults < config file < environment < given overrides.

The precedence rule and the one-line errors are the settings layer's
(``llm_solutions.settings.layers``); this module describes the cache's options
(``OPTIONS``: readers, environment variables) and builds ``CacheSettings``.  The config
file's ``[cache]`` table uses the ``CacheSettings`` field names.  Overrides come from the
command line (``--no-cache``, ``--force-override-cache``, ``--cache-url``, ``--cache-ttl``)
or from code.

A MySQL URL may carry a password.  ``CacheSettings`` moves it out of ``url`` into
``password``, a ``Secret`` that prints as ``***`` (``repr``, ``str``, ``describe()``, and
``json.dumps(dataclasses.asdict(settings), default=str)``), so settings recorded in a
session file never hold it, however they are written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from llm_solutions.cache.credentials import REDACTED, Secret, redact_url, split_password
from llm_solutions.cache.key import (
    DEFAULT_DIGEST_SIZE,
    DEFAULT_HASH_ALGORITHM,
    DEFAULT_KEY_PARAMS,
    HASH_ALGORITHMS,
    validate_key_params,
)
from llm_solutions.errors import ConfigError
from llm_solutions.settings.layers import ConfigFile, Option, OptionTable
from llm_solutions.settings.values import duration_or_never, one_of, positive, whole, yes_no

DEFAULT_OUTPUT_DIR = "generated"
CACHE_FILE_NAME = "cache.sqlite3"

MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+aiomysql")


@dataclass(frozen=True)
class CacheSettings:
    """Where the response cache lives and how it is used.

    ``url`` is a file path, ``sqlite:///relative/path`` or ``sqlite:////absolute/path``
    (SQLAlchemy's convention), or ``mysql://user[:password]@host:port/database?table=name``
    (missing parts come from ``MYSQL_USER``, ``MYSQL_PASSWORD``, ``MYSQL_HOST``,
    ``MYSQL_PORT``, ``MYSQL_DATABASE``).  ``ttl_seconds=None`` never expires entries.
    ``force_override_cache`` skips reads but still writes; ``refresh_if_missing_raw``
    treats an entry stored without the raw payload as a miss while raw storage is on.
    A password in ``url`` is moved to ``password`` when the settings are made.
    """

    enabled: bool = True
    force_override_cache: bool = False
    min_completion_tokens: int = 0
    store_raw_response: bool = True
    refresh_if_missing_raw: bool = False
    ttl_seconds: float | None = None
    url: str = str(Path(DEFAULT_OUTPUT_DIR) / CACHE_FILE_NAME)
    key_params: tuple[str, ...] = DEFAULT_KEY_PARAMS
    hash_algorithm: str = DEFAULT_HASH_ALGORITHM
    digest_size: int = DEFAULT_DIGEST_SIZE
    pool_size: int = 10
    connect_timeout: float = 10.0
    password: Secret | None = None

    def __post_init__(self) -> None:
        # Made in code or by cache_settings: checked by the same readers either way.
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None or OPTIONS[item.name].default is not None:
                object.__setattr__(self, item.name, OPTIONS.check(item.name, value))
        if isinstance(self.password, str):
            object.__setattr__(self, "password", Secret(self.password))
        bare, url_password = split_password(self.url)
        if url_password is not None:
            object.__setattr__(self, "url", bare)
            object.__setattr__(self, "password", Secret(url_password))

    @property
    def backend(self) -> str:
        """``"sqlite"`` or ``"mysql"``."""
        return "mysql" if _scheme(self.url) in MYSQL_SCHEMES else "sqlite"

    @property
    def sqlite_path(self) -> str:
        """The SQLite file (or ``:memory:``); a ``ConfigError`` for a MySQL URL."""
        if self.backend != "sqlite":
            raise ConfigError(f"cache URL {self.redacted_url} is not a SQLite location")
        return _sqlite_path(self.url)

    @property
    def redacted_url(self) -> str:
        """The URL, with ``***`` where a password was given: safe to log and to store."""
        url = redact_url(self.url)
        if self.password is None or "://" not in url:
            return url
        scheme, _, rest = url.partition("://")
        user, at, hostpart = rest.partition("@")
        return f"{scheme}://{user}:{REDACTED}@{hostpart}" if at else f"{scheme}://:{REDACTED}@{rest}"

    def describe(self) -> dict[str, Any]:
        """The settings as plain data for summary files, with the password redacted."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "password"}
        data["url"] = self.redacted_url
        data["key_params"] = list(self.key_params)
        data["backend"] = self.backend
        return data

    def __repr__(self) -> str:
        # Never the raw URL: it may hold a password.
        shown = ", ".join(f"{k}={v!r}" for k, v in self.describe().items())
        return f"CacheSettings({shown})"

    __str__ = __repr__


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def _sqlite_path(url: str) -> str:
    if "://" not in url:
        return url
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise ConfigError(
            f"cache URL {url!r} has no file; write sqlite:///relative/path.sqlite3 or a plain path"
        )
    return rest[1:]


# --- value readers -------------------------------------------------------------------------


def _url(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ValueError("is empty; give a file path, sqlite:///path or mysql://user@host/database")
    scheme = _scheme(text)
    if scheme and scheme != "sqlite" and scheme not in MYSQL_SCHEMES:
        raise ValueError(f"has unknown scheme {scheme!r}; use a path, sqlite:///path or mysql://...")
    try:
        if scheme == "sqlite":
            _sqlite_path(text)
        if scheme in MYSQL_SCHEMES:
            from llm_solutions.cache.mysql import MySQLTarget

            MySQLTarget.from_url(text, env={})
    except ConfigError as e:
        raise ValueError(f"is not valid: {e}") from None
    return text


def _key_params(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ValueError("is not a list; write e.g. model,messages,sample")
    try:
        return validate_key_params(items)
    except ConfigError as e:
        raise ValueError(f"is not valid: {e}") from None


def _password(value: Any) -> Secret | None:
    if isinstance(value, Secret):
        return value
    # Settings read back from a record carry the redaction marker: use the environment.
    if value == REDACTED:
        return None
    return Secret(str(value))


OPTIONS = OptionTable("cache", [
    Option("enabled", yes_no, default=True, env=("LLM_SOLUTIONS_CACHE",), flag="--no-cache"),
    Option("force_override_cache", yes_no, default=False, env=("LLM_SOLUTIONS_CACHE_FORCE_OVERRIDE",),
           flag="--force-override-cache"),
    Option("min_completion_tokens", whole(0), default=0, env=("LLM_SOLUTIONS_CACHE_MIN_TOKENS",)),
    Option("store_raw_response", yes_no, default=True, env=("LLM_SOLUTIONS_CACHE_STORE_RAW",)),
    Option("refresh_if_missing_raw", yes_no, default=False, env=("LLM_SOLUTIONS_CACHE_REFRESH_MISSING_RAW",)),
    Option("ttl_seconds", duration_or_never, env=("LLM_SOLUTIONS_CACHE_TTL",), flag="--cache-ttl"),
    Option("url", _url, env=("LLM_SOLUTIONS_CACHE_URL",), flag="--cache-url"),
    Option("key_params", _key_params, default=DEFAULT_KEY_PARAMS, env=("LLM_SOLUTIONS_CACHE_KEY_PARAMS",)),
    Option("hash_algorithm", one_of(*HASH_ALGORITHMS), default=DEFAULT_HASH_ALGORITHM,
           env=("LLM_SOLUTIONS_CACHE_HASH",)),
    Option("digest_size", whole(1, 64), default=DEFAULT_DIGEST_SIZE, env=("LLM_SOLUTIONS_CACHE_DIGEST_SIZE",)),
    Option("pool_size", whole(1, 1000), default=10, env=("LLM_SOLUTIONS_CACHE_POOL_SIZE",)),
    Option("connect_timeout", positive, default=10.0, env=("LLM_SOLUTIONS_CACHE_CONNECT_TIMEOUT",)),
    Option("password", _password, secret=True),
])


def cache_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    config: ConfigFile | None = None,
) -> CacheSettings:
    """Settings from defaults < config file < environment < ``overrides``.

    ``overrides`` maps field names to values; ``None`` values are ignored so flags that
    were not given fall through.  ``output_dir`` moves the default SQLite file to
    ``<output_dir>/cache.sqlite3``.  ``env`` replaces the real environment (tests);
    ``config`` defaults to the file ``LLM_SOLUTIONS_CONFIG`` names.
    """
    if config is None:
        config = ConfigFile.from_environment(env)
    values = OPTIONS.resolve(overrides, config=config, env=env)
    if values["url"] is None:
        values["url"] = str(Path(output_dir or DEFAULT_OUTPUT_DIR) / CACHE_FILE_NAME)
    return replace(CacheSettings(), **values)

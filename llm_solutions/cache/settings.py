"""Cache settings: code defaults < config file < environment < explicit overrides.

The config file is TOML (path from ``LLM_SOLUTIONS_CONFIG``) with a ``[cache]`` table whose
keys are the ``CacheSettings`` field names.  Environment variables (``.env`` is loaded
into the environment by the CLI) are listed in ``ENV_VARS``.  Overrides come from the
command line (``add_cache_arguments`` / ``settings_from_args``).  Every bad value is a
one-line ``ConfigError`` naming where it came from and how to fix it.

A MySQL URL may carry a password.  ``CacheSettings`` moves it out of ``url`` into
``password``, a ``Secret`` that prints as ``***`` (``repr``, ``str``, ``describe()``, and
``json.dumps(dataclasses.asdict(settings), default=str)``), so settings recorded in a
session file never hold it, however they are written.
"""

from __future__ import annotations

import argparse
import os
import re
import tomllib
from collections.abc import Callable, Mapping
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

CONFIG_ENV = "LLM_SOLUTIONS_CONFIG"
DEFAULT_OUTPUT_DIR = "generated"
CACHE_FILE_NAME = "cache.sqlite3"

#: field name -> environment variable that sets it.
ENV_VARS: dict[str, str] = {
    "enabled": "LLM_SOLUTIONS_CACHE",
    "url": "LLM_SOLUTIONS_CACHE_URL",
    "ttl_seconds": "LLM_SOLUTIONS_CACHE_TTL",
    "force_override_cache": "LLM_SOLUTIONS_CACHE_FORCE_OVERRIDE",
    "min_completion_tokens": "LLM_SOLUTIONS_CACHE_MIN_TOKENS",
    "store_raw_response": "LLM_SOLUTIONS_CACHE_STORE_RAW",
    "refresh_if_missing_raw": "LLM_SOLUTIONS_CACHE_REFRESH_MISSING_RAW",
    "key_params": "LLM_SOLUTIONS_CACHE_KEY_PARAMS",
    "hash_algorithm": "LLM_SOLUTIONS_CACHE_HASH",
    "digest_size": "LLM_SOLUTIONS_CACHE_DIGEST_SIZE",
    "pool_size": "LLM_SOLUTIONS_CACHE_POOL_SIZE",
    "connect_timeout": "LLM_SOLUTIONS_CACHE_CONNECT_TIMEOUT",
}

MYSQL_SCHEMES = ("mysql", "mariadb", "mysql+aiomysql")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
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


# --- value parsing -----------------------------------------------------------------------


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where}={value!r} is not a yes/no value; use 1 or 0 (true/false)")


def _int_in(low: int, high: int | None) -> Callable[[Any, str], int]:
    def parse(value: Any, where: str) -> int:
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(str(value).strip()) if not isinstance(value, (int, float)) else int(value)
        except ValueError:
            number = None
        if number is None or number < low or (high is not None and number > high):
            span = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise ConfigError(f"{where}={value!r} is not valid; use a whole number {span}")
        return number

    return parse


def parse_duration(value: Any, where: str) -> float | None:
    """Seconds from ``3600``, ``"90m"``, ``"12h"``, ``"7d"``, ``"2w"``; ``None`` for never."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{where}={value!r} is not a duration; use seconds, e.g. 86400, or 7d, or never")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        if text in {"", "none", "never", "off"}:
            return None
        match = _DURATION.match(text)
        if not match:
            raise ConfigError(f"{where}={value!r} is not a duration; use seconds, e.g. 86400, or 7d, or never")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(f"{where}={value!r} is not valid; use a positive duration (e.g. 7d) or never")
    return seconds


def _positive_float(value: Any, where: str) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0 or number == float("inf"):
        raise ConfigError(f"{where}={value!r} is not valid; use a positive number of seconds")
    return number


def _url(value: Any, where: str) -> str:
    text = str(value).strip() if value is not None else ""
    if not text:
        raise ConfigError(f"{where} is empty; give a file path, sqlite:///path or mysql://user@host/database")
    scheme = _scheme(text)
    if scheme and scheme != "sqlite" and scheme not in MYSQL_SCHEMES:
        raise ConfigError(
            f"{where}={redact_url(text)!r} has unknown scheme {scheme!r}; use a path, sqlite:///path or mysql://..."
        )
    if scheme == "sqlite":
        _sqlite_path(text)
    if scheme in MYSQL_SCHEMES:
        from llm_solutions.cache.mysql import MySQLTarget

        MySQLTarget.from_url(text, env={})
    return text


def _key_params(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ConfigError(f"{where}={value!r} is not a list; write e.g. model,messages,sample")
    try:
        return validate_key_params(items)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _algorithm(value: Any, where: str) -> str:
    text = str(value).strip().lower()
    if text not in HASH_ALGORITHMS:
        raise ConfigError(f"{where}={value!r} is not supported; use one of: {', '.join(HASH_ALGORITHMS)}")
    return text


def _password(value: Any, where: str) -> Secret | None:
    if isinstance(value, Secret):
        return value
    # Settings read back from a record carry the redaction marker: use the environment.
    if value == REDACTED:
        return None
    return Secret(str(value))


PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "enabled": _bool,
    "force_override_cache": _bool,
    "min_completion_tokens": _int_in(0, None),
    "store_raw_response": _bool,
    "refresh_if_missing_raw": _bool,
    "ttl_seconds": parse_duration,
    "url": _url,
    "key_params": _key_params,
    "hash_algorithm": _algorithm,
    "digest_size": _int_in(1, 64),
    "pool_size": _int_in(1, 1000),
    "connect_timeout": _positive_float,
    "password": _password,
}


# --- merging -----------------------------------------------------------------------------


def _from_config_file(env: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    path_text = env.get(CONFIG_ENV)
    if not path_text:
        return {}
    path = Path(path_text).expanduser()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{CONFIG_ENV}={path_text}: no such file; fix the path or unset it") from None
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{CONFIG_ENV}={path_text}: cannot read it as TOML ({e})") from None
    table = data.get("cache", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [cache] must be a table of settings")
    unknown = sorted(set(table) - set(PARSERS))
    if unknown:
        raise ConfigError(f"{path}: unknown [cache] setting {unknown[0]!r}; known: {', '.join(PARSERS)}")
    return {name: (value, f"{path} [cache] {name}") for name, value in table.items()}


def cache_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    output_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> CacheSettings:
    """Settings from code defaults < config file < environment < ``overrides``.

    ``overrides`` maps field names to values; ``None`` values are ignored so CLI flags that
    were not given fall through.  ``output_dir`` moves the default SQLite file to
    ``<output_dir>/cache.sqlite3``.  ``env`` defaults to ``os.environ``.
    """
    env = os.environ if env is None else env
    raw: dict[str, tuple[Any, str]] = {}
    raw.update(_from_config_file(env))
    for name, var in ENV_VARS.items():
        if var in env and env[var].strip() != "":
            raw[name] = (env[var], var)
    for name, value in (overrides or {}).items():
        if name not in PARSERS:
            raise ConfigError(f"unknown cache setting {name!r}; known: {', '.join(PARSERS)}")
        if value is not None:
            raw[name] = (value, f"cache setting {name}")
    values = {name: PARSERS[name](value, where) for name, (value, where) in raw.items()}
    base = CacheSettings()
    if output_dir is not None and "url" not in values:
        values["url"] = str(Path(output_dir) / CACHE_FILE_NAME)
    return replace(base, **values)


def add_cache_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--no-cache``, ``--force-override-cache``, ``--cache-url`` and ``--cache-ttl``."""
    group = parser.add_argument_group("response cache")
    group.add_argument(
        "--no-cache", dest="cache_enabled", action="store_const", const=False, default=None,
        help="neither read nor write the response cache (env LLM_SOLUTIONS_CACHE=0)",
    )
    group.add_argument(
        "--force-override-cache", action="store_const", const=True, default=None,
        help="ask the models again even for cached answers, and store the new answers",
    )
    group.add_argument(
        "--cache-url", default=None, metavar="URL",
        help="cache location: a file path, sqlite:///path or mysql://user@host:port/db?table=name "
        "(env LLM_SOLUTIONS_CACHE_URL; default <output dir>/cache.sqlite3)",
    )
    group.add_argument(
        "--cache-ttl", default=None, metavar="DURATION",
        help="reuse cached answers only this long, e.g. 86400, 12h, 7d, or never (the default)",
    )


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The flags of ``add_cache_arguments`` that were given, as ``cache_settings`` overrides.

    A password in ``--cache-url`` comes back as a ``Secret`` under ``password``, so the
    dict can be recorded with ``json.dumps(..., default=str)`` and shows ``***``; read back
    from a record, ``cache_settings`` ignores that marker and uses ``MYSQL_PASSWORD``.
    """
    url = getattr(args, "cache_url", None)
    password = None
    if url is not None:
        url, password = split_password(url)
    values = {
        "enabled": getattr(args, "cache_enabled", None),
        "force_override_cache": getattr(args, "force_override_cache", None),
        "url": url,
        "ttl_seconds": getattr(args, "cache_ttl", None),
        "password": Secret(password) if password is not None else None,
    }
    return {name: value for name, value in values.items() if value is not None}


def settings_from_args(
    args: argparse.Namespace, output_dir: str | os.PathLike[str] | None = None
) -> CacheSettings:
    """``cache_settings`` with the flags of ``add_cache_arguments`` as overrides.

    ``output_dir`` defaults to ``args.output_dir`` when the parser has that option.
    """
    if output_dir is None:
        output_dir = getattr(args, "output_dir", None)
    return cache_settings(overrides_from_args(args), output_dir=output_dir)

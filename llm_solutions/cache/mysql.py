"""The MySQL/MariaDB cache backend, for teams sharing one cache (``aiomysql``, pooled).

The URL is ``mysql://user[:password]@host:port/database?table=name``; any part it leaves
out comes from ``MYSQL_USER``, ``MYSQL_PASSWORD``, ``MYSQL_HOST``, ``MYSQL_PORT`` and
``MYSQL_DATABASE``.  The password is never part of ``describe()`` or any message.  The
table is created on first use (utf8mb4, InnoDB, key as primary key) and writes are
upserts (``REPLACE``), so any number of collectors can share it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from llm_solutions.cache.backend import (
    COLUMNS,
    DEFAULT_TABLE,
    CacheBackend,
    CacheEntry,
    CacheTotals,
    Selection,
    expired_condition,
    expired_params,
)
from llm_solutions.errors import ConfigError
from llm_solutions.settings import environment

log = logging.getLogger(__name__)

DEFAULT_PORT = 3306
_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,64}$")
# Lost connection, server gone, deadlock, lock wait timeout: a new attempt can succeed.
_RETRY_CODES = {2006, 2013, 2014, 2055, 1205, 1213}
_ATTEMPTS = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS `{table}` (
    cache_key VARCHAR(128) CHARACTER SET ascii NOT NULL,
    model VARCHAR(255) NOT NULL,
    model_name VARCHAR(255) NOT NULL,
    provider VARCHAR(100) NOT NULL,
    created_at DOUBLE NOT NULL,
    expires_at DOUBLE NULL,
    has_raw TINYINT(1) NOT NULL,
    output_tokens INT NOT NULL,
    payload LONGTEXT NOT NULL,
    PRIMARY KEY (cache_key),
    KEY idx_model (model),
    KEY idx_expires (expires_at),
    KEY idx_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci
"""


@dataclass(frozen=True)
class MySQLTarget:
    """Where a MySQL cache lives; ``password`` is left out of ``repr`` and ``describe``."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    user: str | None = None
    database: str | None = None
    table: str = DEFAULT_TABLE
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(
        cls, url: str, env: Mapping[str, str] | None = None, *, password: str | None = None
    ) -> MySQLTarget:
        """Parse ``url``, filling missing parts from ``env`` (the ``MYSQL_*`` variables by default).

        ``password`` (the settings' own) beats one in the URL, which beats ``MYSQL_PASSWORD``.
        """
        if env is None:
            env = environment.snapshot(("MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE"))
        scheme = url.split("://", 1)[0]
        try:
            parts = urlsplit(url)
            url_port = parts.port
        except ValueError:
            raise ConfigError(
                f"cache URL {scheme}://... has a bad host or port; write mysql://user@host:3306/database"
            ) from None
        query = parse_qs(parts.query)
        table = query.get("table", [DEFAULT_TABLE])[-1]
        if not _IDENTIFIER.match(table):
            raise ConfigError(
                f"cache URL table {table!r} is not a plain table name; use letters, digits and _ (at most 64)"
            )
        unknown = sorted(set(query) - {"table"})
        if unknown:
            raise ConfigError(f"cache URL option {unknown[0]!r} is not known; only ?table=NAME is")
        database = unquote(parts.path.lstrip("/")) or env.get("MYSQL_DATABASE") or None
        if database is not None and not _IDENTIFIER.match(database):
            raise ConfigError(
                f"cache database {database!r} is not a plain name; use letters, digits and _"
            )
        port_text = env.get("MYSQL_PORT")
        port = url_port
        if port is None and port_text:
            if not port_text.strip().isdigit():
                raise ConfigError(f"MYSQL_PORT={port_text!r} is not a port number; use e.g. 3306")
            port = int(port_text)
        return cls(
            host=parts.hostname or env.get("MYSQL_HOST") or "127.0.0.1",
            port=port or DEFAULT_PORT,
            user=unquote(parts.username) if parts.username else env.get("MYSQL_USER") or None,
            database=database,
            table=table,
            password=(
                password
                if password is not None
                else unquote(parts.password) if parts.password is not None else env.get("MYSQL_PASSWORD")
            ),
        )

    def describe(self) -> str:
        """``mysql://user@host:port/database?table=name``, without the password."""
        user = f"{self.user}@" if self.user else ""
        return f"mysql://{user}{self.host}:{self.port}/{self.database or ''}?table={self.table}"


def _error_code(error: BaseException) -> int | None:
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


class MySQLBackend(CacheBackend):
    """Cache entries in one MySQL/MariaDB table, through a connection pool."""

    name = "mysql"

    def __init__(self, target: MySQLTarget, pool: Any) -> None:
        self.target = target
        self.table = target.table
        self._pool = pool

    @classmethod
    async def open(
        cls, target: MySQLTarget, *, pool_size: int = 10, connect_timeout: float = 10.0
    ) -> MySQLBackend:
        """Connect and create the table when missing; a ``ConfigError`` when that fails."""
        try:
            import aiomysql
        except ImportError:
            raise ConfigError(
                "a mysql:// cache needs aiomysql; install it with: pip install 'llm-solutions[mysql]'"
            ) from None
        if not target.database:
            raise ConfigError(
                f"cache URL {target.describe()} names no database; add /DATABASE to the URL or set MYSQL_DATABASE"
            )
        try:
            pool = await aiomysql.create_pool(
                minsize=1,
                maxsize=pool_size,
                host=target.host,
                port=target.port,
                user=target.user,
                password=target.password or "",
                db=target.database,
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=connect_timeout,
                pool_recycle=3600,
            )
        except (TimeoutError, OSError, aiomysql.Error) as e:
            raise ConfigError(
                f"cannot connect to the MySQL cache {target.describe()} ({_describe_error(e)}); "
                "check the server runs and the URL or MYSQL_* variables"
            ) from None
        backend = cls(target, pool)
        try:
            await backend._create_table()
        except aiomysql.Error as e:
            await backend.close()
            raise ConfigError(
                f"cannot create the cache table {target.describe()} ({_describe_error(e)}); "
                "the user needs CREATE, SELECT, INSERT and DELETE on the database"
            ) from None
        return backend

    def describe(self) -> str:
        return self.target.describe()

    async def _create_table(self) -> None:
        exists = await self._fetch("SHOW TABLES LIKE %s", [self.table])
        if exists:
            return
        with warnings.catch_warnings():
            # Another collector may create it first; MySQL then warns "already exists".
            warnings.simplefilter("ignore")
            await self._run(_SCHEMA.format(table=self.table), [])

    async def _run(self, sql: str, params: list[Any] | tuple[Any, ...]) -> int:
        """Execute one statement; returns the affected row count."""
        return (await self._execute(sql, params, fetch=False))[0]

    async def _fetch(self, sql: str, params: list[Any] | tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return (await self._execute(sql, params, fetch=True))[1]

    async def _execute(
        self, sql: str, params: list[Any] | tuple[Any, ...], *, fetch: bool
    ) -> tuple[int, list[tuple[Any, ...]]]:
        import aiomysql

        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._pool.acquire() as conn:
                    try:
                        async with conn.cursor() as cur:
                            await cur.execute(sql, params)
                            rows = list(await cur.fetchall()) if fetch else []
                            return cur.rowcount, rows
                    except (aiomysql.OperationalError, aiomysql.InterfaceError):
                        # A broken connection must not go back to the pool.
                        conn.close()
                        raise
            except (aiomysql.OperationalError, aiomysql.InterfaceError) as e:
                code = _error_code(e)
                if attempt == _ATTEMPTS or (code not in _RETRY_CODES and not isinstance(e, aiomysql.InterfaceError)):
                    raise
                log.debug("MySQL cache: retrying after %s", _describe_error(e))
                await asyncio.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    async def get(self, key: str) -> CacheEntry | None:
        rows = await self._fetch(
            f"SELECT {', '.join(COLUMNS)} FROM `{self.table}` WHERE cache_key = %s", [key]
        )
        return CacheEntry.from_row(rows[0]) if rows else None

    async def put(self, entry: CacheEntry) -> None:
        marks = ", ".join("%s" for _ in COLUMNS)
        await self._run(f"REPLACE INTO `{self.table}` ({', '.join(COLUMNS)}) VALUES ({marks})", entry.row())

    async def delete(self, key: str) -> int:
        return await self._run(f"DELETE FROM `{self.table}` WHERE cache_key = %s", [key])

    async def prune(self, selection: Selection) -> int:
        condition, params = selection.where("%s")
        return await self._run(f"DELETE FROM `{self.table}` WHERE {condition}", params)

    async def totals(self, now: float, ttl_seconds: float | None = None) -> CacheTotals:
        (count, size, with_raw, oldest, newest), = await self._fetch(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0), COALESCE(SUM(has_raw), 0), "
            f"MIN(created_at), MAX(created_at) FROM `{self.table}`",
            [],
        )
        (expired,), = await self._fetch(
            f"SELECT COUNT(*) FROM `{self.table}` WHERE {expired_condition('%s', ttl_seconds)}",
            expired_params(now, ttl_seconds),
        )
        per_model = {
            f"{provider}/{model}": int(n)
            for provider, model, n in await self._fetch(
                f"SELECT provider, model, COUNT(*) FROM `{self.table}` GROUP BY provider, model "
                "ORDER BY provider, model",
                [],
            )
        }
        storage = await self._fetch(
            "SELECT data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = %s",
            [self.target.database, self.table],
        )
        return CacheTotals(
            entries=int(count),
            payload_bytes=int(size),
            storage_bytes=int(storage[0][0]) if storage and storage[0][0] is not None else None,
            with_raw=int(with_raw),
            expired=int(expired),
            oldest=None if oldest is None else float(oldest),
            newest=None if newest is None else float(newest),
            per_model=per_model,
        )

    async def drop_table(self) -> None:
        """Remove the whole table, e.g. a scratch table a test made."""
        await self._run(f"DROP TABLE IF EXISTS `{self.table}`", [])

    async def close(self) -> None:
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        pool.close()
        await pool.wait_closed()


def _describe_error(error: BaseException) -> str:
    """The driver's message, which names user and host but never the password."""
    args: tuple[Any, ...] = tuple(getattr(error, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return f"MySQL error {args[0]}: {args[1]}"
    return str(error) or type(error).__name__

"""The response cache, run against SQLite and MySQL/MariaDB through the same tests.

MySQL tests connect to ``LLM_SOLUTIONS_TEST_MYSQL_URL`` (default: the server that
``.ci/start-mariadb`` sets up).  Without a server they are skipped, except when ``CI=true``
or ``LLM_SOLUTIONS_REQUIRE_MYSQL=1``, where they fail.  Each MySQL test uses its own table
and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from llm_solutions.cache import cache_key, cache_settings, open_cache
from llm_solutions.cache.backend import CacheBackend
from llm_solutions.cache.response_cache import ResponseCache
from llm_solutions.cache.settings import CacheSettings
from llm_solutions.cli import main
from llm_solutions.errors import ConfigError
from llm_solutions.models.base import Completion, Request
from llm_solutions.models.config import ModelConfig

DEFAULT_MYSQL_URL = "mysql://llm_solutions:llm_solutions@127.0.0.1:3306/llm_solutions_test"
WORKER = Path(__file__).parent / "support" / "cache_worker.py"

GPT = ModelConfig(
    name="gpt-test", provider="openai", model_params={"api_model": "gpt-test-2025"},
    input_price=2.0, output_price=8.0,
)
CLAUDE = ModelConfig(name="claude-test", provider="anthropic", input_price=3.0, output_price=15.0)


def ask(task: str, *, temperature: float | None = 0.0, **kw) -> Request:
    messages = ({"role": "system", "content": "Answer in Python."}, {"role": "user", "content": f"Solve {task}"})
    return Request(messages=messages, max_tokens=kw.pop("max_tokens", 512), temperature=temperature, **kw)


def answer(text: str = "def f(): return 1", **kw) -> Completion:
    return Completion(text=text, **{"input_tokens": 100, "output_tokens": 50, **kw})


async def cli(argv: list[str]) -> int:
    """``llm-solutions ARGV`` from an async test: the command runs its own event loop."""
    return await asyncio.to_thread(main, argv)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --- backends ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_cache_settings_from_the_shell(monkeypatch):
    """The developer's cache settings must not change what these tests see."""
    for name in list(os.environ):
        if name.startswith(("LLM_SOLUTIONS_CACHE", "MYSQL_")) or name == "LLM_SOLUTIONS_CONFIG":
            monkeypatch.delenv(name)


def _mysql_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("LLM_SOLUTIONS_REQUIRE_MYSQL") == "1"


@pytest.fixture(scope="session")
def mysql_base_url() -> str:
    url = os.environ.get("LLM_SOLUTIONS_TEST_MYSQL_URL", DEFAULT_MYSQL_URL)
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 3306), timeout=2).close()
    except OSError as e:
        reason = f"no MySQL/MariaDB server at {parts.hostname}:{parts.port or 3306} ({e}); run .ci/start-mariadb"
        if _mysql_required():
            pytest.fail(f"{reason} (CI=true or LLM_SOLUTIONS_REQUIRE_MYSQL=1: MySQL tests must run)")
        pytest.skip(reason)
    return url


@pytest.fixture(params=["sqlite", "mysql"])
def cache_url(request, tmp_path):
    """A fresh, empty cache location of each backend."""
    if request.param == "sqlite":
        yield str(tmp_path / "out" / "cache.sqlite3")
        return
    base = request.getfixturevalue("mysql_base_url")
    url = f"{base.split('?')[0]}?table=t_{uuid.uuid4().hex[:16]}"
    yield url
    from llm_solutions.cache.mysql import MySQLBackend, MySQLTarget

    async def drop() -> None:
        backend = await MySQLBackend.open(MySQLTarget.from_url(url))
        await backend.drop_table()
        await backend.close()

    asyncio.run(drop())


@pytest.fixture
async def make_cache(cache_url):
    """Open caches on the test's location with settings overrides; closes them after."""
    opened: list[ResponseCache] = []

    async def make(clock=time.time, **overrides) -> ResponseCache:
        cache = await open_cache(cache_settings({"url": cache_url, **overrides}, env={}), clock=clock)
        opened.append(cache)
        return cache

    yield make
    for cache in opened:
        await cache.close()


# --- lookups, writes and what they count ---------------------------------------------------


async def test_miss_then_write_then_hit_counts_and_cost(make_cache):
    cache = await make_cache()
    assert await cache.lookup(GPT, ask("a"), 0) is None
    assert await cache.store(GPT, ask("a"), 0, answer("def a(): pass", raw={"id": "r1"}, headers={"x-rl": "1"}))
    hit = await cache.lookup(GPT, ask("a"), 0)
    assert hit is not None
    assert hit.completion.text == "def a(): pass"
    assert (hit.completion.input_tokens, hit.completion.output_tokens) == (100, 50)
    assert hit.completion.raw == {"id": "r1"}
    assert hit.completion.headers == {}
    assert hit.cost_saved == pytest.approx(GPT.cost(100, 50))
    await cache.store(GPT, ask("b"), 0, answer(cost=0.25))
    assert (await cache.lookup(GPT, ask("b"), 0)).cost_saved == 0.25
    stats = cache.stats_dict()
    assert (stats["hits"], stats["misses"], stats["writes"], stats["errors"]) == (2, 1, 2, 0)
    assert stats["cost_saved_usd"] == pytest.approx(GPT.cost(100, 50) + 0.25)
    assert stats["per_model"]["gpt-test"] == {"hits": 2, "misses": 1, "writes": 2}


async def test_quick_test_answers_are_reused_by_the_full_run(make_cache):
    tasks = [f"task-{i}" for i in range(10)]
    quick = await make_cache()
    for task in tasks[:3]:
        assert await quick.lookup(GPT, ask(task), 0) is None
        await quick.store(GPT, ask(task), 0, answer(f"solution of {task}"))
    await quick.close()

    full = await make_cache()
    for task in tasks:
        hit = await full.lookup(GPT, ask(task), 0)
        if hit is None:
            await full.store(GPT, ask(task), 0, answer(f"solution of {task}"))
        else:
            assert hit.completion.text == f"solution of {task}"
    assert (full.stats.hits, full.stats.misses, full.stats.writes) == (3, 7, 7)


async def test_each_sample_is_its_own_answer(make_cache):
    cache = await make_cache()
    for sample in range(4):
        await cache.store(GPT, ask("a"), sample, answer(f"version {sample}"))
    texts = [(await cache.lookup(GPT, ask("a"), s)).completion.text for s in range(4)]
    assert texts == [f"version {s}" for s in range(4)]
    assert (await cache.backend.totals(time.time())).entries == 4


async def test_force_override_skips_reads_but_writes(make_cache):
    await (await make_cache()).store(GPT, ask("a"), 0, answer("old"))
    forced = await make_cache(force_override_cache=True)
    assert await forced.lookup(GPT, ask("a"), 0) is None
    assert await forced.store(GPT, ask("a"), 0, answer("new"))
    assert (forced.stats.hits, forced.stats.misses, forced.stats.writes) == (0, 1, 1)
    assert (await (await make_cache()).lookup(GPT, ask("a"), 0)).completion.text == "new"


async def test_ttl_expiry_with_an_injected_clock(make_cache):
    clock = Clock()
    cache = await make_cache(clock=clock, ttl_seconds=60)
    await cache.store(GPT, ask("a"), 0, answer())
    clock.now += 59
    assert await cache.lookup(GPT, ask("a"), 0) is not None
    clock.now += 1
    assert await cache.lookup(GPT, ask("a"), 0) is None
    # The stored expiry holds even for a cache opened without a TTL ...
    no_ttl = await make_cache(clock=clock)
    assert await no_ttl.lookup(GPT, ask("a"), 0) is None
    # ... and a TTL set later applies to entries stored without one.
    await no_ttl.store(GPT, ask("b"), 0, answer())
    clock.now += 3600
    assert await no_ttl.lookup(GPT, ask("b"), 0) is not None
    assert await (await make_cache(clock=clock, ttl_seconds="30m")).lookup(GPT, ask("b"), 0) is None
    assert (await cache.backend.totals(clock.now)).expired == 1


async def test_min_completion_tokens(make_cache):
    cache = await make_cache(min_completion_tokens=20)
    assert not await cache.store(GPT, ask("short"), 0, answer(output_tokens=19))
    assert not await cache.store(GPT, ask("empty"), 0, answer("  \n", output_tokens=40))
    assert await cache.store(GPT, ask("long"), 0, answer(output_tokens=20))
    assert (cache.stats.writes, cache.stats.skipped_writes) == (1, 2)
    assert await cache.lookup(GPT, ask("short"), 0) is None
    # An answer stored under a lower threshold is not reused under a higher one.
    await (await make_cache()).store(GPT, ask("old"), 0, answer(output_tokens=5))
    assert await cache.lookup(GPT, ask("old"), 0) is None


async def test_text_only_storage_and_refresh_if_missing_raw(make_cache):
    text_only = await make_cache(store_raw_response=False)
    await text_only.store(GPT, ask("a"), 0, answer("the text", raw={"big": "payload"}, reasoning="thought"))
    hit = await text_only.lookup(GPT, ask("a"), 0)
    assert (hit.completion.text, hit.completion.raw, hit.completion.reasoning) == ("the text", None, "thought")
    assert hit.completion.output_tokens == 50

    assert (await (await make_cache()).lookup(GPT, ask("a"), 0)).completion.raw is None
    wants_raw = await make_cache(refresh_if_missing_raw=True)
    assert await wants_raw.lookup(GPT, ask("a"), 0) is None
    await wants_raw.store(GPT, ask("a"), 0, answer("fresh", raw={"big": "payload"}))
    assert (await wants_raw.lookup(GPT, ask("a"), 0)).completion.raw == {"big": "payload"}


async def test_four_processes_share_one_cache(cache_url, tmp_path, make_cache):
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_SOLUTIONS_CACHE", "LLM_SOLUTIONS_CONFIG"))}
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKER), cache_url, str(w), "200", str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for w in range(4)
    ]
    try:
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.stderr.read()
        go.touch()
        results = [worker.communicate(timeout=120) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, (out, err) in zip(workers, results, strict=True):
        assert worker.returncode == 0, err
        assert "locked" not in err
        assert json.loads(out)["writes"] == 200

    sys.path.insert(0, str(WORKER.parent))
    try:
        from cache_worker import CONFIG, request_for, text_for
    finally:
        sys.path.remove(str(WORKER.parent))
    cache = await make_cache()
    for w in range(4):
        for i in range(200):
            hit = await cache.lookup(CONFIG, request_for(w, i), 0)
            assert hit is not None and hit.completion.text == text_for(w, i)
    assert (await cache.backend.totals(time.time())).entries == 800


# --- the key -------------------------------------------------------------------------------


def test_key_covers_what_changes_the_answer_and_nothing_else():
    base = cache_key(GPT, ask("a"), 0)
    operational = ModelConfig(
        name="another-row", provider="openai", model_params={"api_model": "gpt-test-2025", "timeout": 5},
        input_price=99, rpm=1, tpm=2, max_concurrent=3, base_url="http://127.0.0.1:1", api_key_env="OTHER_KEY",
    )
    assert cache_key(operational, ask("a"), 0) == base
    assert cache_key(GPT, ask("a", metadata={"task_id": "x", "canonical_solution": "y"}), 0) == base
    assert cache_key(GPT, ask("a", temperature=0), 0) == base  # 0 and 0.0 are one value
    different = [
        cache_key(GPT, ask("a", temperature=0.7), 0),
        cache_key(GPT, ask("b"), 0),
        cache_key(CLAUDE, ask("a"), 0),
        cache_key(ModelConfig(name="gpt-test", provider="azure", model_params=GPT.model_params), ask("a"), 0),
        cache_key(GPT, ask("a", max_tokens=100), 0),
        cache_key(GPT, ask("a", top_p=0.9), 0),
        cache_key(GPT, ask("a", reasoning_effort="high"), 0),
        cache_key(GPT, ask("a", extra={"seed": 1}), 0),
        cache_key(GPT, ask("a"), 1),
    ]
    assert len({base, *different}) == len(different) + 1


def test_key_is_canonical_and_stable_across_processes():
    request = ask("a", extra={"b": 1, "a": {"y": [1, 2], "x": None}})
    reordered = ask("a", extra={"a": {"x": None, "y": [1, 2]}, "b": 1})
    key = cache_key(GPT, request, 3)
    assert cache_key(GPT, reordered, 3) == key
    code = (
        "from llm_solutions.cache import cache_key; from tests.test_cache import GPT, ask; "
        "print(cache_key(GPT, ask('a', extra={'b': 1, 'a': {'y': [1, 2], 'x': None}}), 3))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            cwd=Path(__file__).parent.parent, env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        assert out == key
    # Pinned: a change here silently invalidates every user's cache.
    canonical = (
        '{"extra":{},"max_tokens":512,"messages":[{"content":"Answer in Python.","role":"system"},'
        '{"content":"Solve a","role":"user"}],"model":{"api_model":"gpt-test-2025","provider":"openai"},'
        '"reasoning_effort":null,"sample":0,"temperature":0.0,"top_p":null,"v":1}'
    )
    assert cache_key(GPT, ask("a"), 0) == hashlib.blake2b(canonical.encode(), digest_size=32).hexdigest()
    assert cache_key(GPT, ask("a"), 0, algorithm="sha256") == hashlib.sha256(canonical.encode()).hexdigest()


def test_key_algorithm_digest_size_and_params_are_configurable():
    assert len(cache_key(GPT, ask("a"), 0, digest_size=16)) == 32
    assert len(cache_key(GPT, ask("a"), 0, algorithm="sha256")) == 64
    assert cache_key(GPT, ask("a"), 0, algorithm="sha256") != cache_key(GPT, ask("a"), 0)
    without_sample = ("model", "messages")
    assert cache_key(GPT, ask("a"), 0, params=without_sample) == cache_key(GPT, ask("a"), 5, params=without_sample)
    with pytest.raises(ConfigError, match="unknown cache key parameter 'colour'"):
        cache_key(GPT, ask("a"), 0, params=("colour",))
    with pytest.raises(ConfigError, match=r"extra\.when"):
        cache_key(GPT, ask("a", extra={"when": object()}), 0)


# --- settings ------------------------------------------------------------------------------


def test_settings_layers_defaults_file_env_overrides(tmp_path):
    assert cache_settings(env={}) == CacheSettings()
    assert CacheSettings().url == str(Path("generated") / "cache.sqlite3")
    assert cache_settings(output_dir=tmp_path / "run", env={}).sqlite_path == str(tmp_path / "run" / "cache.sqlite3")
    config = tmp_path / "llm.toml"
    config.write_text('[cache]\nttl_seconds = "7d"\nmin_completion_tokens = 5\nkey_params = ["model", "messages"]\n'
                      'url = "sqlite:///from-file.sqlite3"\n')
    env = {"LLM_SOLUTIONS_CONFIG": str(config), "LLM_SOLUTIONS_CACHE_MIN_TOKENS": "9",
           "LLM_SOLUTIONS_CACHE_STORE_RAW": "no", "LLM_SOLUTIONS_CACHE_HASH": "SHA256"}
    settings = cache_settings({"force_override_cache": True, "min_completion_tokens": None}, env=env)
    assert settings.ttl_seconds == 7 * 86400
    assert settings.min_completion_tokens == 9
    assert settings.key_params == ("model", "messages")
    assert (settings.store_raw_response, settings.hash_algorithm) == (False, "sha256")
    assert settings.force_override_cache is True
    assert settings.sqlite_path == "from-file.sqlite3"
    assert cache_settings({"url": "x.db"}, output_dir="out", env=env).url == "x.db"
    assert cache_settings(env={"LLM_SOLUTIONS_CACHE_TTL": "never"}).ttl_seconds is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_SOLUTIONS_CACHE": "maybe"}, "LLM_SOLUTIONS_CACHE='maybe' is not a yes/no value"),
        ({"LLM_SOLUTIONS_CACHE_TTL": "soon"}, "LLM_SOLUTIONS_CACHE_TTL='soon' is not a duration"),
        ({"LLM_SOLUTIONS_CACHE_TTL": "0"}, "use a positive duration"),
        ({"LLM_SOLUTIONS_CACHE_MIN_TOKENS": "-1"}, "use a whole number"),
        ({"LLM_SOLUTIONS_CACHE_DIGEST_SIZE": "65"}, "from 1 to 64"),
        ({"LLM_SOLUTIONS_CACHE_HASH": "md5"}, "use one of: blake2b, sha256"),
        ({"LLM_SOLUTIONS_CACHE_KEY_PARAMS": "model,colour"}, "unknown cache key parameter 'colour'"),
        ({"LLM_SOLUTIONS_CACHE_URL": "redis://h/0"}, "unknown scheme 'redis'"),
        ({"LLM_SOLUTIONS_CACHE_URL": "mysql://u@h/db?table=x;drop"}, "not a plain table name"),
        ({"LLM_SOLUTIONS_CONFIG": "/nonexistent/llm.toml"}, "no such file"),
    ],
)
def test_bad_settings_are_one_line_config_errors(env, message):
    with pytest.raises(ConfigError, match=message) as caught:
        cache_settings(env=env)
    assert "\n" not in str(caught.value)


def test_cli_flags_and_disabled_cache(tmp_path, monkeypatch):
    import argparse

    from llm_solutions.cli.flags import add_cache_arguments, cache_overrides

    def settings_from_args(args):
        return cache_settings(cache_overrides(args), output_dir=args.output_dir)

    overrides_from_args = cache_overrides
    parser = argparse.ArgumentParser()
    parser.add_argument("--output-dir")
    add_cache_arguments(parser)
    monkeypatch.setenv("LLM_SOLUTIONS_CACHE_TTL", "1h")
    args = parser.parse_args(["--output-dir", str(tmp_path), "--force-override-cache", "--cache-ttl", "never"])
    settings = settings_from_args(args)
    assert settings.sqlite_path == str(tmp_path / "cache.sqlite3")
    assert (settings.force_override_cache, settings.ttl_seconds, settings.enabled) == (True, None, True)
    assert settings_from_args(parser.parse_args(["--cache-url", "c.db"])).url == "c.db"
    assert overrides_from_args(parser.parse_args(["--no-cache"])) == {"enabled": False}
    overrides = overrides_from_args(parser.parse_args(["--cache-url", "mysql://u:pw@127.0.0.1/db"]))
    assert json.dumps(overrides, default=str) == '{"url": "mysql://u@127.0.0.1/db", "password": "***"}'
    assert cache_settings(overrides, env={}).password.reveal() == "pw"
    disabled = settings_from_args(parser.parse_args(["--no-cache"]))
    assert asyncio.run(open_cache(disabled)) is None
    monkeypatch.setenv("LLM_SOLUTIONS_CACHE", "0")
    assert settings_from_args(parser.parse_args([])).enabled is False


# --- credentials ---------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_password_never_shown(capsys, caplog):
    url = f"mysql://alice:Sup3r-S3cret@127.0.0.1:{_closed_port()}/team?table=answers"
    settings = cache_settings({"url": url, "connect_timeout": 2}, env={})
    assert settings.redacted_url == url.replace("Sup3r-S3cret", "***")
    assert settings.url == url.replace(":Sup3r-S3cret", "")
    assert settings.password.reveal() == "Sup3r-S3cret"
    # Settings recorded the naive way (a dataclass dump) hold no password either, and
    # read back they take the password from the environment again.
    recorded = json.dumps(dataclasses.asdict(settings), default=str)
    again = cache_settings(json.loads(recorded), env={})
    assert (again.url, again.password) == (settings.url, None)
    shown = [settings.redacted_url, json.dumps(settings.describe()), repr(settings), str(settings), recorded]
    with pytest.raises(ConfigError) as caught:
        await open_cache(settings)
    shown.append(str(caught.value))
    assert await cli(["cache", "stats", "--cache-url", url]) == 2
    out, err = capsys.readouterr()
    shown += [out, err, caplog.text]
    assert "cannot connect to the MySQL cache mysql://alice@127.0.0.1" in err
    for text in shown:
        assert "Sup3r-S3cret" not in text


async def test_password_absent_from_what_the_cache_writes(make_cache, cache_url, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cache = await make_cache()
    await cache.store(GPT, ask("a"), 0, answer(raw={"id": "r"}))
    await cache.lookup(GPT, ask("a"), 0)
    assert await cli(["cache", "stats", "--cache-url", cache_url]) == 0
    assert await cli(["cache", "prune", "--cache-url", cache_url, "--model", "nothing"]) == 0
    out, err = capsys.readouterr()
    texts = [json.dumps(cache.stats_dict()), json.dumps(cache.settings.describe()), repr(cache.settings), out, err]
    texts += [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    texts += [repr(await cache.backend.get(cache.key(GPT, ask("a"), 0)))]
    password = urlsplit(cache_url).password
    assert cache.backend.describe() in out
    for text in texts:
        if password:
            assert cache_url not in text
            assert f":{password}@" not in text


def test_mysql_url_parts_fall_back_to_mysql_env_vars():
    from llm_solutions.cache.mysql import MySQLTarget

    env = {"MYSQL_USER": "env_user", "MYSQL_PASSWORD": "env_pw", "MYSQL_HOST": "db.local",
           "MYSQL_PORT": "3307", "MYSQL_DATABASE": "env_db"}
    target = MySQLTarget.from_url("mysql://?table=answers", env)
    assert (target.user, target.password, target.host, target.port, target.database, target.table) == (
        "env_user", "env_pw", "db.local", 3307, "env_db", "answers")
    target = MySQLTarget.from_url("mysql://bob:url%2Fpw@10.0.0.1:3310/team", env)
    assert (target.user, target.password, target.host, target.port, target.database) == (
        "bob", "url/pw", "10.0.0.1", 3310, "team")
    assert "pw" not in target.describe() and "pw" not in repr(target)
    assert MySQLTarget.from_url("mysql://bob@h/team", env, password="given").password == "given"


async def test_mysql_credentials_from_the_environment(mysql_base_url, monkeypatch):
    parts = urlsplit(mysql_base_url)
    for name, value in {"MYSQL_USER": parts.username, "MYSQL_PASSWORD": parts.password,
                        "MYSQL_HOST": parts.hostname, "MYSQL_PORT": str(parts.port or 3306),
                        "MYSQL_DATABASE": parts.path.lstrip("/")}.items():
        monkeypatch.setenv(name, value or "")
    cache = await open_cache(cache_settings({"url": f"mysql://?table=t_{uuid.uuid4().hex[:16]}"}, env={}))
    try:
        assert await cache.store(GPT, ask("a"), 0, answer())
        assert (await cache.lookup(GPT, ask("a"), 0)).completion.text == answer().text
    finally:
        await cache.backend.drop_table()
        await cache.close()


# --- the cache command ---------------------------------------------------------------------


async def test_cache_stats_and_prune_commands(make_cache, cache_url, capsys):
    clock = Clock(time.time() - 3 * 86400)
    old = await make_cache(clock=clock, ttl_seconds=86400)
    for task in ("a", "b"):
        await old.store(GPT, ask(task), 0, answer())  # stored 3 days ago, expired after 1
    clock.now = time.time()
    fresh = await make_cache(clock=clock)
    for task in ("c", "d", "e"):
        await fresh.store(CLAUDE, ask(task), 0, answer())
    await fresh.store(GPT, ask("f"), 0, answer(raw={"x": 1}))

    assert await cli(["cache", "stats", "--cache-url", cache_url]) == 0
    out = capsys.readouterr().out
    assert "entries: 6" in out and "expired: 2" in out
    assert re.search(r"openai/gpt-test-2025 +3\n", out) and re.search(r"anthropic/claude-test +3\n", out)
    assert await cli(["cache", "--cache-url", cache_url, "stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["entries"], data["expired"], data["per_model"]["anthropic/claude-test"]) == (6, 2, 3)

    assert await cli(["cache", "prune", "--cache-url", cache_url, "--expired"]) == 0
    assert "removed 2 entries (expired entries)" in capsys.readouterr().out
    await fresh.store(GPT, ask("g"), 0, answer())
    assert await cli(["cache", "prune", "--cache-url", cache_url, "--model", "claude-test"]) == 0
    assert "removed 3 entries" in capsys.readouterr().out
    assert await cli(["cache", "prune", "--cache-url", cache_url, "--older-than", "1"]) == 0
    assert "removed 0 entries" in capsys.readouterr().out
    assert await cli(["cache", "prune", "--cache-url", cache_url, "--all"]) == 0
    assert "removed 2 entries (all entries)" in capsys.readouterr().out
    assert await cli(["cache", "stats", "--cache-url", cache_url]) == 0
    assert "entries: 0" in capsys.readouterr().out


def test_cache_command_does_not_create_a_missing_file(tmp_path, capsys):
    assert main(["cache", "stats", "--output-dir", str(tmp_path / "out")]) == 0
    assert "does not exist yet" in capsys.readouterr().out
    assert main(["cache", "prune", "--output-dir", str(tmp_path / "out"), "--all"]) == 0
    assert not (tmp_path / "out").exists()
    assert main(["cache", "prune", "--output-dir", str(tmp_path), "--older-than", "-2"]) == 2


# --- failures ------------------------------------------------------------------------------


class BrokenBackend(CacheBackend):
    """Storage that fails every call, like a full disk or a database gone away."""

    name = "broken"

    async def get(self, key):
        raise OSError("disk I/O error")

    put = delete = prune = totals = get

    async def close(self):
        pass


async def test_storage_failures_are_misses_not_crashes(caplog):
    cache = ResponseCache(BrokenBackend(), CacheSettings())
    assert await cache.lookup(GPT, ask("a"), 0) is None
    assert await cache.store(GPT, ask("a"), 0, answer()) is False
    assert (cache.stats.misses, cache.stats.writes, cache.stats.errors) == (1, 0, 2)
    assert "response cache read failed on broken" in caplog.text


async def test_sqlite_creates_folders_and_rejects_a_non_database(tmp_path):
    nested = tmp_path / "a" / "b" / "cache.sqlite3"
    cache = await open_cache(cache_settings({"url": f"sqlite:///{nested}"}, env={}))
    await cache.close()
    assert nested.exists()
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ConfigError, match="cannot use cache file"):
        await open_cache(cache_settings({"url": str(junk)}, env={}))

"""The environment: every variable the library reads, and the one function that reads them.

Nothing else in the package touches ``os.environ``.  Each variable below is read at one
call site (a test checks both), so its meaning and its precedence are decided once:
collection and cache settings read theirs through the settings layer
(``llm_solutions.settings.layers``), which puts the environment above a config file and
below the command line.  Provider keys and base URLs are named by the model table
(``ProviderConfig.api_key_env``, ``base_url_env``), so they are read by the registry
through ``read`` too.  ``load_dotenv`` copies a ``.env`` file into the environment first,
never overriding a variable that is already set.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

#: Variables the library reads (provider keys and base URLs come from the model table).
VARIABLES: dict[str, str] = {
    # collection
    "DATASET_PATH": "folder of *.jsonl problems to solve, or several separated by os.pathsep (default: the "
                    "built-in dataset)",
    "OUTPUT_DIR": "where session folders and the default SQLite cache go (default: generated)",
    "CHECKPOINT_EVERY": "records between progress checkpoints (default 10; old name BATCH_SIZE)",
    "BATCH_SIZE": "old name of CHECKPOINT_EVERY",
    "MODEL_CONCURRENCY": "requests in flight per model (default 3; old name MAX_CONCURRENT_PER_MODEL)",
    "MAX_CONCURRENT_PER_MODEL": "old name of MODEL_CONCURRENCY",
    "LLM_SOLUTIONS_MODELS_FILE": "TOML file adding or replacing model and provider rows",
    "LLM_SOLUTIONS_CONFIG": "TOML config file with [collection], [cache] and [generation] tables",
    "LLM_SOLUTIONS_PROMPTS_DIR": "folder of prompt templates replacing the built-in prompts/",
    "LLM_SOLUTIONS_NO_DOTENV": "set to 1 to ignore the .env file",
    # response cache
    "LLM_SOLUTIONS_CACHE": "0 turns the response cache off",
    "LLM_SOLUTIONS_CACHE_URL": "cache location: a path, sqlite:///path or mysql://user@host/db",
    "LLM_SOLUTIONS_CACHE_TTL": "reuse cached answers only this long (seconds, 12h, 7d, never)",
    "LLM_SOLUTIONS_CACHE_FORCE_OVERRIDE": "1 asks the models again and overwrites cached answers",
    "LLM_SOLUTIONS_CACHE_MIN_TOKENS": "answers with fewer output tokens are neither stored nor reused",
    "LLM_SOLUTIONS_CACHE_STORE_RAW": "0 stores only the answer, not the provider's raw response",
    "LLM_SOLUTIONS_CACHE_REFRESH_MISSING_RAW": "1 treats entries stored without the raw response as misses",
    "LLM_SOLUTIONS_CACHE_KEY_PARAMS": "comma-separated request parts the cache key covers",
    "LLM_SOLUTIONS_CACHE_HASH": "cache key hash: blake2b or sha256",
    "LLM_SOLUTIONS_CACHE_DIGEST_SIZE": "blake2b digest size in bytes (1-64)",
    "LLM_SOLUTIONS_CACHE_POOL_SIZE": "MySQL connections per process",
    "LLM_SOLUTIONS_CACHE_CONNECT_TIMEOUT": "seconds to wait for the MySQL server",
    "MYSQL_HOST": "MySQL cache host when the URL leaves it out",
    "MYSQL_PORT": "MySQL cache port when the URL leaves it out",
    "MYSQL_USER": "MySQL cache user when the URL leaves it out",
    "MYSQL_PASSWORD": "MySQL cache password (never written to any output)",
    "MYSQL_DATABASE": "MySQL cache database when the URL leaves it out",
    # providers (besides the table's key and base-URL variables)
    "OPENAI_ORG_ID": "OpenAI organisation to bill (sent to OpenAI only)",
    "OPENAI_PROJECT_ID": "OpenAI project to bill (sent to OpenAI only)",
    "OPENAI_COMPATIBLE_MODEL": "model id to request from the local OpenAI-compatible server",
    "GOOGLE_GENAI_API_VERSION": "API version the Gemini SDK puts in its paths (v1beta for a proxy that "
                                "serves only /v1beta); a base URL ending in the version does the same",
    # rate limits
    "LLM_SOLUTIONS_RATE_MARGIN": "percent of every rate limit left unused (default 1), so a sliding window "
                                 "never sees one request too many",
    # evaluation
    "LLM_SOLUTIONS_SANDBOX": "force a sandbox mode: bwrap, unshare, nobody or rlimits",
    "LLM_SOLUTIONS_BATCH": "1 sends requests through the providers' batch APIs, as --batch does (half price, "
                           "results within 24 h)",
    "LLM_SOLUTIONS_RAY": "evaluate on Ray, as --ray does: local (a Ray instance on this machine), auto, "
                         "or a cluster's address (host:port, ray://host:port)",
    "RAY_USAGE_STATS_ENABLED": "Ray's own; a local Ray instance started by --ray gets 0 (no usage reports) "
                               "unless it is set",
}


def read(name: str) -> str | None:
    """The variable's value, or ``None`` when it is unset or blank."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def read_first(names: Iterable[str]) -> tuple[str, str] | None:
    """``(name, value)`` of the first of ``names`` that is set (a name and its old aliases)."""
    for name in names:
        value = read(name)
        if value is not None:
            return name, value
    return None


def snapshot(names: Iterable[str]) -> dict[str, str]:
    """The set variables among ``names``, as a dict (for code that takes an ``env`` mapping)."""
    return {name: value for name in names if (value := read(name)) is not None}


def set_default(name: str, value: str) -> None:
    """Set ``name`` for this process and its children, unless the user set it."""
    if read(name) is None:
        os.environ[name] = value


def load_dotenv() -> None:
    """Copy ``.env`` from the working directory (or a parent) into the environment.

    Variables already set win, and ``LLM_SOLUTIONS_NO_DOTENV=1`` skips the file.  A file
    with lines that are not ``NAME=value`` is refused as a whole, naming every such line:
    a half-read ``.env`` would leave a key silently unset.
    """
    if read("LLM_SOLUTIONS_NO_DOTENV"):
        return
    from dotenv import find_dotenv
    from dotenv import load_dotenv as load_file
    from dotenv.parser import parse_stream

    from llm_solutions.errors import ConfigError

    path = find_dotenv(usecwd=True)
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as handle:
            bad = [binding.original.line for binding in parse_stream(handle) if binding.error]
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read it ({e}); fix it or set LLM_SOLUTIONS_NO_DOTENV=1") from None
    if bad:
        lines = ", ".join(str(number) for number in bad[:20]) + (" ..." if len(bad) > 20 else "")
        which = f"lines {lines} are" if len(bad) > 1 else f"line {lines} is"
        raise ConfigError(f"{path}: {which} not NAME=value; fix or remove them (or set LLM_SOLUTIONS_NO_DOTENV=1)")
    load_file(path, override=False)

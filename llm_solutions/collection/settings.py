"""Everything that defines a collection run, and so everything a resume must restore.

``CollectionSettings`` is validated whenever it is made, in code or from the command line,
by the same option table (``OPTIONS``), so a notebook gets the error the command line
prints.  ``CollectionSettings.load`` applies the one precedence rule of
``llm_solutions.settings.layers``: defaults < config file < environment < given values.
Old names keep working: ``batch_size`` is ``checkpoint_every``, ``max_concurrent_per_model``
is ``model_concurrency`` and ``max_concurrent`` is ``provider_concurrency``, in code, in the
config file, in stored sessions, and as the ``BATCH_SIZE`` and ``MAX_CONCURRENT_PER_MODEL``
environment variables.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.evaluation.connection import RAY_ENV, ray_address
from llm_solutions.evaluation.sandbox import SandboxLimits
from llm_solutions.models.registry import MODELS_FILE_ENV, Registry, load_registry
from llm_solutions.settings.layers import ConfigFile, Option, OptionTable
from llm_solutions.settings.values import names, optional, path, positive, text, whole, yes_no

DEFAULT_OUTPUT_DIR = "generated"


def _cache_overrides(value: Any) -> dict[str, Any]:
    # Checked by the cache's own option table; here only the shape.
    if not isinstance(value, Mapping):
        raise ValueError("is not a table of cache settings")
    from llm_solutions.cache.settings import OPTIONS as CACHE_OPTIONS

    checked = {}
    for key, item in CACHE_OPTIONS.normalise(value, "cache").items():
        checked[key] = None if item is None else CACHE_OPTIONS.check(key, item)
    return checked


def _dataset_paths(value: Any) -> str | list[str]:
    """One dataset folder (kept a string, as sessions have always stored it) or several (a
    list, in order, repeats dropped).  A string may hold several folders separated by
    ``os.pathsep`` (``DATASET_PATH=a:b``), unless it names an existing path as a whole."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    found: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or not str(item).strip():
            raise ValueError("is not valid; give a dataset folder, or a list of folders")
        text_value = str(item).strip()
        parts = [text_value] if os.pathsep not in text_value or Path(text_value).expanduser().exists() else [
            part for part in text_value.split(os.pathsep) if part.strip()]
        found += [path(part) for part in parts]
    found = list(dict.fromkeys(found))
    if not found:
        raise ValueError("is not valid; give a dataset folder, or a list of folders")
    return found[0] if len(found) == 1 else found


def _model_rows(value: Any) -> list[dict[str, Any]]:
    # Each row's keys and types are checked by the registry when it loads them.
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(row, Mapping) and isinstance(row.get("name"), str) and row["name"].strip() for row in value):
        raise ValueError("is not a list of model rows, each a table with a 'name'")
    return [copy.deepcopy(dict(row)) for row in value]


OPTIONS = OptionTable("collection", [
    Option("models", names, default=[], flag="--models"),
    Option("categories", optional(names), flag="--categories"),
    Option("quick_test", yes_no, default=False, flag="--quick-test"),
    Option("samples", whole(1), default=1, flag="--samples"),
    Option("checkpoint_every", whole(1), default=10, env=("CHECKPOINT_EVERY", "BATCH_SIZE"),
           flag="--checkpoint-every", aliases=("batch_size",)),
    Option("model_concurrency", whole(1), default=3, env=("MODEL_CONCURRENCY", "MAX_CONCURRENT_PER_MODEL"),
           flag="--model-concurrency", aliases=("max_concurrent_per_model",)),
    Option("provider_concurrency", optional(whole(1)), flag="--provider-concurrency", aliases=("max_concurrent",)),
    Option("dataset_path", optional(_dataset_paths), env=("DATASET_PATH",), flag="--dataset"),
    Option("skip_invalid", yes_no, default=False, flag="--skip-invalid"),
    Option("output_dir", text, default=DEFAULT_OUTPUT_DIR, env=("OUTPUT_DIR",), flag="--output-dir"),
    Option("session_id", optional(text), flag="--session-id"),
    Option("models_file", optional(path), env=(MODELS_FILE_ENV,), flag="--models-file"),
    Option("model_rows", _model_rows, default=[], flag="a run file's models"),
    Option("demo_limit", optional(whole(1)), flag="--limit"),
    Option("max_cost", optional(positive), flag="--max-cost"),
    Option("confirm_above", optional(positive), default=5.0, flag="--confirm-above"),
    Option("execute", yes_no, default=True, flag="--no-execute"),
    Option("extraction_model", optional(text), flag="--extraction-model"),
    Option("rpm", optional(whole(1)), flag="--rpm"),
    Option("tpm", optional(whole(1)), flag="--tpm"),
    Option("request_timeout", positive, default=180.0, flag="--request-timeout"),
    Option("max_attempts", whole(1), default=6, flag="--max-attempts"),
    Option("test_timeout", positive, default=10.0, flag="--test-timeout"),
    Option("solution_timeout", positive, default=60.0, flag="--solution-timeout"),
    Option("ray", optional(ray_address), env=(RAY_ENV,), flag="--ray"),
    Option("cache", _cache_overrides, default={}, flag="--cache-*"),
    Option("batch", yes_no, default=False, env=("LLM_SOLUTIONS_BATCH",), flag="--batch"),
    Option("batch_poll", positive, default=30.0, flag="--batch-poll"),
])


@dataclass(init=False)
class CollectionSettings:
    """The parameters of one session, checked when made.

    Stored as ``session_parameters`` in ``summary.json`` and ``progress.json`` so that
    ``resume_collection.py SESSION`` continues with exactly the same run.  Keyword
    arguments only; old names (``batch_size``, ``max_concurrent_per_model``,
    ``max_concurrent``) are accepted.  An unknown or bad value is a ``ConfigError``.

    * ``checkpoint_every``: records between ``progress.json`` checkpoints;
    * ``model_concurrency``: requests in flight per model (the run's workers per model);
    * ``provider_concurrency``: requests in flight per provider and key, replacing the
      model table's ``max_concurrent`` (``None``: the table's);
    * ``test_timeout``/``solution_timeout``: wall seconds one test, and all tests of one
      solution together, may take in the sandbox;
    * ``ray``: run the tests on a Ray cluster: ``local`` (a Ray instance on this machine)
      or a cluster's address (``auto``, ``host:port``, ``ray://host:port``); ``None``: here;
    * ``cache``: response-cache settings given for this run (see ``CacheSettings``);
    * ``dataset_path``: the dataset folder, or a list of folders loaded together (``None``:
      the built-in set);
    * ``model_rows``: model rows defined for this run (a run file's inline models), added to
      the table by ``load_registry``; ``demo_limit``: only the first N problems of each
      category (``--limit``);
    * ``batch``: send the requests of models whose provider has a batch API through it
      (half price, results within 24 h; ``llm_solutions.batch``); ``batch_poll``: seconds
      between the first looks at an open batch (the wait then grows, up to 5 minutes).
    """

    models: list[str]
    categories: list[str] | None
    quick_test: bool
    samples: int
    checkpoint_every: int
    model_concurrency: int
    provider_concurrency: int | None
    dataset_path: str | list[str] | None
    skip_invalid: bool
    output_dir: str
    session_id: str | None
    models_file: str | None
    model_rows: list[dict[str, Any]]
    demo_limit: int | None
    max_cost: float | None
    confirm_above: float | None
    execute: bool
    extraction_model: str | None
    rpm: int | None
    tpm: int | None
    request_timeout: float
    max_attempts: int
    test_timeout: float
    solution_timeout: float
    ray: str | None
    cache: dict[str, Any] = field(default_factory=dict)
    batch: bool = False
    batch_poll: float = 30.0

    def __init__(self, **values: Any) -> None:
        OPTIONS.fill(self, values, "CollectionSettings")

    def check(self) -> None:
        """Validate every value as the command line does (after changes made in code too)."""
        OPTIONS.check_all(self)

    @classmethod
    def load(
        cls,
        given: Mapping[str, Any] | None = None,
        *,
        config: ConfigFile | None = None,
        env: Mapping[str, str] | None = None,
    ) -> CollectionSettings:
        """Settings from defaults < config file < environment < ``given`` (e.g. flags).

        ``config`` defaults to the file ``LLM_SOLUTIONS_CONFIG`` names; ``env`` to the real
        environment.  ``None`` values in ``given`` fall through to the layers below.
        """
        if config is None:
            config = ConfigFile.from_environment(env)
        if config is not None:
            from llm_solutions.cache.settings import OPTIONS as CACHE_OPTIONS

            # [generation] belongs to dataset generation, which reads the same file.
            config.check_sections([OPTIONS.section, CACHE_OPTIONS.section, "generation"])
        return cls(**OPTIONS.resolve(given, config=config, env=env))

    def copy(self, **changes: Any) -> CollectionSettings:
        """A checked copy with ``changes`` applied; the original is left as it is."""
        return CollectionSettings(**{**self.to_dict(), **changes})

    def load_registry(self) -> Registry:
        """The model table for this run: built-in, plugins, ``models_file`` and ``model_rows``."""
        return load_registry(self.models_file, rows=self.model_rows)

    def sandbox_limits(self) -> SandboxLimits:
        """The sandbox limits these settings ask for."""
        return SandboxLimits(test_timeout=self.test_timeout, solution_timeout=self.solution_timeout)

    def to_dict(self) -> dict[str, Any]:
        """The settings as stored in a session's files (current names)."""
        return {item.name: copy.deepcopy(getattr(self, item.name)) for item in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionSettings:
        """Settings from stored session parameters (old names mapped; keys of newer
        versions ignored, so an old install can still read a newer session)."""
        known = {k: v for k, v in data.items() if k in OPTIONS}
        try:
            return cls(**known)
        except ConfigError as e:
            raise ConfigError(f"the session's stored parameters are not valid: {e}") from None


def resolve_setting(name: str, given: Any = None, *, env: Mapping[str, str] | None = None) -> Any:
    """One collection setting by the same rule as ``CollectionSettings.load``: ``given``,
    else the environment, else the config file, else the default (``--output-dir`` for the
    session commands, ``--dataset`` for ``check-dataset``)."""
    config = ConfigFile.from_environment(env)
    return OPTIONS.resolve({name: given}, config=config, env=env, only=[name])[OPTIONS[name].name]

"""How a dataset is generated: ``GenerationSettings`` and the categories it generates.

Settings come from one precedence rule (``llm_solutions.settings.layers``): defaults < the
``[generation]`` table of the config file < the plan file < the environment < the command
line (or keyword arguments in code).  They are checked whenever they are made, by the same
option table (``OPTIONS``), so a notebook gets the error the command line prints.

A category (``CategorySpec``) is what to generate: a name, a description, a count, a
complexity range, the kind of object the solutions define, optional example problems
and optional sub-topics (otherwise the planner model writes them, or batches take the
description from ten fixed angles in turn).
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.evaluation.connection import RAY_ENV, ray_address
from llm_solutions.evaluation.sandbox import SandboxLimits
from llm_solutions.models.registry import MODELS_FILE_ENV
from llm_solutions.settings.layers import Option, OptionTable
from llm_solutions.settings.values import optional, path, positive, text, whole, yes_no

OBJECT_KINDS = ("function", "class")
MAX_COMPLEXITY = 5
_CATEGORY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _fraction(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 < number < 1.0:
        raise ValueError("is not valid; use a number between 0 and 1, e.g. 0.7")
    return number


def _temperature(value: Any) -> float:
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not 0.0 <= number <= 2.0:
        raise ValueError("is not valid; use a number from 0 to 2")
    return number


def _paths(value: Any) -> list[str]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return list(dict.fromkeys(path(item) for item in items))


def _cache_overrides(value: Any) -> dict[str, Any]:
    # Checked by the cache's own option table; here only the shape.
    if not isinstance(value, Mapping):
        raise ValueError("is not a table of cache settings")
    from llm_solutions.cache.settings import OPTIONS as CACHE_OPTIONS

    checked = {}
    for key, item in CACHE_OPTIONS.normalise(value, "cache").items():
        checked[key] = None if item is None else CACHE_OPTIONS.check(key, item)
    return checked


OPTIONS = OptionTable("generation", [
    Option("worker_model", optional(text), flag="--worker-model"),
    Option("planner_model", optional(text), flag="--planner-model"),
    Option("output", optional(path), flag="--output"),
    Option("batch_size", whole(1, 50), default=5, flag="--batch-size"),
    Option("max_concurrent", whole(1, 512), default=4, flag="--max-concurrent"),
    Option("max_cost", optional(positive), flag="--max-cost"),
    Option("seed", whole(0, 10**9), default=0, flag="--seed"),
    Option("repair", yes_no, default=False, flag="--repair"),
    Option("exclude_datasets", _paths, default=[], flag="--exclude-dataset"),
    Option("exclude_builtin", yes_no, default=True, flag="--no-exclude-builtin"),
    Option("min_tests", whole(3, 100), default=3, flag="--min-tests"),
    Option("recent_window", whole(1, 100_000), default=200, flag="--recent-window"),
    Option("near_duplicate_threshold", _fraction, default=0.7, flag="--near-duplicate-threshold"),
    Option("semantic_threshold", _fraction, default=0.92, flag="--semantic-threshold"),
    Option("embedding_model", optional(text), flag="--embedding-model"),
    Option("avoid_list", whole(0, 200), default=20, flag="--avoid-list"),
    Option("checkpoint_every", whole(1), default=10, flag="--checkpoint-every"),
    Option("temperature", optional(_temperature), flag="--temperature"),
    Option("max_tokens", optional(whole(256)), flag="--max-tokens"),
    Option("models_file", optional(path), env=(MODELS_FILE_ENV,), flag="--models-file"),
    Option("rpm", optional(whole(1)), flag="--rpm"),
    Option("tpm", optional(whole(1)), flag="--tpm"),
    Option("request_timeout", positive, default=300.0, flag="--request-timeout"),
    Option("max_attempts", whole(1), default=6, flag="--max-attempts"),
    Option("test_timeout", positive, default=10.0, flag="--test-timeout"),
    Option("solution_timeout", positive, default=60.0, flag="--solution-timeout"),
    Option("verify_workers", optional(whole(1, 256)), flag="--verify-workers"),
    Option("ray", optional(ray_address), env=(RAY_ENV,), flag="--ray"),
    Option("cache", _cache_overrides, default={}, flag="--cache-*"),
])

#: Settings a resume may change; the others define what is generated and stay as stored.
OPERATIONAL = frozenset({
    "max_concurrent", "max_cost", "checkpoint_every", "rpm", "tpm", "request_timeout", "max_attempts",
    "test_timeout", "solution_timeout", "verify_workers", "ray", "cache", "models_file",
})


@dataclass(init=False)
class GenerationSettings:
    """How to generate, checked when made (keyword arguments; see ``OPTIONS``).

    * ``worker_model`` writes the problems, ``batch_size`` per call, ``max_concurrent``
      calls at a time; ``planner_model`` (optional) splits each category into sub-topics;
    * ``output``: the dataset folder (one ``<category>.jsonl`` per category);
    * ``repair``: a candidate that fails verification goes back to the worker once;
    * ``exclude_datasets`` (and the built-in set unless ``exclude_builtin`` is false):
      problems the generated ones must not duplicate;
    * ``recent_window``, ``near_duplicate_threshold``: the near-duplicate check (MinHash
      Jaccard similarity of the problem text against the last N accepted, and against all
      of them through an LSH index); ``semantic_threshold``: cosine similarity of
      embeddings, from ``embedding_model`` (an embedding row of the model table, called
      through the run's caller) or an embedding function given in code;
    * ``avoid_list``: how many accepted titles a worker call is told to avoid;
    * ``checkpoint_every``: accepted problems between state-file checkpoints;
    * ``verify_workers``: sandboxes verifying at once (default: one per core);
    * ``ray``: verify on a Ray cluster instead (``local`` or a cluster's address; each
      node verifies with one sandbox per CPU, and ``verify_workers`` does not apply).
    """

    worker_model: str | None
    planner_model: str | None
    output: str | None
    batch_size: int
    max_concurrent: int
    max_cost: float | None
    seed: int
    repair: bool
    exclude_datasets: list[str]
    exclude_builtin: bool
    min_tests: int
    recent_window: int
    near_duplicate_threshold: float
    semantic_threshold: float
    embedding_model: str | None
    avoid_list: int
    checkpoint_every: int
    temperature: float | None
    max_tokens: int | None
    models_file: str | None
    rpm: int | None
    tpm: int | None
    request_timeout: float
    max_attempts: int
    test_timeout: float
    solution_timeout: float
    verify_workers: int | None
    ray: str | None
    cache: dict[str, Any] = field(default_factory=dict)

    def __init__(self, **values: Any) -> None:
        OPTIONS.fill(self, values, "GenerationSettings")

    def check(self) -> None:
        """Validate every value as the command line does (after changes made in code too)."""
        OPTIONS.check_all(self)

    def require_run_settings(self) -> None:
        """What a run (not a dry run) cannot do without."""
        if not self.worker_model:
            raise ConfigError("no worker model; pass --worker-model NAME (see llm-solutions collect --list-models)")
        if not self.output:
            raise ConfigError("no output folder; pass --output DIR")

    def copy(self, **changes: Any) -> GenerationSettings:
        """A checked copy with ``changes`` applied; the original is left as it is."""
        return GenerationSettings(**{**self.to_dict(), **changes})

    def sandbox_limits(self) -> SandboxLimits:
        return SandboxLimits(test_timeout=self.test_timeout, solution_timeout=self.solution_timeout)

    def to_dict(self) -> dict[str, Any]:
        return {item.name: copy.deepcopy(getattr(self, item.name)) for item in fields(self)}


CATEGORY_KEYS = ("name", "description", "count", "complexity", "object", "examples", "subtopics")


@dataclass
class CategorySpec:
    """One category to generate: ``count`` problems with complexities in ``complexity``
    (inclusive, 1 to 5), each defining a ``object`` (function or class)."""

    name: str
    description: str
    count: int
    complexity: tuple[int, int] = (1, MAX_COMPLEXITY)
    object: str = "function"
    examples: list[Any] = field(default_factory=list)
    subtopics: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Any, where: str = "category") -> CategorySpec:
        """A checked category from a plan file table or a dict; errors name ``where``."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: a category must be a table with name, description and count")
        for key in data:
            if key not in CATEGORY_KEYS:
                close = difflib.get_close_matches(str(key), CATEGORY_KEYS, n=1, cutoff=0.5)
                hint = f"did you mean '{close[0]}'?" if close else f"known: {', '.join(CATEGORY_KEYS)}"
                raise ConfigError(f"{where}: unknown category key '{key}'; {hint}")
        name = data.get("name")
        if not isinstance(name, str) or not _CATEGORY_NAME.fullmatch(name):
            raise ConfigError(f"{where}: name={name!r} is not valid; use letters, digits and _ (e.g. graph_search)")
        where = f"{where} '{name}'"
        description = data.get("description", name.replace("_", " "))
        if not isinstance(description, str) or not description.strip():
            raise ConfigError(f"{where}: description must be a non-empty text")
        count = data.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1_000_000:
            raise ConfigError(f"{where}: count={count!r} is not valid; use a whole number of at least 1")
        kind = data.get("object", "function")
        if kind not in OBJECT_KINDS:
            raise ConfigError(f"{where}: object={kind!r} is not valid; use function or class")
        return cls(
            name=name,
            description=description.strip(),
            count=count,
            complexity=parse_complexity(data.get("complexity", (1, MAX_COMPLEXITY)), where),
            object=kind,
            examples=_examples(data.get("examples", []), where),
            subtopics=_subtopics(data.get("subtopics", []), where),
        )

    def planned(self) -> dict[int, int]:
        """Problems wanted per complexity: the count spread evenly, the lower ones first
        taking what does not divide."""
        low, high = self.complexity
        levels = list(range(low, high + 1))
        base, extra = divmod(self.count, len(levels))
        return {level: base + (1 if i < extra else 0) for i, level in enumerate(levels)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "count": self.count,
                "complexity": list(self.complexity), "object": self.object,
                "examples": copy.deepcopy(self.examples), "subtopics": list(self.subtopics)}


def parse_complexity(value: Any, where: str = "complexity") -> tuple[int, int]:
    """``3``, ``"2-4"``, ``[2, 4]`` -> ``(low, high)`` within 1..5."""
    low: Any
    high: Any
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*(-\s*\d+\s*)?", value):
        parts = [int(p) for p in value.split("-")]
        low, high = parts[0], parts[-1]
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = value
    elif isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    else:
        low = high = None
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high))
    if not ok or not 1 <= low <= high <= MAX_COMPLEXITY:
        raise ConfigError(f"{where}: complexity={value!r} is not valid; use a level or a range within "
                          f"1-{MAX_COMPLEXITY}, e.g. 2-4")
    return low, high


def _examples(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"{where}: examples must be a list of problem texts or problem tables")
    for item in value:
        if isinstance(item, str) and item.strip():
            continue
        if isinstance(item, Mapping) and isinstance(item.get("problem"), str):
            continue
        raise ConfigError(f"{where}: each example must be a problem text, or a table with at least 'problem'")
    return copy.deepcopy(value)


def _subtopics(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: subtopics must be a list of non-empty texts")
    return list(dict.fromkeys(v.strip() for v in value))

"""What to generate: categories plus settings, from a plan file (YAML or TOML), flags or code.

A plan file lists the categories and may set any generation setting at its top level::

    worker_model: gpt-6-luna
    batch_size: 5
    categories:
      - name: graphs
        description: Graph algorithms on adjacency lists
        count: 20
        complexity: 2-4

Settings follow one precedence order: defaults < the config file's ``[generation]`` table
< the plan file < the environment < flags (or keyword arguments).  A mistake in the file
is one line naming the file, the line and, for an unknown key, the closest known one.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.errors import ConfigError
from llm_solutions.generation.diversity import EMBED_BATCH
from llm_solutions.generation.requests import (
    TOKENS_PER_PROBLEM,
    BatchSpec,
    planner_request,
    subtopic_count,
    worker_max_tokens,
    worker_request,
)
from llm_solutions.generation.settings import OPTIONS, CategorySpec, GenerationSettings, parse_complexity
from llm_solutions.models.registry import Registry
from llm_solutions.models.tokens import prompt_tokens, text_tokens
from llm_solutions.settings.layers import ConfigFile

#: The share of candidates a dry run expects to be accepted (the rest cost calls too).
EXPECTED_ACCEPTANCE = 0.75
#: Tokens of one problem text a dry run expects, when no excluded dataset gives an average.
CANDIDATE_TEXT_TOKENS = 120


@dataclass
class _Layer(ConfigFile):
    """The config file's ``[generation]`` table with the plan file's settings on top, each
    value's messages naming the file and line it came from."""

    origins: dict[str, str] = field(default_factory=dict)
    base: ConfigFile | None = None

    def where(self, section: str, key: str) -> str:
        if key in self.origins:
            return self.origins[key]
        return self.base.where(section, key) if self.base is not None else key


@dataclass
class GenerationPlan:
    """Categories to generate and how (``settings``); ``source`` is the plan file, if any."""

    categories: list[CategorySpec]
    settings: GenerationSettings
    source: str | None = None

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        if not self.categories:
            raise ConfigError("the plan has no categories; list them in the plan file or pass --categories NAME ...")
        names = [c.name for c in self.categories]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(f"category {', '.join(repeated)} is listed more than once in the plan")
        self.settings.check()

    @property
    def total(self) -> int:
        return sum(c.count for c in self.categories)

    def category(self, name: str) -> CategorySpec:
        return next(c for c in self.categories if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"categories": [c.to_dict() for c in self.categories], "settings": self.settings.to_dict(),
                "source": self.source}

    @classmethod
    def from_stored(cls, data: Mapping[str, Any], changes: Mapping[str, Any] | None = None) -> GenerationPlan:
        """The plan a state file stored, with operational ``changes`` (a resume's flags)."""
        try:
            categories = [CategorySpec.from_dict(c, "stored plan") for c in data["categories"]]
            settings = GenerationSettings(**{k: v for k, v in data["settings"].items() if k in OPTIONS})
        except (KeyError, TypeError) as e:
            raise ConfigError(f"the stored plan cannot be read ({e}); the state file is damaged") from None
        if changes:
            settings = settings.copy(**changes)
        return cls(categories=categories, settings=settings, source=data.get("source"))

    @classmethod
    def load(
        cls,
        plan_file: str | Path | Mapping[str, Any] | None = None,
        given: Mapping[str, Any] | None = None,
        *,
        categories: list[str] | None = None,
        overrides: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        config: ConfigFile | None = None,
    ) -> GenerationPlan:
        """A checked plan from a plan file (or a mapping of the same shape) and the layers.

        ``given`` are settings from flags or code (``None`` values fall through);
        ``categories`` selects categories of the plan file, or names new ones when there is
        no plan file; ``overrides`` (count, complexity, object, description) apply to every
        selected category.
        """
        if config is None:
            config = ConfigFile.from_environment(env)
        if config is not None:
            from llm_solutions.cache.settings import OPTIONS as CACHE_OPTIONS

            config.check_sections([OPTIONS.section, CACHE_OPTIONS.section, "collection"])
        source: str | None = None
        document: dict[str, Any] = {}
        lines: dict[tuple[Any, ...], int] = {}
        if isinstance(plan_file, Mapping):
            document = dict(plan_file)
        elif plan_file is not None:
            file = Path(plan_file).expanduser()
            source = str(file.resolve())
            document, lines = read_plan_file(file)
        label = Path(source).name if source else "plan"

        def where(*key: Any) -> str:
            line = lines.get(key)
            return f"{source} line {line}" if source and line else (source or label)

        raw_categories = document.pop("categories", None)
        settings_values: dict[str, Any] = {}
        origins: dict[str, str] = {}
        for key, value in document.items():
            name = OPTIONS.canonical(str(key), where(key))
            settings_values[name] = value
            origins[name] = f"{where(key)}: {name}"
        tables = dict(config.tables) if config is not None else {}
        tables[OPTIONS.section] = {**(tables.get(OPTIONS.section) or {}), **settings_values}
        layer = _Layer(path=Path(source or "plan"), tables=tables, text=config.text if config else "",
                       origins=origins, base=config)
        settings = GenerationSettings(**OPTIONS.resolve(given, config=layer, env=env))
        found = _categories(raw_categories, where, categories, overrides or {}, plan_given=plan_file is not None)
        return cls(categories=found, settings=settings, source=source)


def _categories(raw: Any, where: Any, selected: list[str] | None, overrides: Mapping[str, Any],
                plan_given: bool) -> list[CategorySpec]:
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "complexity" in changes:
        changes["complexity"] = list(parse_complexity(changes["complexity"], "--complexity"))
    if raw is None and (not plan_given or selected):
        if not selected:
            raise ConfigError("no categories: give a plan file (--plan FILE) or --categories NAME ... with --count N")
        if "count" not in changes:
            raise ConfigError("--categories without a plan file needs --count N (problems per category)")
        return [CategorySpec.from_dict({"name": name, **changes}, "--categories") for name in selected]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where('categories')}: 'categories' must be a non-empty list of categories")
    found = []
    for index, item in enumerate(raw):
        spot = f"{where('categories', index)}: categories[{index}]"
        spec = CategorySpec.from_dict(item, spot)
        if changes:
            spec = CategorySpec.from_dict({**spec.to_dict(), **changes}, spot)
        found.append(spec)
    if selected:
        known = {c.name: c for c in found}
        unknown = [name for name in selected if name not in known]
        if unknown:
            raise ConfigError(f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                              f"the plan has: {', '.join(known)}")
        found = [known[name] for name in selected]
    return found


def read_plan_file(path: Path) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """The plan file's content and the line of each top-level key, category and category key."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"plan file {path} does not exist; check --plan") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"plan file {path} cannot be read ({e})") from None
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"plan file {path} is not valid TOML: {e}") from None
        lines = _toml_lines(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        data, lines = _yaml(path, text)
    else:
        raise ConfigError(f"plan file {path}: name it .yaml, .yml or .toml so its format is known")
    if not isinstance(data, dict):
        raise ConfigError(f"plan file {path} must hold a table of settings and a list of categories")
    return data, lines


def _yaml(path: Path, text: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    import yaml

    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        spot = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"plan file {path}{spot}: not valid YAML ({problem})") from None
    lines: dict[tuple[Any, ...], int] = {}
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            lines[(key.value,)] = key.start_mark.line + 1
            if key.value == "categories" and isinstance(value, yaml.SequenceNode):
                for index, item in enumerate(value.value):
                    lines[("categories", index)] = item.start_mark.line + 1
    return data, lines


def _toml_lines(text: str) -> dict[tuple[Any, ...], int]:
    lines: dict[tuple[Any, ...], int] = {}
    index = -1
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[[categories]]"):
            index += 1
            in_table = True
            lines[("categories", index)] = number
            lines.setdefault(("categories",), number)
        elif stripped.startswith("["):
            in_table = True
        elif "=" in stripped and not stripped.startswith("#") and not in_table:
            lines[(stripped.split("=", 1)[0].strip().strip("\"'"),)] = number
    return lines


# --- the dry run's estimate ------------------------------------------------------------


@dataclass
class CallEstimate:
    """Expected calls, tokens and cost of one kind of call (worst case: every call uses
    its whole ``max_tokens``)."""

    kind: str
    model: str
    calls: int
    input_tokens: int
    output_tokens: int
    cost: float
    worst_cost: float


def estimate(plan: GenerationPlan, registry: Registry) -> list[CallEstimate]:
    """What a run of ``plan`` is expected to call and cost, before any cache hit."""
    settings = plan.settings
    rows: list[CallEstimate] = []
    if settings.worker_model:
        config = registry.get(settings.worker_model)
        calls = inputs = outputs = worst = 0
        repairs = 0
        for category in plan.categories:
            batches = math.ceil(category.count / settings.batch_size)
            expected = math.ceil(batches / EXPECTED_ACCEPTANCE)
            avoid = tuple("x" * 80 for _ in range(settings.avoid_list))
            spec = BatchSpec(category.name, 0, category.description, (category.complexity[0],) * settings.batch_size,
                             avoid)
            request = worker_request(config, category, spec, settings)
            calls += expected
            inputs += expected * prompt_tokens(request.messages)
            outputs += expected * min(settings.batch_size * TOKENS_PER_PROBLEM // 2, request.max_tokens)
            worst += expected * request.max_tokens
            if settings.repair:
                repairs += math.ceil(category.count * (1 - EXPECTED_ACCEPTANCE))
        rows.append(_row("worker", config, calls, inputs, outputs, worst))
        if repairs:
            per_call_out = TOKENS_PER_PROBLEM // 2
            rows.append(_row("repair", config, repairs, repairs * (prompt_tokens(request.messages) + per_call_out),
                             repairs * per_call_out, repairs * worker_max_tokens(config, settings, 1)))
    if settings.planner_model:
        config = registry.get(settings.planner_model)
        planned = [c for c in plan.categories if not c.subtopics]
        calls = len(planned)
        inputs = sum(prompt_tokens(planner_request(config, c, settings).messages) for c in planned)
        outputs = sum(20 * subtopic_count(c, settings) for c in planned)
        worst = sum(planner_request(config, c, settings).max_tokens for c in planned)
        rows.append(_row("planner", config, calls, inputs, outputs, worst))
    if settings.embedding_model:
        rows.append(_embedding_row(plan, registry.get(settings.embedding_model)))
    return rows


def _embedding_row(plan: GenerationPlan, config: Any) -> CallEstimate:
    """The semantic check's embedding calls: the excluded datasets' problems once, in
    batches, and then each candidate that passes verification, one call each (every
    candidate is counted: the check runs before a problem is accepted)."""
    settings = plan.settings
    known: list[str] = []
    if settings.exclude_builtin:
        known += [p.problem for p in load_dataset(BUILTIN_DATASET).problems]
    for path in settings.exclude_datasets:
        known += [p.problem for p in load_dataset(path, skip_invalid=True).problems]
    known_tokens = sum(text_tokens(text) for text in known)
    per_candidate = round(known_tokens / len(known)) if known else CANDIDATE_TEXT_TOKENS
    candidates = sum(math.ceil(category.count / EXPECTED_ACCEPTANCE) for category in plan.categories)
    per_call = min(EMBED_BATCH, int(config.model_params.get("max_batch") or EMBED_BATCH))
    calls = math.ceil(len(known) / per_call) + candidates
    inputs = known_tokens + candidates * per_candidate
    return _row("embedding", config, calls, inputs, 0, 0)


def _row(kind: str, config: Any, calls: int, inputs: int, outputs: int, worst: int) -> CallEstimate:
    return CallEstimate(kind, config.name, calls, inputs, outputs, round(config.cost(inputs, outputs), 6),
                        round(config.cost(inputs, worst), 6))

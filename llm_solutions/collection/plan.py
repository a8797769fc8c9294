"""What a run will do, worked out before anything is sent: problems, models, task count,
and the expected tokens and cost per model (``--dry-run`` prints this)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import check_output_dir
from llm_solutions.collection.tasks import estimate_usage, task_key
from llm_solutions.dataset import BUILTIN_DATASET, Dataset, Problem, load_dataset
from llm_solutions.errors import ConfigError
from llm_solutions.models.base import BaseModel
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, load_registry


@dataclass
class ModelEstimate:
    """Expected usage of one model over the whole run (before anything is cached)."""

    model: str
    tasks: int
    input_tokens: int
    output_tokens: int
    worst_output_tokens: int
    cost: float
    worst_cost: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Plan:
    """The problems and models of a run, checked and counted."""

    settings: CollectionSettings
    registry: Registry
    dataset: Dataset
    problems: list[Problem]
    configs: list[ModelConfig]
    _keys: frozenset[str] | None = field(default=None, repr=False)

    @property
    def model_names(self) -> list[str]:
        return [c.name for c in self.configs]

    @property
    def categories(self) -> list[str]:
        return sorted({p.category for p in self.problems})

    @property
    def total_tasks(self) -> int:
        return len(self.problems) * len(self.configs) * self.settings.samples

    def task_keys(self) -> frozenset[str]:
        """Keys of every task the run is made of."""
        if self._keys is None:
            self._keys = frozenset(
                task_key(p.task_id, c.name, s)
                for p in self.problems
                for c in self.configs
                for s in range(self.settings.samples)
            )
        return self._keys

    def estimates(self) -> list[ModelEstimate]:
        """Expected and worst-case tokens and cost, per model."""
        found = []
        samples = self.settings.samples
        for config in self.configs:
            prompt = expected = worst = 0
            for problem in self.problems:
                p, e, w = estimate_usage(config, problem)
                prompt, expected, worst = prompt + p * samples, expected + e * samples, worst + w * samples
            found.append(ModelEstimate(
                model=config.name,
                tasks=len(self.problems) * samples,
                input_tokens=prompt,
                output_tokens=expected,
                worst_output_tokens=worst,
                cost=round(config.cost(prompt, expected), 6),
                worst_cost=round(config.cost(prompt, worst), 6),
            ))
        return found


def make_plan(
    settings: CollectionSettings,
    *,
    registry: Registry | None = None,
    models: list[BaseModel] | None = None,
) -> Plan:
    """Check settings, dataset and models (keys included) and build the plan."""
    check_output_dir(Path(settings.output_dir), settings.session_id)
    registry = registry or load_registry(settings.models_file)
    # None means the built-in set, never "whatever DATASET_PATH says today": a resumed
    # session must solve the problems it started with (from_env already applied the env).
    dataset = load_dataset(settings.dataset_path or BUILTIN_DATASET, skip_invalid=settings.skip_invalid)
    problems = dataset.select(settings.categories, per_category=1 if settings.quick_test else None)
    if models is not None:
        configs = [m.config for m in models]
    else:
        if not settings.models:
            raise ConfigError("no models chosen; pass --models NAME ... or --all-models (see --list-models)")
        configs = registry.get_all(list(dict.fromkeys(settings.models)))
        registry.require_keys(configs)
    if settings.extraction_model:
        registry.get(settings.extraction_model)  # a typo fails now, not after an hour of collection
    return Plan(settings=settings, registry=registry, dataset=dataset, problems=problems, configs=configs)

"""What a run will do, worked out before anything is sent: problems, models, task count,
and the expected tokens and cost per model (``--dry-run`` prints this)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.collection.store import check_output_dir
from llm_solutions.collection.tasks import build_request, estimate_usage
from llm_solutions.dataset import BUILTIN_DATASET, Dataset, Problem, load_dataset
from llm_solutions.errors import ConfigError
from llm_solutions.models.base import BaseModel
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, load_registry
from llm_solutions.models.tokens import prompt_tokens

log = logging.getLogger(__name__)


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

    @property
    def model_names(self) -> list[str]:
        return [c.name for c in self.configs]

    @property
    def categories(self) -> list[str]:
        return sorted({p.category for p in self.problems})

    @property
    def total_tasks(self) -> int:
        return len(self.problems) * len(self.configs) * self.settings.samples

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


def fit_context_windows(problems: list[Problem], configs: list[ModelConfig], *, skip: bool) -> list[Problem]:
    """The problems whose prompt plus answer budget fits every chosen model's context window.

    A problem that does not fit is a ``ConfigError`` naming it, the model and the numbers,
    since the provider would refuse it after the run had started (and some bill the
    attempt); with ``skip`` (``--skip-invalid``) such problems are left out with a warning.
    """
    limited = [c for c in configs if c.context_window]
    if not limited or not problems:
        return problems
    kept, too_long = [], []
    for problem in problems:
        prompt = prompt_tokens(build_request(limited[0], problem, 0).messages)  # the same prompt for every model
        over = next((c for c in limited if prompt + c.max_tokens > (c.context_window or 0)), None)
        if over is None:
            kept.append(problem)
        else:
            too_long.append((problem, over, prompt))
    if not too_long:
        return problems
    problem, config, prompt = too_long[0]
    what = (f"problem {problem.task_id} needs about {prompt:,} prompt tokens plus max_tokens {config.max_tokens:,}, "
            f"more than {config.name}'s context window of {config.context_window:,} tokens")
    more = f" (and {len(too_long) - 1} more problem(s))" if len(too_long) > 1 else ""
    if not skip:
        raise ConfigError(f"{what}{more}; shorten it, leave it out, or pass --skip-invalid to skip such problems")
    log.warning("skipping %d problem(s) too long for a chosen model's context window; first: %s",
                len(too_long), what)
    return kept


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
    problems = fit_context_windows(problems, configs, skip=settings.skip_invalid)
    return Plan(settings=settings, registry=registry, dataset=dataset, problems=problems, configs=configs)

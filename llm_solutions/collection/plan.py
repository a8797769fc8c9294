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
from llm_solutions.models.registry import Registry
from llm_solutions.models.tokens import request_prompt_tokens

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
        prompt = request_prompt_tokens(build_request(limited[0], problem, 0))  # the same prompt for every model
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


def fit_image_support(problems: list[Problem], configs: list[ModelConfig], *, skip: bool) -> list[Problem]:
    """The problems every chosen model can be asked: an image problem needs models whose
    table row accepts images (``images``).

    Asking a text-only model is a ``ConfigError`` naming the model and the problem, found
    here rather than as a run of refused requests; with ``skip`` (``--skip-invalid``) image
    problems are left out with a warning instead.
    """
    blind = [c for c in configs if not c.images]
    pictured = [p for p in problems if p.images]
    if not blind or not pictured:
        return problems
    more = f" (and {len(pictured) - 1} more image problem(s))" if len(pictured) > 1 else ""
    what = (f"problem {pictured[0].task_id} shows images, but {blind[0].name} does not accept images "
            f"(its table row has no images = true){more}")
    if not skip:
        raise ConfigError(f"{what}; choose models that accept images, leave the category out (--categories), "
                          "or pass --skip-invalid to skip image problems")
    log.warning("skipping %d image problem(s): %s", len(pictured), what)
    return [p for p in problems if not p.images]


def check_chat_models(configs: list[ModelConfig]) -> None:
    """Only chat models answer problems; an embedding model named for a run is an error."""
    for config in configs:
        if config.kind != "chat":
            raise ConfigError(f"model '{config.name}' is an {config.kind} model and cannot answer problems; "
                              "choose chat models (see --list-models)")


def make_plan(
    settings: CollectionSettings,
    *,
    registry: Registry | None = None,
    models: list[BaseModel] | None = None,
    require_keys: bool = True,
) -> Plan:
    """Check settings, dataset and models (keys included, unless ``require_keys`` is false:
    ``info`` shows a run's plan before its keys are set) and build the plan."""
    check_output_dir(Path(settings.output_dir), settings.session_id)
    registry = registry or settings.load_registry()
    # None means the built-in set, never "whatever DATASET_PATH says today": a resumed
    # session must solve the problems it started with (from_env already applied the env).
    dataset = load_dataset(settings.dataset_path or BUILTIN_DATASET, skip_invalid=settings.skip_invalid)
    problems = dataset.select(settings.categories, per_category=1 if settings.quick_test else settings.demo_limit)
    if models is not None:
        configs = [m.config for m in models]
    else:
        if not settings.models:
            raise ConfigError("no models chosen; pass --models NAME ... or --all-models (see --list-models)")
        configs = registry.get_all(list(dict.fromkeys(settings.models)))
        if require_keys:
            registry.require_keys(configs)
    check_chat_models(configs)
    if settings.extraction_model:
        # A typo fails now, not after an hour of collection.
        check_chat_models([registry.get(settings.extraction_model)])
    problems = fit_image_support(problems, configs, skip=settings.skip_invalid)
    problems = fit_context_windows(problems, configs, skip=settings.skip_invalid)
    return Plan(settings=settings, registry=registry, dataset=dataset, problems=problems, configs=configs)

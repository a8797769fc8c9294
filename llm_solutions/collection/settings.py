"""Everything that defines a collection run, and so everything a resume must restore."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError


def env_int(name: str, default: int) -> int:
    """An integer from the environment (``.env`` included), or ``default``."""
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a whole number; fix it in the environment or .env") from None
    if number < 1:
        raise ConfigError(f"{name}={value!r} must be at least 1")
    return number


@dataclass
class CollectionSettings:
    """The parameters of one session.

    Stored as ``session_parameters`` in ``summary.json`` and ``progress.json`` so that
    ``resume_collection.py SESSION`` can continue with exactly the same run.
    """

    models: list[str] = field(default_factory=list)
    categories: list[str] | None = None
    quick_test: bool = False
    samples: int = 1
    batch_size: int = 10
    max_concurrent_per_model: int = 3
    dataset_path: str | None = None
    skip_invalid: bool = False
    output_dir: str = "generated"
    session_id: str | None = None
    models_file: str | None = None
    max_cost: float | None = None
    execute: bool = True
    extraction_model: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    request_timeout: float = 180.0
    max_attempts: int = 6
    cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **values: Any) -> CollectionSettings:
        """Settings with defaults from the environment, then ``values`` where not ``None``."""
        settings = cls(
            batch_size=env_int("BATCH_SIZE", 10),
            max_concurrent_per_model=env_int("MAX_CONCURRENT_PER_MODEL", 3),
            dataset_path=os.environ.get("DATASET_PATH") or None,
            output_dir=os.environ.get("OUTPUT_DIR") or "generated",
            models_file=os.environ.get("LLM_SOLUTIONS_MODELS_FILE") or None,
        )
        for key, value in values.items():
            if value is not None:
                setattr(settings, key, value)
        # Absolute, so a resume started from another directory finds the same files.
        for key in ("dataset_path", "models_file"):
            if getattr(settings, key):
                setattr(settings, key, str(Path(getattr(settings, key)).expanduser().resolve()))
        settings.check()
        return settings

    def check(self) -> None:
        """Reject values that cannot work, naming the option to fix."""
        for name in ("samples", "batch_size", "max_concurrent_per_model", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        for name in ("rpm", "tpm", "max_concurrent"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_cost is not None and self.max_cost <= 0:
            raise ConfigError("--max-cost must be a positive amount of USD")
        if self.request_timeout <= 0:
            raise ConfigError("--request-timeout must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollectionSettings:
        """Settings from stored session parameters; unknown keys (newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

"""Find models by name and build them.

The table starts with ``llm_solutions.models.table``; plugins registered under the
``llm_solutions.providers`` entry-point group add providers and models; a models file
(TOML, from ``--models-file`` or ``LLM_SOLUTIONS_MODELS_FILE``, resolved by the settings)
adds or replaces rows without code.  A plugin's entry point names a callable returning
``(providers, models)``: lists of ``ProviderConfig`` and ``ModelConfig``.

The registry is the one reader of the variables the table names: API keys, base-URL
overrides, a provider's client options (``client_env``) and wire-id override
(``model_env``).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import os
import tomllib
from dataclasses import dataclass, fields
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.models.base import BaseModel
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.table import MODELS, PROVIDERS
from llm_solutions.settings import environment

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "llm_solutions.providers"
#: The variable naming a models file, for every kind of settings that takes one.
MODELS_FILE_ENV = "LLM_SOLUTIONS_MODELS_FILE"


@dataclass
class Registry:
    """The providers and models available in this process."""

    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]

    def get(self, name: str) -> ModelConfig:
        """The row for ``name``; an unknown name gets the closest names suggested."""
        try:
            return self.models[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(self.models), n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else "see --list-models"
            raise ConfigError(f"unknown model '{name}': {hint}") from None

    def get_all(self, names: list[str]) -> list[ModelConfig]:
        """The rows for ``names``; every unknown name is reported in one error."""
        unknown = [name for name in names if name not in self.models]
        if len(unknown) == 1:
            self.get(unknown[0])
        if unknown:
            hints = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(self.models), n=1, cutoff=0.5)
                hints.append(f"'{name}'" + (f" (did you mean {close[0]}?)" if close else ""))
            raise ConfigError(f"unknown models {', '.join(hints)}; see --list-models")
        return [self.models[name] for name in names]

    def quick_test_models(self, limit: int = 2) -> list[ModelConfig]:
        """The cheapest rows marked ``quick_test`` whose keys are set, one per provider."""
        chosen: dict[str, ModelConfig] = {}
        marked = [c for c in self.models.values() if c.quick_test and self.has_key(c)]
        for config in sorted(marked, key=lambda c: (c.input_price + c.output_price, c.name)):
            chosen.setdefault(config.provider, config)
        return list(chosen.values())[:limit]

    def provider_of(self, config: ModelConfig) -> ProviderConfig:
        try:
            return self.providers[config.provider]
        except KeyError:
            raise ConfigError(
                f"model '{config.name}' names unknown provider '{config.provider}'; "
                f"known providers: {', '.join(sorted(self.providers))}"
            ) from None

    def api_key_env(self, config: ModelConfig) -> str | None:
        return config.api_key_env or self.provider_of(config).api_key_env

    def api_key(self, config: ModelConfig) -> str | None:
        env = self.api_key_env(config)
        return environment.read(env) if env else None

    def is_set(self, variable: str | None) -> bool:
        """Whether a variable the table names (a key, a base URL) is set."""
        return variable is not None and environment.read(variable) is not None

    def client_options(self, config: ModelConfig) -> dict[str, str]:
        """SDK client options the provider takes from the environment (``client_env``)."""
        provider = self.provider_of(config)
        found = {option: environment.read(variable) for option, variable in provider.client_env.items()}
        return {option: value for option, value in found.items() if value is not None}

    def has_key(self, config: ModelConfig) -> bool:
        """True when the model can be called: its key is set, or it needs none."""
        provider = self.provider_of(config)
        return self.api_key(config) is not None or not provider.key_required

    def base_url(self, config: ModelConfig) -> str | None:
        """The row's base URL, else the ``<PROVIDER>_BASE_URL`` override, else the default."""
        if config.base_url:
            return config.base_url
        provider = self.provider_of(config)
        override = environment.read(provider.base_url_env) if provider.base_url_env else None
        return override or provider.default_base_url

    def limits(self, config: ModelConfig) -> tuple[int, int, int]:
        """(rpm, tpm, max_concurrent) for the model: its own values, else its provider's."""
        provider = self.provider_of(config)
        return (
            config.rpm or provider.rpm,
            config.tpm or provider.tpm,
            config.max_concurrent or provider.max_concurrent,
        )

    def model_class(self, config: ModelConfig) -> type[BaseModel]:
        if config.model_class:
            return ProviderConfig(name=config.provider, model_class=config.model_class).load_class()
        return self.provider_of(config).load_class()

    def require_keys(self, configs: list[ModelConfig]) -> None:
        """Raise one ``ConfigError`` naming every model whose key is missing."""
        missing = [(c.name, self.api_key_env(c)) for c in configs if not self.has_key(c)]
        if missing:
            names = ", ".join(f"{name} needs {env}" for name, env in missing)
            raise ConfigError(f"missing API key: {names}; set it in the environment or .env")


_PARAM_TYPES = {"api_model": "str", "max_tokens": "int", "temperature": "float | None", "top_p": "float | None",
                "reasoning_effort": "str | None", "extra": "dict", "thinking_budget": "int | None"}


def _check_type(value: Any, annotation: str, where: str) -> None:
    """A models-file value against its field's annotation (``"float | None"`` and the like)."""
    if value is None and "None" in annotation:
        return
    if "bool" in annotation:
        ok, want = isinstance(value, bool), "true or false"
    elif "int" in annotation:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif "float" in annotation:
        ok, want = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif "dict" in annotation:
        ok, want = isinstance(value, dict), "a table"
    elif "str" in annotation:
        ok, want = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ConfigError(f"{where} = {value!r} is not valid; give {want}")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
        raise ConfigError(f"{where} = {value!r} is not valid; give a number of at least 0")


def build_row(kind: type, row: Any, where: str) -> Any:
    """A ``ProviderConfig`` or ``ModelConfig`` from a table of a models file or run file, every
    key and type checked; ``where`` names the file (and line) for the one-line error."""
    if not isinstance(row, dict) or "name" not in row:
        raise ConfigError(f"{where}: each entry needs a 'name'")
    allowed = {f.name for f in fields(kind)}
    unknown = sorted(set(row) - allowed)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(allowed), n=1, cutoff=0.5)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(sorted(allowed))}"
        raise ConfigError(f"{where}: '{row['name']}' has unknown key(s) {', '.join(unknown)}; {hint}")
    for item in fields(kind):
        if item.name in row:
            _check_type(row[item.name], str(item.type), f"{where}: '{row['name']}': {item.name}")
    params = row.get("model_params") or {}
    for name, expected in _PARAM_TYPES.items():
        if name in params:
            _check_type(params[name], expected, f"{where}: '{row['name']}': model_params.{name}")
    try:
        return kind(**row)
    except TypeError as e:
        raise ConfigError(f"{where}: '{row['name']}': {e}") from e


def apply_model_rows(models: dict[str, ModelConfig], rows: list[dict[str, Any]], where: str) -> None:
    """Add inline model rows (a run file's ``models``) to ``models``: a row without a
    ``provider`` whose name is in the table changes that row's fields (``model_params``
    merged), any other row is a new model (or replaces one, as in a models file)."""
    for row in rows:
        base = models.get(str(row.get("name"))) if isinstance(row, dict) and "provider" not in row else None
        if base is not None:
            merged = {**dataclasses.asdict(base), **row,
                      "model_params": {**base.model_params, **(row.get("model_params") or {})}}
            built = build_row(ModelConfig, merged, where)
        else:
            built = build_row(ModelConfig, row, where)
        models[built.name] = built


def _rows_from_file(path: Path) -> tuple[list[ProviderConfig], list[ModelConfig]]:
    if not path.exists():
        raise ConfigError(f"models file {path} does not exist; check --models-file or LLM_SOLUTIONS_MODELS_FILE")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"models file {path} is not valid TOML: {e}") from e
    providers = [build_row(ProviderConfig, row, f"{path}: providers") for row in data.get("providers", [])]
    models = [build_row(ModelConfig, row, f"{path}: models") for row in data.get("models", [])]
    return providers, models


def _rows_from_plugins() -> tuple[list[ProviderConfig], list[ModelConfig]]:
    providers: list[ProviderConfig] = []
    models: list[ModelConfig] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            found = point.load()()
            more_providers, more_models = found
        except Exception as e:  # noqa: BLE001 - a broken plugin must not take the collector down
            log.warning("plugin %s could not be loaded: %s", point.name, e)
            continue
        providers.extend(more_providers)
        models.extend(more_models)
    return providers, models


def load_registry(models_file: str | os.PathLike[str] | None = None, *,
                  rows: list[dict[str, Any]] | None = None) -> Registry:
    """The built-in table, plus plugins, plus ``models_file``, plus inline ``rows`` (a run
    file's model definitions, see ``apply_model_rows``); later rows win.

    The models file is only the one passed: settings resolve ``--models-file`` and
    ``LLM_SOLUTIONS_MODELS_FILE`` (so a resumed session keeps its own, whatever the
    environment says today).
    """
    providers = dict(PROVIDERS)
    models = {m.name: m for m in MODELS}
    sources = [_rows_from_plugins()]
    if models_file:
        sources.append(_rows_from_file(Path(models_file).expanduser()))
    for more_providers, more_models in sources:
        providers.update({p.name: p for p in more_providers})
        models.update({m.name: m for m in more_models})
    if rows:
        apply_model_rows(models, rows, "run file: models")
    registry = Registry(providers=providers, models=models)
    for name, config in models.items():
        provider = registry.provider_of(config)  # every row must name a known provider
        override = environment.read(provider.model_env) if provider.model_env else None
        if override:
            # The wire id is part of the cache key and the record, so it is set here, once.
            params = dict(config.model_params, api_model=override)
            models[name] = dataclasses.replace(config, model_params=params)
    return registry


def build_models(registry: Registry, configs: list[ModelConfig], **client_options: Any) -> list[BaseModel]:
    """Instantiate models, sharing one SDK client per model class, key and base URL."""
    clients: dict[tuple[Any, ...], Any] = {}
    built = []
    for config in configs:
        cls = registry.model_class(config)
        key, url = registry.api_key(config), registry.base_url(config)
        options: dict[str, Any] = dict(registry.client_options(config))
        if config.timeout:
            options["timeout"] = config.timeout  # the SDK must not cut the row's longer timeout short
        slot = (cls, key, url, tuple(sorted(options.items())))
        if slot not in clients:
            settings: dict[str, Any] = {**client_options, **options}
            clients[slot] = cls.create_client(key, url, **settings)
        built.append(cls(config, api_key=key, base_url=url, client=clients[slot]))
    return built


async def close_models(models: list[BaseModel]) -> None:
    """Close each distinct client once."""
    seen: set[int] = set()
    for model in models:
        if model.client is not None and id(model.client) not in seen:
            seen.add(id(model.client))
            await type(model).close_client(model.client)

"""Run files: one annotated YAML (or TOML) file that says everything a collection run does.

A run file takes the config file's place in the one precedence rule of
``llm_solutions.settings.layers`` (defaults < run file < environment < command line): it is
read into a ``RunFile``, a ``ConfigFile`` whose ``[collection]`` and ``[cache]`` tables hold
its values under the settings' own names, so ``CollectionSettings.load(flags,
config=run_file)`` resolves it exactly as it resolves a config file.  What differs is only
the shape users write, grouped the way they think about a run (``run.example.yaml``)::

    models: [gpt-6-luna, {name: qwen-local, provider: openai_compatible, api_model: qwen2.5}]
    datasets: {paths: [problems, more_problems], categories: [json, typing]}
    run: {samples: 3, model_concurrency: 4, demo_limit: 5}
    evaluation: {execute: true, test_timeout: 10}
    cache: {ttl_seconds: 7d}
    budget: {max_cost: 20}
    extraction_model: gpt-6-luna

Every key is checked: an unknown one is an error naming the file, the line and the closest
valid key; a bad value names the file, line and key.  Relative paths (dataset, output
folder, models file, a cache file) are relative to the run file's folder, so the file works
from any working directory, next to the results it describes.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from llm_solutions.cache.settings import OPTIONS as CACHE_OPTIONS
from llm_solutions.errors import ConfigError
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, apply_model_rows
from llm_solutions.settings.layers import ConfigFile

#: Sections of a run file: each key and the collection setting it sets.
SECTIONS: dict[str, dict[str, str]] = {
    "datasets": {"path": "dataset_path", "paths": "dataset_path", "categories": "categories",
                 "skip_invalid": "skip_invalid"},
    "run": {name: name for name in (
        "samples", "quick_test", "demo_limit", "model_concurrency", "provider_concurrency", "checkpoint_every",
        "rpm", "tpm", "request_timeout", "max_attempts", "output_dir", "session_id")},
    "evaluation": {name: name for name in ("execute", "test_timeout", "solution_timeout", "ray")},
    "budget": {"max_cost": "max_cost", "confirm_above": "confirm_above"},
}
#: Top-level keys that are one setting each.
TOP_LEVEL = {"extraction_model": "extraction_model", "models_file": "models_file"}
#: Cache settings a run file may set (the password comes from MYSQL_PASSWORD, never a file).
CACHE_KEYS = [option.name for option in CACHE_OPTIONS.options if not option.secret]
#: Inline model keys that go into ``model_params`` (the rest are ``ModelConfig`` fields).
MODEL_PARAM_KEYS = ("api_model", "max_tokens", "temperature", "top_p", "reasoning_effort", "extra", "dimensions",
                    "thinking_budget", "thinking_level")
MODEL_KEYS = sorted({*MODEL_PARAM_KEYS, *ModelConfig.__dataclass_fields__})
KNOWN_TOP = sorted({"models", "cache", *SECTIONS, *TOP_LEVEL})
_PATH_SETTINGS = ("dataset_path", "models_file", "output_dir")

Path_ = tuple[str | int, ...]


class RunFile(ConfigFile):
    """A parsed run file: ``tables`` as a config file holds them, plus where each key is."""

    def __init__(self, path: Path, tables: dict[str, dict[str, Any]], text: str, lines: dict[Path_, int],
                 origin: dict[tuple[str, str], Path_], model_names: list[tuple[str, Path_]]) -> None:
        super().__init__(path=path, tables=tables, text=text)
        self.lines = lines
        self.origin = origin  # (table, setting) -> the run-file key path that set it
        self.model_names = model_names  # names listed under models, with where each is
        self.row_keys: list[Path_] = []  # where each inline model row is

    def at(self, key: Path_) -> str:
        """``<file> line <n>: <key>`` for a key path (keys and list indexes)."""
        return f"{self.path} line {_line(self.lines, key)}: {_dotted(key)}"

    def where(self, section: str, key: str) -> str:
        origin = self.origin.get((section, key))
        return self.at(origin) if origin is not None else super().where(section, key)

    def check_models(self, registry: Registry) -> None:
        """Every model the file defines is a valid row of a known provider, and every model it
        names exists (in ``registry``, the table without the file's rows, or in the file)."""
        models = dict(registry.models)
        rows = self.tables["collection"].get("model_rows") or []
        for index, row in enumerate(rows):
            key = self.row_keys[index] if index < len(self.row_keys) else ("models",)
            try:
                apply_model_rows(models, [row], self.at(key))
            except ConfigError as e:
                # Point at the key the message names, when it names one of the entry's keys.
                named = [k for k in self.lines if k[:-1] == key and re.search(rf"\b{re.escape(str(k[-1]))}\b", str(e))]
                if not named:
                    raise
                raise ConfigError(str(e).replace(self.at(key), self.at(named[0]), 1)) from None
            provider = models[row["name"]].provider
            if provider not in registry.providers:
                raise ConfigError(f"{self.at((*key, 'provider'))}: unknown provider '{provider}'; "
                                  f"{_closest(provider, sorted(registry.providers))}")
        for name, key in self.model_names:
            if name in models:
                continue
            close = difflib.get_close_matches(name, list(models), n=1, cutoff=0.5)
            hint = f"did you mean '{close[0]}'?" if close else "see --list-models, or define it inline"
            raise ConfigError(f"{self.at(key)}: unknown model '{name}'; {hint}")

    def cache_given(self, flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """The run's cache settings: the file's ``cache`` section under the environment,
        under the cache flags; what the session stores and a resume uses."""
        table = self.tables.get("cache") or {}
        if not table and not flags:
            return None
        resolved = CACHE_OPTIONS.resolve(flags, config=self, env=env)
        return {name: resolved[name] for name in (*table, *flags)}


def load_run_file(path: str | Path) -> RunFile:
    """Read, parse and check a run file (``.yaml``/``.yml``, or ``.toml``); a ``ConfigError``
    names the file and line of the first problem."""
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"run file {file}: no such file; check the path") from None
    except IsADirectoryError:
        raise ConfigError(f"run file {file} is a folder; name the YAML file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"run file {file}: cannot read it ({e})") from None
    if file.suffix.lower() == ".toml":
        data, lines = _parse_toml(file, text)
    else:
        data, lines = _parse_yaml(file, text)
    return _build(file, text, data, lines)


def _parse_yaml(file: Path, text: str) -> tuple[Any, dict[Path_, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{file}{where}: not valid YAML ({problem}); fix the file") from None
    lines: dict[Path_, int] = {}
    _yaml_lines(node, (), lines)
    return data, lines


def _yaml_lines(node: Any, key: Path_, lines: dict[Path_, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for name, value in node.value:
            child = (*key, str(name.value))
            lines[child] = name.start_mark.line + 1
            _yaml_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            lines[(*key, index)] = value.start_mark.line + 1
            _yaml_lines(value, (*key, index), lines)


def _parse_toml(file: Path, text: str) -> tuple[Any, dict[Path_, int]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        found = re.search(r"\(at line (\d+)", str(e))
        where = f" line {found.group(1)}" if found else ""
        raise ConfigError(f"{file}{where}: not valid TOML ({str(e).split(' (at')[0]}); fix the file") from None
    lines: dict[Path_, int] = {}
    table: Path_ = ()
    counts: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("[["):
            name = stripped.strip("[] ")
            counts[name] = counts.get(name, -1) + 1
            table = (name, counts[name])
            lines.setdefault(table, number)
        elif stripped.startswith("["):
            table = tuple(stripped.strip("[] ").split("."))
            lines.setdefault(table, number)
        else:
            found = re.match(r"[\"']?([A-Za-z0-9_\-]+)[\"']?\s*=", stripped)
            if found:
                lines.setdefault((*table, found.group(1)), number)
    return data, lines


def _dotted(key: Path_) -> str:
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _closest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else f"known: {', '.join(known)}"


def _build(file: Path, text: str, data: Any, lines: dict[Path_, int]) -> RunFile:
    collection: dict[str, Any] = {}
    cache: dict[str, Any] = {}
    origin: dict[tuple[str, str], Path_] = {}
    names: list[tuple[str, Path_]] = []
    rows: list[dict[str, Any]] = []
    row_keys: list[Path_] = []

    def at(key: Path_) -> str:
        return f"{file} line {_line(lines, key)}: {_dotted(key)}"

    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{file} line 1: a run file is a mapping of sections (models, datasets, run, ...); "
                          "see run.example.yaml")
    for top, value in data.items():
        top = str(top)
        if top not in KNOWN_TOP:
            raise ConfigError(f"{at((top,))}: unknown key; {_closest(top, KNOWN_TOP)}")
        if value is None:
            continue
        if top == "models":
            chosen = _models(value, at, names, rows, origin, row_keys)
            if chosen:
                collection["models"] = chosen
        elif top in TOP_LEVEL:
            collection[TOP_LEVEL[top]] = value
            origin[("collection", TOP_LEVEL[top])] = (top,)
        else:
            if not isinstance(value, dict):
                raise ConfigError(f"{at((top,))}: must be a mapping of settings (key: value)")
            known = CACHE_KEYS if top == "cache" else sorted(SECTIONS[top])
            for key, item in value.items():
                key = str(key)
                if key not in known:
                    raise ConfigError(f"{at((top, key))}: unknown key; {_closest(key, known)}")
                if item is None:
                    continue  # null: not set here, so the environment or the default decides
                if top == "cache":
                    cache[key] = item
                    origin[("cache", key)] = (top, key)
                elif SECTIONS[top][key] in collection:  # datasets.path and datasets.paths
                    raise ConfigError(f"{at((top, key))}: the dataset folders are already given by "
                                      f"{_dotted(origin[('collection', SECTIONS[top][key])])}; give one of them")
                else:
                    collection[SECTIONS[top][key]] = item
                    origin[("collection", SECTIONS[top][key])] = (top, key)
    if rows:
        collection["model_rows"] = rows
    folders = collection.get("dataset_path")
    if isinstance(folders, str) and os.pathsep in folders and not (file.parent / folders).exists():
        collection["dataset_path"] = folders.split(os.pathsep)  # "a:b", as DATASET_PATH takes them
    for name in _PATH_SETTINGS:
        if isinstance(collection.get(name), str) and collection[name].strip():
            collection[name] = _beside(file, collection[name])
        elif name == "dataset_path" and isinstance(collection.get(name), list):
            # A list of dataset folders: each relative to the file (bad items are left for
            # the settings reader to name).
            collection[name] = [_beside(file, item) if isinstance(item, str) and item.strip() else item
                                for item in collection[name]]
    url = cache.get("url")
    if isinstance(url, str) and url.strip() and "://" not in url:
        cache["url"] = str((file.parent / Path(url).expanduser()).resolve())
    tables = {"collection": collection, "cache": cache}
    run_file = RunFile(file.resolve(), tables, text, lines, origin, names)
    run_file.row_keys = row_keys
    return run_file


def _beside(file: Path, value: str) -> str:
    """``value`` as a path relative to the run file's folder (absolute paths stay)."""
    return str((file.parent / Path(value).expanduser()).resolve())


def _line(lines: dict[Path_, int], key: Path_) -> int | str:
    """The line of ``key``, or of its nearest parent that has one."""
    while key:
        if key in lines:
            return lines[key]
        key = key[:-1]
    return "?"


def _models(value: Any, at: Any, names: list[tuple[str, Path_]], rows: list[dict[str, Any]],
            origin: dict[tuple[str, str], Path_], row_keys: list[Path_]) -> list[str]:
    """``models``: table names, or inline definitions (which are also the run's models);
    returns the run's models in order."""
    if not isinstance(value, list):
        raise ConfigError(f"{at(('models',))}: must be a list of model names or definitions")
    chosen: list[str] = []
    for index, entry in enumerate(value):
        key: Path_ = ("models", index)
        if isinstance(entry, str) and entry.strip():
            names.append((entry.strip(), key))
            chosen.append(entry.strip())
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise ConfigError(f"{at(key)}: each model is a name, or a mapping with at least a 'name'")
        row: dict[str, Any] = {}
        params: dict[str, Any] = {}
        for field_name, item in entry.items():
            field_name = str(field_name)
            if field_name not in MODEL_KEYS:
                raise ConfigError(f"{at((*key, field_name))}: unknown model key; {_closest(field_name, MODEL_KEYS)}")
            if field_name == "model_params":
                if not isinstance(item, dict):
                    raise ConfigError(f"{at((*key, field_name))}: must be a mapping")
                params.update(item)
            elif field_name in MODEL_PARAM_KEYS:
                params[field_name] = item
            else:
                row[field_name] = item
        if params:
            row["model_params"] = params
        row["name"] = row["name"].strip()
        rows.append(row)
        row_keys.append(key)
        chosen.append(row["name"])
    origin[("collection", "models")] = ("models",)
    origin[("collection", "model_rows")] = ("models",)
    return chosen

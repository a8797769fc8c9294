"""``info RUN_FILE``: what a run file would do, without doing it.

The resolved configuration (each setting with where its value came from: the run file, the
environment, a flag or the default), each model with its key status, the dataset's
problem counts per category, the task count and the cost estimate (what ``--dry-run``
prints).  Missing keys are shown, not refused, so a file can be checked before keys exist.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from llm_solutions.cli import collect
from llm_solutions.cli.flags import cache_overrides
from llm_solutions.collection.plan import Plan, make_plan
from llm_solutions.collection.runfile import RunFile, load_run_file
from llm_solutions.collection.settings import OPTIONS, CollectionSettings
from llm_solutions.models.registry import Registry, load_registry
from llm_solutions.settings import environment
from llm_solutions.text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The run file, ``--json``, and the options of ``collect`` (which win over the file)."""
    parser.add_argument("run_file", metavar="RUN_FILE", help="a run file: YAML (or TOML), see run.example.yaml")
    parser.add_argument("--json", action="store_true", help="print the same as JSON")
    collect.add_arguments(parser)


def describe(args: argparse.Namespace) -> dict[str, Any]:
    """Everything ``info`` shows, as data."""
    run_file = load_run_file(args.run_file)
    given = collect.given_settings(args)
    given["cache"] = run_file.cache_given(cache_overrides(args))
    cache_flags = bool(cache_overrides(args))
    settings = CollectionSettings.load(given, config=run_file)
    run_file.check_models(load_registry(settings.models_file))
    registry = settings.load_registry()
    settings = settings.copy(models=collect._choose_models(args, registry, settings.models))
    plan = make_plan(settings, registry=registry, require_keys=False)
    return {
        "run_file": str(run_file.path),
        "settings": _sourced(settings, {**given, "cache": given["cache"] if cache_flags else None}, run_file),
        "models": [_model(registry, config.name) for config in plan.configs],
        "dataset": {"path": plan.dataset.label, "paths": [str(path) for path in plan.dataset.paths],
                    "problems": len(plan.dataset.problems),
                    "skipped_lines": len(plan.dataset.skipped),
                    "selected_per_category": dict(sorted(Counter(p.category for p in plan.problems).items()))},
        "total_tasks": plan.total_tasks,
        "estimates": [e.to_dict() for e in plan.estimates()],
        "_plan": plan,
    }


def _sourced(settings: CollectionSettings, given: dict[str, Any], run_file: RunFile) -> dict[str, dict[str, Any]]:
    """Each setting's value and where it came from (the same order the settings layer uses)."""
    table = run_file.tables.get("collection") or {}
    found: dict[str, dict[str, Any]] = {}
    for name, value in settings.to_dict().items():
        option = OPTIONS[name]
        from_env = environment.read_first(option.env) if option.env else None
        if given.get(name) is not None:
            source = f"flag {option.flag}" if option.flag else "flag"
        elif from_env is not None:
            source = f"environment {from_env[0]}"
        elif name in table:
            source = run_file.where("collection", name).split(": ")[0]
        elif name == "cache" and run_file.tables.get("cache"):
            source = f"{run_file.path}: cache (under the environment)"
        else:
            source = "default"
        if name == "models" and name not in table and given.get(name) is None:
            source = "chosen (no models named)"
        found[name] = {"value": value, "from": source}
    return found


def _model(registry: Registry, name: str) -> dict[str, Any]:
    config = registry.get(name)
    variable = registry.api_key_env(config)
    return {"name": config.name, "provider": config.provider, "kind": config.kind, "wire_id": config.api_model,
            "key": "set" if registry.has_key(config) else "missing", "key_variable": variable,
            "base_url": registry.base_url(config), "images": config.images,
            "input_price": config.input_price, "output_price": config.output_price}


def run(args: argparse.Namespace) -> int:
    info = describe(args)
    plan: Plan = info.pop("_plan")
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"run file: {info['run_file']}\n\nsettings:")
    for name, item in info["settings"].items():
        value = item["value"]
        shown = "'***'" if OPTIONS[name].secret else json.dumps(value, default=str)
        print(visible(f"  {name:22} {shown:40} ({item['from']})"))
    print(f"\n{'model':34} {'provider':18} key  {'variable':28} images  wire id")
    for model in info["models"]:
        mark = "✓" if model["key"] == "set" else "✗"
        print(visible(f"{model['name']:34} {model['provider']:18} {mark:4} {model['key_variable'] or '-':28} "
                      f"{'yes' if model['images'] else 'no':7} {model['wire_id']}"))
    missing = [m["key_variable"] for m in info["models"] if m["key"] == "missing"]
    if missing:
        print(f"missing keys: {', '.join(sorted(set(missing)))} (the run refuses to start without them)")
    print("\nproblems per category:")
    for category, count in info["dataset"]["selected_per_category"].items():
        print(f"  {category:24} {count:5}")
    print()
    collect.print_plan(plan)
    return 0

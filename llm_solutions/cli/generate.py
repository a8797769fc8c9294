"""``generate`` (``scripts/generate_dataset.py``): write a new, verified problem dataset."""

from __future__ import annotations

import argparse
from typing import Any

from llm_solutions.cli.flags import (
    add_cache_arguments,
    add_log_arguments,
    add_ray_argument,
    add_timeout_arguments,
    cache_overrides,
)
from llm_solutions.cli.output import configure_logging
from llm_solutions.errors import ConfigError
from llm_solutions.generation import GenerationPlan, estimate, resume_plan, run_generation
from llm_solutions.generation.report import report_lines
from llm_solutions.models.registry import load_registry
from llm_solutions.text import visible


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``generate_dataset.py``."""
    what = parser.add_argument_group("what to generate")
    what.add_argument("--plan", metavar="FILE", help="plan file (.yaml, .yml or .toml): categories and settings")
    what.add_argument("--categories", nargs="+", metavar="NAME",
                      help="without --plan: the categories to generate; with it: only these of the plan")
    what.add_argument("--description", metavar="TEXT", help="what the categories are about (default: their name)")
    what.add_argument("--count", type=int, metavar="N", help="problems per category (replaces the plan's counts)")
    what.add_argument("--complexity", metavar="LO-HI", help="complexity range within 1-5, e.g. 2-4 (default 1-5)")
    what.add_argument("--object", choices=("function", "class"), help="what each solution defines (default function)")

    models = parser.add_argument_group("models and spend")
    models.add_argument("--worker-model", metavar="NAME", help="the model that writes the problems (a cheap one)")
    models.add_argument("--planner-model", metavar="NAME",
                        help="a model that first splits each category into distinct sub-topics")
    models.add_argument("--models-file", metavar="FILE", help="TOML file adding models (LLM_SOLUTIONS_MODELS_FILE)")
    models.add_argument("--batch-size", type=int, metavar="N", help="problems asked for per worker call (default 5)")
    models.add_argument("--max-concurrent", type=int, metavar="N", help="worker calls in flight (default 4)")
    models.add_argument("--max-cost", type=float, metavar="USD", help="stop sending calls once the spend reaches this")
    models.add_argument("--seed", type=int, metavar="N",
                        help="another seed asks the models afresh; the same one reuses cached answers (default 0)")
    models.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (default: the model's)")
    models.add_argument("--max-tokens", type=int, metavar="N", help="output tokens per worker call (default 900 per "
                        "problem asked for, at least the model's max_tokens)")
    models.add_argument("--rpm", type=int, metavar="N", help="requests per minute per provider (overrides the table)")
    models.add_argument("--tpm", type=int, metavar="N", help="tokens per minute per provider (overrides the table)")
    models.add_argument("--request-timeout", type=float, metavar="S", help="seconds before a call is abandoned (300)")
    models.add_argument("--max-attempts", type=int, metavar="N", help="attempts per call for retryable errors (6)")

    checks = parser.add_argument_group("checks")
    checks.add_argument("--repair", action="store_const", const=True, default=None,
                        help="send a candidate that fails verification back to the worker once, with the error")
    checks.add_argument("--min-tests", type=int, metavar="N", help="tests each problem needs, at least 3 (default 3)")
    checks.add_argument("--exclude-dataset", action="append", metavar="DIR",
                        help="a dataset the generated problems must not duplicate (repeatable)")
    checks.add_argument("--no-exclude-builtin", dest="exclude_builtin", action="store_const", const=False,
                        default=None, help="allow duplicates of the built-in dataset (excluded by default)")
    checks.add_argument("--near-duplicate-threshold", type=float, metavar="J",
                        help="MinHash similarity of problem texts that counts as a near duplicate (default 0.7)")
    checks.add_argument("--embedding-model", metavar="NAME",
                        help="an embedding model (see --list-models of collect) for the semantic-duplicate check")
    checks.add_argument("--semantic-threshold", type=float, metavar="C",
                        help="cosine similarity of embeddings that counts as a semantic duplicate (default 0.92)")
    checks.add_argument("--recent-window", type=int, metavar="N",
                        help="accepted problems compared one by one for near duplicates (default 200)")
    checks.add_argument("--avoid-list", type=int, metavar="N",
                        help="accepted titles each worker call is told to avoid (default 20)")
    checks.add_argument("--verify-workers", type=int, metavar="N", help="sandboxes verifying at once (default: cores)")
    add_timeout_arguments(checks)
    add_ray_argument(checks)

    out = parser.add_argument_group("output")
    out.add_argument("--output", metavar="DIR", help="the dataset folder to write (one <category>.jsonl each)")
    out.add_argument("--resume", action="store_true", help="continue the generation in --output with its stored plan")
    out.add_argument("--dry-run", action="store_true", help="print calls, tokens and cost estimate; send nothing")
    out.add_argument("--checkpoint-every", type=int, metavar="N", help="accepted problems between state checkpoints")
    add_log_arguments(out)
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cache_arguments(parser)


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The generation settings the flags give (``None``: not given, fall through)."""
    return {
        "worker_model": args.worker_model, "planner_model": args.planner_model, "output": args.output,
        "batch_size": args.batch_size, "max_concurrent": args.max_concurrent, "max_cost": args.max_cost,
        "seed": args.seed, "repair": args.repair, "exclude_datasets": args.exclude_dataset,
        "exclude_builtin": args.exclude_builtin, "min_tests": args.min_tests,
        "recent_window": args.recent_window, "near_duplicate_threshold": args.near_duplicate_threshold,
        "embedding_model": args.embedding_model, "semantic_threshold": args.semantic_threshold,
        "avoid_list": args.avoid_list, "checkpoint_every": args.checkpoint_every, "temperature": args.temperature,
        "max_tokens": args.max_tokens, "models_file": args.models_file, "rpm": args.rpm, "tpm": args.tpm,
        "request_timeout": args.request_timeout, "max_attempts": args.max_attempts,
        "test_timeout": args.test_timeout, "solution_timeout": args.solution_timeout,
        "verify_workers": args.verify_workers, "ray": args.ray, "cache": cache_overrides(args) or None,
    }


def print_estimate(plan: GenerationPlan) -> None:
    """The dry run: what would be generated, called and spent."""
    settings = plan.settings
    registry = load_registry(settings.models_file)
    print(f"plan: {plan.source or 'from flags'}; {plan.total} problems in {len(plan.categories)} categories")
    for category in plan.categories:
        levels = ", ".join(f"{level}: {n}" for level, n in category.planned().items())
        topics = f", {len(category.subtopics)} sub-topics given" if category.subtopics else ""
        print(f"  {category.name}: {category.count} {category.object} problems (complexity {levels}){topics}")
    for name in (settings.worker_model, settings.planner_model, settings.embedding_model):
        if name:
            config = registry.get(name)
            key = "key set" if registry.has_key(config) else f"key missing: set {registry.api_key_env(config)}"
            print(f"model {name}: {config.provider}, ${config.input_price}/M in, ${config.output_price}/M out ({key})")
    rows = estimate(plan, registry)
    if not rows:
        print("no worker model: pass --worker-model NAME to see the calls and their cost")
    else:
        print(f"\n{'calls':10} {'model':28} {'count':>6} {'in tok':>10} {'out tok':>10} {'est $':>10} {'worst $':>10}")
        for row in rows:
            print(f"{row.kind:10} {row.model:28} {row.calls:6} {row.input_tokens:10} {row.output_tokens:10} "
                  f"{row.cost:10.4f} {row.worst_cost:10.4f}")
        print(f"{'total':10} {'':28} {sum(r.calls for r in rows):6} {'':10} {'':10} "
              f"{sum(r.cost for r in rows):10.4f} {sum(r.worst_cost for r in rows):10.4f}")
    print(f"\n(estimate: {settings.batch_size} problems per worker call, 3 of 4 candidates accepted, about 450 "
          "output tokens per problem; worst case: every call uses its max_tokens; cache hits cost nothing)")
    if settings.embedding_model:
        print("(embedding: the semantic check embeds the excluded datasets' problems once and every candidate "
              "that passes verification, at the embedding model's input price)")
    print("dry run: nothing was sent and nothing was written")


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_file)
    given = given_settings(args)
    overrides = {"count": args.count, "complexity": args.complexity, "object": args.object,
                 "description": args.description}
    if args.resume:
        if args.plan or args.categories or any(v is not None for v in overrides.values()):
            raise ConfigError("--resume continues with the stored plan; leave out --plan, --categories, --count, "
                              "--complexity, --object and --description")
        if not args.output:
            raise ConfigError("--resume needs --output DIR, the folder of the generation to continue")
        plan = resume_plan(args.output, **{k: v for k, v in given.items() if k != "output"})
    else:
        plan = GenerationPlan.load(args.plan, given, categories=args.categories, overrides=overrides)
    if args.dry_run:
        print_estimate(plan)
        return 0
    result = run_generation(plan, resume=args.resume, show_progress=not args.no_progress)
    report = result.report
    print(f"output: {result.path} (load it with --dataset {result.path})")
    print(f"status: {result.status} - {result.accepted}/{result.planned} problems accepted, "
          f"{result.rejected} rejected, spent ${result.cost:.4f}")
    for line in report_lines(report):
        print(visible(line))
    if report.get("stop_reason"):
        print(visible(f"stopped: {report['stop_reason']}"))
    print(f"report: {result.path / 'generation_report.json'}")
    if result.resume_command:
        print(f"resume with: {result.resume_command}")
    return result.exit_code

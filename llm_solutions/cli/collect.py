"""``collect`` (``scripts/run_collection.py``): start a collection session."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from llm_solutions.batch import batch_discount
from llm_solutions.cli.flags import (
    add_cache_arguments,
    add_log_arguments,
    add_ray_argument,
    add_timeout_arguments,
    cache_overrides,
)
from llm_solutions.cli.output import configure_logging, print_result
from llm_solutions.collection.plan import Plan, make_plan
from llm_solutions.collection.replacement import check_replaceable, set_aside
from llm_solutions.collection.runfile import load_run_file
from llm_solutions.collection.runner import run_collection
from llm_solutions.collection.settings import CollectionSettings
from llm_solutions.errors import ConfigError
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry, load_registry

log = logging.getLogger("llm_solutions")

BATCH_PROVIDERS = ("openai", "anthropic", "google")  # providers whose batch API --batch uses
QUICK_TEST_CONCURRENCY = 2  # a smoke test need not load anyone's rate limits


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``run_collection.py``."""
    choose = parser.add_argument_group("what to run")
    choose.add_argument("--models", nargs="+", metavar="NAME", help="models to ask (exact names, see --list-models)")
    choose.add_argument("--all-models", action="store_true", help="every model whose API key is set")
    choose.add_argument("--list-models", action="store_true", help="list models, key status and set env vars; exit")
    choose.add_argument("--quick-test", action="store_true", help="one problem per category")
    choose.add_argument("--limit", type=int, metavar="N",
                        help="only the first N problems of each category (a demo run; recorded in the session)")
    choose.add_argument("--config", metavar="RUN_FILE",
                        help="a run file (YAML or TOML, see run.example.yaml); flags and the environment win over it")
    choose.add_argument("--dry-run", action="store_true",
                        help="check keys, models and dataset; print task count and cost estimate; write nothing")
    choose.add_argument("--categories", nargs="+", metavar="CAT", help="only these dataset categories")
    choose.add_argument("--samples", type=int, metavar="N", help="answers per problem and model (default 1)")
    choose.add_argument("--dataset", nargs="+", action="extend", metavar="DIR",
                        help="folder(s) of *.jsonl problems, loaded together; repeatable (default: "
                        "DATASET_PATH, folders separated by ':', or built-in)")
    choose.add_argument("--skip-invalid", action="store_true", default=None,
                        help="leave out malformed dataset lines instead of refusing to start")
    choose.add_argument("--models-file", metavar="FILE", help="TOML file adding models (LLM_SOLUTIONS_MODELS_FILE)")
    choose.add_argument("--extraction-model", metavar="NAME",
                        help="model that extracts code from answers the regex extractor finds unclear")
    choose.add_argument("--no-execute", dest="execute", action="store_false", default=None,
                        help="do not run the problems' tests against the solutions")

    speed = parser.add_argument_group("speed and spend")
    speed.add_argument("--checkpoint-every", "--batch-size", dest="checkpoint_every", type=int, metavar="N",
                       help="records between progress checkpoints (env CHECKPOINT_EVERY; default 10)")
    speed.add_argument("--model-concurrency", type=int, metavar="N",
                       help="requests in flight per model (env MODEL_CONCURRENCY; default 3)")
    speed.add_argument("--provider-concurrency", type=int, metavar="N",
                       help="requests in flight per provider and key (default: the model table's)")
    speed.add_argument("--max-concurrent", type=int, metavar="N",
                       help="sets both --model-concurrency and --provider-concurrency")
    speed.add_argument("--rpm", type=int, metavar="N", help="requests per minute per provider (overrides the table)")
    speed.add_argument("--tpm", type=int, metavar="N", help="tokens per minute per provider (overrides the table)")
    speed.add_argument("--request-timeout", type=float, metavar="S", help="seconds before a request is abandoned (180)")
    speed.add_argument("--max-attempts", type=int, metavar="N", help="attempts per task for retryable errors (6)")
    add_timeout_arguments(speed)
    add_ray_argument(speed)
    speed.add_argument("--confirm-above", type=float, metavar="USD",
                       help="ask before a run whose worst-case cost is above this (default 5; "
                       "without a terminal, refuse)")
    speed.add_argument("--yes", action="store_true", help="run without asking, whatever the estimate")
    speed.add_argument("--batch", action="store_true", default=None,
                       help="send requests through the providers' batch APIs (OpenAI, Anthropic, Gemini): half "
                       "price, results within 24 h; other models are asked online (env LLM_SOLUTIONS_BATCH)")
    speed.add_argument("--detach", action="store_true",
                       help="with --batch: submit the batches and exit; resume the session to collect the results")
    speed.add_argument("--batch-poll", type=float, metavar="S",
                       help="seconds between the first looks at an open batch (default 30; the wait grows to 5 min)")
    speed.add_argument("--max-cost", type=float, metavar="USD",
                       help="stop sending new requests once the session's spend reaches this")

    out = parser.add_argument_group("output")
    out.add_argument("--output-dir", metavar="DIR", help="where session folders go (default OUTPUT_DIR or generated)")
    out.add_argument("--session-id", metavar="ID", help="name the session folder instead of session_<unix time>")
    out.add_argument("--force", action="store_true",
                     help="with --session-id of an existing session: start it again from nothing, after moving "
                     "the old folder aside to <id>.replaced-<time>")
    add_log_arguments(out)
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_cache_arguments(parser)


def _choose_models(args: argparse.Namespace, registry: Registry, configured: list[str]) -> list[str]:
    if args.models and args.all_models:
        raise ConfigError("--models and --all-models contradict each other; give one of them")
    if args.models:
        return list(args.models)
    if configured:
        return configured  # from the config file
    keyed = [m.name for m in registry.models.values()
             if m.kind == "chat" and registry.provider_of(m).key_required and registry.has_key(m)]
    if args.all_models:
        if not keyed:
            raise ConfigError("--all-models: no model has its API key set; add keys to .env (see .env.example)")
        return keyed
    # Small and cheap, as for a quick test: at most two of the table's quick-test models,
    # one per provider; the cost check before the run asks before anything expensive.
    cheap = [config.name for config in registry.quick_test_models()]
    if cheap:
        log.info("no models named: using %s (the cheapest quick-test models with keys)", ", ".join(cheap))
        return cheap
    log.info("no models named and no API keys set: using the offline model")
    return ["offline"]


def list_models(registry: Registry) -> None:
    """Print every model with provider, key status and prices, then the key env vars."""
    print(f"{'model':34} {'provider':18} key  {'$/M in':>8} {'$/M out':>8}  wire id")
    for config in sorted(registry.models.values(), key=lambda c: (c.provider, c.name)):
        mark = "✓" if registry.has_key(config) else "✗"
        name = config.name if config.kind == "chat" else f"{config.name} ({config.kind})"
        print(f"{name:34} {config.provider:18} {mark:4} {config.input_price:8.3f} "
              f"{config.output_price:8.3f}  {config.api_model}")
    print("\nAPI keys (✓ set, ✗ not set):")
    for provider in sorted(registry.providers.values(), key=lambda p: p.name):
        if provider.api_key_env:
            mark = "✓" if registry.is_set(provider.api_key_env) else "✗"
            optional = "" if provider.key_required else " (optional)"
            print(f"  {provider.api_key_env:28} {mark}{optional}")
    overrides = sorted(p.base_url_env for p in registry.providers.values()
                       if p.base_url_env and registry.is_set(p.base_url_env))
    if overrides:
        print("\nBase URL overrides set: " + ", ".join(overrides))


def print_plan(plan: Plan) -> None:
    """The dry-run report: what would run and what it would cost."""
    settings = plan.settings
    print(f"dataset: {plan.dataset.label} ({len(plan.dataset.problems)} problems, "
          f"{len(plan.dataset.skipped)} bad lines skipped)")
    print(f"selected: {len(plan.problems)} problems in {len(plan.categories)} categories"
          f"{' (quick test)' if settings.quick_test else ''}"
          f"{f' (first {settings.demo_limit} per category)' if settings.demo_limit and not settings.quick_test else ''}"
          f", {settings.samples} sample(s) each")
    keys = "keys ok" if all(plan.registry.has_key(c) for c in plan.configs) else "some keys missing"
    print(f"models: {', '.join(plan.model_names)} ({keys})")
    print(f"total tasks: {plan.total_tasks}")
    print(f"\n{'model':34} {'tasks':>6} {'in tok':>10} {'out tok':>10} {'est $':>10} {'worst $':>10}")
    total = worst = 0.0
    reasoning = {c.name for c in plan.configs if c.reasoning}
    for e in plan.estimates():
        total, worst = total + e.cost, worst + e.worst_cost
        name = f"{e.model} *" if e.model in reasoning else e.model
        print(f"{name:34} {e.tasks:6} {e.input_tokens:10} {e.output_tokens:10} {e.cost:10.4f} {e.worst_cost:10.4f}")
    print(f"{'total':34} {plan.total_tasks:6} {'':10} {'':10} {total:10.4f} {worst:10.4f}")
    print("\n(estimate: output = twice the canonical solution; worst case: every answer uses max_tokens; "
          "cache hits cost nothing)")
    if reasoning:
        print("* a reasoning model: it thinks before it answers and is billed for the thinking, so its "
              "expected output is its whole max_tokens budget (est = worst)")
    print("dry run: nothing was sent and nothing was written")


def confirm_cost(plan: Plan, assume_yes: bool) -> None:
    """Ask before a run whose worst case costs more than ``confirm_above``; refuse without a terminal."""
    threshold = plan.settings.confirm_above
    cap = plan.settings.max_cost
    if threshold is not None and cap is not None and cap <= threshold:
        return  # --max-cost already keeps the run under the threshold
    # With --batch, the batched models' requests are priced as their batch API bills them.
    shares = [batch_share(plan, config) for config in plan.configs]
    estimates = plan.estimates()
    worst = sum(e.worst_cost * share for e, share in zip(estimates, shares, strict=True))
    if assume_yes or threshold is None or worst <= threshold:
        return
    expected = sum(e.cost * share for e, share in zip(estimates, shares, strict=True))
    what = (f"this run of {plan.total_tasks} tasks may cost up to ${worst:.2f} (expected ${expected:.2f}, "
            f"before cache hits), above the ${threshold:.2f} confirmation threshold")
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError(f"{what}; pass --yes to go ahead, or narrow the run (--models, --categories, --quick-test)")
    answer = input(f"{what}. Continue? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise ConfigError("stopped before sending anything; nothing was written")


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The collection settings the flags give (``None``: not given, fall through)."""
    both = args.max_concurrent
    return {
        "categories": args.categories,
        "quick_test": args.quick_test or None,
        "demo_limit": args.limit,
        "samples": args.samples,
        "checkpoint_every": args.checkpoint_every,
        "model_concurrency": args.model_concurrency if args.model_concurrency is not None else both,
        "provider_concurrency": args.provider_concurrency if args.provider_concurrency is not None else both,
        "dataset_path": args.dataset,
        "skip_invalid": args.skip_invalid,
        "output_dir": args.output_dir,
        "session_id": args.session_id,
        "models_file": args.models_file,
        "max_cost": args.max_cost,
        "confirm_above": args.confirm_above,
        "execute": args.execute,
        "extraction_model": args.extraction_model,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "request_timeout": args.request_timeout,
        "max_attempts": args.max_attempts,
        "test_timeout": args.test_timeout,
        "solution_timeout": args.solution_timeout,
        "ray": args.ray,
        "cache": cache_overrides(args) or None,
        "batch": args.batch,
        "batch_poll": args.batch_poll,
    }


def run(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, args.log_file)
    given = given_settings(args)
    run_file = load_run_file(args.config) if args.config else None
    if run_file is not None:
        given["cache"] = run_file.cache_given(cache_overrides(args))
    settings = CollectionSettings.load(given, config=run_file)
    if run_file is not None:
        run_file.check_models(load_registry(settings.models_file))
    if args.force:
        check_replaceable(settings.output_dir, settings.session_id)
    registry = settings.load_registry()
    if args.list_models:
        list_models(registry)
        return 0
    changes: dict[str, Any] = {"models": _choose_models(args, registry, settings.models)}
    if settings.quick_test and args.model_concurrency is None and args.max_concurrent is None:
        changes["model_concurrency"] = min(settings.model_concurrency, QUICK_TEST_CONCURRENCY)
    settings = settings.copy(**changes)
    plan = make_plan(settings, registry=registry)
    if args.detach and not settings.batch:
        raise ConfigError("--detach only applies with --batch; add --batch, or leave --detach out")
    if args.dry_run:
        print_plan(plan)
        if settings.batch:
            print_batch_prices(plan)
        return 0
    confirm_cost(plan, args.yes)
    if args.force:
        moved = set_aside(settings.output_dir, settings.session_id)
        if moved is not None:
            print(f"the old session {settings.session_id} was moved aside to {moved}")
    result = run_collection(settings, plan=plan, show_progress=not args.no_progress, detach=args.detach)
    print_result(result)
    if result.batches_open:
        print_batches_open(result.batches_open, result.resume_command or "", result.session_id)
        if args.detach:
            return 0
    return result.exit_code


def batch_share(plan: Plan, config: ModelConfig, *, batch: bool | None = None) -> float:
    """The share of the online price ``config``'s requests cost in this plan (below 1 for
    a model sent through its provider's batch API)."""
    if not (plan.settings.batch if batch is None else batch) or config.provider not in BATCH_PROVIDERS:
        return 1.0
    return 1.0 - batch_discount(config, plan.registry)


def print_batch_prices(plan: Plan) -> None:
    """``--dry-run --batch``: each model's expected cost online and through its batch API."""
    print(f"\n{'model':34} {'online $':>10} {'batch $':>10}  how")
    for estimate, config in zip(plan.estimates(), plan.configs, strict=True):
        share = batch_share(plan, config, batch=True)
        batched = share < 1.0
        how = f"batch API ({1 - share:.0%} off, within 24 h)" if batched else "online (no batch API)"
        price = estimate.cost * share if batched else estimate.cost
        print(f"{config.name:34} {estimate.cost:10.4f} {price:10.4f}  {how}")


def print_batches_open(count: int, resume: str, session_id: str) -> None:
    """How to follow batches that run on at the providers."""
    where = resume.partition(session_id)[2]  # the --output-dir the resume command needs, if any
    print(f"{count} batch(es) run at the providers (results within 24 h); check with: {resume} --status")
    print(f"collect their results with: {resume}   (cancel them: llm-solutions batch cancel {session_id}{where})")

"""``export SESSION... --format F --out DIR``: sessions as fine-tuning data."""

from __future__ import annotations

import argparse

from llm_solutions.cli.flags import add_sessions_dir_argument
from llm_solutions.errors import ConfigError

FORMAT_NAMES = ("chat", "trl-sft", "trl-dpo", "sharegpt", "alpaca", "hf")


def _share(value: str) -> float:
    try:
        share = float(value.rstrip("%")) / (100 if value.endswith("%") else 1)
    except ValueError:
        raise ConfigError(f"'{value}' is not a share; use a number from 0 to 1, e.g. 0.8 or 80%") from None
    return share


def _complexity(value: str) -> list[int]:
    low, dash, high = value.partition("-")
    try:
        if dash:
            return list(range(int(low), int(high) + 1))
        return [int(value)]
    except ValueError:
        raise ConfigError(f"--complexity {value}: use whole numbers or ranges, e.g. 1 2 or 1-3") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sessions", nargs="+", metavar="SESSION", help="session ids (folder names) or paths")
    parser.add_argument("--format", required=True, choices=FORMAT_NAMES, metavar="F",
                        help=f"one of {', '.join(FORMAT_NAMES)}")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder to write (must not exist, unless --force)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    add_sessions_dir_argument(parser)
    chosen = parser.add_argument_group("which answers")
    chosen.add_argument("--min-tests-passed", type=_share, default=1.0, metavar="SHARE",
                        help="share of its tests an answer must pass (default 1: passing answers only; 0: any "
                        "answer with code)")
    chosen.add_argument("--models", nargs="+", default=[], metavar="NAME", help="only these models")
    chosen.add_argument("--categories", nargs="+", default=[], metavar="CAT", help="only these categories")
    chosen.add_argument("--complexity", nargs="+", default=[], type=_complexity, metavar="N",
                        help="only these complexities (1 2, or a range 1-3)")
    chosen.add_argument("--pairs", choices=("any", "same-model", "cross-model"), default="any",
                        help="DPO pairs: chosen and rejected from any models (default), the same model, or "
                        "different models")
    shape = parser.add_argument_group("what each example holds")
    shape.add_argument("--target", choices=("code", "answer"), default="code",
                       help="code: the extracted solution in a fenced block (default); answer: the model's "
                       "whole answer")
    shape.add_argument("--include-reasoning", action="store_true",
                       help="put the model's reasoning, in <think> tags, before the target")
    shape.add_argument("--kind", choices=("sft", "dpo"), default=None,
                       help="with --format hf: single answers (sft, default) or preference pairs (dpo)")
    shape.add_argument("--style", choices=("conversational", "standard"), default="conversational",
                       help="DPO rows as message lists (default) or plain strings")
    shape.add_argument("--no-dedupe", dest="dedupe", action="store_false",
                       help="keep identical targets for the same problem")
    shape.add_argument("--no-redact", dest="redact", action="store_false",
                       help="keep text that looks like a credential (not recommended)")
    split = parser.add_argument_group("train/validation split (by problem)")
    split.add_argument("--val-fraction", type=_share, default=0.0, metavar="SHARE",
                       help="share of the problems held out for validation (default 0)")
    split.add_argument("--seed", type=int, default=0, help="which problems are held out (default 0)")


def run(args: argparse.Namespace) -> int:
    from llm_solutions.export import ExportFilters, export_sessions

    filters = ExportFilters(
        min_tests_passed=args.min_tests_passed, models=tuple(args.models), categories=tuple(args.categories),
        complexity=tuple(sorted({n for group in args.complexity for n in group})), target=args.target,
        include_reasoning=args.include_reasoning, pairs=args.pairs, val_fraction=args.val_fraction,
        seed=args.seed, dedupe=args.dedupe, redact=args.redact,
    )
    result = export_sessions(args.sessions, args.format, args.out, filters=filters, output_dir=args.output_dir,
                             kind=args.kind, style=args.style, force=args.force)
    counts = result.counts
    rows = f"{counts.get('train_rows', 0)} train"
    if counts.get("validation_rows"):
        rows += f" + {counts['validation_rows']} validation"
    what = "pair(s)" if result.manifest.get("kind") == "dpo" else "example(s)"
    print(f"exported {rows} {what} from {counts.get('records', 0)} records of {counts.get('problems', 0)} "
          f"problem(s) to {result.path}")
    extras = [f"{counts[key]} {label}" for key, label in (
        ("duplicates_dropped", "duplicates dropped"), ("redactions", "credential(s) redacted"),
        ("prompts_rebuilt", "prompt(s) rebuilt from templates (schema 1.0 records)")) if counts.get(key)]
    if extras:
        print("  " + ", ".join(extras))
    print(f"  dataset card: {result.path / 'README.md'}; manifest: {result.path / 'export_manifest.json'}")
    return 0

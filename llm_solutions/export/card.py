"""What an export says about itself: the dataset card (``README.md``) and
``export_manifest.json`` (sessions, filters, counts, SHA-256 of every file).

Nothing in either depends on when or where the export ran (no clock, no absolute path),
so the same command on the same sessions writes the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from llm_solutions.export.hf import file_sha256
from llm_solutions.export.plan import ExportPlan
from llm_solutions.files import write_json_atomic

MANIFEST = "export_manifest.json"
CARD = "README.md"


def _version() -> str:
    try:
        return metadata.version("llm-solutions")
    except metadata.PackageNotFoundError:
        return "unknown"

_LOADING = {
    "chat": "Upload `train.jsonl` (and `validation.jsonl`) as a fine-tuning file: OpenAI, Together and "
            "Fireworks read `{\"messages\": [...]}` lines.",
    "trl-sft": "`datasets.load_dataset(\"json\", data_files={\"train\": \"train.jsonl\"})` gives the "
               "conversational `messages` column TRL's `SFTTrainer` takes.",
    "trl-dpo": "`datasets.load_dataset(\"json\", data_files={\"train\": \"train.jsonl\"})` gives the "
               "`prompt`, `chosen` and `rejected` columns TRL's `DPOTrainer` takes.",
    "sharegpt": "ShareGPT conversations (`from`: system, human, gpt), as LLaMA-Factory and Axolotl read them.",
    "alpaca": "Alpaca rows (`instruction`, `input`, `output`, `system`), as LLaMA-Factory reads them.",
    "hf": "`datasets.load_from_disk(\"hf\")`, or `datasets.load_dataset(\"parquet\", data_dir=\"data\")`, or "
          "`datasets.load_dataset(\"<this folder>\")`.",
}


def session_sources(plan: ExportPlan) -> list[dict[str, Any]]:
    """Each source session: id, models, start date and how many of its records were read."""
    sources = []
    for source in plan.sources:
        progress = source.store.read_json("progress.json")
        progress = progress if isinstance(progress, dict) else {}
        start = progress.get("start_time")
        started = (datetime.fromtimestamp(float(start), UTC).strftime("%Y-%m-%d")
                   if isinstance(start, (int, float)) else None)
        sources.append({
            "session": source.session_id,
            "models": sorted({f.parent.name for f in source.files}),
            "categories": sorted({f.stem for f in source.files}),
            "started": started,
        })
    return sources


def write_card(folder: Path, plan: ExportPlan, fmt: str, files: list[str], style: str) -> None:
    """The dataset card, with the YAML header the Hugging Face Hub reads."""
    counts = plan.counts
    splits = [s for s in ("train", "validation") if any(f.startswith((s, f"data/{s}")) for f in files)]
    pattern = "data/{}-*.parquet" if fmt == "hf" else "{}.jsonl"
    data_files = [(s, pattern.format(s)) for s in splits]
    header = ["---", "license: other", "license_name: model-outputs", "tags:", "- code", "- python",
              f"- {'dpo' if plan.kind == 'dpo' else 'sft'}", "configs:", "- config_name: default", "  data_files:"]
    for split, pattern in data_files:
        header += [f"  - split: {split}", f"    path: {pattern}"]
    header.append("---")
    sources = session_sources(plan)
    lines = [
        *header, "",
        f"# Python solutions from {len(plan.models)} model(s), {plan.kind.upper()} data",
        "",
        f"Exported by llm-solutions {_version()} in the `{fmt}` format"
        + (f" ({style} preference rows)" if plan.kind == "dpo" else "") + ". " + _LOADING[fmt],
        "",
        "## Sources",
        "",
        "| session | started | models | categories |",
        "|---|---|---|---|",
        *[f"| {s['session']} | {s['started'] or '?'} | {', '.join(s['models'])} | {', '.join(s['categories'])} |"
          for s in sources],
        "",
        "## Filters",
        "",
        *[f"- `{key}`: {value}" for key, value in plan.filters.to_dict().items()],
        "",
        "## Counts",
        "",
        f"- records read: {counts['records']}",
        f"- problems: {plan.problems} ({len(plan.validation)} in validation; no problem is in both splits)",
        f"- train rows: {counts['train_rows']}, validation rows: {counts['validation_rows']}",
        *[f"- {key.replace('_', ' ')}: {value}" for key, value in sorted(counts.items())
          if key not in ("records", "train_rows", "validation_rows") and value],
        "",
        "## Licence note",
        "",
        "The answers were written by the models listed above. Their providers' terms of use govern what "
        "you may do with model outputs (some forbid training competing models on them): check them before "
        "you train on or publish this data. The problems come from the collecting run's dataset and keep "
        "that dataset's licence. Anything that looked like a credential was replaced by `[REDACTED]`"
        + ("" if plan.filters.redact else " (redaction was turned off for this export)") + ".",
        "",
    ]
    if counts["prompts_rebuilt"]:
        lines[-1:-1] = ["", f"{counts['prompts_rebuilt']} example(s) come from records written before prompts were "
                        "stored (schema 1.0): their prompts were rebuilt from the prompt templates at export time."]
    (folder / CARD).write_text("\n".join(lines), encoding="utf-8")


def write_manifest(folder: Path, plan: ExportPlan, fmt: str, style: str) -> dict[str, Any]:
    """``export_manifest.json``: what was exported, from where, and each file's SHA-256."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {
        "tool": f"llm-solutions {_version()}",
        "format": fmt,
        "kind": plan.kind,
        "style": style if plan.kind == "dpo" else None,
        "sessions": session_sources(plan),
        "filters": plan.filters.to_dict(),
        "counts": {**dict(sorted(plan.counts.items())), "problems": plan.problems,
                   "validation_problems": len(plan.validation)},
        "files": {name: file_sha256(folder / name) for name in files},
    }
    write_json_atomic(folder / MANIFEST, manifest)
    return manifest

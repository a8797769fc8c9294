"""``export_sessions``: sessions in, a training-data folder out.

The folder is written under a temporary name beside ``out`` and renamed into place when
complete, so a failed or interrupted export leaves no half-written dataset, and every bad
input (unknown format, missing session, existing folder, filters that select nothing) is
refused before anything is created.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from llm_solutions.errors import ConfigError, UserError
from llm_solutions.export.card import write_card, write_manifest
from llm_solutions.export.formats import FORMATS, PAIR_FORMATS, STYLES
from llm_solutions.export.hf import ParquetSplits, require_datasets
from llm_solutions.export.plan import SPLITS, ExportPlan, iter_rows, plan_export
from llm_solutions.export.selection import ExportFilters, open_sources
from llm_solutions.files import record_line

KINDS = ("sft", "dpo")


@dataclass
class ExportResult:
    """Where an export went and what it holds (the manifest's content)."""

    path: Path
    manifest: dict[str, Any]

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.manifest["counts"])


def export_kind(fmt: str, kind: str | None) -> str:
    """``sft`` or ``dpo`` for a format: ``trl-dpo`` is pairs, ``hf`` either (``kind``)."""
    if fmt not in FORMATS:
        raise ConfigError(f"format '{fmt}' is not known; choose one of {', '.join(FORMATS)} (--format)")
    if kind is not None and kind not in KINDS:
        raise ConfigError(f"kind '{kind}' is not known; choose sft or dpo (--kind)")
    if fmt in PAIR_FORMATS:
        if kind == "sft":
            raise ConfigError(f"--format {fmt} writes preference pairs; drop --kind sft")
        return "dpo"
    if kind == "dpo" and fmt != "hf":
        raise ConfigError(f"--format {fmt} holds single answers; for preference pairs use --format trl-dpo or hf")
    return kind or "sft"


def check_out(out: Path, force: bool) -> None:
    """Refuse an output folder that exists (unless ``force``) or cannot be made."""
    if out.exists() and not force:
        raise UserError(f"{out} already exists; choose another --out or pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; choose another --out")
    parent = out.parent
    while not parent.exists() and parent.parent != parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: {parent} is not a writable folder; choose another --out")


def export_sessions(
    sessions: list[str | os.PathLike[str]] | str | os.PathLike[str],
    fmt: str,
    out: str | os.PathLike[str],
    *,
    filters: ExportFilters | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    kind: str | None = None,
    style: str = "conversational",
    force: bool = False,
) -> ExportResult:
    """Export the records of ``sessions`` as training data in format ``fmt`` into ``out``.

    ``filters`` choose the records and shape the examples (``ExportFilters``); ``kind``
    says whether ``hf`` holds SFT examples (the default) or DPO pairs; ``style`` makes DPO
    rows ``conversational`` (message lists) or ``standard`` (plain strings).  The same call
    on the same sessions writes byte-identical files.
    """
    filters = filters or ExportFilters()
    kind = export_kind(fmt, kind)
    if style not in STYLES:
        raise ConfigError(f"style '{style}' is not known; choose conversational or standard (--style)")
    if fmt == "hf":
        require_datasets()
    out = Path(out)
    check_out(out, force)
    sources = open_sources(sessions, output_dir)
    plan = plan_export(sources, filters, kind)  # raises when nothing is selected: nothing written yet
    tmp = out.with_name(f".{out.name}.export-{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        _write(tmp, plan, fmt, style)
        if out.exists():
            old = out.with_name(f".{out.name}.replaced-{os.getpid()}.tmp")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportResult(out, _read_manifest(out))


def _splits(plan: ExportPlan) -> list[str]:
    return list(SPLITS) if plan.validation else ["train"]


def _write(folder: Path, plan: ExportPlan, fmt: str, style: str) -> None:
    splits = _splits(plan)
    if fmt == "hf":
        parquet = ParquetSplits(folder, plan.kind, splits, style)
        try:
            for split, row in iter_rows(plan, fmt, style):
                parquet.write(split, row)
        finally:
            parquet.close()
    else:
        handles: dict[str, IO[str]] = {}
        try:
            for split in splits:
                # A lone surrogate in an answer is stored as a \\udXXX escape: valid UTF-8 JSON.
                handles[split] = (folder / f"{split}.jsonl").open("w", encoding="utf-8", newline="\n")
            for split, row in iter_rows(plan, fmt, style):
                handles[split].write(record_line(row))
        finally:
            for handle in handles.values():
                handle.close()
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    write_card(folder, plan, fmt, files, style)
    write_manifest(folder, plan, fmt, style)


def _read_manifest(out: Path) -> dict[str, Any]:
    import json

    from llm_solutions.export.card import MANIFEST

    data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}

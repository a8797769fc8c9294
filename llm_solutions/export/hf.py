"""The ``hf`` export: parquet files and a ``datasets`` dataset on disk, written in batches.

Rows go a batch at a time (fixed schema) to ``data/<split>-00000-of-00001.parquet``, which
the Hugging Face Hub and ``datasets.load_dataset`` read as they are, and through
``datasets``' own arrow writer to ``hf/<split>/`` with the metadata ``save_to_disk`` writes,
for ``datasets.load_from_disk``: one pass, memory flat in the number of rows.  ``datasets``
is the optional ``hf`` extra.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError

BATCH = 2000


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def require_datasets() -> None:
    """Refuse the ``hf`` format, with the fix, when ``datasets`` is not installed."""
    try:
        import datasets  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("--format hf needs the 'datasets' package; install it with: "
                          "pip install 'llm-solutions[hf]'") from None


def _schema(kind: str, style: str = "conversational") -> Any:
    import pyarrow as pa

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    if kind == "dpo":
        text = message if style == "conversational" else pa.string()
        return pa.schema([
            ("prompt", text), ("chosen", text), ("rejected", text),
            ("task_id", pa.string()), ("category", pa.string()), ("complexity", pa.int64()),
            ("chosen_model", pa.string()), ("rejected_model", pa.string()),
            ("chosen_tests_passed", pa.int64()), ("rejected_tests_passed", pa.int64()), ("tests_total", pa.int64()),
            ("chosen_session", pa.string()), ("rejected_session", pa.string()),
        ])
    return pa.schema([
        ("messages", message), ("prompt", message), ("completion", message), ("reasoning", pa.string()),
        ("task_id", pa.string()), ("model", pa.string()), ("category", pa.string()), ("complexity", pa.int64()),
        ("sample", pa.int64()), ("tests_passed", pa.int64()), ("tests_total", pa.int64()),
        ("passed_all", pa.bool_()), ("cost", pa.float64()), ("session", pa.string()),
        ("served_model", pa.string()), ("prompt_rebuilt", pa.bool_()),
    ])


class ParquetSplits:
    """Per split, a parquet file and the ``datasets`` arrow file of ``save_to_disk``, fed
    row by row and written every ``BATCH`` rows, in the export's one writing pass."""

    def __init__(self, folder: Path, kind: str, splits: Iterable[str], style: str = "conversational") -> None:
        import pyarrow.parquet as pq
        from datasets import Features
        from datasets.arrow_writer import ArrowWriter

        self.folder = folder
        self.schema = _schema(kind, style)
        self.features = Features.from_arrow_schema(self.schema)
        self.paths = {split: folder / "data" / f"{split}-00000-of-00001.parquet" for split in splits}
        folder.joinpath("data").mkdir(parents=True, exist_ok=True)
        self._parquet = {split: pq.ParquetWriter(path, self.schema, compression="zstd")
                         for split, path in self.paths.items()}
        self._arrow = {}
        for split in self.paths:
            (folder / "hf" / split).mkdir(parents=True, exist_ok=True)
            self._arrow[split] = ArrowWriter(features=self.features,
                                             path=str(folder / "hf" / split / "data-00000-of-00001.arrow"))
        self._pending: dict[str, list[dict[str, Any]]] = {split: [] for split in self.paths}

    def write(self, split: str, row: dict[str, Any]) -> None:
        pending = self._pending[split]
        pending.append({name: row.get(name) for name in self.schema.names})
        if len(pending) >= BATCH:
            self._flush(split)

    def _flush(self, split: str) -> None:
        import pyarrow as pa

        pending = self._pending[split]
        if pending:
            table = pa.Table.from_pylist(pending, schema=self.schema)
            self._parquet[split].write_table(table)
            self._arrow[split].write_table(table)
            pending.clear()

    def close(self) -> None:
        """Finish the files, and write the metadata ``load_from_disk`` reads."""

        from datasets import DatasetInfo
        from datasets.utils.py_utils import asdict

        for split in self.paths:
            self._flush(split)
            self._parquet[split].close()
            self._arrow[split].finalize()
            self._arrow[split].close()
        info = asdict(DatasetInfo(features=self.features))
        for split, path in self.paths.items():
            target = self.folder / "hf" / split
            state: dict[str, Any] = {"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                     # what datasets names a dataset's content by: here, a hash of the data
                     "_fingerprint": file_sha256(path)[:16], "_format_columns": None, "_format_kwargs": {},
                     "_format_type": None, "_output_all_columns": False, "_split": split}
            (target / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True), encoding="utf-8")
            (target / "dataset_info.json").write_text(json.dumps({key: info[key] for key in sorted(info)}, indent=2),
                                                      encoding="utf-8")
        (self.folder / "hf" / "dataset_dict.json").write_text(json.dumps({"splits": list(self.paths)}),
                                                               encoding="utf-8")

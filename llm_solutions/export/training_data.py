"""``get_training_data``: the rows an export would write, in a notebook."""

from __future__ import annotations

import os
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from llm_solutions.errors import ConfigError
from llm_solutions.export.exporter import export_kind
from llm_solutions.export.formats import STYLES
from llm_solutions.export.plan import iter_rows, plan_export
from llm_solutions.export.selection import ExportFilters, open_sources

if TYPE_CHECKING:
    import pandas as pd

FILTER_NAMES = tuple(f.name for f in fields(ExportFilters))


def get_training_data(
    sessions: list[str | os.PathLike[str]] | str | os.PathLike[str],
    format: str = "chat",
    *,
    as_dataset: bool = False,
    output_dir: str | os.PathLike[str] | None = None,
    kind: str | None = None,
    style: str = "conversational",
    **filters: Any,
) -> pd.DataFrame | Any:
    """Training rows of ``sessions`` in ``format``, as a pandas DataFrame (or a
    ``datasets.Dataset`` with ``as_dataset=True``).

    The rows are those ``llm-solutions export`` writes, with the same filters
    (``min_tests_passed``, ``models``, ``categories``, ``complexity``, ``target``,
    ``include_reasoning``, ``pairs``, ``val_fraction``, ``seed``, ``dedupe``, ``redact``),
    plus a ``split`` column (``train`` or ``validation``); ``hf`` rows also carry the
    metadata columns (model, category, complexity, tests passed, cost, session).
    """
    unknown = sorted(set(filters) - set(FILTER_NAMES))
    if unknown:
        raise ConfigError(f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTER_NAMES)}")
    if style not in STYLES:
        raise ConfigError(f"style '{style}' is not known; choose conversational or standard")
    chosen = ExportFilters(**filters)
    export_as = export_kind(format, kind)
    plan = plan_export(open_sources(sessions, output_dir), chosen, export_as)
    rows = [dict(row, split=split) for split, row in iter_rows(plan, format, style)]
    if as_dataset:
        try:
            import datasets
        except ImportError:
            raise ConfigError("as_dataset=True needs the 'datasets' package: pip install 'llm-solutions[hf]'") \
                from None
        return datasets.Dataset.from_list(rows)
    import pandas as pd

    return pd.DataFrame(rows)


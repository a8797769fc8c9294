"""Sessions as training data: ``export_sessions`` writes a folder in one of the formats
training tools read (``chat``, ``trl-sft``, ``trl-dpo``, ``sharegpt``, ``alpaca``, ``hf``),
with a dataset card and a manifest; ``get_training_data`` gives the same rows in a notebook.

Records are read through the session store's schema readers (any version, upgraded on
read), filtered, redacted, deduplicated and split by problem, in two streaming passes.
"""

from llm_solutions.export.exporter import ExportResult, export_sessions
from llm_solutions.export.formats import FORMATS
from llm_solutions.export.redaction import redact
from llm_solutions.export.selection import ExportFilters
from llm_solutions.export.training_data import get_training_data

__all__ = ["FORMATS", "ExportFilters", "ExportResult", "export_sessions", "get_training_data", "redact"]

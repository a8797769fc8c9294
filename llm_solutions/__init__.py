"""Collect code solutions from many LLM providers, check them, and store trustworthy datasets.

In a notebook::

    import llm_solutions as ls

    settings = ls.CollectionSettings(models=["offline"], quick_test=True)
    result = await ls.CollectionRunner(settings).run()
    df = ls.load_session(result.path)

Names are imported on first use, so ``import llm_solutions`` stays fast.

The packages, lowest first (imports only point down; ``tests/test_architecture.py``):
``settings`` (environment, precedence, values), ``dataset``, ``models`` (wire mapping per
SDK), ``limits`` and ``cache``, ``calls`` (the ``Caller`` every model call goes through),
``extraction`` and ``evaluation``, ``scoring`` (the ``Scorer`` every answer goes through),
``collection`` (``CollectionRunner``, sessions, rescore) and beside it ``generation``
(``generate_dataset``: new verified problem datasets), ``cli``.  The capabilities still to
come sit there too and use the same caller and scorer: ``export`` (training formats,
statistics), ``batch`` (provider batch APIs); ``report`` (the HTML report) sits above
``export``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "CollectionRunner": "llm_solutions.collection.runner",
    "RunResult": "llm_solutions.collection.runner",
    "run_collection": "llm_solutions.collection.runner",
    "CollectionSettings": "llm_solutions.collection.settings",
    "load_session": "llm_solutions.collection.session",
    "list_sessions": "llm_solutions.collection.session",
    "resume_runner": "llm_solutions.collection.session",
    "load_dataset": "llm_solutions.dataset",
    "Problem": "llm_solutions.dataset",
    "BaseModel": "llm_solutions.models.base",
    "Completion": "llm_solutions.models.base",
    "Request": "llm_solutions.models.base",
    "ModelConfig": "llm_solutions.models.config",
    "ProviderConfig": "llm_solutions.models.config",
    "load_registry": "llm_solutions.models.registry",
    "extract_code": "llm_solutions.extraction",
    "validate_code": "llm_solutions.validation",
    "pass_at_k": "llm_solutions.evaluation.passk",
    "Caller": "llm_solutions.calls",
    "CallResult": "llm_solutions.calls",
    "Budget": "llm_solutions.calls",
    "embed": "llm_solutions.collection.embeddings",
    "embed_async": "llm_solutions.collection.embeddings",
    "Embedder": "llm_solutions.calls.embedding",
    "Scorer": "llm_solutions.scoring",
    "Scored": "llm_solutions.scoring",
    "CacheSettings": "llm_solutions.cache.settings",
    "export_sessions": "llm_solutions.export",
    "get_training_data": "llm_solutions.export",
    "ExportFilters": "llm_solutions.export",
    "migrate_session": "llm_solutions.collection.migration",
    "generate_dataset": "llm_solutions.generation",
    "get_statistics": "llm_solutions.report",
    "report": "llm_solutions.report",
    "write_report": "llm_solutions.report",
    "GenerationPlan": "llm_solutions.generation",
    "GenerationSettings": "llm_solutions.generation",
    "CategorySpec": "llm_solutions.generation",
}

__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - the lazy exports, listed once


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_solutions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

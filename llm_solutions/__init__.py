"""Collect code solutions from many LLM providers, check them, and store trustworthy datasets.

In a notebook::

    import llm_solutions as ls

    settings = ls.CollectionSettings(models=["offline"], quick_test=True)
    result = await ls.CollectionRunner(settings).run()
    df = ls.load_session(result.path)

Names are imported on first use, so ``import llm_solutions`` stays fast.
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
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llm_solutions' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

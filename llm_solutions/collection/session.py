"""Sessions after the fact: list them, report their status, resume them, load their records."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_solutions.collection.records import record_spend
from llm_solutions.collection.runner import CollectionRunner
from llm_solutions.collection.settings import CollectionSettings, resolve_setting
from llm_solutions.collection.store import SessionStore, flatten_record, list_session_dirs
from llm_solutions.errors import SessionError
from llm_solutions.text import escape_surrogates

if TYPE_CHECKING:
    import pandas as pd

    from llm_solutions.models.base import BaseModel


@dataclass
class SessionInfo:
    """A session's id, status and counts, from its files."""

    session_id: str
    path: Path
    status: str
    completed: int
    total: int
    successful: int
    failed: int
    started: float | None
    cost: float
    models: list[str] = field(default_factory=list)
    stopped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["path"] = str(self.path)
        return data

    @property
    def date(self) -> str:
        return datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M") if self.started else "?"


def default_output_dir() -> Path:
    """Where sessions are: ``OUTPUT_DIR``, the config file, or ``generated``."""
    return Path(resolve_setting("output_dir"))


def session_parameters(store: SessionStore) -> dict[str, Any]:
    """The original run's parameters, from ``progress.json`` or else ``summary.json``."""
    for name, dig in (("progress.json", ("session_parameters",)),
                      ("summary.json", ("collection_metadata", "session_parameters"))):
        data: Any = store.read_json(name)
        for key in dig:
            data = data.get(key) if isinstance(data, dict) else None
        if isinstance(data, dict) and data.get("models"):
            return data
    if not store.record_files():
        raise SessionError(
            f"session {store.session_id} holds nothing yet (it stopped before its first checkpoint); start it "
            f"again with run_collection.py --session-id {store.session_id} and your original options"
        )
    raise SessionError(
        f"session {store.session_id} has no readable parameters (progress.json and summary.json are "
        "missing or damaged); start a new run with run_collection.py"
    )


def session_info(store: SessionStore) -> SessionInfo:
    """Status and counts; the counts come from the records themselves, not from progress.json."""
    progress = store.read_json("progress.json")
    progress = progress if isinstance(progress, dict) else {}
    counted = _counts_if_current(store, progress)
    if counted is not None:
        completed, successful, failed, cost, found_models = counted
    else:
        completed, successful, failed, cost, found_models = _count_records(store)
    status = progress.get("status") or ("unknown" if not completed else "interrupted")
    if status == "in_progress" and not store.in_use():
        status = "interrupted"  # its process is gone: it died without saying so
    per_model = (progress.get("current_progress") or {}).get("model_progress") or {}
    stopped = {name: str(data["stopped"]) for name, data in per_model.items()
               if isinstance(data, dict) and data.get("stopped")}
    models = progress.get("models") or found_models
    return SessionInfo(
        session_id=store.session_id,
        path=store.path,
        status=status,
        completed=completed,
        total=int(progress.get("total_tasks") or 0),
        successful=successful,
        failed=failed,
        started=progress.get("start_time"),
        cost=round(cost, 6),
        models=[str(m) for m in models],
        stopped=stopped,
    )


def _counts_if_current(store: SessionStore, progress: dict[str, Any]) -> tuple[int, int, int, float, list[str]] | None:
    """The counts ``progress.json`` holds, when the records have not changed since it was
    written (same files, sizes and times): a finished million-task session is described
    without reading a gigabyte of records."""
    current = progress.get("current_progress")
    kept = progress.get("records_fingerprint")
    if not isinstance(current, dict) or not isinstance(kept, dict) or not kept or kept != store.fingerprint():
        return None
    try:
        return (int(current["completed_tasks"]), int(current["successful_tasks"]), int(current["failed_tasks"]),
                float(current.get("total_cost") or 0.0), sorted((current.get("model_progress") or {}).keys()))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _count_records(store: SessionStore) -> tuple[int, int, int, float, list[str]]:
    """The counts from the records themselves."""
    successful = failed = 0
    seen: set[tuple[str, str, int]] = set()
    cost = 0.0
    for record in store.read_records():
        seen.add((record["task_id"], record["model"], record.get("sample", 0)))
        successful += bool(record.get("llm_call_success"))
        failed += not record.get("llm_call_success")
        cost += record_spend(record)
    return len(seen), successful, failed, cost, sorted({model for _, model, _ in seen})


def list_sessions(output_dir: str | os.PathLike[str] | None = None) -> list[SessionInfo]:
    """Every session under ``output_dir`` (default ``OUTPUT_DIR`` or ``generated``), oldest first."""
    root = Path(output_dir) if output_dir else default_output_dir()
    return [session_info(SessionStore(path)) for path in list_session_dirs(root)]


def resume_runner(
    session_id: str,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    retry_failed: bool = False,
    max_cost: float | None = None,
    show_progress: bool = False,
    models: list[BaseModel] | None = None,
    ray: str | bool | None = None,
) -> CollectionRunner:
    """A runner that continues ``session_id`` with its original parameters.

    ``models`` replaces the models named in the session (test doubles, notebooks); ``ray``
    replaces where the tests run: a Ray address (``local`` included), or ``False`` for here
    (``None`` keeps the session's own setting).
    """
    root = Path(output_dir) if output_dir else default_output_dir()
    store = SessionStore.open(root, session_id)
    stored = CollectionSettings.from_dict(session_parameters(store))
    changes: dict[str, Any] = {"session_id": store.session_id, "output_dir": str(store.path.parent)}
    if max_cost is not None:
        changes["max_cost"] = max_cost
    if ray is not None:
        changes["ray"] = ray or None
    settings = stored.copy(**changes)
    return CollectionRunner(settings, store=store, retry_failed=retry_failed, show_progress=show_progress,
                            models=models)


def load_session(
    path: str | os.PathLike[str] | list[str | os.PathLike[str]],
    output_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Records of one session or several as a pandas DataFrame, one row per record.

    ``path`` is a session folder or a session id under ``output_dir`` (default
    ``OUTPUT_DIR`` or ``generated``), or a list of them; a ``session`` column says which
    session each row came from.  ``timestamp`` is a timezone-aware datetime; nested fields
    (``validation``, ``evaluation``) stay as dicts; ``is_fully_valid`` and ``syntax_valid``
    are added as flat columns.  A lone surrogate in a text column reads as ``\\udXXX``.
    """
    import pandas as pd

    root = Path(output_dir) if output_dir else default_output_dir()
    rows: list[dict[str, Any]] = []
    for item in path if isinstance(path, list) else [path]:
        folder = Path(item)
        store = SessionStore.open(folder.parent, folder.name) if folder.is_dir() else SessionStore.open(root, str(item))
        rows.extend(_frame_row(record, store.session_id) for record in store.read_records())
    frame = pd.DataFrame(rows)
    if "timestamp" in frame:
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    return frame


def _frame_row(record: dict[str, Any], session_id: str) -> dict[str, Any]:
    # pandas keeps text columns in Arrow, which holds only valid UTF-8: a lone surrogate in
    # an answer is shown as the text \udXXX (as in the CSVs) instead of failing the load.
    row = dict(flatten_record(record), session=session_id)
    return {key: escape_surrogates(value) if isinstance(value, str) else value for key, value in row.items()}

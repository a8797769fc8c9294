"""Live progress of a session: counters per model, saved to ``progress.json``.

The JSONL records are the source of truth; this file is a view for people and tools
watching a run, rewritten atomically after each completion batch (at most once a second,
so a fast model does not spend its time rewriting JSON) and at least every 30 seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from llm_solutions.collection.records import record_spend
from llm_solutions.collection.store import SessionStore
from llm_solutions.collection.tasks import task_key

STATUSES = ("in_progress", "completed", "failed", "interrupted")
SAVE_EVERY = 30.0
MIN_SAVE_INTERVAL = 1.0


@dataclass
class ModelProgress:
    """Counters for one model."""

    completed: int = 0
    successful: int = 0
    failed: int = 0
    time_total: float = 0.0
    last_error: str | None = None
    stopped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "completed": self.completed,
            "successful": self.successful,
            "failed": self.failed,
            "avg_time": round(self.time_total / self.completed, 3) if self.completed else 0.0,
            "last_error": self.last_error,
        }
        if self.stopped:
            data["stopped"] = self.stopped
        return data


@dataclass
class ProgressTracker:
    """Counts finished tasks and writes ``progress.json``."""

    store: SessionStore
    parameters: dict[str, Any]
    models: list[str]
    categories: list[str]
    total_tasks: int
    start_time: float = field(default_factory=time.time)
    status: str = "in_progress"
    completed_keys: set[str] = field(default_factory=set)
    per_model: dict[str, ModelProgress] = field(default_factory=dict)
    total_cost: float = 0.0
    unsaved: int = 0
    _resumed_done: int = 0
    _run_started: float = field(default_factory=time.monotonic)
    _last_save: float = 0.0

    def __post_init__(self) -> None:
        for model in self.models:
            self.per_model.setdefault(model, ModelProgress())

    def add(self, record: dict[str, Any], *, existing: bool = False) -> None:
        """Count one record; ``existing`` for records found on disk at resume."""
        key = task_key(record["task_id"], record["model"], record.get("sample", 0))
        if key in self.completed_keys:
            return
        self.completed_keys.add(key)
        progress = self.per_model.setdefault(record["model"], ModelProgress())
        progress.completed += 1
        progress.time_total += float(record.get("execution_time") or 0.0)
        if record.get("llm_call_success"):
            progress.successful += 1
        else:
            progress.failed += 1
            progress.last_error = record.get("error")
        self.total_cost += record_spend(record)
        if existing:
            self._resumed_done += 1
        else:
            self.unsaved += 1

    @property
    def completed(self) -> int:
        return len(self.completed_keys)

    def estimated_completion(self) -> float | None:
        done_now = self.completed - self._resumed_done
        remaining = self.total_tasks - self.completed
        if remaining <= 0:
            return time.time()
        if done_now <= 0:
            return None
        rate = done_now / max(time.monotonic() - self._run_started, 1e-9)
        return time.time() + remaining / rate

    def to_dict(self) -> dict[str, Any]:
        successful = sum(p.successful for p in self.per_model.values())
        failed = sum(p.failed for p in self.per_model.values())
        return {
            "session_id": self.store.session_id,
            "start_time": self.start_time,
            "total_tasks": self.total_tasks,
            "models": self.models,
            "categories": self.categories,
            "status": self.status,
            "current_progress": {
                "completed_tasks": self.completed,
                "total_tasks": self.total_tasks,
                "successful_tasks": successful,
                "failed_tasks": failed,
                "total_cost": round(self.total_cost, 6),
                "model_progress": {name: p.to_dict() for name, p in self.per_model.items()},
                "completed_task_ids": self._completed_ids(),
                "estimated_completion": self.estimated_completion(),
            },
            "session_parameters": self.parameters,
            "last_saved": time.time(),
        }

    def _completed_ids(self) -> list[str]:
        # With one sample per task the ids read <task>_<model>, as the original format has
        # them; the sample suffix only appears when there are several.
        if int(self.parameters.get("samples") or 1) == 1:
            return sorted(key[:-3] if key.endswith("_s0") else key for key in self.completed_keys)
        return sorted(self.completed_keys)

    def save(self, *, force: bool = False) -> bool:
        """Write ``progress.json`` unless it was written less than a second ago."""
        now = time.monotonic()
        if not force and now - self._last_save < MIN_SAVE_INTERVAL:
            return False
        self.store.sync()
        self.store.write_json("progress.json", self.to_dict())
        self._last_save = now
        self.unsaved = 0
        return True

    def due(self, batch_size: int) -> bool:
        """True when a completion batch is full (the runner also saves every 30 s)."""
        return self.unsaved >= batch_size

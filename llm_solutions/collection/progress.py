"""Live progress of a session: counters per model, saved to ``progress.json``.

The JSONL records are the source of truth; this file is a view for people and tools
watching a run, rewritten atomically after each completion batch (at most once a second,
so a fast model does not spend its time rewriting JSON) and at least every 30 seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llm_solutions.collection.done import DoneTasks
from llm_solutions.collection.records import record_spend
from llm_solutions.collection.store import SessionStore

STATUSES = ("in_progress", "completed", "failed", "interrupted")
SAVE_EVERY = 30.0
MIN_SAVE_INTERVAL = 1.0
#: ``progress.json`` lists the completed task ids of sessions up to this size; above it the
#: list is left out (the records list them), so a checkpoint costs the same at any size.
LIST_IDS_UP_TO = 10_000


def record_sample(record: dict[str, Any]) -> int:
    """A record's sample number (0 when it has none or a damaged one)."""
    value = record.get("sample")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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
    done: DoneTasks = field(default_factory=DoneTasks)
    per_model: dict[str, ModelProgress] = field(default_factory=dict)
    total_cost: float = 0.0
    unsaved: int = 0
    # What the processes of the session did so far (see ``summaries.COUNTED``).
    counters: Callable[[], dict[str, Any]] | None = None
    _resumed_done: int = 0
    _run_started: float = field(default_factory=time.monotonic)
    _last_save: float = 0.0

    def __post_init__(self) -> None:
        for model in self.models:
            self.per_model.setdefault(model, ModelProgress())

    def add(self, record: dict[str, Any], *, existing: bool = False) -> None:
        """Count one record; ``existing`` for records found on disk at resume."""
        if not self.done.add(str(record["task_id"]), str(record["model"]), record_sample(record)):
            return
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
        return len(self.done)

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
                **self._completed_ids(),
                "estimated_completion": self.estimated_completion(),
            },
            "session_parameters": self.parameters,
            **({"counters": self.counters()} if self.counters is not None else {}),
            # What the counts above were taken from (see ``session_info``).
            "records_fingerprint": self.store.fingerprint(),
            "last_saved": time.time(),
        }

    def _completed_ids(self) -> dict[str, Any]:
        if max(self.total_tasks, self.completed) > LIST_IDS_UP_TO:
            return {"completed_task_ids_omitted": f"more than {LIST_IDS_UP_TO:,} tasks; the records list them"}
        # With one sample per task the ids read <task>_<model>, as the original format has
        # them; the sample suffix only appears when there are several.
        keys = self.done.task_keys()
        if int(self.parameters.get("samples") or 1) == 1:
            return {"completed_task_ids": sorted(key[:-3] if key.endswith("_s0") else key for key in keys)}
        return {"completed_task_ids": sorted(keys)}

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

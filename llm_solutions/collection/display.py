"""The progress display: a bar with rate and ETA on a terminal, a log line otherwise.

The bar's suffix shows the session's spend, failures, each model's progress, and each
provider's current request rate or pause as reported by the rate limiters, so a user can
tell "slow because throttled" from "slow because stuck" and see which provider holds the
run up.  While the bar is drawn, log lines are printed above it instead of through it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from llm_solutions.collection.records import record_spend

log = logging.getLogger(__name__)

LOG_EVERY = 30.0
STATUS_EVERY = 1.0


class ProgressDisplay:
    """Counts finished tasks; draws a tqdm bar when ``enabled`` and stderr is a terminal."""

    def __init__(
        self, total: int, done: int, enabled: bool, status: Callable[[], dict[str, str]] | None = None, *,
        spent: float = 0.0, failed: int = 0, per_model: dict[str, int] | None = None,
    ) -> None:
        # A resumed session starts from what its records already hold.
        self.total = total
        self.done = done
        self.failed = failed
        self.spent = spent
        self.per_model: dict[str, int] = dict(per_model or {})
        self._status = status
        self._started = time.monotonic()
        self._start_done = done
        self._last_log = self._started
        self._last_status = 0.0
        self._bar: tqdm | None = None
        self._redirect: Any = None
        if enabled and sys.stderr.isatty():
            self._bar = tqdm(total=total, initial=done, unit="task", dynamic_ncols=True, file=sys.stderr)
            self._redirect = logging_redirect_tqdm()
            self._redirect.__enter__()

    def advance(self, record: dict[str, Any]) -> None:
        """Count one finished task."""
        self.done += 1
        self.spent += record_spend(record)
        model = str(record.get("model"))
        self.per_model[model] = self.per_model.get(model, 0) + 1
        if not record.get("llm_call_success"):
            self.failed += 1
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(1)
            if now - self._last_status >= STATUS_EVERY:
                self._last_status = now
                self._bar.set_postfix_str(self._suffix(), refresh=False)
        elif now - self._last_log >= LOG_EVERY:
            self._last_log = now
            log.info("progress: %s", self.line())

    def _suffix(self) -> str:
        parts = [f"${self.spent:.4f}"]
        if self.failed:
            parts.append(f"failed {self.failed}")
        if len(self.per_model) > 1:
            parts += [f"{name} {count}" for name, count in self.per_model.items()]
        if self._status is not None:
            parts += [f"{name} {state}" for name, state in self._status().items()]
        return ", ".join(parts)

    def line(self) -> str:
        """``done/total (rate/s, ETA)`` plus provider status, as plain text."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = (self.done - self._start_done) / elapsed
        remaining = self.total - self.done
        eta = f"{remaining / rate:.0f}s" if rate > 0 else "?"
        suffix = self._suffix()
        return f"{self.done}/{self.total} ({rate:.2f}/s, ETA {eta})" + (f", {suffix}" if suffix else "")

    def close(self) -> None:
        if self._redirect is not None:
            self._redirect.__exit__(None, None, None)
            self._redirect = None
        if self._bar is not None:
            self._bar.close()

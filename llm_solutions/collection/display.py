"""The progress display: a bar with rate and ETA on a terminal, a log line otherwise.

The bar's suffix shows each provider's current request rate or pause, as reported by the
rate limiters, so a user can tell "slow because throttled" from "slow because stuck".
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)

LOG_EVERY = 30.0
STATUS_EVERY = 1.0


class ProgressDisplay:
    """Counts finished tasks; draws a tqdm bar when ``enabled`` and stderr is a terminal."""

    def __init__(
        self, total: int, done: int, enabled: bool, status: Callable[[], dict[str, str]] | None = None
    ) -> None:
        self.total = total
        self.done = done
        self.failed = 0
        self._status = status
        self._started = time.monotonic()
        self._start_done = done
        self._last_log = self._started
        self._last_status = 0.0
        self._bar: tqdm | None = None
        if enabled and sys.stderr.isatty():
            self._bar = tqdm(total=total, initial=done, unit="task", dynamic_ncols=True, file=sys.stderr)

    def advance(self, record: dict[str, Any]) -> None:
        """Count one finished task."""
        self.done += 1
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
        parts = [f"failed {self.failed}"] if self.failed else []
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
        if self._bar is not None:
            self._bar.close()

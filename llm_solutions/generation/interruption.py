"""Ctrl-C and SIGTERM while a generation runs.

The first signal stops new calls and gives the calls and verifications in flight
``GRACE_PERIOD`` seconds before they are cancelled; the run then saves its state and prints
the resume command.  A second signal exits at once: every line is whole and flushed and the
state file is replaced atomically, so leaving then damages nothing.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable

GRACE_PERIOD = 10.0  # seconds calls and verifications in flight get after Ctrl-C / SIGTERM
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interruption:
    """Signal handlers for one run: ``stop(reason, message)`` on the first signal,
    ``cancel()`` after the grace period, exit (printing ``resume_command()``) on the second."""

    def __init__(self, stop: Callable[[str, str], None], cancel: Callable[[], None],
                 resume_command: Callable[[], str], enabled: bool = True) -> None:
        self._stop = stop
        self._cancel = cancel
        self._resume_command = resume_command
        self.enabled = enabled
        self.received = False

    def _on_signal(self, signum: int) -> None:
        if self.received:
            print(f"\nstopped at once; resume with: {self._resume_command()}", file=sys.stderr)
            os._exit(130)
        self.received = True
        print("(press Ctrl-C again to exit at once)", file=sys.stderr)
        self._stop("signal", f"{signal.Signals(signum).name} received")
        asyncio.get_running_loop().call_later(GRACE_PERIOD, self._cancel)

    def install(self) -> None:
        if not self.enabled:
            return
        loop = asyncio.get_running_loop()
        for signum in _SIGNALS:
            try:
                loop.add_signal_handler(signum, self._on_signal, signum)
            except (NotImplementedError, RuntimeError, ValueError):
                self.enabled = False  # not the main thread (notebooks): no handlers
                return

    def remove(self) -> None:
        if self.enabled:
            loop = asyncio.get_running_loop()
            for signum in _SIGNALS:
                loop.remove_signal_handler(signum)

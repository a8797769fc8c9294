"""Evaluate solutions: every test of a problem in its own sandboxed process.

``Evaluator.evaluate(problem, code)`` is safe to call from many tasks at once while
collection goes on.  Each test is an asyncio subprocess and at most ``workers`` of them
run at a time (a semaphore); the event loop only waits on pipes and exit statuses.  We
use asyncio subprocesses rather than a ``ProcessPoolExecutor`` because the work already
happens in a separate, sandboxed process per test: a pool of Python workers would only
add a second hop (and pickling) in front of the same ``exec``, and a worker blocked on a
hung child could not be freed without the same process-group kill we do here anyway.

A solution's tests run one after another so that ``SandboxLimits.solution_timeout`` is a
plain sum of their durations; different solutions run in parallel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from llm_solutions.dataset import Problem
from llm_solutions.evaluation.isolation import Isolation, select_isolation
from llm_solutions.evaluation.results import (
    ERROR,
    REASON_EMPTY,
    REASON_SOLUTION_BUDGET,
    TIMEOUT,
    SolutionEvaluation,
    TestResult,
)
from llm_solutions.evaluation.sandbox import SandboxLimits, run_test

log = logging.getLogger(__name__)

# Below this many seconds left in a solution's budget a test is not started at all.
_MIN_TEST_TIME = 0.05


class Evaluator:
    """Runs problems' tests against solutions in the sandbox, ``workers`` processes at a time.

    ``isolation`` forces a mode (see ``isolation.MODES``); by default the strongest mode
    that works on this machine is probed once and used.  Call ``close()`` when done.
    """

    def __init__(
        self,
        limits: SandboxLimits | None = None,
        workers: int | None = None,
        isolation: str | None = None,
    ) -> None:
        self.limits = limits or SandboxLimits()
        self.workers = max(1, workers or os.cpu_count() or 1)
        self._preferred = isolation
        self._isolation: Isolation | None = None
        self._setup_lock = asyncio.Lock()
        self._slots = asyncio.Semaphore(self.workers)
        self._workroot: Path | None = None
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    async def isolation(self) -> Isolation:
        """The isolation mode in use, probing it on first use (off the event loop)."""
        if self._isolation is None:
            async with self._setup_lock:
                if self._isolation is None:
                    isolation = await asyncio.to_thread(select_isolation, self._preferred)
                    if isolation.uses_host_workdir:
                        self._workroot = Path(tempfile.mkdtemp(prefix="llm-solutions-sandbox-"))
                        # Traversable by the unprivileged test user; each test's own
                        # directory below it is private.
                        self._workroot.chmod(0o711)
                    self._isolation = isolation
        return self._isolation

    async def describe_isolation(self) -> dict[str, Any]:
        """The mode in use and what it contains and does not, for summary.json."""
        return (await self.isolation()).describe()

    @property
    def workroot(self) -> Path | None:
        """Where per-test working directories are made (``None`` in the bwrap mode)."""
        return self._workroot

    async def evaluate(self, problem: Problem, code: str | None) -> SolutionEvaluation:
        """Run every test of ``problem`` against ``code``; an empty solution starts no process."""
        if self._closed:
            raise RuntimeError("Evaluator is closed")
        started = time.monotonic()
        if code is None or not code.strip():
            return SolutionEvaluation(
                task_id=problem.task_id,
                tests=[
                    TestResult(index=i, status=ERROR, reason=REASON_EMPTY, exc_type="EmptySolution",
                               message="no code was extracted from the answer")
                    for i in range(len(problem.tests))
                ],
                isolation="none",
            )
        self._active += 1
        self._idle.clear()
        try:
            isolation = await self.isolation()
            tests: list[TestResult] = []
            spent = 0.0
            for index, case in enumerate(problem.tests):
                remaining = self.limits.solution_timeout - spent
                if remaining < _MIN_TEST_TIME:
                    tests.append(
                        TestResult(index=index, status=TIMEOUT, reason=REASON_SOLUTION_BUDGET,
                                   message=f"not run: the solution's {self.limits.solution_timeout:g} s "
                                           "budget was used up by earlier tests")
                    )  # fmt: skip
                    continue
                async with self._slots:
                    result = await run_test(
                        isolation,
                        self.limits,
                        code,
                        case.ctx,
                        case.assertion,
                        index=index,
                        timeout=min(self.limits.test_timeout, remaining),
                        workroot=self._workroot,
                    )
                spent += result.duration
                tests.append(result)
            return SolutionEvaluation(
                task_id=problem.task_id,
                tests=tests,
                isolation=isolation.mode,
                duration=time.monotonic() - started,
            )
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def close(self) -> None:
        """Refuse new work, wait for running evaluations, and remove the work root."""
        self._closed = True
        await self._idle.wait()
        if self._workroot is not None:
            shutil.rmtree(self._workroot, ignore_errors=True)
            self._workroot = None

    async def __aenter__(self) -> Evaluator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

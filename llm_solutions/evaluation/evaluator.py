"""Evaluate solutions: every test of a problem in a fresh process of a warm sandbox.

``Evaluator.evaluate(problem, code)`` is safe to call from many tasks at once while
collection goes on.  The evaluator keeps up to ``workers`` sandboxes (long-lived test
servers, ``sandbox.py``), started on first use and reused; each runs one test at a time,
in a process forked for that test alone, so no state passes from one test to the next
while the cost of starting an interpreter in a new sandbox is paid once per worker, not
once per test.  The event loop only waits on pipes.

A solution's tests run one after another so that ``SandboxLimits.solution_timeout`` is a
plain sum of their durations; different solutions run in parallel.

``SolutionEvaluator`` is what the scorer, rescoring and generation's verification need of
an evaluator; ``open_evaluator`` gives this local one, or with ``ray`` set the
``cluster.RayEvaluator`` that runs this same evaluator on every node of a Ray cluster.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

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
from llm_solutions.evaluation.sandbox import Sandbox, SandboxLimits, SandboxLost, lost_result

log = logging.getLogger(__name__)

# Below this many seconds left in a solution's budget a test is not started at all.
_MIN_TEST_TIME = 0.05


class SolutionEvaluator(Protocol):
    """What callers need of an evaluator, local (``Evaluator``) or on Ray (``RayEvaluator``)."""

    async def evaluate(self, problem: Problem, code: str | None) -> SolutionEvaluation:
        """Every test of ``problem`` run against ``code``."""
        ...

    async def describe_isolation(self) -> dict[str, Any]:
        """The isolation in use (probing or connecting first); fails early when there is none."""
        ...

    def summary(self) -> dict[str, Any]:
        """What ``summary.json`` records about how solutions were evaluated."""
        ...

    def status(self) -> dict[str, str]:
        """Short live figures for a progress bar (none for a local evaluator)."""
        ...

    @property
    def capacity(self) -> int:
        """Solutions that can be evaluated at once."""
        ...

    async def close(self) -> None:
        """Stop the sandboxes (and whatever else was started)."""
        ...


def open_evaluator(limits: SandboxLimits | None = None, *, workers: int | None = None, ray: str | None = None,
                   isolation: str | None = None) -> SolutionEvaluator:
    """A local ``Evaluator`` with ``workers`` sandboxes, or with ``ray`` (``local`` or a
    cluster's address) a ``RayEvaluator`` with one sandbox per CPU of every node; Ray is
    imported only then (a missing Ray is a ``ConfigError`` naming the extra)."""
    if ray is None:
        return Evaluator(limits=limits, workers=workers, isolation=isolation)
    from llm_solutions.evaluation.cluster import RayEvaluator
    from llm_solutions.evaluation.connection import import_ray

    import_ray()
    return RayEvaluator(limits, ray, isolation=isolation)


class Evaluator:
    """Runs problems' tests against solutions in sandboxes, ``workers`` tests at a time.

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
        self._idle: asyncio.Queue[Sandbox] = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.workers)
        self._all: set[Sandbox] = set()
        self._workroot: Path | None = None
        self._active = 0
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._closed = False

    async def isolation(self) -> Isolation:
        """The isolation mode in use, probing it on first use (off the event loop)."""
        if self._isolation is None:
            async with self._setup_lock:
                if self._isolation is None:
                    isolation = await asyncio.to_thread(select_isolation, self._preferred)
                    if isolation.uses_host_workdir:
                        self._workroot = Path(tempfile.mkdtemp(prefix="llm-solutions-sandbox-"))
                        # Traversable by the unprivileged test user; each sandbox's own
                        # directory below it is private.
                        self._workroot.chmod(0o711)
                    self._isolation = isolation
        return self._isolation

    async def describe_isolation(self) -> dict[str, Any]:
        """The mode in use and what it contains and does not, for summary.json."""
        return (await self.isolation()).describe()

    def summary(self) -> dict[str, Any]:
        """``describe_isolation()`` for ``summary.json`` (probing now if not yet done)."""
        return (self._isolation or select_isolation(self._preferred)).describe()

    def status(self) -> dict[str, str]:
        """Nothing: a local run's progress bar needs no evaluator figures."""
        return {}

    @property
    def capacity(self) -> int:
        """Sandboxes: solutions evaluated at once."""
        return self.workers

    @property
    def workroot(self) -> Path | None:
        """Where the sandboxes' working directories are made (``None`` in the bwrap mode)."""
        return self._workroot

    async def _sandbox(self) -> Sandbox:
        """An idle sandbox, started now if there is none (the caller holds a slot)."""
        while not self._idle.empty():
            sandbox = self._idle.get_nowait()
            if sandbox.alive:
                return sandbox
            await self._retire(sandbox)
        sandbox = Sandbox(await self.isolation(), self.limits, self._workroot)
        await sandbox.start()
        self._all.add(sandbox)
        return sandbox

    async def _retire(self, sandbox: Sandbox) -> None:
        self._all.discard(sandbox)
        await sandbox.close()

    async def _run(self, problem: Problem, code: str, index: int, timeout: float) -> TestResult:
        case = problem.tests[index]
        async with self._slots:
            try:
                sandbox = await self._sandbox()
            except SandboxLost as e:
                return lost_result(index, e)
            try:
                result = await sandbox.run(code, case.ctx, case.assertion, index=index, timeout=timeout,
                                           strict=case.strict)
            except SandboxLost as e:
                log.warning("%s test %d: %s; starting a new sandbox", problem.task_id, index, e)
                await self._retire(sandbox)
                return lost_result(index, e)
            except BaseException:
                await self._retire(sandbox)  # cancelled mid-test: its state is unknown
                raise
            self._idle.put_nowait(sandbox)
            return result

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
        self._quiet.clear()
        try:
            isolation = await self.isolation()
            tests: list[TestResult] = []
            spent = 0.0
            for index in range(len(problem.tests)):
                remaining = self.limits.solution_timeout - spent
                if remaining < _MIN_TEST_TIME:
                    tests.append(
                        TestResult(index=index, status=TIMEOUT, reason=REASON_SOLUTION_BUDGET,
                                   message=f"not run: the solution's {self.limits.solution_timeout:g} s "
                                           "budget was used up by earlier tests")
                    )
                    continue
                result = await self._run(problem, code, index, min(self.limits.test_timeout, remaining))
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
                self._quiet.set()

    async def close(self) -> None:
        """Refuse new work, wait for running evaluations, stop the sandboxes, remove the work root."""
        self._closed = True
        await self._quiet.wait()
        sandboxes, self._all = list(self._all), set()
        await asyncio.gather(*(sandbox.close() for sandbox in sandboxes), return_exceptions=True)
        while not self._idle.empty():
            self._idle.get_nowait()
        if self._workroot is not None:
            shutil.rmtree(self._workroot, ignore_errors=True)
            self._workroot = None

    async def __aenter__(self) -> Evaluator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

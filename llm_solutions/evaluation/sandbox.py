"""One sandbox: a long-lived test server in the selected isolation, driven without blocking.

``Sandbox.run`` sends one test to the server (``harness.py``) and turns its answer into a
``TestResult``.  The server runs every test in a fresh forked process with its own time
limit; this side keeps an outer deadline, so a server that stops answering (killed by
the memory cap, or hung) is killed with everything in it and reported, and the next test
gets a new sandbox.  Where cgroups are available the sandbox runs in a group of its own
(``cgroups.py``) that caps the memory and processes of the test it is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_solutions.evaluation.cgroups import SandboxGroup
from llm_solutions.evaluation.isolation import Isolation, cgroup_support
from llm_solutions.evaluation.results import (
    ERROR,
    FAILED,
    PASSED,
    REASON_CPU_TIME,
    REASON_MEMORY,
    REASON_NO_RESULT,
    REASON_SANDBOX,
    REASON_SIGNAL,
    REASON_WALL_TIME,
    TIMEOUT,
    TestResult,
)

_TRUNCATION_MARKER = "\n[... output truncated: {dropped} more bytes ...]\n"
_START_TIMEOUT = 30.0  # seconds a new sandbox may take to say it is ready
_ANSWER_GRACE = 10.0  # beyond the test's own time limit, before the server counts as lost
_SERVER_MEMORY = 96 << 20  # what the test server itself needs inside the cap
_SERVER_PROCESSES = 8
_LINE_LIMIT = 16 << 20  # the longest answer line read from a server


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one test (and the time budget of one solution's tests)."""

    test_timeout: float = 10.0  # wall seconds per test
    solution_timeout: float = 60.0  # wall seconds for all tests of one solution together
    memory_bytes: int = 1 << 30  # RLIMIT_AS per process, and the sandbox's memory cap
    max_processes: int = 64  # RLIMIT_NPROC (threads count too), and the sandbox's pids cap
    max_file_bytes: int = 16 << 20  # RLIMIT_FSIZE
    max_open_files: int = 256  # RLIMIT_NOFILE
    output_bytes: int = 64 << 10  # kept per stream; the rest is counted and dropped
    scratch_bytes: int = 64 << 20  # size of the private tmpfs /tmp and /dev/shm

    def __post_init__(self) -> None:
        if not (self.test_timeout > 0 and self.solution_timeout > 0):
            raise ValueError("sandbox time limits must be positive")
        if min(self.memory_bytes, self.max_processes, self.max_file_bytes, self.max_open_files) <= 0:
            raise ValueError("sandbox resource limits must be positive")

    def rlimits(self, timeout: float, mode: str) -> dict[str, int]:
        """The rlimits a test process sets on itself for a test of ``timeout`` seconds."""
        limits = {
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": max(1, math.ceil(timeout)),
            "max_file_bytes": self.max_file_bytes,
            "max_open_files": self.max_open_files,
            "core_bytes": 0,
        }
        # Without a user namespace or a user of its own, RLIMIT_NPROC would count every
        # process of the parent's user on the machine, so it is left out there.
        if mode != "rlimits":
            limits["max_processes"] = self.max_processes
        return limits


class SandboxLost(Exception):
    """The test server died or stopped answering; the test's result is unknown."""


class Sandbox:
    """One test server; ``start``, then ``run`` tests one at a time, then ``close``."""

    def __init__(self, isolation: Isolation, limits: SandboxLimits, workroot: Path | None) -> None:
        self.isolation = isolation
        self.limits = limits
        self.workroot = workroot
        self.home: Path | None = None
        self.group: SandboxGroup | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: asyncio.Task[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the server and wait until it says it is ready."""
        if self.isolation.uses_host_workdir:
            self.home = Path(tempfile.mkdtemp(prefix="sandbox-", dir=self.workroot))
            self.isolation.prepare_workdir(self.home)
        argv = self.isolation.server_command(self.home, self.limits.scratch_bytes)
        support, _ = cgroup_support()
        if support is not None:
            try:
                self.group = support.create(self.limits.memory_bytes + _SERVER_MEMORY,
                                            self.limits.max_processes + _SERVER_PROCESSES)
                argv = self.group.wrap(argv)
            except OSError:
                self.group = None  # fall back to the rlimits; describe() already says so
        self._process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.isolation.environment(self.home),
            cwd=str(self.home) if self.home else "/",
            start_new_session=True,
            limit=_LINE_LIMIT,
            **self.isolation.popen_options(),
        )
        assert self._process.stderr is not None
        self._stderr = asyncio.create_task(self._process.stderr.read(64 << 10))
        try:
            hello = await self._answer(_START_TIMEOUT)
        except SandboxLost:
            detail = await self._stderr_tail()
            await self.close()
            raise SandboxLost(f"the {self.isolation.mode} sandbox did not start: {detail}") from None
        if not hello.get("ready"):
            await self.close()
            raise SandboxLost(f"the {self.isolation.mode} sandbox said {hello!r} instead of ready")

    async def run(self, code: str, ctx: str, assertion: str, *, index: int, timeout: float,
                  strict: bool = True) -> TestResult:
        """Run one test; ``SandboxLost`` when the server died or stopped answering."""
        if not self.alive or self._process is None or self._process.stdin is None:
            raise SandboxLost("the sandbox is not running")
        request = {
            "code": code, "ctx": ctx, "assertion": assertion, "strict": strict, "timeout": timeout,
            "limits": self.limits.rlimits(timeout, self.isolation.mode), "output_bytes": self.limits.output_bytes,
        }
        kills_before = self.group.oom_kills() if self.group is not None else 0
        started = time.monotonic()
        try:
            self._process.stdin.write((json.dumps(request) + "\n").encode())
            await self._process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise SandboxLost("the sandbox's server has exited") from None
        answer = await self._answer(timeout + _ANSWER_GRACE)
        killed_by_cap = self.group is not None and self.group.oom_kills() > kills_before
        return _test_result(answer, index, self.isolation.mode, timeout, killed_by_cap,
                            fallback_duration=time.monotonic() - started)

    async def _answer(self, timeout: float) -> dict[str, Any]:
        assert self._process is not None and self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), timeout)
        except (TimeoutError, ValueError, asyncio.LimitOverrunError):
            await self.kill()
            raise SandboxLost("the sandbox stopped answering") from None
        if not line:
            await self.kill()
            raise SandboxLost("the sandbox's server has exited")
        try:
            data = json.loads(line)
        except ValueError:
            await self.kill()
            raise SandboxLost("the sandbox answered something that is not a result") from None
        if not isinstance(data, dict):
            await self.kill()
            raise SandboxLost("the sandbox answered something that is not a result")
        return data

    async def _stderr_tail(self) -> str:
        if self._stderr is None:
            return "no output"
        with contextlib.suppress(asyncio.TimeoutError):
            data = await asyncio.wait_for(asyncio.shield(self._stderr), 1.0)
            lines = data.decode(errors="replace").strip().splitlines()
            return lines[-1] if lines else "no output"
        return "no output"

    async def kill(self) -> None:
        """Kill the server and everything in its session at once."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def close(self) -> None:
        """Stop the server (end of input makes it exit), then remove what it used."""
        process = self._process
        if process is not None and process.returncode is None and process.stdin is not None:
            process.stdin.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 2.0)
        await self.kill()
        if self._stderr is not None:
            self._stderr.cancel()
        if self.group is not None:
            await asyncio.to_thread(self.group.remove)
            self.group = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def _output(answer: dict[str, Any], name: str) -> tuple[str, bool]:
    text = str(answer.get(name) or "")
    dropped = int(answer.get(name + "_dropped") or 0)
    if dropped > 0:
        return text + _TRUNCATION_MARKER.format(dropped=dropped), True
    return text, False


def _classify(answer: dict[str, Any], mode: str, timeout: float, killed_by_cap: bool) -> dict[str, Any]:
    """Status, reason and exception fields from the server's answer."""
    status = answer.get("status")
    if status in (PASSED, FAILED, ERROR):
        fields: dict[str, Any] = {
            "status": status,
            "phase": answer.get("phase"),
            "exc_type": answer.get("exc_type"),
            "message": str(answer.get("message") or ""),
            "traceback": str(answer.get("traceback") or ""),
            "reason": answer.get("reason"),
        }
        if fields["exc_type"] == "MemoryError":
            fields["reason"] = REASON_MEMORY
        return fields
    if killed_by_cap:
        return {"status": ERROR, "reason": REASON_MEMORY, "exc_type": "MemoryError",
                "message": "killed by the sandbox's memory cap"}
    if answer.get("timed_out"):
        return {"status": TIMEOUT, "reason": REASON_WALL_TIME, "message": f"killed after {timeout:g} s"}
    sig = answer.get("signal")
    if sig in (signal.SIGXCPU, signal.SIGKILL):
        # Nothing of ours sends SIGKILL before the wall-clock limit; the kernel does at the
        # CPU hard limit (and the OOM killer would, which the caps keep away).
        return {"status": TIMEOUT, "reason": REASON_CPU_TIME, "message": "CPU time limit exceeded"}
    if isinstance(sig, int):
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return {"status": ERROR, "reason": REASON_SIGNAL, "exc_type": name, "message": f"killed by signal {name}"}
    if "MemoryError" in str(answer.get("stderr") or ""):
        return {"status": ERROR, "reason": REASON_MEMORY, "exc_type": "MemoryError", "message": "out of memory"}
    return {
        "status": ERROR,
        "reason": REASON_NO_RESULT,
        "exc_type": "NoResult",
        "message": f"the process exited with code {answer.get('returncode')} before the test finished",
    }


def _test_result(answer: dict[str, Any], index: int, mode: str, timeout: float, killed_by_cap: bool,
                 fallback_duration: float) -> TestResult:
    stdout, stdout_truncated = _output(answer, "stdout")
    stderr, stderr_truncated = _output(answer, "stderr")
    fields = _classify(answer, mode, timeout, killed_by_cap)
    duration = answer.get("duration")
    returncode = answer.get("returncode")
    if answer.get("signal") is not None:
        returncode = -int(answer["signal"])
    return TestResult(
        index=index,
        duration=round(float(duration) if isinstance(duration, (int, float)) else fallback_duration, 4),
        stdout=stdout,
        stderr=stderr,
        stdout_truncated=stdout_truncated,
        stderr_truncated=stderr_truncated,
        returncode=returncode if isinstance(returncode, int) else None,
        **fields,
    )


def lost_result(index: int, error: SandboxLost) -> TestResult:
    """The result of a test whose sandbox died under it."""
    return TestResult(index=index, status=ERROR, reason=REASON_SANDBOX, exc_type="SandboxLost", message=str(error))

"""Run one test of one solution in a sandboxed process, without blocking the event loop.

``run_test`` starts ``harness.py`` wrapped by the selected ``Isolation`` as an asyncio
subprocess, feeds it the solution, ``ctx`` and assertion on stdin, keeps at most
``SandboxLimits.output_bytes`` of each output stream (draining the rest so the child never
blocks on a full pipe), kills the whole process group when the time is up, and turns
what happened into a ``TestResult``.  The harness reports through a separate pipe, with a
per-run nonce, so only a test that really reached the end of its assertion passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_solutions.evaluation.isolation import Isolation
from llm_solutions.evaluation.protocol import RESULT_BYTES, encode_payload, new_nonce, parse_result
from llm_solutions.evaluation.results import (
    ERROR,
    FAILED,
    PASSED,
    REASON_CPU_TIME,
    REASON_MEMORY,
    REASON_NO_RESULT,
    REASON_SIGNAL,
    REASON_WALL_TIME,
    TIMEOUT,
    TestResult,
)

# After the test process ends, how long its output pipes may stay open (a grandchild
# holding them in the weaker modes) before we stop reading.
_DRAIN_GRACE = 1.0
_TRUNCATION_MARKER = "\n[... output truncated: {dropped} more bytes ...]\n"


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one test process (and the time budget of one solution's tests)."""

    test_timeout: float = 10.0  # wall seconds per test
    solution_timeout: float = 60.0  # wall seconds for all tests of one solution together
    memory_bytes: int = 1 << 30  # RLIMIT_AS
    max_processes: int = 64  # RLIMIT_NPROC (threads count too)
    max_file_bytes: int = 16 << 20  # RLIMIT_FSIZE
    max_open_files: int = 256  # RLIMIT_NOFILE
    output_bytes: int = 64 << 10  # kept per stream; the rest is counted and dropped
    scratch_bytes: int = 64 << 20  # size of the private tmpfs working directory (bwrap)

    def __post_init__(self) -> None:
        if self.test_timeout <= 0 or self.solution_timeout <= 0:
            raise ValueError("sandbox time limits must be positive")
        if min(self.memory_bytes, self.max_processes, self.max_file_bytes, self.max_open_files) <= 0:
            raise ValueError("sandbox resource limits must be positive")

    def rlimits(self, timeout: float, mode: str) -> dict[str, int]:
        """The rlimits the harness sets on itself for a test of ``timeout`` seconds."""
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


class _Sink:
    """What was read from one pipe: the first ``limit`` bytes and how many there were."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    async def drain(self, reader: asyncio.StreamReader, stop_at_newline: bool = False) -> None:
        """Read until EOF (or the first newline); whatever arrived stays here if cancelled."""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            self.total += len(chunk)
            if len(self.kept) < self.limit:
                self.kept += chunk[: self.limit - len(self.kept)]
            if stop_at_newline and b"\n" in self.kept:
                return

    def text(self) -> tuple[str, bool]:
        """The text kept, with a truncation marker when bytes were dropped."""
        text = self.kept.decode("utf-8", errors="replace")
        if self.total > len(self.kept):
            return text + _TRUNCATION_MARKER.format(dropped=self.total - len(self.kept)), True
        return text, False


class _ExitAwareProtocol(asyncio.subprocess.SubprocessStreamProtocol):
    """Tells when the process exits, even while something it started still holds its pipes.

    ``Process.wait()`` returns only once every pipe is closed, so a daemon that escaped
    the process group (possible in the weaker modes) would make a finished test look hung.
    """

    def __init__(self, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=limit, loop=loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    try:
        stream.write(data)
        await stream.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the process died before reading its input; its exit status tells why
    finally:
        stream.close()


async def _open_result_pipe(read_fd: int) -> tuple[asyncio.StreamReader, asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=RESULT_BYTES)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    return reader, transport


async def _start(
    argv: list[str], **options: Any
) -> tuple[asyncio.subprocess.Process, _ExitAwareProtocol, asyncio.SubprocessTransport]:
    """``asyncio.create_subprocess_exec`` with a protocol that reports the exit itself."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _ExitAwareProtocol(limit=65536, loop=loop),
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        **options,
    )
    return asyncio.subprocess.Process(transport, protocol, loop), protocol, transport


def _signal_of(returncode: int | None, mode: str) -> int | None:
    if returncode is None:
        return None
    if returncode < 0:
        return -returncode
    # bwrap reports a command killed by signal N as exit status 128 + N.
    if mode == "bwrap" and returncode > 128:
        return returncode - 128
    return None


def _classify(
    result: dict[str, Any] | None,
    timed_out: bool,
    returncode: int | None,
    mode: str,
    stderr: str,
    timeout: float,
) -> dict[str, Any]:
    """Status, reason and exception fields from what the process did."""
    if result is not None:
        status = result.get("status")
        if status not in (PASSED, FAILED, ERROR):
            status = ERROR
        fields: dict[str, Any] = {
            "status": status,
            "phase": result.get("phase"),
            "exc_type": result.get("exc_type"),
            "message": str(result.get("message") or ""),
            "traceback": str(result.get("traceback") or ""),
        }
        if fields["exc_type"] == "MemoryError":
            fields["reason"] = REASON_MEMORY
        return fields
    if timed_out:
        return {"status": TIMEOUT, "reason": REASON_WALL_TIME, "message": f"killed after {timeout:g} s"}
    sig = _signal_of(returncode, mode)
    if sig in (signal.SIGXCPU, signal.SIGKILL):
        # Nothing of ours sends SIGKILL before the wall-clock limit; the kernel does at the
        # CPU hard limit (and the OOM killer would, which the rlimit keeps away).
        return {"status": TIMEOUT, "reason": REASON_CPU_TIME, "message": "CPU time limit exceeded"}
    if sig is not None:
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        return {"status": ERROR, "reason": REASON_SIGNAL, "exc_type": name, "message": f"killed by signal {name}"}
    if "MemoryError" in stderr:
        return {"status": ERROR, "reason": REASON_MEMORY, "exc_type": "MemoryError", "message": "out of memory"}
    return {
        "status": ERROR,
        "reason": REASON_NO_RESULT,
        "exc_type": "NoResult",
        "message": f"the process exited with code {returncode} before the test finished",
    }


async def run_test(
    isolation: Isolation,
    limits: SandboxLimits,
    code: str,
    ctx: str,
    assertion: str,
    *,
    index: int = 0,
    timeout: float | None = None,
    workroot: Path | None = None,
) -> TestResult:
    """Run ``code``, then ``ctx``, then ``assertion`` in one fresh sandboxed process.

    ``timeout`` (default ``limits.test_timeout``) bounds the wall time; ``workroot`` is
    where the per-test working directory is made (and removed) in modes that need one.
    """
    timeout = limits.test_timeout if timeout is None else timeout
    nonce = new_nonce()
    payload = encode_payload(nonce, code, ctx, assertion, limits.rlimits(timeout, isolation.mode))
    workdir: Path | None = None
    if isolation.uses_host_workdir:
        workdir = Path(tempfile.mkdtemp(prefix="test-", dir=workroot))
        isolation.prepare_workdir(workdir)
    read_fd, write_fd = os.pipe()
    proc: asyncio.subprocess.Process | None = None
    transport: asyncio.SubprocessTransport | None = None
    result_transport: asyncio.BaseTransport | None = None
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    try:
        try:
            proc, protocol, transport = await _start(
                isolation.command(workdir, write_fd, limits.scratch_bytes),
                pass_fds=(write_fd,),
                env=isolation.environment(workdir),
                cwd=str(workdir) if workdir else "/",
                start_new_session=True,
                **isolation.popen_options(),
            )
        finally:
            os.close(write_fd)
        result_reader, result_transport = await _open_result_pipe(read_fd)
        read_fd = -1
        assert proc.stdout is not None and proc.stderr is not None
        out, err, raw = _Sink(limits.output_bytes), _Sink(limits.output_bytes), _Sink(RESULT_BYTES)
        tasks = [
            asyncio.create_task(_feed(proc.stdin, payload)),
            asyncio.create_task(out.drain(proc.stdout)),
            asyncio.create_task(err.drain(proc.stderr)),
            asyncio.create_task(raw.drain(result_reader, stop_at_newline=True)),
        ]
        timed_out = False
        try:
            await asyncio.wait_for(protocol.exited.wait(), timeout)
        except TimeoutError:
            timed_out = True
        duration = time.monotonic() - started
        # Also ends anything the test left behind in its process group.
        _kill_group(proc.pid)
        await protocol.exited.wait()
        # Output still in the pipes arrives quickly; a pipe held open by an escaped
        # process does not close at all, so wait only a moment and keep what came.
        await asyncio.wait(tasks, timeout=_DRAIN_GRACE)
        stdout, stdout_truncated = out.text()
        stderr, stderr_truncated = err.text()
        result = parse_result(bytes(raw.kept), nonce)
        fields = _classify(result, timed_out, proc.returncode, isolation.mode, stderr, timeout)
        return TestResult(
            index=index,
            duration=round(duration, 4),
            stdout=stdout,
            stderr=stderr,
            stdout_truncated=stdout_truncated,
            stderr_truncated=stderr_truncated,
            returncode=proc.returncode,
            **fields,
        )
    finally:
        for task in tasks:
            task.cancel()
        if proc is not None and proc.returncode is None:
            _kill_group(proc.pid)  # cancelled: never leave a test running
        if transport is not None:
            # Closes our ends of the pipes even if an escaped process still holds theirs.
            transport.close()
        if result_transport is not None:
            result_transport.close()
        if read_fd >= 0:
            os.close(read_fd)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

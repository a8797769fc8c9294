"""Inside the sandbox: a test server that runs each test in a fresh forked process.

Started once per sandbox as ``python -I -B -c <guard.py + this file> HOME [PIDNS]`` (stdlib
only: the sandbox cannot see the project).  Starting an interpreter in a new sandbox is
most of what a test used to cost; forking this already-started server costs about a
millisecond, and the server itself never runs solution code, so no state passes from one
test to the next: each test gets a new process, a new working directory and an empty
``/tmp``, and everything it started is killed before the next one begins.

Protocol: one JSON object per line.  The server first writes ``{"ready": ...}``; then, for
each request line on stdin::

    {"code": ..., "ctx": ..., "assertion": ..., "strict": true, "limits": {...},
     "timeout": 10.0, "output_bytes": 65536}

it writes one result line: ``status``, ``phase``, ``exc_type``, ``message``, ``traceback``,
``reason``, ``stdout``/``stderr`` (at most ``output_bytes`` each, with the dropped byte
counts), ``returncode``, ``signal``, ``timed_out`` and ``duration``.  The test process gets
its own stdin (empty), stdout and stderr pipes and a report pipe; the server's own
protocol pipes are closed in it, and the server makes itself non-dumpable so a test cannot
reach them through ``/proc``.  In a pid namespace (``PIDNS``) the server is pid 1: a test
cannot kill it, and every process a test leaves behind is killed after it.
"""

import json
import os
import resource
import selectors
import shutil
import signal
import sys
import time

_TRACEBACK_CHARS = 4000
_MESSAGE_CHARS = 1000
_REPORT_BYTES = 64 << 10
_DRAIN_GRACE = 0.5  # how long output pipes may stay open after the test process ended
_LIMITS = {
    "memory_bytes": resource.RLIMIT_AS,
    "cpu_seconds": resource.RLIMIT_CPU,
    "max_processes": resource.RLIMIT_NPROC,
    "max_file_bytes": resource.RLIMIT_FSIZE,
    "max_open_files": resource.RLIMIT_NOFILE,
    "core_bytes": resource.RLIMIT_CORE,
}


def _apply_limits(limits):
    """Lower this process's rlimits; children inherit them and cannot raise them again."""
    for key, which in _LIMITS.items():
        value = limits.get(key)
        if value is None:
            continue
        _, hard = resource.getrlimit(which)
        # Never ask for more than the current hard limit: that would fail with EPERM.
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # The CPU hard limit sits one second above the soft one so SIGXCPU arrives first.
        new_hard = value + 1 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            new_hard = min(new_hard, hard)
        resource.setrlimit(which, (value, new_hard))


def _describe(exc, phase, status, sources):
    import linecache
    import traceback

    # Lets the traceback show the lines of the solution and the test.
    for name, source in sources.items():
        filename = "<" + name + ">"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = str(exc)
    if not message:
        # A bare ``assert x == y`` says nothing; the failing line does.
        frames = traceback.extract_tb(exc.__traceback__)
        message = (frames[-1].line or "") if frames else ""
    return {
        "status": status,
        "phase": phase,
        "exc_type": type(exc).__name__,
        "message": message[:_MESSAGE_CHARS],
        "traceback": text[-_TRACEBACK_CHARS:],
    }


def _test_process(request, workdir, out_w, err_w, report_w, token):
    """The forked test process: set up, run the phases, report, leave without cleanup.

    The report carries ``token``, fresh for each test, so a line the solution writes to
    the report pipe on its own (say, to every descriptor it can guess) does not count.
    """
    try:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        # Nothing of the server's survives here but the report pipe (not inheritable).
        os.closerange(3, report_w)
        os.closerange(report_w + 1, 1 << 16)
        os.set_inheritable(report_w, False)
        for number in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(number, signal.SIG_DFL)
        os.chdir(workdir)
        try:
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write("1000")  # under a memory cap, the test dies before the server
        except OSError:
            pass
        import sys

        for stream in (sys.stdout, sys.stderr):
            # Printing a lone surrogate must not be what fails a test.
            stream.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
        _apply_limits(request.get("limits") or {})
        sources = {phase: str(request.get(phase) or "") for phase in ("code", "ctx", "assertion")}
        # run_phases comes from guard.py, which is sent to the sandbox ahead of this file.
        outcome = run_phases(sources, _describe, bool(request.get("strict", True)))  # type: ignore[name-defined]  # noqa: F821
        report = {str(k): str(v) for k, v in outcome.items() if v is not None}
        report["token"] = token
        line = (json.dumps(report) + "\n").encode()
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()  # type: ignore[union-attr]
            except BaseException:  # noqa: BLE001, S110 - the solution may have closed or replaced it
                pass
        os.write(report_w, line)
    finally:
        # Skip interpreter shutdown: threads or atexit hooks left by the solution must not
        # delay or alter a result that is already written.
        os._exit(0)


class _Stream:
    """What arrived on one pipe: the first ``limit`` bytes and how many there were."""

    def __init__(self, fd, limit):
        self.fd = fd
        self.limit = limit
        self.kept = bytearray()
        self.total = 0
        self.open = True

    def read(self):
        try:
            chunk = os.read(self.fd, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.open = False
            return
        self.total += len(chunk)
        if len(self.kept) < self.limit:
            self.kept += chunk[: self.limit - len(self.kept)]


def _watch(streams):
    selector = selectors.DefaultSelector()
    for stream in streams:
        os.set_blocking(stream.fd, False)
        selector.register(stream.fd, selectors.EVENT_READ, stream)
    return selector


def _read_ready(selector, timeout):
    for key, _ in selector.select(timeout):
        if key.data is not None:
            key.data.read()
            if not key.data.open:
                selector.unregister(key.fd)


def _wait(pid, selector, deadline):
    """Read the test's pipes until it exits; its wait status, or None at the deadline."""
    exit_fd = None
    try:
        exit_fd = os.pidfd_open(pid)
        selector.register(exit_fd, selectors.EVENT_READ, None)
    except (AttributeError, OSError):
        pass  # old kernel: poll the exit status instead
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            _read_ready(selector, min(left, 0.02) if exit_fd is None else left)
    finally:
        if exit_fd is not None:
            selector.unregister(exit_fd)
            os.close(exit_fd)


def _drain(selector, streams):
    """What is still in the pipes arrives at once; a pipe held open by an escaped process
    does not close at all, so wait only a moment."""
    grace = time.monotonic() + _DRAIN_GRACE
    while any(stream.open for stream in streams):
        left = grace - time.monotonic()
        if left <= 0:
            return
        _read_ready(selector, left)


def _kill_leftovers(pid, pid_namespace):
    """Kill the test's process group and, as pid 1 of a namespace, every other process."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    if pid_namespace:
        me = os.getpid()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != me:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
    give_up = time.monotonic() + 2.0
    while True:  # reap: orphans of the test are ours to wait for
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            if not pid_namespace or time.monotonic() > give_up:
                return
            time.sleep(0.001)


def _interpreter_entries(directory):
    """Entries of ``directory`` holding this interpreter (a venv under /tmp is bound, read-only,
    into the sandbox's /tmp): never emptied, nor walked after every test."""
    found = set()
    for path in (sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)):
        inside = os.path.relpath(path, directory)
        if inside != "." and not inside.startswith(".."):
            found.add(inside.split(os.sep)[0])
    return found


def _empty(directory):
    keep = _interpreter_entries(directory)
    for entry in os.listdir(directory):
        if entry in keep:
            continue
        path = os.path.join(directory, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass


def run_one(request, home, pid_namespace):
    """Run one test in a fresh forked process; the result dict of the protocol."""
    workdir = os.path.join(home, "run")
    os.mkdir(workdir, 0o700)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    report_r, report_w = os.pipe()
    token = os.urandom(16).hex()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _test_process(request, workdir, out_w, err_w, report_w, token)
    for fd in (out_w, err_w, report_w):
        os.close(fd)
    limit = int(request.get("output_bytes") or 65536)
    streams = [_Stream(out_r, limit), _Stream(err_r, limit), _Stream(report_r, _REPORT_BYTES)]
    selector = _watch(streams)
    try:
        status = _wait(pid, selector, started + float(request.get("timeout") or 10.0))
        timed_out = status is None
        duration = time.monotonic() - started
        if status is None:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            _, status = os.waitpid(pid, 0)
        # Before draining: what the test left running may hold the pipes open.
        _kill_leftovers(pid, pid_namespace)
        _drain(selector, streams)
    finally:
        selector.close()
        for stream in streams:
            os.close(stream.fd)
    for directory in ((home, "/dev/shm") if pid_namespace else (home,)):
        try:
            _empty(directory)
        except OSError:
            pass
    result: dict = {"timed_out": timed_out, "duration": duration}
    if os.WIFSIGNALED(status):
        result["signal"] = os.WTERMSIG(status)
    elif os.WIFEXITED(status):
        result["returncode"] = os.WEXITSTATUS(status)
    for name, stream in (("stdout", streams[0]), ("stderr", streams[1])):
        result[name] = stream.kept.decode("utf-8", errors="replace")
        result[name + "_dropped"] = stream.total - len(stream.kept)
    outcome, forged = _report(streams[2].kept, token)
    if forged:
        result.update(status="failed", phase="assertion", reason="tampering", exc_type="Tampering",
                      message="a result line without this test's token was written to the report pipe")
    elif outcome is not None:
        result.update(outcome)
    return result


def _report(data, token):
    """The test's own report line, and whether any other line was written to the pipe."""
    outcome = None
    forged = False
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            item = None
        if isinstance(item, dict) and item.get("token") == token and outcome is None:
            outcome = {k: v for k, v in item.items() if isinstance(k, str) and isinstance(v, str) and k != "token"}
        elif line.strip():
            forged = True
    return outcome, forged


def _private():
    """Make this process non-dumpable: tests (same user) cannot open its /proc files."""
    try:
        import ctypes

        return ctypes.CDLL(None).prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE
    except (ImportError, OSError, AttributeError):
        return False


def serve(argv):
    """Entry point inside the sandbox; see the module docstring for the protocol."""
    home = argv[1]
    pid_namespace = len(argv) > 2 and argv[2] == "pidns"
    # The protocol pipes move away from 0 and 1, which every test process replaces.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    private = _private()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    os.write(replies, (json.dumps({"ready": True, "private": private, "pid": os.getpid()}) + "\n").encode())
    buffered = b""
    while True:
        while b"\n" not in buffered:
            chunk = requests.read(1 << 20)
            if not chunk:
                return
            buffered += chunk
        line, buffered = buffered.split(b"\n", 1)
        try:
            result = run_one(json.loads(line), home, pid_namespace)
        except Exception as e:  # noqa: BLE001 - one broken test must not take the server down
            result = {"status": "error", "reason": "harness", "exc_type": type(e).__name__, "message": str(e)}
        os.write(replies, (json.dumps(result) + "\n").encode())


if __name__ == "__main__":
    import sys

    serve(sys.argv)

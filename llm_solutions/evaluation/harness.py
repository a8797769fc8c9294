"""The program that runs inside the sandbox: one test of one solution.

It is started as ``python -I -B -c <this file's source> RESULT_FD`` (stdlib only, nothing
from this package, because the sandbox cannot see the project) and reads one
``marshal``-encoded dict from stdin::

    {"nonce": "...", "code": "...", "ctx": "...", "assertion": "...", "limits": {...}}

It first lowers its own resource limits, then runs the solution, ``ctx`` and the
assertion in one namespace, and writes exactly one line to ``RESULT_FD``: the ``repr`` of
a dict of strings, which the parent reads with ``ast.literal_eval``::

    {"nonce": "...", "status": "passed" | "failed" | "error", "phase": ..., "exc_type": ...,
     "message": ..., "traceback": ...}

The parent counts a test as passed only when that line arrives with the right nonce, so a
solution that calls ``sys.exit(0)`` or ``os._exit(0)`` before the assertion runs is
recorded as an error, never as a pass.

Start-up time is most of a test's cost, so this file imports only what every run needs
(``marshal`` instead of ``json``; ``traceback`` only when something raised).
"""

import marshal
import os
import resource
import sys

_TRACEBACK_CHARS = 4000
_MESSAGE_CHARS = 1000
_PHASES = ("code", "ctx", "assertion")


def _apply_limits(limits):
    """Lower this process's rlimits; children inherit them and cannot raise them again."""
    names = {
        "memory_bytes": resource.RLIMIT_AS,
        "cpu_seconds": resource.RLIMIT_CPU,
        "max_processes": resource.RLIMIT_NPROC,
        "max_file_bytes": resource.RLIMIT_FSIZE,
        "max_open_files": resource.RLIMIT_NOFILE,
        "core_bytes": resource.RLIMIT_CORE,
    }
    for key, which in names.items():
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


def _run(payload):
    module = type(sys)("solution")
    module.__dict__["__builtins__"] = __builtins__
    # Registered so that pickle, dataclasses and typing can find the solution's classes.
    sys.modules["solution"] = module
    namespace = module.__dict__
    sources = {phase: str(payload.get(phase) or "") for phase in _PHASES}
    for phase in _PHASES:
        try:
            exec(compile(sources[phase], "<" + phase + ">", "exec"), namespace)
        except BaseException as e:  # noqa: BLE001 - SystemExit and friends are outcomes too
            status = "failed" if isinstance(e, AssertionError) and phase == "assertion" else "error"
            try:
                return _describe(e, phase, status, sources)
            except BaseException:  # noqa: BLE001 - e.g. MemoryError again while formatting
                return {"status": status, "phase": phase, "exc_type": type(e).__name__}
    return {"status": "passed", "phase": "assertion"}


def main():
    """Entry point inside the sandbox; see the module docstring for the protocol."""
    result_fd = int(sys.argv[1])
    # Programs the solution starts do not get the result pipe (forked copies still do).
    os.set_inheritable(result_fd, False)
    payload = marshal.loads(sys.stdin.buffer.read())
    nonce = payload.pop("nonce")
    # Nothing more to read: the solution gets an empty stdin rather than our pipe.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _apply_limits(payload.pop("limits", {}))
    outcome = _run(payload)
    outcome["nonce"] = nonce
    line = (repr({str(k): str(v) for k, v in outcome.items() if v is not None}) + "\n").encode()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # type: ignore[union-attr]
        except BaseException:  # noqa: BLE001, S110 - the solution may have closed or replaced it
            pass
    os.write(result_fd, line)
    # Skip interpreter shutdown: threads or atexit hooks left by the solution must not
    # delay or alter a result that is already written.
    os._exit(0)


if __name__ == "__main__":
    main()

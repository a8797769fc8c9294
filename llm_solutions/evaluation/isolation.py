"""How a test process is isolated from this machine, and which way works here.

Every test runs ``harness.py`` in a fresh process.  In every mode the process starts with
an empty environment (only ``PATH``, ``LANG``, ``LC_ALL``, ``HOME``, ``TMPDIR``), in a
session and process group of its own that is killed on timeout, and the harness lowers
its rlimits before running any solution code: address space (``RLIMIT_AS``), CPU time,
processes (``RLIMIT_NPROC``), file size, open files, and no core dumps.  The modes add
OS-level containment on top; the strongest one that really works here is chosen by
running a probe test once per process (``select_isolation``).

``bwrap`` (bubblewrap, Debian package ``bubblewrap``; ``.ci/install-sandbox``)
    Contained: new user, pid, network, ipc, uts and cgroup namespaces; uid 65534 inside
    *and* on the host (run as root, bwrap is started as nobody from a private mount
    namespace in which the interpreter is made reachable; otherwise the kernel would
    exempt the root-mapped sandbox from ``RLIMIT_NPROC`` and let it read root-only
    files); no capabilities, no new privileges, no nested user namespaces; the network
    is an empty namespace; the host file system is absent except ``/usr``, ``/bin``,
    ``/lib*``, ``/etc`` and the Python installation, all read-only; ``/tmp`` (the
    working directory) and ``/dev/shm`` are fresh tmpfs of bounded size that vanish
    with the process; ``/proc`` shows only the sandbox's own processes, so neither the
    parent's pid nor its ``/proc/<pid>/environ`` exists; every process in the sandbox
    is killed when its first process or bwrap dies.
    Not contained: CPU and memory of the machine beyond the rlimits (no cgroup), so
    concurrent tests compete for the cores; world-readable files in ``/etc`` and the
    Python installation; kernel bugs (no seccomp filter).

``unshare`` (util-linux; used when bwrap is missing but namespaces work)
    Contained: new mount, pid, network, ipc and uts namespaces (plus a user namespace
    when not run as root); every mount is remounted read-only except the test's own
    working directory; as root the test then drops to uid/gid 65534, otherwise to no
    capabilities; no new privileges; killing the process kills the whole namespace.
    Not contained: reading the host's world-readable files (or, when not run as root,
    everything the user can read); ``RLIMIT_NPROC`` counts all processes of uid 65534
    on the machine, so concurrent tests share it; beyond that as for ``bwrap``.

``nobody`` (no namespaces, running as root: drop to uid/gid 65534)
    Contained: writing anywhere but the working directory (file permissions), signals
    to and ``/proc/<pid>/environ`` of other users' processes (the parent runs as root),
    the rlimits; ``RLIMIT_NPROC`` counts every process of uid 65534 on the machine.
    Not contained: the network; reading world-readable files; processes that leave
    the process group (``setsid``) survive the timeout kill until their CPU limit.
    Only usable when the interpreter is readable by uid 65534.

``rlimits`` (last resort: no namespaces and no way to change user)
    Contained: address space, CPU, file size, open files and core rlimits, the clean
    environment and the timeout kill.
    Not contained: the file system, the network, other processes (including the
    parent), the parent's environment via ``/proc``, the number of processes (root is
    exempt from ``RLIMIT_NPROC``, and a normal user's limit would count all their
    processes).  A WARNING is logged whenever a mode weaker than ``bwrap`` is selected.

The harness runs the solution in the same interpreter that reports the result, so a
solution written to *deliberately* forge the result line (finding the pipe and the nonce
in its own process) is not contained by any mode; accidental exits cannot pass a test.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.errors import ConfigError
from llm_solutions.evaluation.mounts import (
    NOBODY,
    READ_ONLY_SCRIPT,
    SANDBOX_HOME,
    bwrap_arguments,
    reveal_lines,
    stage_lines,
)
from llm_solutions.evaluation.protocol import encode_payload, new_nonce, parse_result
from llm_solutions.settings import environment

log = logging.getLogger(__name__)

MODES = ("bwrap", "unshare", "nobody", "rlimits")
ENV_MODE = "LLM_SOLUTIONS_SANDBOX"  # force a mode, e.g. for tests of the fallbacks
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

HARNESS_SOURCE = (Path(__file__).parent / "harness.py").read_text(encoding="utf-8")

_DESCRIPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bwrap": (
        (
            "user/pid/net/ipc/uts/cgroup namespaces",
            "no network",
            "host file system hidden except /usr, /etc and the Python installation (read-only)",
            "private tmpfs working directory of bounded size",
            "parent processes and their environment invisible",
            "runs as uid 65534 on the host; no capabilities, no new privileges, no nested user namespaces",
            "rlimits: address space, CPU, processes, file size, open files, no core",
            "clean environment",
        ),
        ("machine-wide CPU/memory share (no cgroup)", "kernel attack surface (no seccomp)"),
    ),
    "unshare": (
        (
            "mount/pid/net/ipc/uts namespaces",
            "no network",
            "file system read-only except the working directory",
            "parent processes and their environment invisible",
            "uid 65534 when started as root; no capabilities, no new privileges",
            "rlimits: address space, CPU, processes, file size, open files, no core",
            "clean environment",
        ),
        (
            "reading world-readable host files",
            "process limit shared by all tests (uid 65534)",
            "machine-wide CPU/memory share (no cgroup)",
            "kernel attack surface (no seccomp)",
        ),
    ),
    "nobody": (
        (
            "runs as uid/gid 65534: writes only to its working directory",
            "cannot signal or read the environment of the root parent",
            "rlimits: address space, CPU, processes (shared by all uid 65534), file size, open files, no core",
            "clean environment",
        ),
        (
            "network",
            "reading world-readable files",
            "processes that leave the process group survive the timeout kill until their CPU limit",
        ),
    ),
    "rlimits": (
        ("rlimits: address space, CPU, file size, open files, no core", "clean environment", "timeout kill"),
        (
            "network",
            "file system (runs as the parent's user)",
            "other processes, including the parent",
            "the parent's environment via /proc/<pid>/environ",
            "number of processes",
        ),
    ),
}

_DROP_TO_NOBODY = f"--reuid {NOBODY} --regid {NOBODY} --clear-groups"
_DROP_CAPS = "--inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs"


class SandboxUnavailableError(ConfigError):
    """No sandbox mode (or not the one asked for) works on this machine."""


@dataclass(frozen=True)
class Isolation:
    """One isolation mode: how to wrap the harness command, and what it contains."""

    mode: str
    contained: tuple[str, ...] = field(default=())
    not_contained: tuple[str, ...] = field(default=())

    @property
    def uses_host_workdir(self) -> bool:
        """Whether the test needs a host directory (bwrap gives it a private tmpfs)."""
        return self.mode != "bwrap"

    def command(self, workdir: Path | None, result_fd: int, scratch_bytes: int) -> list[str]:
        """The argv that runs the harness in this mode, writing its result to ``result_fd``."""
        python = [sys.executable, "-I", "-B", "-c", HARNESS_SOURCE, str(result_fd)]
        if self.mode == "bwrap":
            sandbox = [_tool("bwrap"), *bwrap_arguments(scratch_bytes, _privileged()), "--", *python]
            if not _privileged():
                return sandbox
            # As root, bwrap would map the sandbox's uid to root, which the kernel exempts
            # from RLIMIT_NPROC (a fork bomb would not be stopped) and which may read every
            # root-only file.  So bwrap itself runs as nobody, in a private mount namespace
            # where the interpreter is made reachable for nobody (mounts.stage_lines).
            script = "\n".join(["set -e", *stage_lines(), f'exec setpriv {_DROP_TO_NOBODY} {_DROP_CAPS} -- "$@"'])
            unshare = [_tool("unshare"), "--mount", "--propagation", "private", "--"]
            return [*unshare, "sh", "-c", script, "sandbox", *sandbox]
        if self.mode == "unshare":
            assert workdir is not None
            if _privileged():
                # Real root needs no user namespace; it drops to nobody after the mounts.
                namespaces = ["--mount", "--net", "--pid", "--ipc", "--uts"]
                lines = ["set -e", 'work="$1"; shift', *reveal_lines(), READ_ONLY_SCRIPT,
                         f'exec setpriv {_DROP_TO_NOBODY} {_DROP_CAPS} -- "$@"']  # fmt: skip
            else:
                namespaces = ["--user", "--map-root-user", "--mount", "--net", "--pid", "--ipc", "--uts"]
                lines = ["set -e", 'work="$1"; shift', READ_ONLY_SCRIPT, f'exec setpriv {_DROP_CAPS} -- "$@"']
            return [
                _tool("unshare"), *namespaces, "--fork", "--kill-child", "--mount-proc",
                "--", "sh", "-c", "\n".join(lines), "sandbox", str(workdir), *python,
            ]  # fmt: skip
        return python

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess`` options: the unprivileged user for the ``nobody`` mode."""
        if self.mode == "nobody":
            return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        return {}

    def environment(self, workdir: Path | None) -> dict[str, str]:
        """The whole environment of the test process: no keys, no tokens, no proxies."""
        home = SANDBOX_HOME if workdir is None else str(workdir)
        return {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": home}

    def prepare_workdir(self, workdir: Path) -> None:
        """Make ``workdir`` writable by the user the test runs as."""
        if self.mode in ("nobody", "unshare") and _privileged():
            os.chown(workdir, NOBODY, NOBODY)

    def describe(self) -> dict[str, Any]:
        """What this mode contains and what it does not, for summary.json."""
        return {
            "mode": self.mode,
            "contained": list(self.contained),
            "not_contained": list(self.not_contained),
        }


def _privileged() -> bool:
    return os.geteuid() == 0


def _tool(name: str) -> str:
    return shutil.which(name) or name


def _probe(mode: str) -> str | None:
    """Run one real test in ``mode``; ``None`` if it passed, else why it did not."""
    isolation = _isolation(mode)
    if mode == "bwrap" and not shutil.which("bwrap"):
        return "bwrap is not installed (apt-get install bubblewrap)"
    needs_util_linux = mode == "unshare" or (mode == "bwrap" and _privileged())
    if needs_util_linux and not (shutil.which("unshare") and shutil.which("setpriv")):
        return "unshare/setpriv (util-linux) not found"
    if mode == "nobody" and os.geteuid() != 0:
        return "not running as root, cannot switch to uid 65534"
    nonce = new_nonce()
    payload = encode_payload(
        nonce,
        "with open('probe.txt', 'w') as f:\n    f.write('ok')\n",
        "",
        "assert open('probe.txt').read() == 'ok'",
        {"memory_bytes": 1 << 30, "cpu_seconds": 20, "core_bytes": 0},
    )
    workdir = Path(tempfile.mkdtemp(prefix="llm-solutions-probe-")) if isolation.uses_host_workdir else None
    read_fd, write_fd = os.pipe()
    try:
        if workdir is not None:
            isolation.prepare_workdir(workdir)
        try:
            proc = subprocess.run(
                isolation.command(workdir, write_fd, 16 << 20),
                input=payload,
                capture_output=True,
                pass_fds=(write_fd,),
                env=isolation.environment(workdir),
                cwd=str(workdir) if workdir else "/",
                timeout=30,
                start_new_session=True,
                **isolation.popen_options(),
            )
        except (OSError, subprocess.SubprocessError) as e:
            return f"could not start: {e}"
        os.close(write_fd)
        write_fd = -1
        with os.fdopen(read_fd, "rb") as pipe:
            read_fd = -1
            data = pipe.read(65536)
        result = parse_result(data, nonce) or {}
        if result.get("status") == "passed":
            return None
        stderr = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"probe test did not pass (exit {proc.returncode}): {stderr[-1] if stderr else result}"
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                os.close(fd)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


def _isolation(mode: str) -> Isolation:
    contained, not_contained = _DESCRIPTIONS[mode]
    return Isolation(mode=mode, contained=contained, not_contained=not_contained)


@functools.cache
def select_isolation(preferred: str | None = None) -> Isolation:
    """The strongest mode that really runs a test here (or ``preferred`` / ``$LLM_SOLUTIONS_SANDBOX``).

    A forced mode that does not work raises ``SandboxUnavailableError`` instead of silently running
    with less isolation than asked for.  Probing takes well under a second and is done
    once per process.
    """
    forced = preferred or environment.read(ENV_MODE)
    if forced is not None:
        if forced not in MODES:
            raise SandboxUnavailableError(
                f"unknown sandbox mode {forced!r} (from {ENV_MODE} or the caller); choose one of {', '.join(MODES)}"
            )
        reason = _probe(forced)
        if reason is not None:
            raise SandboxUnavailableError(
                f"sandbox mode {forced!r} does not work here: {reason}; unset {ENV_MODE} to use the best available"
            )
        _log_choice(forced, [f"{forced} was asked for"])
        return _isolation(forced)
    failures: list[str] = []
    for mode in MODES:
        reason = _probe(mode)
        if reason is None:
            _log_choice(mode, failures)
            return _isolation(mode)
        failures.append(f"{mode}: {reason}")
    raise SandboxUnavailableError(
        "no sandbox mode works here (" + "; ".join(failures) + "); run .ci/install-sandbox to install bubblewrap"
    )


def _log_choice(mode: str, why: list[str]) -> None:
    if mode == MODES[0]:
        log.info("sandbox: using %r isolation", mode)
        return
    log.warning(
        "sandbox: using the weaker %r isolation (%s); not contained: %s. "
        "Install bubblewrap (.ci/install-sandbox) for full isolation.",
        mode,
        "; ".join(why),
        ", ".join(_DESCRIPTIONS[mode][1]),
    )


def describe_isolation(preferred: str | None = None) -> dict[str, Any]:
    """The selected mode and what it contains and does not, as a JSON-ready dict."""
    return select_isolation(preferred).describe()

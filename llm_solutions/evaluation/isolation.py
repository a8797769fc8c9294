"""How a test is isolated from this machine, and which way works here.

Tests run in sandboxes: long-lived test servers (``harness.py``) that fork a fresh process
per test.  In every mode the server starts with an empty environment (only ``PATH``,
``LANG``, ``LC_ALL``, ``HOME``, ``TMPDIR``), in a session of its own, and each test process
lowers its rlimits before any solution code runs: address space (``RLIMIT_AS``), CPU time,
processes (``RLIMIT_NPROC``), file size, open files, and no core dumps; where the machine
allows (``cgroups.py``), the sandbox's cgroup also caps the memory and processes of the
test as a whole.  The modes add OS-level containment on top; the strongest one that
really works here is chosen by running a probe test once per process
(``select_isolation``).

``bwrap`` (bubblewrap, Debian package ``bubblewrap``; ``.ci/install-sandbox``)
    Contained: new user, pid, network, ipc, uts and cgroup namespaces; uid 65534 inside
    *and* on the host (run as root, bwrap is started as nobody from a private mount
    namespace in which the interpreter is made reachable; otherwise the kernel would
    exempt the root-mapped sandbox from ``RLIMIT_NPROC`` and let it read root-only
    files); no capabilities, no new privileges, no nested user namespaces; the network
    is an empty namespace; the root file system is read-only and holds only ``/usr``,
    ``/bin``, ``/lib*``, ``/etc`` and the Python installation (read-only); ``/tmp`` (the
    working directory) and ``/dev/shm`` are tmpfs of bounded size, emptied after every
    test; ``/proc`` shows only the sandbox's own processes, so neither the parent's pid
    nor its ``/proc/<pid>/environ`` exists; the test server is the namespace's pid 1,
    which a test cannot kill, and kills every process a test leaves behind.
    Not contained: the machine's CPU (concurrent tests compete for the cores);
    world-readable files in ``/etc`` and the Python installation; kernel bugs (no seccomp
    filter).

``unshare`` (util-linux; used when bwrap is missing but namespaces work)
    Contained: new mount, pid, network, ipc and uts namespaces (plus a user namespace
    when not run as root); a new read-only root built like bwrap's (the working directory,
    its ``.env``, caches and sessions are not there), ``/tmp`` bound to a private host
    directory; as root the test then drops to uid/gid 65534, otherwise to no capabilities;
    no new privileges; killing the server kills the whole namespace.
    Not contained: ``RLIMIT_NPROC`` counts all processes of uid 65534 on the machine, so
    concurrent tests share it; beyond that as for ``bwrap``.

``nobody`` (no namespaces, running as root: drop to uid/gid 65534)
    Contained: writing anywhere but the working directory (file permissions), signals
    to and ``/proc/<pid>/environ`` of other users' processes (the parent runs as root),
    the rlimits; ``RLIMIT_NPROC`` counts every process of uid 65534 on the machine.
    Not contained: the network; reading world-readable files; processes that leave
    the process group (``setsid``) survive the test until their CPU limit.
    Only usable when the interpreter is readable by uid 65534.

``rlimits`` (last resort: no namespaces and no way to change user)
    Contained: address space, CPU, file size, open files and core rlimits, the clean
    environment and the timeout kill.
    Not contained: the file system, the network, other processes (including the
    parent), the parent's environment via ``/proc``, the number of processes (root is
    exempt from ``RLIMIT_NPROC``, and a normal user's limit would count all their
    processes).  A WARNING is logged whenever a mode weaker than ``bwrap`` is selected.

What the guard inside each test does against forged results is in ``guard.py``.
"""

from __future__ import annotations

import functools
import json
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
from llm_solutions.evaluation.cgroups import CgroupSupport
from llm_solutions.evaluation.mounts import (
    NEW_ROOT,
    NOBODY,
    SANDBOX_HOME,
    bwrap_arguments,
    minimal_root_lines,
    stage_lines,
)
from llm_solutions.settings import environment

log = logging.getLogger(__name__)

MODES = ("bwrap", "unshare", "nobody", "rlimits")
ENV_MODE = "LLM_SOLUTIONS_SANDBOX"  # force a mode, e.g. for tests of the fallbacks
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

# The test server's program: the guard first (harness.py calls its run_phases), stdlib only.
PROGRAM = "\n".join(
    (Path(__file__).parent / name).read_text(encoding="utf-8") for name in ("guard.py", "harness.py")
)

_DESCRIPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bwrap": (
        (
            "user/pid/net/ipc/uts/cgroup namespaces",
            "no network",
            "read-only root: host file system hidden except /usr, /etc and the Python installation",
            "private tmpfs /tmp and /dev/shm of bounded size, emptied after every test",
            "parent processes and their environment invisible; the test server (pid 1) cannot be killed",
            "every process a test leaves behind is killed",
            "runs as uid 65534 on the host; no capabilities, no new privileges, no nested user namespaces",
            "rlimits: address space, CPU, processes, file size, open files, no core",
            "clean environment",
        ),
        ("machine-wide CPU share", "kernel attack surface (no seccomp)"),
    ),
    "unshare": (
        (
            "mount/pid/net/ipc/uts namespaces",
            "no network",
            "read-only root: host file system hidden except /usr, /etc and the Python installation",
            "private /tmp, emptied after every test",
            "parent processes and their environment invisible",
            "every process a test leaves behind is killed",
            "uid 65534 when started as root; no capabilities, no new privileges",
            "rlimits: address space, CPU, processes, file size, open files, no core",
            "clean environment",
        ),
        (
            "process limit shared by all tests (uid 65534)",
            "machine-wide CPU share",
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
            "processes that leave the process group survive the test until their CPU limit",
            "files written to world-writable host directories (/tmp) outlive the test",
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

    @property
    def pid_namespace(self) -> bool:
        """Whether the test server is pid 1 of its own pid namespace."""
        return self.mode in ("bwrap", "unshare")

    def server_command(self, home: Path | None, scratch_bytes: int) -> list[str]:
        """The argv that starts a test server in this mode; ``home`` is its host working
        directory (``None`` for bwrap, which makes a private tmpfs)."""
        server_home = SANDBOX_HOME if home is None else str(home)
        python = [sys.executable, "-I", "-B", "-c", PROGRAM, server_home]
        if self.pid_namespace:
            python.append("pidns")
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
            assert home is not None
            python[python.index(server_home)] = SANDBOX_HOME
            drop = f"{_DROP_TO_NOBODY} {_DROP_CAPS}" if _privileged() else _DROP_CAPS
            namespaces = ["--mount", "--net", "--pid", "--ipc", "--uts"]
            if not _privileged():
                namespaces = ["--user", "--map-root-user", *namespaces]
            enter = f"exec {_tool('chroot')} {NEW_ROOT} /bin/sh -c 'cd /tmp && exec \"$@\"' sandbox"
            lines = ["set -e", 'work="$1"; shift', *minimal_root_lines(scratch_bytes),
                     f'{enter} setpriv {drop} -- "$@"']
            return [
                _tool("unshare"), *namespaces, "--fork", "--kill-child", "--propagation", "private",
                "--", "sh", "-c", "\n".join(lines), "sandbox", str(home), *python,
            ]  # fmt: skip
        return python

    def popen_options(self) -> dict[str, Any]:
        """Extra ``subprocess`` options: the unprivileged user for the ``nobody`` mode."""
        if self.mode == "nobody":
            return {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        return {}

    def environment(self, workdir: Path | None) -> dict[str, str]:
        """The whole environment of the test server: no keys, no tokens, no proxies."""
        home = SANDBOX_HOME if workdir is None or self.mode == "unshare" else str(workdir)
        return {"PATH": SAFE_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": home}

    def prepare_workdir(self, workdir: Path) -> None:
        """Make ``workdir`` writable by the user the test runs as."""
        if self.mode in ("nobody", "unshare") and _privileged():
            os.chown(workdir, NOBODY, NOBODY)

    def describe(self) -> dict[str, Any]:
        """What this mode contains and what it does not, for summary.json."""
        support, reason = cgroup_support()
        contained, not_contained = list(self.contained), list(self.not_contained)
        if support is not None:
            contained.append(f"{support.describe()} (memfd, tmpfs and child processes included)")
        else:
            not_contained.append(f"memory and processes of a test as a whole, beyond per-process rlimits ({reason})")
        return {"mode": self.mode, "contained": contained, "not_contained": not_contained,
                "cgroup": support.version if support is not None else None}


def _privileged() -> bool:
    return os.geteuid() == 0


def _tool(name: str) -> str:
    return shutil.which(name) or name


@functools.cache
def cgroup_support() -> tuple[CgroupSupport | None, str]:
    """Whether sandboxes get cgroup caps here (probed once per process), and why not."""
    if not _privileged():
        return None, "not running as root"
    return CgroupSupport.detect()


_PROBE = {"code": "with open('probe.txt', 'w') as f:\n    f.write('ok')\n", "ctx": "",
          "assertion": "assert open('probe.txt').read() == 'ok'", "timeout": 20.0,
          "limits": {"memory_bytes": 1 << 30, "cpu_seconds": 20, "core_bytes": 0}}


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
    workdir = Path(tempfile.mkdtemp(prefix="llm-solutions-probe-")) if isolation.uses_host_workdir else None
    try:
        if workdir is not None:
            isolation.prepare_workdir(workdir)
        try:
            proc = subprocess.run(
                isolation.server_command(workdir, 16 << 20),
                input=(json.dumps(_PROBE) + "\n").encode(),
                capture_output=True,
                env=isolation.environment(workdir),
                cwd=str(workdir) if workdir else "/",
                timeout=30,
                start_new_session=True,
                check=False,
                **isolation.popen_options(),
            )
        except (OSError, subprocess.SubprocessError) as e:
            return f"could not start: {e}"
        lines = proc.stdout.decode(errors="replace").splitlines()
        try:
            result = json.loads(lines[1]) if len(lines) > 1 else {}
        except ValueError:
            result = {}
        if result.get("status") == "passed":
            return None
        stderr = proc.stderr.decode(errors="replace").strip().splitlines()
        return f"probe test did not pass (exit {proc.returncode}): {stderr[-1] if stderr else result}"
    finally:
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

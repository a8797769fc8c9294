"""The file system a sandboxed test sees, and the command that starts a sandbox.

Kept apart from ``isolation.py`` (which decides *which* mode runs) because these are the
details of *how* each mode builds its view: which host directories are bound read-only,
where the scratch tmpfs goes, how an interpreter in a closed directory such as ``/root`` is
made reachable for the unprivileged test user, and that nothing else of the host (the
working directory with its ``.env``, caches and sessions) is there at all.

``bwrap`` and ``unshare`` both build a new, read-only root from the same list of host
directories (``/usr``, ``/bin``, ``/lib*``, ``/etc`` and the Python installation), with a
private writable ``/tmp`` and ``/dev/shm``; ``nobody`` and ``rlimits`` see the host.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from pathlib import Path

NOBODY = 65534
# Where the scratch tmpfs is mounted inside bwrap; the test's working directory.
SANDBOX_HOME = "/tmp"

def python_paths() -> list[str]:
    """Host directories the interpreter needs, outermost first, none inside another."""
    candidates = {
        os.path.realpath(p)
        for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)
    }
    candidates.add(os.path.dirname(os.path.realpath(sys.executable)))
    chosen: list[str] = []
    for path in sorted(candidates, key=len):
        if path.startswith("/usr/") or path == "/usr":
            continue
        if any(path == c or path.startswith(c.rstrip("/") + "/") for c in chosen):
            continue
        chosen.append(path)
    return chosen


def hidden_ancestor(path: str) -> str | None:
    """The outermost directory above ``path`` that other users may not enter, if any."""
    parts = Path(path).parts
    for depth in range(2, len(parts)):
        ancestor = str(Path(*parts[:depth]))
        try:
            if not os.stat(ancestor).st_mode & 0o001:
                return ancestor
        except OSError:
            return None
    return None


STAGE = "/mnt"  # covered (in a private mount namespace only) to hold the staged binds


@functools.cache
def staged_paths() -> dict[str, str]:
    """Interpreter directories that nobody cannot reach, and where ``stage_lines`` binds them."""
    hidden = [p for p in python_paths() if hidden_ancestor(p) is not None]
    if len(hidden) == 1:
        return {hidden[0]: STAGE}
    return {path: f"{STAGE}/{i}" for i, path in enumerate(hidden)}


@functools.cache
def stage_lines() -> tuple[str, ...]:
    """Shell lines (run as root in a private mount namespace) binding ``staged_paths`` aside.

    An interpreter under e.g. ``/root`` (mode 0700, as pyenv installs it) is bound to a
    directory that everyone may enter; bwrap then binds it back at its own path inside
    the sandbox.  One exec per line counts: this runs before every test.
    """
    staged = staged_paths()
    lines = []
    if len(staged) > 1:
        lines.append(f"mount -t tmpfs -o size=64k,mode=755 llm-sandbox-stage {STAGE}")
    for path, stage in staged.items():
        lines.append(f"mount --bind -o X-mount.mkdir {shlex.quote(path)} {stage}")
    return tuple(lines)


@functools.cache
def bwrap_arguments(scratch_bytes: int, staged: bool) -> tuple[str, ...]:
    """bwrap's options; ``staged`` when ``stage_lines`` ran first (bwrap started by root)."""
    sources = staged_paths() if staged else {}
    args = [
        "--unshare-all", "--unshare-user", "--disable-userns", "--unshare-cgroup-try",
        "--uid", str(NOBODY), "--gid", str(NOBODY), "--hostname", "sandbox",
        "--die-with-parent", "--new-session", "--as-pid-1",
        "--ro-bind", "/usr", "/usr",
    ]  # fmt: skip
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += [
        "--ro-bind", "/etc", "/etc",
        "--proc", "/proc", "--dev", "/dev",
        "--size", str(scratch_bytes), "--tmpfs", "/dev/shm",
        "--remount-ro", "/dev",
        "--size", str(scratch_bytes), "--tmpfs", SANDBOX_HOME,
    ]  # fmt: skip
    for path in python_paths():
        args += ["--ro-bind", sources.get(path, path), path]
    # The root bwrap builds is a tmpfs of its own: without this, writable and unbounded.
    args += ["--remount-ro", "/", "--chdir", SANDBOX_HOME]
    return tuple(args)


NEW_ROOT = "/mnt"  # where unshare builds the sandbox's root, in its private mount namespace


@functools.cache
def minimal_root_lines(scratch_bytes: int) -> tuple[str, ...]:
    """Shell lines (root of a private mount namespace, ``$work`` set) building a read-only root
    at ``NEW_ROOT`` from the host directories a test needs, ``$work`` as its ``/tmp``."""
    root = NEW_ROOT
    lines = [f"mount -t tmpfs -o size=1m,mode=755 llm-sandbox-root {root}"]
    tops = [t for t in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc") if os.path.lexists(t)]
    for top in tops:
        if os.path.islink(top):
            lines.append(f"ln -s {shlex.quote(os.readlink(top))} {root}{top}")
        else:
            lines.append(_bind_read_only(top))
    lines += [
        f"mkdir -p {root}/tmp {root}/proc {root}/dev/shm",
        f'mount --bind "$work" {root}/tmp',
        f"mount -t proc proc {root}/proc",
        f"mount -t tmpfs -o size={scratch_bytes},mode=1777 llm-sandbox-shm {root}/dev/shm",
    ]
    # After /tmp: an interpreter installed under /tmp (a venv in a clone there) is bound
    # over the work directory instead of being hidden by it.
    for path in python_paths():
        lines.append(_bind_read_only(path))
    for device in ("null", "zero", "random", "urandom"):
        lines += [f"touch {root}/dev/{device}", f"mount --bind /dev/{device} {root}/dev/{device}"]
    lines.append(f"mount -o remount,bind,ro {root}")
    return tuple(lines)


def _bind_read_only(path: str) -> str:
    target = shlex.quote(f"{NEW_ROOT}{path}")
    return (f"mkdir -p {target} && mount --rbind {shlex.quote(path)} {target} && "
            f"mount -o remount,bind,ro {target}")

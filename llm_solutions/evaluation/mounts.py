"""The file system a sandboxed test sees, as bwrap arguments and shell mount commands.

Kept apart from ``isolation.py`` (which decides *which* mode runs) because these are the
details of *how* each mode builds its view: which host directories are bound read-only,
where the scratch tmpfs goes, and how an interpreter in a closed directory such as
``/root`` is made reachable for the unprivileged test user.
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

# Remounts every mount read-only (keeping the flags a namespace may not drop), then makes
# the test's own working directory ($work) writable again.
READ_ONLY_SCRIPT = r"""
awk '{print $5, $6}' /proc/self/mountinfo | sort -r | while read -r target opts; do
  flags="remount,bind,ro"
  case ",$opts," in *,nosuid,*) flags="$flags,nosuid";; esac
  case ",$opts," in *,nodev,*) flags="$flags,nodev";; esac
  case ",$opts," in *,noexec,*) flags="$flags,noexec";; esac
  mount -o "$flags" "$target" 2>/dev/null || true
done
mount --bind "$work" "$work"
mount -o remount,bind,rw,nosuid,nodev "$work"
cd "$work"
"""


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
def reveal_lines() -> tuple[str, ...]:
    """Shell lines that make the interpreter reachable for nobody at its own path.

    After ``stage_lines``, each closed ancestor (``/root``) is covered with an empty
    tmpfs, hiding everything else in it, and the staged directories are bound back
    read-only at their own paths.
    """
    staged = staged_paths()
    lines = list(stage_lines())
    for ancestor in sorted({hidden_ancestor(p) or "" for p in staged} - {""}):
        lines.append(f"mount -t tmpfs -o size=64k,mode=755 llm-sandbox-mask {shlex.quote(ancestor)}")
    for path, stage in staged.items():
        lines.append(f"mount --bind -o ro,X-mount.mkdir {stage} {shlex.quote(path)}")
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
    args += ["--chdir", SANDBOX_HOME]
    return tuple(args)

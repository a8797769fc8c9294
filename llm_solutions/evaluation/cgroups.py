"""Per-sandbox memory and process caps through cgroups, where the machine allows them.

rlimits cap each process of a test on its own: a test that forks four children, or keeps
memory in a ``memfd`` or a tmpfs file (which ``RLIMIT_AS`` does not count), can use many
times ``memory_bytes``.  A cgroup counts everything the sandbox holds together.  Each
sandbox runs one test at a time, so its cgroup's caps are the test's caps.

Both layouts are supported:

* cgroup v1 (separate ``memory`` and ``pids`` hierarchies under ``/sys/fs/cgroup``): a
  child group of this process's group in each, ``memory.limit_in_bytes`` (and
  ``memory.memsw.limit_in_bytes`` where swap is accounted) and ``pids.max``;
* cgroup v2 (one unified hierarchy): a child group with ``memory.max``,
  ``memory.swap.max = 0`` and ``pids.max``, when this process's group delegates the
  ``memory`` and ``pids`` controllers to its children.

Where neither works (not root, no delegation, a container without the controllers),
``CgroupSupport.detect()`` says why; the evaluator then announces the weaker rlimits-only
caps and records it with the isolation mode.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path("/sys/fs/cgroup")
_COUNTER = itertools.count(1)


def _own_paths() -> dict[str, str]:
    """This process's group per hierarchy: ``{"memory": "/a/b", "pids": "/", "": "/x"}``."""
    found: dict[str, str] = {}
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            found[controller] = path
    return found


def _write(path: Path, value: str) -> None:
    path.write_text(value)


@dataclass(frozen=True)
class CgroupSupport:
    """Where sandbox groups can be made: one parent directory per controller."""

    version: int
    parents: tuple[Path, ...]  # v1: (memory, pids); v2: (unified,)

    @classmethod
    def detect(cls) -> tuple[CgroupSupport | None, str]:
        """The usable layout, or ``None`` and why not (for the isolation description)."""
        own = _own_paths()
        v2_controllers = ROOT / "cgroup.controllers"
        if v2_controllers.exists() and "" in own:
            return cls._detect_v2(ROOT / own[""].lstrip("/"))
        memory, pids = ROOT / "memory", ROOT / "pids"
        if not (memory.is_dir() and pids.is_dir()):
            return None, "no cgroup memory and pids controllers are mounted"
        parents = (memory / own.get("memory", "/").lstrip("/"), pids / own.get("pids", "/").lstrip("/"))
        support = cls(1, parents)
        reason = support._trial()
        return (support, "") if reason is None else (None, reason)

    @classmethod
    def _detect_v2(cls, parent: Path) -> tuple[CgroupSupport | None, str]:
        try:
            enabled = (parent / "cgroup.subtree_control").read_text().split()
            if not {"memory", "pids"} <= set(enabled):
                _write(parent / "cgroup.subtree_control", "+memory +pids")
        except OSError as e:
            return None, f"cgroup v2: cannot delegate memory and pids to sandbox groups ({e.strerror})"
        support = cls(2, (parent,))
        reason = support._trial()
        return (support, "") if reason is None else (None, reason)

    def _trial(self) -> str | None:
        try:
            group = self.create(64 << 20, 16)
        except OSError as e:
            return f"cgroup v{self.version}: cannot create a sandbox group ({e.strerror or e})"
        group.remove()
        return None

    def create(self, memory_bytes: int, max_processes: int) -> SandboxGroup:
        """A new group with these caps; ``OSError`` when the kernel refuses."""
        name = f"llm-solutions-{os.getpid()}-{next(_COUNTER)}"
        paths = tuple(parent / name for parent in self.parents)
        made: list[Path] = []
        try:
            for path in paths:
                path.mkdir()
                made.append(path)
            if self.version == 1:
                memory, pids = paths
                _write(memory / "memory.limit_in_bytes", str(memory_bytes))
                swap = memory / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    _write(swap, str(memory_bytes))  # no escape into swap
                _write(pids / "pids.max", str(max_processes))
            else:
                (unified,) = paths
                _write(unified / "memory.max", str(memory_bytes))
                with contextlib.suppress(OSError):
                    _write(unified / "memory.swap.max", "0")
                _write(unified / "pids.max", str(max_processes))
        except OSError:
            for path in reversed(made):
                with contextlib.suppress(OSError):
                    path.rmdir()
            raise
        return SandboxGroup(self.version, paths)

    def describe(self) -> str:
        return f"cgroup v{self.version}: memory and process caps per sandbox"


@dataclass(frozen=True)
class SandboxGroup:
    """One sandbox's group(s): how to start a process in them, and what they counted."""

    version: int
    paths: tuple[Path, ...]

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` started inside the group (the shell joins it, then becomes ``argv``)."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(path / 'cgroup.procs'))}" for path in self.paths)
        return ["sh", "-c", f'{joins} && exec "$@"', "sandbox-cgroup", *argv]

    def oom_kills(self) -> int:
        """How many processes the memory cap has killed so far."""
        memory = self.paths[0]
        source = memory / ("memory.oom_control" if self.version == 1 else "memory.events")
        try:
            for line in source.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        if self.version == 1:
            with contextlib.suppress(OSError, ValueError):
                return int((memory / "memory.failcnt").read_text())
        return 0

    def remove(self) -> None:
        """Remove the groups once their processes are gone (retried briefly)."""
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
            else:
                log.debug("cgroup %s is still busy; left for the system to clean", path)

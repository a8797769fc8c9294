"""Reaching Ray: the ``--ray`` setting, Ray imported only when it is used, and connecting.

``ray_address`` reads the setting: ``local`` (start a Ray instance on this machine for the
run), ``auto`` (the cluster ``ray start`` runs on this machine) or an existing cluster's
address (``host:port``, ``ray://host:port``).  ``import_ray`` is the one place Ray is
imported; without it installed, ``--ray`` is one line naming the extra.  ``connect``
starts or joins the cluster, checking first that an address answers at all, so a wrong
one is a line now rather than minutes of Ray retrying.
"""

from __future__ import annotations

import logging
import re
import socket
from typing import Any

from llm_solutions.errors import ConfigError, UserError
from llm_solutions.settings import environment

log = logging.getLogger(__name__)

RAY_ENV = "LLM_SOLUTIONS_RAY"  # the --ray setting from the environment
USAGE_STATS_ENV = "RAY_USAGE_STATS_ENABLED"  # Ray's own; off for a local instance we start
INSTALL_HINT = 'pip install "llm-solutions[ray]"'

_CONNECT_TIMEOUT = 5.0
_ADDRESS = re.compile(r"(?:ray://)?(?P<host>\[[0-9A-Fa-f:]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})")


class ClusterError(UserError):
    """The Ray cluster cannot be reached, or none of its nodes can evaluate."""


def ray_address(value: Any) -> str:
    """Reader of the ``ray`` setting: ``local``, ``auto``, ``host:port`` or ``ray://host:port``."""
    text = value.strip() if isinstance(value, str) else ""
    if text in ("local", "auto"):
        return text
    found = _ADDRESS.fullmatch(text)
    if found is None or not 0 < int(found["port"]) < 65536:
        raise ValueError("is not a Ray address; use local (a cluster on this machine), auto, host:port "
                         "or ray://host:port")
    return text


def import_ray() -> Any:
    """The ``ray`` module, or a one-line ``ConfigError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray needs Ray, which is not installed; install it with: {INSTALL_HINT}") from None
    return ray


def connect(ray: Any, address: str) -> None:
    """Start a local Ray instance (``local``) or join the cluster at ``address``."""
    quiet = {"log_to_driver": False, "logging_level": logging.WARNING}
    if address == "local":
        # A local instance started for this run does not report usage to Ray's servers
        # (set RAY_USAGE_STATS_ENABLED=1 to let it).
        environment.set_default(USAGE_STATS_ENV, "0")
        ray.init(address="local", include_dashboard=False, **quiet)
        log.info("Ray: started a local instance")
        return
    if address != "auto":
        _check_reachable(address)
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as e:
        hint = "start one with: ray start --head" if address == "auto" else "check the address"
        raise ClusterError(f"cannot connect to the Ray cluster at {address}: {first_line(e)}; {hint}") from None
    log.info("Ray: connected to the cluster at %s", address)


def _check_reachable(address: str) -> None:
    found = _ADDRESS.fullmatch(address)
    if found is None:
        return
    host = found["host"].strip("[]")
    try:
        socket.create_connection((host, int(found["port"])), timeout=_CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ClusterError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}); start it with "
                           "ray start --head on that machine, or check the address") from None


def first_line(error: BaseException) -> str:
    """An error's message in one line (its type when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0][:300].rstrip(".") if text else type(error).__name__


def cause(error: BaseException) -> str:
    """What went wrong on a node, in one line (a task error's cause, not Ray's wrapper)."""
    inner = getattr(error, "cause", None)
    if isinstance(inner, BaseException):
        error = inner
    text = first_line(error)
    return text if text.startswith(type(error).__name__) else f"{type(error).__name__}: {text}"

"""Starting a session again from nothing (``--force``): the old folder is moved aside, never
deleted, so a forced run can always be undone by moving it back."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from llm_solutions.collection.store import SESSION_ID, SessionStore
from llm_solutions.errors import ConfigError, SessionError

log = logging.getLogger(__name__)


def check_replaceable(output_dir: str | Path, session_id: str | None) -> Path | None:
    """The session folder ``--force`` would move aside (``None`` if there is none yet);
    a ``ConfigError`` without a session id, a ``SessionError`` while another process
    writes the session.  Changes nothing."""
    if not session_id:
        raise ConfigError("--force needs --session-id ID (or run.session_id in the run file): the session to "
                          "start again from nothing")
    if not SESSION_ID.fullmatch(session_id):
        raise SessionError(f"session id '{session_id}' may only use letters, digits, '.', '_' and '-'")
    path = Path(output_dir) / session_id
    if not path.exists():
        return None
    if not path.is_dir():
        raise SessionError(f"{path} is a file, not a session folder; move it away or choose another --session-id")
    store = SessionStore(path)
    store.lock()  # refuses while a run or resume holds the session
    store.unlock()
    return path


def set_aside(output_dir: str | Path, session_id: str | None, *, now: float | None = None) -> Path | None:
    """Move the session folder to ``<id>.replaced-<YYYYmmdd-HHMMSS>`` beside it; returns
    the new place (``None`` when there was no folder).  Checked as ``check_replaceable``."""
    path = check_replaceable(output_dir, session_id)
    if path is None:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now if now is not None else time.time()))
    target = path.with_name(f"{path.name}.replaced-{stamp}")
    suffix = 1
    while target.exists():
        suffix += 1
        target = path.with_name(f"{path.name}.replaced-{stamp}-{suffix}")
    path.rename(target)
    log.info("moved the old session %s aside to %s", path.name, target)
    return target

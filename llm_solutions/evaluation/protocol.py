"""The parent's side of the harness protocol (see ``harness.py`` for the child's side).

The payload goes in as ``marshal`` (the child trusts its parent, and ``marshal`` needs no
import time); the result comes back as a ``repr`` that is read with ``ast.literal_eval``,
which evaluates no code, so a hostile child can at worst send a line that is ignored.
"""

from __future__ import annotations

import ast
import marshal
import secrets
from typing import Any

RESULT_BYTES = 64 << 10  # the most of the result pipe that is read


def new_nonce() -> str:
    """A fresh secret for one run; only a result carrying it counts."""
    return secrets.token_hex(16)


def encode_payload(nonce: str, code: str, ctx: str, assertion: str, limits: dict[str, int]) -> bytes:
    """What the harness reads from its stdin."""
    return marshal.dumps({"nonce": nonce, "code": code, "ctx": ctx, "assertion": assertion, "limits": limits})


def parse_result(raw: bytes, nonce: str) -> dict[str, Any] | None:
    """The harness's result line, if it is well formed and carries this run's nonce."""
    for line in raw.decode("utf-8", errors="replace").splitlines():
        try:
            data = ast.literal_eval(line)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if isinstance(data, dict) and data.pop("nonce", None) == nonce:
            return {str(k): v for k, v in data.items()}
    return None

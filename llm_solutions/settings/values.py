"""Readers for setting values: each turns what a user wrote into a typed value.

A reader takes the value as it came (a string from the environment, a TOML value, a
Python value from code or argparse) and returns the typed value, or raises
``ValueError`` with a reason that starts with "is", which the settings layer puts after
the name and the value: ``CHECKPOINT_EVERY='x' is not a whole number; use ...``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from llm_solutions.durations import parse_duration

Reader = Callable[[Any], Any]

_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}
_NEVER = {"", "none", "never", "off"}


def yes_no(value: Any) -> bool:
    """``True``/``False`` from a bool or 1/0, true/false, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError("is not a yes/no value; use 1 or 0 (true/false)")


def whole(low: int, high: int | None = None) -> Reader:
    """A reader of whole numbers from ``low`` up to ``high`` (no upper bound when ``None``)."""
    span = f"from {low} to {high}" if high is not None else f"of at least {low}"

    def read(value: Any) -> int:
        number: int | None
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value) if isinstance(value, (int, float)) else int(str(value).strip())
        except (TypeError, ValueError, OverflowError):
            number = None
        if number is None or number < low or (high is not None and number > high):
            raise ValueError(f"is not valid; use a whole number {span}")
        return number

    return read


def positive(value: Any) -> float:
    """A positive, finite number."""
    try:
        number = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        number = -1.0
    if not number > 0 or not math.isfinite(number):
        raise ValueError("is not valid; use a positive number")
    return number


def duration_or_never(value: Any) -> float | None:
    """Seconds from ``3600``, ``"90m"``, ``"12h"``, ``"7d"``, ``"2w"``; ``None`` for never."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("is not a duration; use seconds, e.g. 86400, or 7d, or never")
    if isinstance(value, (int, float)):
        seconds: float | None = float(value)
    else:
        if str(value).strip().lower() in _NEVER:
            return None
        seconds = parse_duration(str(value))
        if seconds is None:
            raise ValueError("is not a duration; use seconds, e.g. 86400, or 7d, or never")
    if seconds is None or not seconds > 0 or not math.isfinite(seconds):
        raise ValueError("is not valid; use a positive duration (e.g. 7d) or never")
    return seconds


def text(value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool) or not str(value).strip():
        raise ValueError("is not valid; give a non-empty text")
    return str(value).strip()


def path(value: Any) -> str:
    """A file or folder path, made absolute (a resumed run may start in another folder)."""
    if not isinstance(value, (str, Path)) or not str(value).strip():
        raise ValueError("is not valid; give a file or folder path")
    return str(Path(str(value).strip()).expanduser().resolve())


def names(value: Any) -> list[str]:
    """A list of names, from a list or a comma- or space-separated string."""
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        raise ValueError("is not a list of names")
    found = [str(item).strip() for item in items]
    if not all(found) or not all(isinstance(item, (str, int)) for item in items):
        raise ValueError("is not a list of names")
    return list(dict.fromkeys(found))


def one_of(*choices: str) -> Reader:
    """A reader accepting one of ``choices`` (case-insensitive)."""

    def read(value: Any) -> str:
        chosen = str(value).strip().lower()
        if chosen not in choices:
            raise ValueError(f"is not supported; use one of: {', '.join(choices)}")
        return chosen

    return read


def optional(reader: Reader) -> Reader:
    """``reader``, letting ``None`` through (the setting may be left unset)."""

    def read(value: Any) -> Any:
        return None if value is None else reader(value)

    return read

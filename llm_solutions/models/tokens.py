"""Token estimates before a request is sent, made one way everywhere.

The rate limiter charges a request's estimate to the token bucket before sending (and
settles it against the real usage after), ``--dry-run`` prices a run with it, and the
offline model reports it as its usage.  About four characters a token is close enough for
English prose and Python for all three; chat formats add a few tokens per message for the
role markers, which keeps estimates of many short messages from falling below the truth.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from llm_solutions.models.base import Request

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def text_tokens(text: str) -> int:
    """Tokens in ``text``: at least one, about four characters each."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def prompt_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    """Tokens in a chat prompt: its text plus a few per message."""
    items = list(messages)
    return text_tokens("".join(str(m.get("content") or "") for m in items)) + TOKENS_PER_MESSAGE * len(items)


def request_tokens(request: Request) -> int:
    """Tokens a request may use: its prompt plus ``max_tokens`` (what OpenAI reserves too)."""
    return prompt_tokens(request.messages) + request.max_tokens

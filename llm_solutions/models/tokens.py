"""Token estimates before a request is sent, made one way everywhere.

The rate limiter charges a request's estimate to the token bucket before sending (and
settles it against the real usage after), ``--dry-run`` prices a run with it, and the
offline model reports it as its usage.  About four characters a token is close enough for
English prose and Python for all three; chat formats add a few tokens per message for the
role markers, which keeps estimates of many short messages from falling below the truth.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct
from collections.abc import Iterable, Mapping

from llm_solutions.models.base import Request, split_data_url

CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4
PIXELS_PER_TOKEN = 750
IMAGE_TOKENS_MIN, IMAGE_TOKENS_MAX, IMAGE_TOKENS_UNKNOWN = 85, 1_600, 1_600


def text_tokens(text: str) -> int:
    """Tokens in ``text``: at least one, about four characters each."""
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def prompt_tokens(messages: Iterable[Mapping[str, object]]) -> int:
    """Tokens in a chat prompt: its text plus a few per message."""
    items = list(messages)
    return text_tokens("".join(str(m.get("content") or "") for m in items)) + TOKENS_PER_MESSAGE * len(items)


def image_tokens(url: str) -> int:
    """Tokens one image in a prompt costs, about: its pixels over 750 (Anthropic's rule,
    close to OpenAI's tiles and Gemini's 258 per tile), between 85 and 1,600 since the
    providers scale large images down; PNG and JPEG sizes are read from the header."""
    size = image_size(url)
    if size is None:
        return IMAGE_TOKENS_UNKNOWN
    width, height = size
    return max(IMAGE_TOKENS_MIN, min(IMAGE_TOKENS_MAX, math.ceil(width * height / PIXELS_PER_TOKEN)))


def image_size(url: str) -> tuple[int, int] | None:
    """(width, height) of a PNG or JPEG ``data:`` URL, or ``None`` when it cannot be read."""
    try:
        _, data = split_data_url(url)
        head = base64.b64decode(data[:65536].rstrip("=") + "=" * (-len(data[:65536].rstrip("=")) % 4))
    except (ValueError, binascii.Error):
        return None
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) >= 24:
        width, height = struct.unpack(">II", head[16:24])
        return width, height
    if head[:2] == b"\xff\xd8":
        at = 2
        while at + 9 < len(head):
            if head[at] != 0xFF:
                return None
            marker, length = head[at + 1], struct.unpack(">H", head[at + 2:at + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", head[at + 5:at + 9])
                return width, height
            at += 2 + length
    return None


def request_prompt_tokens(request: Request) -> int:
    """Tokens of a request's prompt: its messages and its images."""
    return prompt_tokens(request.messages) + sum(image_tokens(url) for url in request.images)


def request_tokens(request: Request) -> int:
    """Tokens a request may use: its prompt plus ``max_tokens`` (what OpenAI reserves too)."""
    return request_prompt_tokens(request) + request.max_tokens

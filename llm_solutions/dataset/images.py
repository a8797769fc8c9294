"""Images of image problems: a problem's ``images`` are paths relative to its JSONL file, or
``data:`` URLs; either way they become base64 ``data:`` URLs when the dataset is loaded, so a
request carries the bytes and nothing later depends on the working folder.

Only the formats every provider with vision accepts are taken: PNG, JPEG, GIF and WebP,
recognised by their first bytes (a wrong file extension does not matter), each at most
``MAX_IMAGE_BYTES`` (Anthropic's per-image limit is 5 MB).
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_IMAGES = 20  # per problem: Claude takes up to 100 per request, Gemini and OpenAI more; prompts stay small


def media_type(data: bytes) -> str | None:
    """The image type from the file's first bytes, or ``None`` if it is none of the four."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def data_url(data: bytes) -> str:
    """``data:<type>;base64,...`` for image bytes; ``ValueError`` when they are no image."""
    kind = media_type(data)
    if kind is None:
        raise ValueError("is not a PNG, JPEG, GIF or WebP image")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"is {len(data):,} bytes, more than the {MAX_IMAGE_BYTES:,} providers take")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def resolve_image(reference: str, base: Path | None) -> str:
    """One entry of a problem's ``images`` as a data URL; ``ValueError`` says what is wrong."""
    if reference.startswith("data:"):
        head, comma, payload = reference.partition(",")
        if not comma or not head.endswith(";base64"):
            raise ValueError("is a data URL but not base64 (data:image/png;base64,...)")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is a data URL whose base64 does not decode") from None
        return data_url(raw)
    path = Path(reference).expanduser()
    if not path.is_absolute():
        if base is None:
            raise ValueError("is a relative path, but the problem has no file to be relative to; use a data URL")
        path = base / path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"names {path}, which does not exist") from None
    except OSError as e:
        raise ValueError(f"names {path}, which cannot be read ({e.strerror})") from None
    return data_url(raw)


def parse_images(value: Any, base: Path | None) -> tuple[str, ...]:
    """A problem's ``images`` field (a list of paths or data URLs) as data URLs."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise ValueError("'images' must be a list of image paths (relative to the JSONL file) or data URLs")
    if len(value) > MAX_IMAGES:
        raise ValueError(f"'images' has {len(value)} images; at most {MAX_IMAGES} per problem")
    found = []
    for index, item in enumerate(value):
        try:
            found.append(resolve_image(item.strip(), base))
        except ValueError as e:
            shown = item if len(item) <= 60 else item[:57] + "..."
            raise ValueError(f"image {index} ({shown}) {e}") from None
    return tuple(found)

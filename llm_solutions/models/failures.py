"""Turning a failed HTTP exchange into one of our ``ProviderError`` types.

Every provider SDK raises its own exception classes, but what they carry is the same: an
HTTP status, response headers, and an error message from the body.  The provider modules
pull those three out of their SDK's exception and hand them to ``error_for_status``, which
picks the error type the runner acts on (retry, wait, stop the model, give up on the
request).  Wording checks live here too, because providers signal "quota gone" and
"prompt too long" only in their messages.

A server that cannot be reached at all (connection refused or reset, unknown host) is
told apart from one that answered: ``connection_failure`` looks through the exception
chain, below whatever the SDK made of it (the OpenAI SDK's aiohttp transport reports a
refused connection as a timeout), and gives a ``ConnectionFailedError`` that names the
server.  The limiter counts those to notice a provider that is down.
"""

from __future__ import annotations

import errno
import os
import re
import socket
from collections.abc import Mapping
from typing import Any

import aiohttp

from llm_solutions.errors import (
    AuthenticationError,
    BadRequestError,
    ContentRefusedError,
    ContextLengthError,
    ProviderError,
    QuotaExhaustedError,
    RateLimitError,
    RequestTimeoutError,
    TransientError,
)
from llm_solutions.headers import lowered
from llm_solutions.headers import retry_after as hinted_wait

# Server messages longer than this are cut in records and logs (proxies answer with pages).
MESSAGE_LIMIT = 500
_SPACE = re.compile(r"\s+")
# OS errors that mean nothing reached the server, or the server dropped the connection.
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH,
                       errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT}
_ERRNO_WORDS = {errno.ECONNREFUSED: "connection refused", errno.ECONNRESET: "connection reset by the server",
                errno.ETIMEDOUT: "connecting timed out"}


class ConnectionFailedError(TransientError):
    """The server could not be reached: connection refused or reset, unknown host.

    Retryable like any transient failure; the limiter also counts these in a row to
    pause (and eventually stop) a provider that is down rather than spend every queued
    task's attempts on it.
    """

    kind = "connection"

    def __init__(self, message: str, *, reason: str = "cannot connect", target: str | None = None,
                 provider: str | None = None) -> None:
        super().__init__(message, provider=provider)
        self.reason = reason
        self.target = target


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` with every run of white space (newlines too) made one space, cut to ``limit``."""
    flat = _SPACE.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def _unreachable_reason(error: BaseException) -> str | None:
    """Why nothing could be exchanged with the server, from an exception chain, or ``None``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientConnectorError):
            # It wraps the OS error without chaining it.
            inner = _unreachable_reason(current.os_error)
            return inner or "cannot connect"
        if isinstance(current, socket.gaierror):
            return "unknown host"
        if isinstance(current, aiohttp.ServerDisconnectedError):
            return "the server closed the connection"
        if isinstance(current, OSError) and current.errno in _UNREACHABLE_ERRNOS:
            return _ERRNO_WORDS.get(current.errno) or os.strerror(current.errno).lower()
        current = current.__cause__ or current.__context__
    return None


def connection_failure(provider: str, name: str, base_url: str | None, error: BaseException
                       ) -> ConnectionFailedError | None:
    """A ``ConnectionFailedError`` when ``error`` (anything an SDK raised) means the server
    could not be reached, else ``None``."""
    reason = _unreachable_reason(error)
    if reason is None:
        return None
    where = base_url or "the provider"
    return ConnectionFailedError(f"{name}: could not reach the server at {where} ({reason})", reason=reason,
                                 target=base_url, provider=provider)

def lost_connection(provider: str, name: str, base_url: str | None, error: BaseException, *,
                    timed_out: bool) -> ProviderError:
    """What a request that got no answer raises: ``ConnectionFailedError`` when the server
    could not be reached, ``RequestTimeoutError`` when it did not answer in time
    (``timed_out``: the SDK's own timeout type), else a ``TransientError``."""
    unreachable = connection_failure(provider, name, base_url, error)
    if unreachable is not None:
        return unreachable
    if timed_out:
        return RequestTimeoutError(f"{name}: request timed out", provider=provider)
    return TransientError(f"{name}: connection failed: {one_line(str(error))}", provider=provider)


# A 429 or 402 with this wording means the key has no budget left; waiting will not help.
_QUOTA_WORDS = re.compile(
    r"insufficient[_ ]quota|exceeded your current quota.*(plan|billing)|credit balance|"
    r"out of credits|insufficient (credits|balance)|daily (limit|quota)|per[- ]day|"
    r"billing (hard )?limit|spend(ing)? limit|quota (has been )?exhausted|payment required",
    re.IGNORECASE,
)

_CONTEXT_WORDS = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens|"
    r"input token count .* exceeds|exceeds the maximum number of tokens|"
    r"reduce the length of the messages|input length and `?max_tokens`? exceed|"
    r"maximum (input )?length|token limit",
    re.IGNORECASE,
)

_REFUSAL_WORDS = re.compile(
    r"content[_ ](policy|filter|management)|safety (system|filter)|flagged|moderation",
    re.IGNORECASE,
)


def mentions_quota(text: str | None) -> bool:
    """True when an error message says the key's quota or credit is used up."""
    return text is not None and bool(_QUOTA_WORDS.search(text))


def mentions_context_length(text: str | None) -> bool:
    """True when an error message says the prompt does not fit the context window."""
    return text is not None and bool(_CONTEXT_WORDS.search(text))


def mentions_refusal(text: str | None) -> bool:
    """True when an error message says a safety or content filter refused the request."""
    return text is not None and bool(_REFUSAL_WORDS.search(text))


def error_for_status(
    provider: str,
    status: int | None,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: float | None = None,
    quota: bool | None = None,
    context_length: bool | None = None,
    refusal: bool | None = None,
) -> ProviderError:
    """The ``ProviderError`` for an HTTP error response.

    ``quota``, ``context_length`` and ``refusal`` let a provider module decide from its
    structured error codes; left ``None``, the message wording decides.  ``retry_after``
    overrides the hint read from the headers (Gemini puts it in the body).
    """
    hdrs = lowered(headers)
    message = one_line(message)
    hint = retry_after if retry_after is not None else hinted_wait(hdrs)
    fields: dict[str, Any] = {"provider": provider, "status": status, "headers": hdrs, "retry_after": hint}
    quota = mentions_quota(message) if quota is None else quota
    if status == 429:
        return (QuotaExhaustedError if quota else RateLimitError)(message, **fields)
    if status == 402 or (quota and status in (400, 403)):
        return QuotaExhaustedError(message, **fields)
    if status in (401, 403):
        return AuthenticationError(message, **fields)
    if status in (408, 504):
        return RequestTimeoutError(message, **fields)
    if status is not None and status >= 500:
        return TransientError(message, **fields)
    if context_length if context_length is not None else mentions_context_length(message):
        return ContextLengthError(message, **fields)
    if refusal if refusal is not None else mentions_refusal(message):
        return ContentRefusedError(message, **fields)
    return BadRequestError(message, **fields)

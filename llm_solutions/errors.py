"""The error types of llm_solutions.

Two families:

* ``UserError`` and its subclasses are mistakes the user can fix (a bad dataset line, an
  unknown model, a missing key, a session that does not exist).  The command line prints
  their message as one line and exits non-zero, without a traceback.
* ``ProviderError`` and its subclasses are what a provider module raises when a request
  fails.  Provider modules map their SDK's exceptions to these at the boundary (``raise
  RateLimitError(...) from e``) so that retries, rate limiting and recording live in one
  place and never need to know an SDK's exception classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_solutions.headers import lowered

if TYPE_CHECKING:
    from llm_solutions.models.base import Completion


class LLMSolutionsError(Exception):
    """Base class of every error this library raises on purpose."""


# --- user errors -------------------------------------------------------------------------


class UserError(LLMSolutionsError):
    """A problem with the user's input or setup; the message says what and how to fix it."""


class ConfigError(UserError):
    """Bad configuration: unknown model, missing key, bad models file, bad option value."""


class DatasetError(UserError):
    """A dataset that cannot be used; ``problems`` lists each ``file:line: reason``."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class SessionError(UserError):
    """A session folder that is missing, locked or unreadable."""


# --- provider errors ---------------------------------------------------------------------


class ProviderError(LLMSolutionsError):
    """A request to a model provider failed.

    ``retryable`` tells the caller whether another attempt can succeed; ``stops_model``
    whether the model should get no more requests in this session (bad key, quota gone).
    ``headers`` are the response headers when there was a response (rate-limit hints).
    ``completion`` is set when the provider answered and billed, but the answer cannot be
    used (empty, refused): the caller still counts its tokens and cost.
    """

    kind = "provider_error"
    retryable = False
    stops_model = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
        completion: Completion | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.retry_after = retry_after
        self.headers = lowered(headers)
        self.completion = completion

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.message}{status}"


class RateLimitError(ProviderError):
    """HTTP 429 or the provider's equivalent; ``retry_after`` is the server's hint in seconds."""

    kind = "rate_limit"
    retryable = True


class QuotaExhaustedError(ProviderError):
    """The key's quota (daily tokens, credit balance) is gone; waiting a minute will not help."""

    kind = "quota_exhausted"
    stops_model = True


class TransientError(ProviderError):
    """A failure worth retrying: 5xx, 529 overloaded, timeout, dropped connection, bad JSON."""

    kind = "transient"
    retryable = True


class RequestTimeoutError(TransientError):
    """The request took longer than the per-request timeout."""

    kind = "timeout"


class AuthenticationError(ProviderError):
    """The key is missing, wrong or lacks permission; the model is stopped for the session."""

    kind = "authentication"
    stops_model = True


class BadRequestError(ProviderError):
    """The provider refused this request as sent; retrying the same request cannot help."""

    kind = "bad_request"


class ContextLengthError(BadRequestError):
    """The prompt plus ``max_tokens`` does not fit the model's context window."""

    kind = "context_length"


class ContentRefusedError(BadRequestError):
    """The provider's safety system refused the request or its answer."""

    kind = "content_refused"


class EmptyResponseError(TransientError):
    """The provider answered successfully but with no text."""

    kind = "empty_response"

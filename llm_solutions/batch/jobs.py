"""What every provider's batch API comes down to: submit, look up, find again, read the
results, cancel.  ``BatchAPI`` is the provider-neutral face; ``openai``, ``anthropic``
and ``google`` hold each SDK's wire mapping and nothing else."""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from llm_solutions.errors import ProviderError
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.failures import error_for_status

# Custom ids every provider accepts (Anthropic's rule is the strictest).
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def custom_id(key: str) -> str:
    """A request's id inside a batch: its task key, or a digest where the key has
    characters (or a length) a provider refuses."""
    if _SAFE_ID.match(key):
        return key
    return "k" + hashlib.blake2b(key.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class JobStatus:
    """A batch as the provider last described it, in our words.

    ``state``: ``in_progress``, ``cancelling``, ``ended``, ``expired``, ``failed`` or
    ``cancelled``; ``counts`` the provider's request counts; ``expires`` Unix seconds.
    """

    state: str
    counts: dict[str, int] = field(default_factory=dict)
    expires: float | None = None
    note: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("ended", "expired", "failed", "cancelled")


@dataclass
class Outcome:
    """One request's result: an answer, or the error the provider recorded for it (an
    error may carry a billed but unusable answer, as online)."""

    custom_id: str
    completion: Completion | None = None
    error: ProviderError | None = None


@dataclass
class Submitted:
    """A batch the provider accepted.  ``verified`` is false for a batch found again by
    its size and time only, whose request ids could not be read yet (see ``custom_ids``)."""

    batch_id: str
    input_file_id: str | None
    status: JobStatus
    verified: bool = True


class BatchAPI(abc.ABC):
    """One model's batch endpoint.  Requests of one batch all go to one model.

    ``max_requests`` and ``max_bytes`` are the provider's limits per batch (a little under
    the published ones, for the envelope around each request).
    """

    provider: ClassVar[str] = ""
    max_requests: ClassVar[int] = 50_000
    max_bytes: ClassVar[int] = 190 * 1024 * 1024
    #: ``entry`` gives bytes, which ``submit`` gets as one file to read (not a list).
    spooled: ClassVar[bool] = False

    def __init__(self, model: BaseModel) -> None:
        self.model = model
        self.client: Any = model.client

    @abc.abstractmethod
    def entry(self, cid: str, request: Request) -> tuple[Any, int]:
        """The request as it goes into a batch, and its size in bytes."""

    @abc.abstractmethod
    async def submit(self, entries: Any, tag: str, uploaded: Callable[[str], Awaitable[None]]) -> Submitted:
        """Send one batch labelled ``tag``: ``entries`` is the list of ``entry`` bodies, or
        a binary file of them where ``spooled``; ``uploaded`` hears of an input file before
        the batch that uses it is created (so the ledger can name it)."""

    @abc.abstractmethod
    async def status(self, batch_id: str) -> JobStatus:
        """The batch's state now."""

    @abc.abstractmethod
    async def find(self, tag: str, since: float, cids: set[str], claimed: set[str]) -> Submitted | None:
        """A batch submitted as ``tag`` (at or after ``since``, holding the requests
        ``cids``, not among ``claimed``), when a crash kept its id out of the ledger."""

    async def custom_ids(self, batch_id: str) -> set[str] | None:
        """The request ids a batch holds, or ``None`` while the provider cannot tell yet
        (only needed where ``find`` may return an unverified batch)."""
        return {outcome.custom_id async for outcome in self.results(batch_id)}

    @abc.abstractmethod
    def results(self, batch_id: str) -> AsyncIterator[Outcome]:
        """Each request's result, streamed as downloaded; requests that got none
        (expired, cancelled) are left out."""

    @abc.abstractmethod
    async def cancel(self, batch_id: str) -> JobStatus:
        """Ask the provider to stop the batch; results so far stay downloadable."""

    # --- shared helpers -----------------------------------------------------------------

    def failure(self, status: int | None, message: str, code: str = "") -> ProviderError:
        """A per-request error as the online path would type it."""
        quota = True if code in ("insufficient_quota", "billing_error") else None
        context = True if code == "context_length_exceeded" else None
        refusal = True if code in ("content_filter", "content_policy_violation") else None
        return error_for_status(self.model.provider, status, f"{self.model.name}: {message}", {},
                                quota=quota, context_length=context, refusal=refusal)

    def answer(self, cid: str, build: Callable[[], Completion]) -> Outcome:
        """The outcome of a returned answer; refusals and empty answers are billed errors."""
        try:
            return Outcome(cid, completion=build())
        except ProviderError as error:
            return Outcome(cid, completion=error.completion, error=error)

"""Anthropic's Message Batches: create with ``custom_id``s, retrieve, stream the results,
cancel.

A message batch carries no label of ours (no metadata, no name), and the API shows a
batch's requests only through its results, once it has ended.  So a batch lost between
"sent" and "written down" is looked for among the batches created after the intent with
the same number of requests, oldest first: an ended one is taken only if its results hold
exactly the intent's ``custom_id``s (which name the model and the task); one still running
is taken unverified, and its ids are checked before any of its results is recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anthropic

from llm_solutions.batch.jobs import BatchAPI, JobStatus, Outcome, Submitted
from llm_solutions.errors import TransientError
from llm_solutions.models.anthropic import AnthropicModel
from llm_solutions.models.failures import connection_failure, one_line

# The statuses Anthropic gives an errored request's error type.
_ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "billing_error": 402,
                 "permission_error": 403, "not_found_error": 404, "request_too_large": 413,
                 "rate_limit_error": 429, "api_error": 500, "overloaded_error": 529}


class AnthropicBatches(BatchAPI):
    """Message Batches (100,000 requests or 256 MB per batch)."""

    provider = "anthropic"
    max_requests = 100_000
    max_bytes = 250 * 1024 * 1024

    @property
    def messages(self) -> AnthropicModel:
        assert isinstance(self.model, AnthropicModel)
        return self.model

    @contextmanager
    def _wire(self) -> Iterator[None]:
        try:
            yield
        except anthropic.APIStatusError as e:
            raise self.messages.status_error(e) from e
        except anthropic.APIConnectionError as e:
            raise connection_failure(self.model.provider, self.model.name, self.model.base_url, e) or TransientError(
                f"{self.model.name}: batch API: {one_line(str(e))}", provider=self.model.provider) from e

    def entry(self, cid: str, request: Any) -> tuple[Any, int]:
        params = self.messages.body(request)
        params.update(params.pop("extra_body", None) or {})
        item = {"custom_id": cid, "params": params}
        return item, len(json.dumps(item, ensure_ascii=False).encode("utf-8")) + 2

    @staticmethod
    def _status(batch: Any) -> JobStatus:
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        state = {"in_progress": "in_progress", "canceling": "cancelling"}.get(batch.processing_status, "ended")
        if state == "ended" and batch.cancel_initiated_at is not None:
            state = "cancelled"
        elif state == "ended" and counts.get("expired"):
            state = "expired"
        expires = batch.expires_at.timestamp() if batch.expires_at is not None else None
        return JobStatus(state=state, counts=counts, expires=expires)

    async def submit(self, entries: Any, tag: str, uploaded: Callable[[str], Awaitable[None]]) -> Submitted:
        with self._wire():
            batch = await self.client.messages.batches.create(requests=entries)
        return Submitted(batch.id, None, self._status(batch))

    async def status(self, batch_id: str) -> JobStatus:
        with self._wire():
            return self._status(await self.client.messages.batches.retrieve(batch_id))

    async def find(self, tag: str, since: float, cids: set[str], claimed: set[str]) -> Submitted | None:
        candidates = []
        with self._wire():
            async for batch in self.client.messages.batches.list(limit=100):
                created = batch.created_at.timestamp()
                if created < since - 3600:
                    break  # newest first
                total = sum(batch.request_counts.model_dump().values())
                # Clocks differ a little between here and the provider.
                if created >= since - 60 and total == len(cids) and batch.id not in claimed:
                    candidates.append(batch)
        for batch in sorted(candidates, key=lambda b: b.created_at):
            status = self._status(batch)
            if not status.finished:
                return Submitted(batch.id, None, status, verified=False)
            if await self.custom_ids(batch.id) == cids:
                return Submitted(batch.id, None, status)
        return None

    async def custom_ids(self, batch_id: str) -> set[str] | None:
        with self._wire():
            batch = await self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status != "ended":
                return None  # results (and so the ids) exist only once the batch has ended
            stream = await self.client.messages.batches.results(batch_id)
            return {item.custom_id async for item in stream}

    async def results(self, batch_id: str) -> AsyncIterator[Outcome]:
        with self._wire():
            stream = await self.client.messages.batches.results(batch_id)
            async for item in stream:
                outcome = self._outcome(item)
                if outcome is not None:
                    yield outcome

    def _outcome(self, item: Any) -> Outcome | None:
        result = item.result
        if result.type == "succeeded":
            message = result.message.model_dump(mode="json")
            return self.answer(item.custom_id, lambda: self.messages.completion(message, {}, 0.0))
        if result.type == "errored":
            inner = getattr(result.error, "error", None)
            kind = str(getattr(inner, "type", "") or "api_error")
            message = str(getattr(inner, "message", "") or kind)
            return Outcome(item.custom_id, error=self.failure(_ERROR_STATUS.get(kind, 500), message, kind))
        return None  # canceled or expired: no result, the key is sent again

    async def cancel(self, batch_id: str) -> JobStatus:
        with self._wire():
            return self._status(await self.client.messages.batches.cancel(batch_id))

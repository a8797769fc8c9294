"""OpenAI's Batch API: upload a JSONL file of ``/v1/chat/completions`` requests, create a
batch with our tag in its metadata, stream the output and error files back."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import openai

from llm_solutions.batch.jobs import BatchAPI, JobStatus, Outcome, Submitted
from llm_solutions.errors import TransientError
from llm_solutions.models.failures import connection_failure, one_line
from llm_solutions.models.openai import OpenAIChatModel

ENDPOINT = "/v1/chat/completions"
TAG_FIELD = "llm_solutions_batch"
_STATES = {"validating": "in_progress", "in_progress": "in_progress", "finalizing": "in_progress",
           "cancelling": "cancelling", "completed": "ended", "expired": "expired", "failed": "failed",
           "cancelled": "cancelled"}
# Error-file codes that mean "no result for this request", not a failed request.
_UNANSWERED = {"batch_expired", "batch_cancelled"}


class OpenAIBatches(BatchAPI):
    """The Batch API of OpenAI's own service (50,000 requests or 200 MB per file)."""

    provider = "openai"
    max_requests = 50_000
    max_bytes = 190 * 1024 * 1024
    spooled = True  # the requests go up as one JSONL file, streamed from disk

    @property
    def chat(self) -> OpenAIChatModel:
        assert isinstance(self.model, OpenAIChatModel)
        return self.model

    @contextmanager
    def _wire(self) -> Iterator[None]:
        try:
            yield
        except openai.APIStatusError as e:
            raise self.chat.status_error(e) from e
        except openai.APIConnectionError as e:
            raise connection_failure(self.model.provider, self.model.name, self.model.base_url, e) or TransientError(
                f"{self.model.name}: batch API: {one_line(str(e))}", provider=self.model.provider) from e

    def entry(self, cid: str, request: Any) -> tuple[Any, int]:
        line = {"custom_id": cid, "method": "POST", "url": ENDPOINT,
                "body": self.chat.body(request, self.model.api_model)}
        data = json.dumps(line, ensure_ascii=False).encode("utf-8") + b"\n"
        return data, len(data)

    @staticmethod
    def _status(batch: Any) -> JobStatus:
        counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
        return JobStatus(state=_STATES.get(batch.status, "in_progress"), counts=counts,
                         expires=float(batch.expires_at) if batch.expires_at else None,
                         note=_errors(batch))

    async def submit(self, entries: Any, tag: str, uploaded: Callable[[str], Awaitable[None]]) -> Submitted:
        content = b"".join(entries) if isinstance(entries, list) else entries
        with self._wire():
            file = await self.client.files.create(file=(f"{tag}.jsonl", content, "application/jsonl"),
                                                  purpose="batch")
        await uploaded(file.id)
        with self._wire():
            batch = await self.client.batches.create(input_file_id=file.id, endpoint=ENDPOINT,
                                                     completion_window="24h", metadata={TAG_FIELD: tag})
        return Submitted(batch.id, file.id, self._status(batch))

    async def status(self, batch_id: str) -> JobStatus:
        with self._wire():
            return self._status(await self.client.batches.retrieve(batch_id))

    async def find(self, tag: str, since: float, cids: set[str], claimed: set[str]) -> Submitted | None:
        with self._wire():
            async for batch in self.client.batches.list(limit=100):
                if (batch.metadata or {}).get(TAG_FIELD) == tag and batch.id not in claimed:
                    return Submitted(batch.id, batch.input_file_id, self._status(batch))
                if batch.created_at < since - 3600:
                    break  # newest first: nothing older can be ours
        return None

    async def results(self, batch_id: str) -> AsyncIterator[Outcome]:
        with self._wire():
            batch = await self.client.batches.retrieve(batch_id)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            with self._wire():
                async with self.client.files.with_streaming_response.content(file_id) as response:
                    async for line in response.iter_lines():
                        outcome = self._outcome(line)
                        if outcome is not None:
                            yield outcome

    def _outcome(self, line: str) -> Outcome | None:
        if not line.strip():
            return None
        try:
            data = json.loads(line)
        except ValueError:
            return None
        cid = str(data.get("custom_id") or "")
        response = data.get("response") if isinstance(data.get("response"), dict) else None
        if response is not None and response.get("status_code") == 200:
            return self.answer(cid, lambda: self.chat.completion(response.get("body"), {}, 0.0))
        if response is not None:
            body: dict[str, Any] = response["body"] if isinstance(response.get("body"), dict) else {}
            error: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
            return Outcome(cid, error=self.failure(int(response.get("status_code") or 500),
                                                   str(error.get("message") or "request failed"),
                                                   str(error.get("code") or error.get("type") or "")))
        failed: dict[str, Any] = data["error"] if isinstance(data.get("error"), dict) else {}
        if str(failed.get("code")) in _UNANSWERED:
            return None
        return Outcome(cid, error=self.failure(400, str(failed.get("message") or "request failed"),
                                               str(failed.get("code") or "")))

    async def cancel(self, batch_id: str) -> JobStatus:
        with self._wire():
            return self._status(await self.client.batches.cancel(batch_id))


def _errors(batch: Any) -> str | None:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    messages = [str(getattr(item, "message", "") or "") for item in data]
    return one_line("; ".join(m for m in messages if m)) or None


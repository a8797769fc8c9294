"""Gemini batch jobs: inline requests under 20 MB, else a JSONL file uploaded first; the
job's display name is our tag; results come inline or as a file, which is read line by
line as it downloads (a results file of a 100,000-request job is never held whole)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from google.genai import _common, types
from google.genai import batches as genai_batches
from google.genai import errors as genai_errors

from llm_solutions.batch.jobs import BatchAPI, JobStatus, Outcome, Submitted
from llm_solutions.errors import TransientError
from llm_solutions.models.failures import connection_failure, one_line
from llm_solutions.models.google import GoogleModel

_STATES = {"JOB_STATE_SUCCEEDED": "ended", "JOB_STATE_PARTIALLY_SUCCEEDED": "ended", "JOB_STATE_FAILED": "failed",
           "JOB_STATE_CANCELLING": "cancelling", "JOB_STATE_CANCELLED": "cancelled",
           "JOB_STATE_EXPIRED": "expired"}
# google.rpc codes as the HTTP statuses the online path types errors by.
_RPC_STATUS = {3: 400, 4: 504, 5: 404, 7: 403, 8: 429, 9: 400, 11: 400, 13: 500, 14: 503, 16: 401}


class GoogleBatches(BatchAPI):
    """Gemini Developer API batch jobs (``models/{model}:batchGenerateContent``)."""

    provider = "google"
    max_requests = 100_000
    max_bytes = 1_900 * 1024 * 1024
    #: Above this many bytes the requests go in an uploaded file instead of inline.
    inline_bytes = 19 * 1024 * 1024

    def __init__(self, model: Any, *, inline_bytes: int | None = None) -> None:
        super().__init__(model)
        if inline_bytes is not None:
            self.inline_bytes = inline_bytes

    @property
    def gemini(self) -> GoogleModel:
        assert isinstance(self.model, GoogleModel)
        return self.model

    @contextmanager
    def _wire(self) -> Iterator[None]:
        try:
            yield
        except genai_errors.APIError as e:
            raise self.gemini.status_error(e) from e
        except (TimeoutError, aiohttp.ClientError) as e:
            raise connection_failure(self.model.provider, self.model.name, self.model.base_url, e) or TransientError(
                f"{self.model.name}: batch API: {one_line(str(e))}", provider=self.model.provider) from e

    def entry(self, cid: str, request: Any) -> tuple[Any, int]:
        inline = types.InlinedRequest(contents=self.gemini.contents(request), config=self.gemini.config_for(request),
                                      metadata={"key": cid})
        # The SDK's own mapping to the wire, so the file form and the inline form agree.
        wire = _common.convert_to_dict(genai_batches._InlinedRequest_to_mldev(self.client._api_client, inline))
        line = json.dumps({"key": cid, "request": wire.get("request", {})}, ensure_ascii=False).encode("utf-8")
        return (inline, line + b"\n"), len(line) + 1

    @staticmethod
    def _status(job: Any) -> JobStatus:
        state = getattr(job.state, "value", job.state) or "JOB_STATE_PENDING"
        stats = job.completion_stats
        counts = stats.model_dump(exclude_none=True) if stats is not None else {}
        return JobStatus(state=_STATES.get(str(state), "in_progress"), counts=counts,
                         note=one_line(str(job.error.message)) if job.error is not None and job.error.message else None)

    async def submit(self, entries: Any, tag: str, uploaded: Callable[[str], Awaitable[None]]) -> Submitted:
        size = sum(len(line) for _, line in entries)
        source: Any
        file_id = None
        with self._wire():
            if size <= self.inline_bytes:
                source = [inline for inline, _ in entries]
            else:
                file = await self.client.aio.files.upload(
                    file=io.BytesIO(b"".join(line for _, line in entries)),
                    config=types.UploadFileConfig(display_name=tag, mime_type="jsonl"))
                file_id = str(file.name)
                await uploaded(file_id)
                source = file_id
            job = await self.client.aio.batches.create(model=self.model.api_model, src=source,
                                                       config=types.CreateBatchJobConfig(display_name=tag))
        return Submitted(str(job.name), file_id, self._status(job))

    async def status(self, batch_id: str) -> JobStatus:
        with self._wire():
            return self._status(await self.client.aio.batches.get(name=batch_id))

    async def find(self, tag: str, since: float, cids: set[str], claimed: set[str]) -> Submitted | None:
        with self._wire():
            async for job in await self.client.aio.batches.list(config=types.ListBatchJobsConfig(page_size=100)):
                if job.display_name == tag and job.name not in claimed:
                    return Submitted(str(job.name), None, self._status(job))
        return None

    async def results(self, batch_id: str) -> AsyncIterator[Outcome]:
        with self._wire():
            job = await self.client.aio.batches.get(name=batch_id)
        dest = job.dest
        if dest is None:
            return
        if dest.inlined_responses:
            for item in dest.inlined_responses:
                outcome = self._outcome((item.metadata or {}).get("key", ""), item.response, item.error)
                if outcome is not None:
                    yield outcome
        elif dest.file_name:
            async for line in self._download_lines(dest.file_name):
                outcome = self._file_outcome(line)
                if outcome is not None:
                    yield outcome

    async def _download_lines(self, file_name: str) -> AsyncIterator[bytes]:
        """The results file's lines as they arrive: the SDK writes the download in chunks
        to a writer of ours, which hands whole lines over through a short queue (so the
        download waits while the lines are being recorded, and memory stays flat)."""
        lines = _LineQueue()

        async def download() -> None:
            try:
                with self._wire():
                    await self.client.aio.files.download(file=file_name, destination=lines)
            finally:
                await lines.finish()

        task = asyncio.create_task(download())
        try:
            while (line := await lines.get()) is not None:
                yield line
            await task  # raises what the download raised
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _file_outcome(self, line: bytes) -> Outcome | None:
        if not line.strip():
            return None
        try:
            row = json.loads(line)
        except ValueError:
            return None
        if not isinstance(row, dict):
            return None
        response = row.get("response")
        parsed = types.GenerateContentResponse.model_validate(response) if response else None
        error = types.JobError.model_validate(row["error"]) if row.get("error") else None
        return self._outcome(str(row.get("key", "")), parsed, error)

    def _outcome(self, cid: str, response: Any, error: Any) -> Outcome | None:
        if response is not None:
            return self.answer(cid, lambda: self.gemini.completion(response, 0.0))
        if error is not None:
            status = _RPC_STATUS.get(int(error.code or 13), 500)
            return Outcome(cid, error=self.failure(status, str(error.message or "request failed")))
        return None

    async def cancel(self, batch_id: str) -> JobStatus:
        with self._wire():
            await self.client.aio.batches.cancel(name=batch_id)
            return self._status(await self.client.aio.batches.get(name=batch_id))


class _LineQueue:
    """A writable stream for the SDK's chunked download that queues whole lines; ``get``
    returns ``None`` once the download is over."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1024)
        self._rest = b""

    def write(self, chunk: Any) -> Any:  # the SDK awaits what ``write`` returns
        return self._put(bytes(chunk))

    async def _put(self, chunk: bytes) -> int:
        *whole, self._rest = (self._rest + chunk).split(b"\n")
        for line in whole:
            await self._queue.put(line)
        return len(chunk)

    async def finish(self) -> None:
        if self._rest:
            await self._queue.put(self._rest)
            self._rest = b""
        await self._queue.put(None)

    async def get(self) -> bytes | None:
        return await self._queue.get()

"""The fake server's batch endpoints: OpenAI's Batch API (files, batches), Anthropic's
Message Batches and Gemini batch jobs (inline requests, or a file uploaded through the
resumable upload protocol, whose job writes its results to a file), as each SDK calls them.

A batch stays in progress for ``polls_to_finish`` looks, then ends; each request's answer
comes from ``responder(api, body)`` as online (a ``Fail`` becomes that request's error
inside the batch).  ``expire_next = N`` makes the next batch to end expire with only its
first N requests answered (``expire_every = N``: every batch); ``submitted[api]`` lists
every custom id ever submitted; ``answered[api]`` maps each custom id to the ids of the
batches that produced a result for it (so a test can tell a key sent again after it had
a result).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from tests.support.fake_providers import FakeProviders
from tests.support.fake_wire import (
    Fail,
    Reply,
    anthropic_failure,
    anthropic_success,
    camel_keys,
    gemini_failure,
    gemini_success,
    openai_failure,
    openai_success,
)

_ids = itertools.count(1)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")


class FakeBatches(FakeProviders):
    """``FakeProviders`` plus the three batch APIs; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.polls_to_finish = 1
        self.expire_next: int | None = None
        self.expire_every: int | None = None
        self.batches: dict[str, dict[str, Any]] = {}
        self.files: dict[str, bytes] = {}
        self.submitted: dict[str, list[str]] = {"openai": [], "anthropic": [], "gemini": []}
        self.answered: dict[str, dict[str, list[str]]] = {"openai": {}, "anthropic": {}, "gemini": {}}
        self.uploads: dict[str, bytearray] = {}
        self._upload_meta: dict[str, dict[str, Any]] = {}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self._upload)
        app.router.add_get("/v1/files/{id}/content", self._file)
        app.router.add_post("/v1/batches", self._openai_create)
        app.router.add_get("/v1/batches", self._openai_list)
        app.router.add_get("/v1/batches/{id}", self._openai_get)
        app.router.add_post("/v1/batches/{id}/cancel", self._openai_cancel)
        app.router.add_post("/v1/messages/batches", self._anthropic_create)
        app.router.add_get("/v1/messages/batches", self._anthropic_list)
        app.router.add_get("/v1/messages/batches/{id}", self._anthropic_get)
        app.router.add_post("/v1/messages/batches/{id}/cancel", self._anthropic_cancel)
        app.router.add_get("/v1/messages/batches/{id}/results", self._anthropic_results)
        # Gemini's v1 paths are OpenAI's too; the handlers tell them apart by the batch.
        app.router.add_post("/v1/batches/{id}:cancel", self._gemini_cancel)
        for version in ("v1", "v1beta"):
            app.router.add_post(f"/{version}/models/{{model}}:batchGenerateContent", self._gemini_create)
        app.router.add_get("/v1beta/batches", self._gemini_list)
        app.router.add_get("/v1beta/batches/{id}", self._gemini_get)
        app.router.add_post("/v1beta/batches/{id}:cancel", self._gemini_cancel)
        for version in ("v1", "v1beta"):
            app.router.add_post(f"/upload/{version}/files", self._gemini_upload)
            app.router.add_get(f"/{version}/files/{{name}}:download", self._gemini_download)

    # --- the life of a batch -------------------------------------------------------------

    def _new(self, api: str, requests: list[tuple[str, Any]], **extra: Any) -> dict[str, Any]:
        batch_id = f"{api[:3]}batch_{next(_ids)}_{uuid.uuid4().hex[:6]}"
        self.submitted[api].extend(cid for cid, _ in requests)
        batch = {"id": batch_id, "api": api, "requests": requests, "state": "in_progress", "polls": 0,
                 "created": time.time(), "results": [], **extra}
        self.batches[batch_id] = batch
        return batch

    def _advance(self, batch: dict[str, Any]) -> None:
        if batch["state"] not in ("in_progress", "cancelling"):
            return
        batch["polls"] += 1
        if batch["state"] == "cancelling":
            self._finish(batch, 0, "cancelled")
        elif batch["polls"] >= self.polls_to_finish:
            if self.expire_next is not None:
                answered, self.expire_next = self.expire_next, None
                self._finish(batch, answered, "expired")
            elif self.expire_every is not None:
                self._finish(batch, self.expire_every, "expired")
            else:
                self._finish(batch, len(batch["requests"]), "ended")

    def _finish(self, batch: dict[str, Any], answered: int, state: str) -> None:
        batch["state"], batch["ended"] = state, time.time()
        for index, (cid, body) in enumerate(batch["requests"]):
            item = self._next(batch["api"], body) if index < answered else None
            batch["results"].append((cid, body, item))
            if item is not None:
                self.answered[batch["api"]].setdefault(cid, []).append(batch["id"])

    def _get(self, request: web.Request) -> dict[str, Any]:
        batch = self.batches.get(request.match_info["id"].removeprefix("batches/"))
        if batch is None:
            raise web.HTTPNotFound(text=json.dumps({"error": {"message": "no such batch"}}),
                                   content_type="application/json")
        return batch

    # --- OpenAI ----------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read() if hasattr(upload, "file") else bytes(str(upload), "utf-8")
        file_id = f"file-{uuid.uuid4().hex[:12]}"
        self.files[file_id] = data
        return web.json_response({"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                                  "filename": getattr(upload, "filename", "input.jsonl"), "purpose": "batch",
                                  "status": "processed"})

    async def _file(self, request: web.Request) -> web.Response:
        return web.Response(body=self.files[request.match_info["id"]], content_type="application/octet-stream")

    def _openai_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        state = {"ended": "completed"}.get(batch["state"], batch["state"])
        done = [r for r in batch["results"] if r[2] is not None]
        failed = sum(isinstance(r[2], Fail) for r in done)
        view = {"id": batch["id"], "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
                "input_file_id": batch["input_file_id"], "status": state, "created_at": int(batch["created"]),
                "expires_at": int(batch["created"]) + 86400, "metadata": batch["metadata"],
                "request_counts": {"total": len(batch["requests"]), "completed": len(done) - failed,
                                   "failed": failed}}
        if batch["results"]:
            outputs, errors = [], []
            for cid, body, item in batch["results"]:
                if item is None:
                    errors.append({"id": "r", "custom_id": cid, "response": None,
                                   "error": {"code": "batch_expired", "message": "expired"}})
                    continue
                wire = (openai_failure("openai", item, body) if isinstance(item, Fail) else
                        openai_success("openai", body, item, self.default_text if item.text is None else item.text,
                                       self.reasoning_models))
                line = {"id": "r", "custom_id": cid, "response": {"status_code": wire.status, "body": wire.body},
                        "error": None}
                (errors if isinstance(item, Fail) else outputs).append(line)
            for name, lines in (("output_file_id", outputs), ("error_file_id", errors)):
                if lines and not batch.get(name):
                    batch[name] = f"file-{uuid.uuid4().hex[:12]}"
                    self.files[batch[name]] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                view[name] = batch.get(name)
        return view

    async def _openai_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        lines = [json.loads(x) for x in self.files[body["input_file_id"]].decode().splitlines() if x.strip()]
        batch = self._new("openai", [(x["custom_id"], x["body"]) for x in lines],
                          input_file_id=body["input_file_id"], metadata=body.get("metadata") or {})
        return web.json_response(self._openai_view(batch))

    async def _openai_get(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        if batch["api"] == "gemini":
            return await self._gemini_get(request)
        self._advance(batch)
        return web.json_response(self._openai_view(batch))

    async def _openai_list(self, request: web.Request) -> web.Response:
        if "x-goog-api-key" in request.headers:
            return await self._gemini_list(request)
        data = [self._openai_view(b) for b in reversed(list(self.batches.values())) if b["api"] == "openai"]
        return web.json_response({"object": "list", "data": data, "has_more": False,
                                  "first_id": data[0]["id"] if data else None,
                                  "last_id": data[-1]["id"] if data else None})

    async def _openai_cancel(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        batch["state"] = "cancelling"
        return web.json_response(self._openai_view(batch))

    # --- Anthropic -------------------------------------------------------------------------

    def _anthropic_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        ended = batch["state"] not in ("in_progress", "cancelling")
        counts = {"processing": 0 if ended else len(batch["requests"]), "succeeded": 0, "errored": 0,
                  "canceled": 0, "expired": 0}
        for _, _, item in batch["results"]:
            kind = ("errored" if isinstance(item, Fail) else "succeeded") if item is not None else (
                "canceled" if batch["state"] == "cancelled" else "expired")
            counts[kind] += 1
        return {"id": batch["id"], "type": "message_batch", "created_at": _iso(batch["created"]),
                "expires_at": _iso(batch["created"] + 86400), "ended_at": _iso(batch["ended"]) if ended else None,
                "processing_status": "ended" if ended else ("canceling" if batch["state"] == "cancelling"
                                                            else "in_progress"),
                "cancel_initiated_at": _iso(batch["created"]) if batch.get("cancelled") else None,
                "archived_at": None, "request_counts": counts,
                "results_url": f"{self.url}/v1/messages/batches/{batch['id']}/results" if ended else None}

    async def _anthropic_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        batch = self._new("anthropic", [(r["custom_id"], r["params"]) for r in body["requests"]])
        return web.json_response(self._anthropic_view(batch))

    async def _anthropic_get(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        self._advance(batch)
        return web.json_response(self._anthropic_view(batch))

    async def _anthropic_list(self, request: web.Request) -> web.Response:
        data = [self._anthropic_view(b) for b in reversed(list(self.batches.values())) if b["api"] == "anthropic"]
        return web.json_response({"data": data, "has_more": False, "first_id": None, "last_id": None})

    async def _anthropic_cancel(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        batch["state"], batch["cancelled"] = "cancelling", True
        return web.json_response(self._anthropic_view(batch))

    async def _anthropic_results(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        lines = []
        for cid, body, item in batch["results"]:
            if item is None:
                result: dict[str, Any] = {"type": "canceled" if batch["state"] == "cancelled" else "expired"}
            elif isinstance(item, Fail):
                result = {"type": "errored", "error": anthropic_failure(item, body).body}
            else:
                text = self.default_text if item.text is None else item.text
                result = {"type": "succeeded", "message": anthropic_success(body, item, text).body}
            lines.append(json.dumps({"custom_id": cid, "result": result}) + "\n")
        return web.Response(body="".join(lines).encode(), content_type="application/binary")

    # --- Gemini ----------------------------------------------------------------------------

    def _gemini_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        state = {"in_progress": "BATCH_STATE_RUNNING", "cancelling": "BATCH_STATE_RUNNING",
                 "ended": "BATCH_STATE_SUCCEEDED", "expired": "BATCH_STATE_EXPIRED",
                 "cancelled": "BATCH_STATE_CANCELLED"}[batch["state"]]
        metadata: dict[str, Any] = {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
                                    "model": f"models/{batch['model']}", "displayName": batch["display_name"],
                                    "state": state, "createTime": _iso(batch["created"])}
        if batch["results"]:
            responses = []
            for cid, body, item in batch["results"]:
                if item is None:
                    continue
                if isinstance(item, Fail):
                    error = gemini_failure(item, batch["model"], body).body["error"]
                    responses.append({"error": {"code": 3 if error["code"] == 400 else 13, "message": error["message"]},
                                      "metadata": {"key": cid}})
                else:
                    text = self.default_text if item.text is None else item.text
                    responses.append({"response": gemini_success(batch["model"], body, item, text).body,
                                      "metadata": {"key": cid}})
            if batch.get("input_file"):
                # A job read from a file writes its results to one, as Gemini does.
                if not batch.get("output_file"):
                    batch["output_file"] = f"files/results-{uuid.uuid4().hex[:10]}"
                    lines = [{"key": r.pop("metadata")["key"], **r} for r in responses]
                    self.files[batch["output_file"]] = "".join(json.dumps(x) + "\n" for x in lines).encode()
                metadata["output"] = {"responsesFile": batch["output_file"]}
            else:
                metadata["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        return {"name": f"batches/{batch['id']}", "metadata": metadata, "done": bool(batch["results"])}

    async def _gemini_create(self, request: web.Request) -> web.Response:
        body = await request.json()
        model = request.match_info["model"].removeprefix("models/")
        batch_body = body["batch"]
        source = batch_body["inputConfig"]
        if "fileName" in source:
            lines = [json.loads(x) for x in self.files[source["fileName"]].decode().splitlines() if x.strip()]
            requests = [(x["key"], camel_keys(x["request"])) for x in lines]
        else:
            requests = [(r["metadata"]["key"], camel_keys(r["request"])) for r in source["requests"]["requests"]]
        batch = self._new("gemini", requests, model=model, display_name=batch_body.get("displayName"),
                          input_file=source.get("fileName"))
        return web.json_response(self._gemini_view(batch))

    async def _gemini_get(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        self._advance(batch)
        return web.json_response(self._gemini_view(batch))

    async def _gemini_list(self, request: web.Request) -> web.Response:
        views = [self._gemini_view(b) for b in reversed(list(self.batches.values())) if b["api"] == "gemini"]
        return web.json_response({"operations": views})

    async def _gemini_upload(self, request: web.Request) -> web.Response:
        """Gemini's resumable upload: a start request that returns the upload URL, then
        chunks to that URL, the last one finalizing the file."""
        upload_id = request.query.get("upload_id")
        if upload_id is None:
            meta = await request.json()
            upload_id = uuid.uuid4().hex[:12]
            self.uploads[upload_id] = bytearray()
            self._upload_meta[upload_id] = meta.get("file") or {}
            return web.json_response({}, headers={"X-Goog-Upload-URL": f"{self.url}{request.path}?"
                                                                       f"upload_id={upload_id}"})
        self.uploads[upload_id].extend(await request.read())
        if "finalize" not in request.headers.get("X-Goog-Upload-Command", ""):
            return web.json_response({}, headers={"X-Goog-Upload-Status": "active"})
        name = f"files/upload-{upload_id}"
        self.files[name] = bytes(self.uploads.pop(upload_id))
        meta = self._upload_meta.pop(upload_id)
        file = {"name": name, "displayName": meta.get("displayName"), "mimeType": meta.get("mimeType"),
                "sizeBytes": str(len(self.files[name])), "state": "ACTIVE", "source": "UPLOADED"}
        return web.json_response({"file": file}, headers={"X-Goog-Upload-Status": "final"})

    async def _gemini_download(self, request: web.Request) -> web.StreamResponse:
        data = self.files[f"files/{request.match_info['name']}"]
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        for start in range(0, len(data), 64 * 1024):  # in pieces, as a large file arrives
            await response.write(data[start:start + 64 * 1024])
        await response.write_eof()
        return response

    async def _gemini_cancel(self, request: web.Request) -> web.Response:
        batch = self._get(request)
        batch["state"] = "cancelling"
        return web.json_response({})


__all__ = ["FakeBatches", "Fail", "Reply"]

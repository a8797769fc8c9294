"""``BatchCollector``: a session's requests sent through providers' batch APIs.

One loop, until no task is left or the run stops: look at every open batch (backing off
between looks), record the results of ended ones as they are downloaded, then submit the
pending tasks that are neither recorded nor in an open batch.  So an expired, failed or
cancelled batch has its unanswered keys sent again in the next round, and a key with a
result is never sent again.  Every answer goes through ``Caller`` (cache store, cost at
the batch price, budget) and comes back to the runner, which scores and records it like an
online answer.  ``detach`` submits and returns.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import importlib
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import IO, Any, cast

from llm_solutions.batch.jobs import BatchAPI, Outcome, custom_id
from llm_solutions.batch.ledger import Entry, Ledger, new_tag
from llm_solutions.batch.prices import batch_config
from llm_solutions.batch.write_behind import WriteBehind
from llm_solutions.cache.response_cache import ResponseCache
from llm_solutions.calls import Caller, CallResult
from llm_solutions.errors import ProviderError, RateLimitError, TransientError
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.rate_limiter import ProviderLimiter
from llm_solutions.limits.retry import RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.registry import Registry
from llm_solutions.models.tokens import prompt_tokens

log = logging.getLogger(__name__)

MAX_POLL = 300.0  # seconds: the longest wait between two looks at a batch
INGEST_CONCURRENCY = 64  # results scored and recorded at once
# The result being recorded, for ``_Received`` to hand back: each result is recorded in
# its own task, so this is per result (and the request stays as it was sent).
_outcome: contextvars.ContextVar[Outcome | None] = contextvars.ContextVar("batch_outcome", default=None)


@dataclasses.dataclass
class BatchItem:
    """One task to send by batch: its key, model, request and sample; ``context`` is the
    runner's own (its task), handed back with the result."""

    key: str
    model: BaseModel
    request: Request
    sample: int
    context: Any = None


Deliver = Callable[[BatchItem, CallResult, str], Awaitable[None]]


#: The model classes whose provider's batch API we use, and the module and class that
#: speak it.  Named, not imported: each SDK is loaded only when a model of it is batched
#: (the command line starts without loading all three).
_BATCH_APIS = {
    "llm_solutions.models.openai.OpenAIModel": ("llm_solutions.batch.openai", "OpenAIBatches"),
    "llm_solutions.models.anthropic.AnthropicModel": ("llm_solutions.batch.anthropic", "AnthropicBatches"),
    "llm_solutions.models.google.GoogleModel": ("llm_solutions.batch.google", "GoogleBatches"),
}


def batch_api(model: BaseModel) -> BatchAPI | None:
    """The batch endpoint of ``model``'s provider, or ``None`` when it has none we use."""
    for cls in type(model).__mro__:
        found = _BATCH_APIS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            api: BatchAPI = getattr(importlib.import_module(found[0]), found[1])(model)
            return api
    return None


class _Received(BaseModel):
    """The answer a batch returned, handed to the caller as if the model had just given it."""

    def __init__(self, model: BaseModel, registry: Registry | None) -> None:
        super().__init__(batch_config(model.config, registry), api_key=model.api_key, base_url=model.base_url)

    async def generate(self, request: Request) -> Completion:
        outcome = _outcome.get()
        assert outcome is not None, "a received answer is only asked for while one is recorded"
        if outcome.error is not None:
            error = outcome.error
            # Recorded as a typed failure; never a reason to stop ingesting other answers.
            error.stops_model = False
            raise error
        assert outcome.completion is not None
        return outcome.completion


class _Unlimited:
    """The limiter of recorded batch answers: nothing is sent, so nothing is paced (the
    answers are in hand; a limiter's bookkeeping per answer was a tenth of ingestion)."""

    down = False

    def reservation(self, model: str, prompt_tokens: int, max_tokens: int) -> int:
        return 0

    async def acquire(self, estimate: int, *, model: str) -> None:
        return None

    def release(self, permit: None) -> None:
        pass

    def record_success(self, permit: None, completion: Completion) -> None:
        pass

    def record_error(self, permit: None, error: ProviderError) -> None:
        pass


class _UnlimitedPool(LimiterPool):
    """Hands every model the ``_Unlimited`` limiter."""

    def limiter_for(self, model: BaseModel) -> ProviderLimiter:
        return cast(ProviderLimiter, _UNLIMITED)


_UNLIMITED = _Unlimited()


@dataclasses.dataclass
class _Chunk:
    """The requests of one batch being put together: their keys, estimated cost and size,
    and the requests themselves, in memory or, for an API that uploads a file, spooled to
    a temporary file (so a 50,000-request batch is not held twice in memory)."""

    spooled: bool = False
    keys: list[str] = dataclasses.field(default_factory=list)
    bodies: list[Any] = dataclasses.field(default_factory=list)
    size: int = 0
    estimate: float = 0.0

    def __post_init__(self) -> None:
        # Closed by ``close`` once the batch is sent (or by the collector's end, if not).
        self.spool: IO[bytes] | None = tempfile.TemporaryFile() if self.spooled else None  # noqa: SIM115

    def add(self, key: str, body: Any, size: int, estimate: float) -> None:
        self.keys.append(key)
        if self.spool is not None:
            self.spool.write(body)
        else:
            self.bodies.append(body)
        self.size += size
        self.estimate += estimate

    def entries(self) -> list[Any] | IO[bytes]:
        if self.spool is None:
            return self.bodies
        self.spool.seek(0)
        return self.spool

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()


class BatchCollector:
    """Runs the batch side of one session; see the module docstring."""

    def __init__(self, folder: Path, caller: Caller, models: list[BaseModel], *, registry: Registry | None = None,
                 poll: float = 30.0, detach: bool = False, max_rounds: int = 3) -> None:
        self.folder = Path(folder)
        self.caller = caller
        self.registry = registry
        self.poll = poll
        self.detach = detach
        self.max_rounds = max_rounds
        self.models = {m.name: m for m in models}
        self.apis = {m.name: api for m in models if (api := batch_api(m)) is not None}
        self.ledger = Ledger(self.folder)
        self._stopping = asyncio.Event()
        self._disabled: dict[str, str] = {}
        #: Set when the spend limit kept tasks from being submitted (the run stops for it).
        self.held_by_budget = 0
        self._received = {name: _Received(m, registry) for name, m in self.models.items()}
        self._probe: ResponseCache | None = None
        self._writes: WriteBehind | None = None
        self._ingest = self._ingest_caller()

    def _ingest_caller(self) -> Caller:
        # Its own caller: no rate limit (nothing is sent), one attempt (a recorded error is
        # final), cache writes without reads (the answer is paid for already), shared budget.
        cache = self.caller.cache
        store = None
        if cache is not None:
            self._writes = WriteBehind(cache.backend)
            store = ResponseCache(self._writes, dataclasses.replace(cache.settings, force_override_cache=True))
            # The answers written while recording count in the session's cache figures
            # (one miss and one write each, as an online answer); the probe's lookups do
            # not (a hit is counted again by the ordinary call that answers it).
            store.stats = cache.stats
            self._probe = ResponseCache(cache.backend, cache.settings)
        registry = self.registry or self.caller.pool.registry
        ingest = Caller(_UnlimitedPool(registry), policy=RetryPolicy(max_attempts=1), cache=store,
                        budget=self.caller.budget)
        ingest.session_id = self.caller.session_id
        return ingest

    @property
    def open_batches(self) -> int:
        return len(self.ledger.open_entries())

    def stop(self) -> None:
        """End the loop at its next step; batches keep running at the providers."""
        self._stopping.set()

    # --- the loop ----------------------------------------------------------------------

    async def run(self, pending: Callable[[], Iterable[BatchItem]], item_for: Callable[[str], BatchItem | None],
                  deliver: Deliver) -> None:
        """Collect until every pending task has a record (or the run stops)."""
        self._item_for, self._deliver = item_for, deliver
        await self._reconcile()
        misses = self._misses()
        delay = self.poll
        while not self._stopping.is_set():
            finished = await self._collect_finished(misses)
            if self._stopping.is_set():
                break
            submitted = await self._submit(pending(), misses)
            if self.detach:
                break
            if not self.ledger.open_entries():
                break  # nothing in flight and nothing more could be sent
            delay = self.poll if finished or submitted else min(delay * 1.5, MAX_POLL, max(self.poll * 20, self.poll))
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
        if self._stopping.is_set() and self.ledger.open_entries():
            log.warning("%d batch(es) keep running at the providers; resume the session to collect them",
                        self.open_batches)

    async def _reconcile(self) -> None:
        """Intents without a batch id: find the batch the crash kept out of the ledger."""
        for entry in self.ledger.entries:
            if entry.state != "submitting" or entry.batch_id:
                continue
            api = self.apis.get(entry.model)
            found = None
            if api is not None:
                try:
                    found = await api.find(entry.tag, entry.created, {custom_id(k) for k in entry.keys},
                                           self.ledger.claimed())
                except ProviderError as error:
                    log.warning("could not look for batch %s (%s); its tasks are sent again", entry.tag, error)
            if found is None:
                entry.state, entry.ingested, entry.note = "failed", True, "never submitted (found no such batch)"
            else:
                log.info("found batch %s (%s) submitted before a crash", found.batch_id, entry.tag)
                entry.batch_id, entry.state = found.batch_id, found.status.state
                entry.unverified = not found.verified
                entry.input_file_id = entry.input_file_id or found.input_file_id
                entry.submitted, entry.expires = entry.created, found.status.expires
            self.ledger.save()

    def _misses(self) -> dict[str, int]:
        """Per key, how many finished batches held it without giving it a result."""
        misses: dict[str, int] = {}
        for entry in self.ledger.entries:
            if entry.ingested and entry.batch_id:
                for key in entry.keys:
                    if self._item_for(key) is not None:
                        misses[key] = misses.get(key, 0) + 1
        return misses

    async def _collect_finished(self, misses: dict[str, int]) -> int:
        finished = 0
        for entry in self.ledger.open_entries():
            if self._stopping.is_set() or not entry.batch_id:
                continue
            api = self.apis.get(entry.model)
            if api is None:
                continue
            if entry.state not in ("ended", "expired", "failed", "cancelled"):
                try:
                    status = await api.status(entry.batch_id)
                except RateLimitError as error:
                    await self._pause(error.retry_after or self.poll)
                    continue
                except ProviderError as error:
                    log.warning("batch %s: could not check it (%s); trying again later", entry.batch_id, error)
                    continue
                entry.state, entry.counts = status.state, status.counts
                entry.expires = status.expires or entry.expires
                entry.note = status.note or entry.note
                if not status.finished:
                    self.ledger.save()
                    continue
                entry.ended = time.time()
                self.ledger.save()
            await self._ingest_entry(api, entry)
            if entry.ingested and entry.batch_id:  # (no id: a batch found after a crash was not ours)
                finished += 1
                for key in entry.keys:
                    if self._item_for(key) is not None:
                        misses[key] = misses.get(key, 0) + 1
                log.info("batch %s %s: %d result(s) recorded (%d errors), $%.4f", entry.batch_id, entry.state,
                         entry.results, entry.errors, entry.cost)
        return finished

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _ingest_entry(self, api: BatchAPI, entry: Entry) -> None:
        key_of = {custom_id(key): key for key in entry.keys}
        if entry.unverified and not await self._verify(api, entry, set(key_of)):
            return
        gate = asyncio.Semaphore(INGEST_CONCURRENCY)
        tasks: set[asyncio.Task[None]] = set()
        assert entry.batch_id is not None
        try:
            async for outcome in api.results(entry.batch_id):
                key = key_of.get(outcome.custom_id)
                item = self._item_for(key) if key is not None else None
                if item is None:
                    continue  # recorded already (a resumed ingestion), or not ours
                await gate.acquire()
                task = asyncio.create_task(self._record(item, outcome, entry, gate))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                if self._stopping.is_set():
                    break
        except ProviderError as error:
            log.warning("batch %s: downloading results failed (%s); trying again later", entry.batch_id, error)
            await asyncio.gather(*tasks)
            await self._flush()
            return
        await asyncio.gather(*tasks)
        await self._flush()
        if not self._stopping.is_set():
            entry.ingested = True
        self.ledger.save()

    async def _flush(self) -> None:
        if self._writes is not None:
            await self._writes.flush()

    async def _verify(self, api: BatchAPI, entry: Entry, cids: set[str]) -> bool:
        """Whether a batch found again by size and time only holds this entry's requests;
        one that does not is let go (its tasks are sent again), never recorded as ours."""
        assert entry.batch_id is not None
        try:
            held = await api.custom_ids(entry.batch_id)
        except ProviderError as error:
            log.warning("batch %s: could not read its request ids (%s); trying again later", entry.batch_id, error)
            return False
        if held is None:
            return False  # not readable yet; looked at again next round
        if held == cids:
            entry.unverified = False
            self.ledger.save()
            return True
        log.warning("batch %s, found after a crash, holds other requests than intent %s; its tasks are sent again",
                    entry.batch_id, entry.tag)
        entry.batch_id, entry.state, entry.ingested = None, "failed", True
        entry.note = "never submitted (the batch found after the crash held other requests)"
        self.ledger.save()
        return False

    async def _record(self, item: BatchItem, outcome: Outcome, entry: Entry, gate: asyncio.Semaphore) -> None:
        try:
            if outcome.completion is not None and entry.submitted and entry.ended:
                outcome.completion.latency = max(entry.ended - entry.submitted, 0.0)
            _outcome.set(outcome)
            call = await self._ingest.call(self._received[item.model.name], item.request, purpose="answer",
                                           sample=item.sample, gated=False)
            entry.results += 1
            entry.errors += not call.ok
            entry.cost = round(entry.cost + call.cost, 8)
            await self._deliver(item, call, entry.batch_id or "")
        finally:
            gate.release()

    # --- submission --------------------------------------------------------------------

    async def _submit(self, items: Iterable[BatchItem], misses: dict[str, int]) -> int:
        in_flight = self.ledger.keys_in_flight()
        chunks: dict[str, _Chunk] = {}
        submitted = 0
        budget = self.caller.budget
        committed = sum(e.estimate for e in self.ledger.open_entries())
        held = 0
        for item in items:
            name = item.model.name
            if self._stopping.is_set():
                break
            if item.key in in_flight or name in self._disabled or name not in self.apis:
                continue
            if misses.get(item.key, 0) >= self.max_rounds:
                await self._give_up(item, misses[item.key])
                continue
            if self._probe is not None and await self._cached(item):
                continue
            estimate = self._estimate(item)
            if budget.limit is not None and budget.spent + committed + estimate > budget.limit:
                held += 1
                continue  # left for a later round, when spend is known
            committed += estimate
            api = self.apis[name]
            body, size = api.entry(custom_id(item.key), item.request)
            chunk = chunks.get(name)
            if chunk is not None and (len(chunk.keys) >= api.max_requests or chunk.size + size > api.max_bytes):
                submitted += await self._send(api, chunks.pop(name))
                chunk = None
            if chunk is None:
                chunk = chunks[name] = _Chunk(spooled=api.spooled)
            chunk.add(item.key, body, size, estimate)
        for name, chunk in chunks.items():
            if not self._stopping.is_set():
                submitted += await self._send(self.apis[name], chunk)
            chunk.close()  # what a stop left unsent stays pending
        self.held_by_budget = held
        return submitted

    async def _cached(self, item: BatchItem) -> bool:
        """A task the cache can answer is answered now, through the ordinary call."""
        assert self._probe is not None
        hit = await self._probe.lookup(item.model.config, item.request, item.sample,
                                       session=self.caller.session_id, identity={})
        if hit is None:
            return False
        call = await self.caller.call(item.model, item.request, purpose="answer", sample=item.sample)
        if call.refused or call.stopped:
            return True  # the run is stopping: the task stays to do
        await self._deliver(item, call, "")
        return True

    def _estimate(self, item: BatchItem) -> float:
        config = self._received[item.model.name].config
        expected = min(item.request.max_tokens, 1024) if not config.reasoning else item.request.max_tokens
        return config.cost(prompt_tokens(item.request.messages), expected)

    async def _give_up(self, item: BatchItem, rounds: int) -> None:
        error = TransientError(f"{item.model.name}: no result after {rounds} batch(es) (expired or cancelled); "
                               "--retry-failed sends it again", provider=item.model.provider)
        error.kind = "batch_expired"
        call = CallResult(model=item.model.name, purpose="answer", error=error, message=str(error))
        await self._deliver(item, call, "")

    async def _send(self, api: BatchAPI, chunk: _Chunk) -> int:
        session = self.folder.name
        entry = self.ledger.add(Entry(tag=new_tag(session), provider=api.provider, model=api.model.name,
                                      keys=chunk.keys, estimate=round(chunk.estimate, 6)))

        async def uploaded(file_id: str) -> None:
            entry.input_file_id = file_id
            self.ledger.save()

        try:
            done = await api.submit(chunk.entries(), entry.tag, uploaded)
        except ProviderError as error:
            chunk.close()
            entry.state, entry.ingested, entry.note = "failed", True, f"not submitted: {error}"
            self.ledger.save()
            log.warning("%s: submitting a batch of %d failed: %s", api.model.name, len(chunk.keys), error)
            if error.stops_model:
                self._disabled[api.model.name] = str(error)
            return 0
        chunk.close()
        entry.batch_id, entry.input_file_id = done.batch_id, done.input_file_id or entry.input_file_id
        entry.state, entry.expires, entry.submitted = done.status.state, done.status.expires, time.time()
        entry.counts = done.status.counts
        self.ledger.save()
        log.info("%s: submitted batch %s with %d request(s)", api.model.name, done.batch_id, len(chunk.keys))
        return len(chunk.keys)

    # --- cancel ------------------------------------------------------------------------

    async def cancel(self) -> list[tuple[Entry, str]]:
        """Ask the providers to cancel every open batch; (entry, what happened) each."""
        said = []
        for entry in self.ledger.open_entries():
            api = self.apis.get(entry.model)
            if api is None or not entry.batch_id or entry.state not in ("in_progress", "submitting"):
                continue
            try:
                status = await api.cancel(entry.batch_id)
            except ProviderError as error:
                said.append((entry, f"not cancelled: {error}"))
                continue
            entry.state, entry.counts = status.state, status.counts or entry.counts
            self.ledger.save()
            said.append((entry, status.state))
        return said

"""One of several processes sharing a cache: writes its answers, reads everyone's.

Run as ``python cache_worker.py URL WORKER COUNT GO_FILE``.  It prints ``ready``, waits
until ``GO_FILE`` exists (so all workers start together), stores ``COUNT`` answers under
its own prompts while looking up answers of the other workers as it goes, then prints one
JSON line with its counts.  It exits non-zero on any error, a failed write included.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from llm_solutions.cache import cache_settings, open_cache
from llm_solutions.models.base import Completion, Request
from llm_solutions.models.config import ModelConfig

CONFIG = ModelConfig(name="worker-model", provider="test", model_params={"api_model": "worker-model"})


def request_for(worker: int, i: int) -> Request:
    """The prompt of worker ``worker``'s ``i``-th answer."""
    return Request(messages=({"role": "user", "content": f"worker {worker} prompt {i}"},), max_tokens=64)


def text_for(worker: int, i: int) -> str:
    """The answer stored for that prompt."""
    return f"answer {i} of worker {worker}"


async def main(url: str, worker: int, count: int, go_file: str) -> int:
    cache = await open_cache(cache_settings({"url": url}))
    assert cache is not None
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            print("go file never appeared", file=sys.stderr)
            return 3
        await asyncio.sleep(0.005)
    wrong = 0
    for i in range(count):
        completion = Completion(text=text_for(worker, i), input_tokens=10, output_tokens=5, raw={"i": i})
        if not await cache.store(CONFIG, request_for(worker, i), 0, completion):
            print(f"write {i} failed", file=sys.stderr)
            return 1
        # Read back one answer of a neighbour: it may or may not be there yet, but when
        # it is, it must be the right one.
        other = (worker + 1 + i) % 4
        hit = await cache.lookup(CONFIG, request_for(other, i), 0)
        if hit is not None and hit.completion.text != text_for(other, i):
            wrong += 1
    stats = cache.stats_dict()
    await cache.close()
    print(json.dumps({"worker": worker, "writes": stats["writes"], "hits": stats["hits"],
                      "errors": stats["errors"], "wrong": wrong}), flush=True)
    return 0 if stats["errors"] == 0 and wrong == 0 else 2


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])))

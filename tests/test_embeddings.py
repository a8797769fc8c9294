"""Embedding models through the one caller, against the local fake server: OpenAI's
``embeddings.create``, Gemini's ``embed_content`` (``batchEmbedContents``) and a local
OpenAI-compatible server; batching to each provider's limit, caching by (model, input),
retries, cost and budget; ``ls.embed``; and generation's semantic check fed by an
embedding model of the table."""

from __future__ import annotations

import re

import numpy as np
import pytest

import llm_solutions as ls
from llm_solutions.cache.response_cache import open_cache
from llm_solutions.cache.settings import cache_settings
from llm_solutions.calls import Budget, Caller
from llm_solutions.calls.embedding import Embedder, decode_vector, encode_vector
from llm_solutions.errors import BadRequestError, ConfigError
from llm_solutions.generation import generate_dataset
from llm_solutions.limits.pool import LimiterPool
from llm_solutions.limits.retry import RetryPolicy
from tests.support.fake_providers import serve_in_thread
from tests.support.fake_wire import Fail, Reply, embedding_vector
from tests.support.problem_factory import batch_text, good_item
from tests.support.provider_harness import fake, harness  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

TEXTS = [f"problem number {i}: add two numbers" for i in range(7)]


async def _caller(harness, tmp_path, *, limit=None):
    caller = Caller(LimiterPool(harness.registry), policy=RetryPolicy(base_delay=0.01, max_delay=0.02),
                    timeout=10, budget=Budget(limit=limit))
    caller.cache = await open_cache(cache_settings({"url": str(tmp_path / "cache.sqlite3")}))
    return caller


def _embeddings(fake):
    return [r for r in fake.requests if r.path.endswith("embeddings") or "EmbedContents" in r.path]


async def test_openai_batches_caches_by_input_and_prices_the_tokens(harness, fake, tmp_path):
    row = harness.row("text-embedding-3-small", model_params={"max_batch": 3})
    caller = await _caller(harness, tmp_path)
    try:
        embedder = Embedder(harness.model(row), caller)
        vectors = await embedder([*TEXTS, TEXTS[0]])
        assert vectors.shape == (8, 8) and vectors.dtype == np.float32
        assert np.allclose(vectors[0], embedding_vector(TEXTS[0]), atol=1e-6)
        assert np.array_equal(vectors[0], vectors[7])  # a repeated text is sent once
        sent = _embeddings(fake)
        assert [len(r.body["input"]) for r in sent] == [3, 3, 1]
        assert all(r.body["model"] == "text-embedding-3-small" and r.body["encoding_format"] == "float" for r in sent)
        tokens = sum(max(1, len(t) // 4) for t in TEXTS)  # what the fake bills
        assert caller.budget.spent == pytest.approx(tokens * 0.02 / 1_000_000)
        again = await embedder(list(reversed(TEXTS)))
        assert len(_embeddings(fake)) == 3 and embedder.cache_hits == 7  # every input from the cache
        assert np.array_equal(again[::-1], vectors[:7])
        assert caller.budget.spent == pytest.approx(tokens * 0.02 / 1_000_000)  # nothing paid twice
    finally:
        await caller.cache.close()


async def test_openai_token_limit_splits_batches_and_long_inputs_are_refused(harness, fake, tmp_path):
    row = harness.row("text-embedding-3-large", model_params={"max_batch_tokens": 30, "dimensions": 16})
    caller = await _caller(harness, tmp_path)
    try:
        embedder = Embedder(harness.model(row), caller)
        vectors = await embedder(TEXTS)
        assert vectors.shape == (7, 16)
        assert all(sum(max(1, len(t) // 4) for t in r.body["input"]) <= 30 for r in _embeddings(fake))
        assert _embeddings(fake)[0].body["dimensions"] == 16
        before = len(fake.requests)
        with pytest.raises(ConfigError, match=r"embedding input 1 is about 9,000 tokens.*8,192"):
            await embedder(["short", "x" * 36_000])
        with pytest.raises(ConfigError, match="embedding input 0 is empty"):
            await embedder([" "])
        assert len(fake.requests) == before  # refused before sending
    finally:
        await caller.cache.close()


async def test_retries_a_rate_limited_batch_and_counts_the_attempts(harness, fake, tmp_path):
    caller = await _caller(harness, tmp_path)
    try:
        fake.queue_embedding(Fail("rate_limit", retry_after=0.01), api="openai")
        vectors = await Embedder(harness.model("text-embedding-3-small"), caller)(TEXTS[:2])
        assert vectors.shape == (2, 8) and len(_embeddings(fake)) == 2 and caller.requests_sent == 2
    finally:
        await caller.cache.close()


async def test_the_fake_scripts_embeddings_apart_from_chat(harness, fake, tmp_path):
    caller = await _caller(harness, tmp_path)
    try:
        # A chat reply queued first is not taken by the embedding call, nor the other way round.
        fake.queue(Reply(text="the scripted chat answer"), api="openai")
        fake.queue_embedding(Fail("server_error"), api="openai")
        fake.embedding_responder = lambda api, body: Fail("bad_request") if "poison" in body["input"] else None
        vectors = await Embedder(harness.model("text-embedding-3-small"), caller)(["alpha"])
        assert vectors.shape == (1, 8) and len(_embeddings(fake)) == 2  # the queued failure, then a retry
        chat = await caller.call(harness.model("gpt-6-luna"), harness.request(), cached=False)
        assert chat.ok and chat.text == "the scripted chat answer"
        with pytest.raises(BadRequestError, match=r"HTTP 400"):
            await Embedder(harness.model("text-embedding-3-small"), caller)(["poison"])
    finally:
        await caller.cache.close()


async def test_embeddings_are_cached_whatever_min_completion_tokens_says(harness, fake, tmp_path):
    caller = Caller(LimiterPool(harness.registry), policy=RetryPolicy(base_delay=0.01, max_delay=0.02), timeout=10)
    caller.cache = await open_cache(cache_settings({"url": str(tmp_path / "c.sqlite3"), "min_completion_tokens": 50}))
    try:
        embedder = Embedder(harness.model("text-embedding-3-small"), caller)
        first = await embedder(TEXTS[:3])
        assert len(_embeddings(fake)) == 1 and caller.cache.stats.writes == 3
        again = await Embedder(harness.model("text-embedding-3-small"), caller)(TEXTS[:3])
        assert np.array_equal(first, again) and len(_embeddings(fake)) == 1  # all three from the cache
        # The threshold still holds for chat answers: a short one is neither stored nor reused.
        fake.queue(Reply(text="short"), Reply(text="short"), api="openai")
        for _ in range(2):
            assert (await caller.call(harness.model("gpt-6-luna"), harness.request())).ok
        assert len(fake.of("openai")) - len(_embeddings(fake)) == 2
    finally:
        await caller.cache.close()


async def test_gemini_batches_at_most_100_inputs_per_call(harness, fake, tmp_path):
    caller = await _caller(harness, tmp_path)
    texts = [f"text {i}" for i in range(150)]
    try:
        vectors = await Embedder(harness.model("gemini-embedding-001"), caller)(texts)
        assert vectors.shape == (150, 8)
        assert np.allclose(vectors[149], embedding_vector("text 149"), atol=1e-6)
        sent = _embeddings(fake)
        assert [len(r.body["requests"]) for r in sent] == [100, 50]
        assert sent[0].path.endswith("models/gemini-embedding-001:batchEmbedContents")
        assert caller.budget.spent > 0  # estimated tokens, priced at 0.15/M
    finally:
        await caller.cache.close()


async def test_a_local_openai_compatible_server_uses_its_listed_model(harness, fake, tmp_path):
    caller = await _caller(harness, tmp_path)
    try:
        vectors = await Embedder(harness.model("local-openai-compatible-embedding"), caller)(["a b c"])
        assert vectors.shape == (1, 8)
        [sent] = _embeddings(fake)
        assert sent.flavor == "local" and sent.body["model"] == "local-test-model"
    finally:
        await caller.cache.close()


def test_a_chat_model_is_not_an_embedder(harness):
    with pytest.raises(ConfigError, match="'gpt-6-luna' is a chat model, not an embedding model"):
        Embedder(harness.model("gpt-6-luna"), Caller(LimiterPool(harness.registry)))


def test_vectors_survive_the_cache_text():
    vector = np.array([0.25, -1.5, 3.0], dtype=np.float32)
    assert np.array_equal(decode_vector(encode_vector(vector)), vector)
    assert decode_vector("an answer") is None


def test_ls_embed_returns_a_numpy_array_and_caches(tmp_path):
    cache = {"url": str(tmp_path / "c.sqlite3")}
    first = ls.embed(["the cat sat", "the cat sat down", "stock prices fell"], model="offline-embedding", cache=cache)
    assert isinstance(first, np.ndarray) and first.shape == (3, 256)
    assert float(first[0] @ first[1]) > float(first[0] @ first[2])
    again = ls.embed(["stock prices fell"], model="offline-embedding", cache=cache)
    assert np.array_equal(again[0], first[2])
    with pytest.raises(ConfigError, match="not an embedding model"):
        ls.embed(["x"], model="offline", cache=cache)


def test_ls_embed_through_the_openai_sdk(monkeypatch, tmp_path):
    with serve_in_thread() as server:
        for name, value in {**server.base_url_env(), **server.key_env()}.items():
            monkeypatch.setenv(name, value)
        result = ls.embed(["one", "two"], model="text-embedding-3-small", cache={"url": str(tmp_path / "c.sqlite3")})
        assert result.shape == (2, 8) and len(_embeddings(server)) == 1
        assert np.allclose(result[1], embedding_vector("two"), atol=1e-6)


EMBED_MODELS = """
[[models]]
name = "gen-worker"
provider = "openai"
model_params = { api_model = "gen-test", max_tokens = 4096, temperature = 0.7 }

[[models]]
name = "wide-embedding"
provider = "openai"
kind = "embedding"
model_class = "llm_solutions.models.openai:OpenAIEmbeddingModel"
input_price = 0.02
model_params = { api_model = "text-embedding-3-small", dimensions = 256 }
"""


async def test_generation_checks_semantic_duplicates_with_an_embedding_model(fake, monkeypatch, tmp_path):
    for name, value in {**fake.base_url_env(), **fake.key_env()}.items():
        monkeypatch.setenv(name, value)
    models_file = tmp_path / "models.toml"
    models_file.write_text(EMBED_MODELS)
    items = iter(range(80, 90))
    # Chat calls get one good problem each; embedding calls have a script of their own.
    fake.responder = lambda api, body: Reply(text=batch_text([good_item(next(items))]))
    report = await generate_dataset({"categories": [{"name": "arith", "count": 2, "complexity": 1}]},
                                    worker_model="gen-worker", embedding_model="wide-embedding",
                                    output=str(tmp_path / "out"), models_file=str(models_file), rpm=100_000,
                                    tpm=10**9, max_concurrent=1, verify_workers=2, batch_size=1,
                                    exclude_builtin=False)
    assert report["status"] == "completed"
    semantic = report["checks"]["semantic_duplicates"]
    assert semantic["enabled"] and semantic["model"] == "wide-embedding" and semantic["errors"] == 0
    sent = _embeddings(fake)
    assert sent and all(r.body["dimensions"] == 256 for r in sent)
    assert any(re.search("step_chain_8[01]", text) for r in sent for text in r.body["input"])


async def test_generation_refuses_a_chat_model_as_embedding_model(fake, monkeypatch, tmp_path):
    for name, value in {**fake.base_url_env(), **fake.key_env()}.items():
        monkeypatch.setenv(name, value)
    models_file = tmp_path / "models.toml"
    models_file.write_text(EMBED_MODELS)
    with pytest.raises(ConfigError, match="not an embedding model"):
        await generate_dataset({"categories": [{"name": "arith", "count": 1, "complexity": 1}]},
                               worker_model="gen-worker", embedding_model="gen-worker",
                               output=str(tmp_path / "out"), models_file=str(models_file))
    assert not (tmp_path / "out").exists()



def _clean_settings_env(monkeypatch):
    for name in ("OUTPUT_DIR", "LLM_SOLUTIONS_CONFIG", "LLM_SOLUTIONS_CACHE", "LLM_SOLUTIONS_CACHE_URL",
                 "LLM_SOLUTIONS_MODELS_FILE"):
        monkeypatch.delenv(name, raising=False)


def test_ls_embed_resolves_its_cache_as_collect_does(monkeypatch, tmp_path):
    _clean_settings_env(monkeypatch)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    texts = ["one text", "another text"]
    # The config file's output_dir, below OUTPUT_DIR, below the argument.
    config = tmp_path / "config.toml"
    config.write_text(f'[collection]\noutput_dir = "{tmp_path / "from-config"}"\n')
    monkeypatch.setenv("LLM_SOLUTIONS_CONFIG", str(config))
    ls.embed(texts, model="offline-embedding")
    assert (tmp_path / "from-config" / "cache.sqlite3").exists()
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "from-env"))
    ls.embed(texts, model="offline-embedding")
    assert (tmp_path / "from-env" / "cache.sqlite3").exists()
    ls.embed(texts, model="offline-embedding", output_dir=tmp_path / "from-argument")
    assert (tmp_path / "from-argument" / "cache.sqlite3").exists()
    assert not (work / "generated").exists()
    # The cache settings' own layers: the environment turns it off, an argument wins.
    monkeypatch.setenv("LLM_SOLUTIONS_CACHE", "0")
    monkeypatch.setenv("OUTPUT_DIR", str(tmp_path / "off"))
    ls.embed(texts, model="offline-embedding")
    assert not (tmp_path / "off").exists()
    ls.embed(texts, model="offline-embedding", cache={"enabled": True})
    assert (tmp_path / "off" / "cache.sqlite3").exists()
    monkeypatch.delenv("LLM_SOLUTIONS_CACHE")
    # cache=False: none at all; a path or URL: that one.
    ls.embed(texts, model="offline-embedding", cache=False, output_dir=tmp_path / "none")
    assert not (tmp_path / "none").exists()
    ls.embed(texts, model="offline-embedding", cache=str(tmp_path / "mine.sqlite3"))
    ls.embed(texts, model="offline-embedding", cache=f"sqlite:///{tmp_path / 'url.sqlite3'}")
    assert (tmp_path / "mine.sqlite3").exists() and (tmp_path / "url.sqlite3").exists()
    with pytest.raises(ConfigError, match=r"cache=3 is not valid"):
        ls.embed(texts, model="offline-embedding", cache=3)
    with pytest.raises(ConfigError, match=r"ttl_seconds"):
        ls.embed(texts, model="offline-embedding", cache={"ttl_seconds": "soon"})


def test_generate_dry_run_prices_the_semantic_checks_embeddings(monkeypatch, tmp_path, capsys):
    from llm_solutions.cli import main
    from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
    from llm_solutions.models.tokens import text_tokens

    _clean_settings_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    args = ["generate", "--categories", "arith", "--count", "4", "--worker-model", "offline",
            "--output", str(tmp_path / "out"), "--dry-run"]
    assert main(args) == 0
    assert "embedding" not in capsys.readouterr().out  # no embedding model: no such calls
    assert main([*args, "--embedding-model", "text-embedding-3-small"]) == 0
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if line.startswith("embedding ")]
    _, model, calls, tokens, outputs, cost, worst = line.split()
    known = [text_tokens(p.problem) for p in load_dataset(BUILTIN_DATASET).problems]
    candidates = 6  # 4 problems, 3 of 4 candidates expected to pass
    assert model == "text-embedding-3-small" and int(outputs) == 0
    assert int(calls) == -(-len(known) // 64) + candidates  # the built-in set in batches, then one per candidate
    assert int(tokens) == sum(known) + candidates * round(sum(known) / len(known))
    assert float(cost) == pytest.approx(int(tokens) * 0.02 / 1_000_000, abs=1e-4) and float(worst) == float(cost)
    [total] = [line for line in out.splitlines() if line.startswith("total ")]
    worker = next(line for line in out.splitlines() if line.startswith("worker ")).split()
    assert float(total.split()[-2]) == pytest.approx(float(worker[-2]) + float(cost), abs=2e-4)
    assert not (tmp_path / "out").exists()

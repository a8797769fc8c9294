"""Building real provider models that talk to the fake server, for the provider tests.

``Harness`` points every ``<PROVIDER>_BASE_URL`` at a running ``FakeProviders``, gives
every provider a fake key, builds models through the real registry (so the table rows,
env overrides and client sharing are what is tested) and closes their clients afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from llm_solutions.models.base import BaseModel, Request
from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import build_models, close_models, load_registry
from tests.support.fake_providers import FakeProviders

PROMPT = Request(
    messages=(
        {"role": "system", "content": "You write Python."},
        {"role": "user", "content": "Write solve(x) that returns x."},
    ),
    max_tokens=1024,
    temperature=0.3,
    top_p=0.9,
)


class Harness:
    """Models wired to one fake server through the environment, as a user would wire them."""

    def __init__(self, fake: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = fake
        self.monkeypatch = monkeypatch
        self.built: list[BaseModel] = []
        monkeypatch.delenv("LLM_SOLUTIONS_MODELS_FILE", raising=False)
        monkeypatch.delenv("OPENAI_COMPATIBLE_MODEL", raising=False)
        for name, value in {**fake.base_url_env(), **fake.key_env()}.items():
            monkeypatch.setenv(name, value)
        self.registry = load_registry()

    def row(self, base: str, /, **changes: Any) -> ModelConfig:
        """A table row, optionally changed (``model_params`` entries are merged)."""
        config = self.registry.get(base)
        params = changes.pop("model_params", None)
        if params is not None:
            changes["model_params"] = {**config.model_params, **params}
        return dataclasses.replace(config, **changes)

    def models(self, *configs: ModelConfig, **client_options: Any) -> list[BaseModel]:
        for config in configs:
            self.registry.models[config.name] = config
        built = build_models(self.registry, list(configs), **client_options)
        self.built.extend(built)
        return built

    def model(self, name: str | ModelConfig, **client_options: Any) -> BaseModel:
        config = self.row(name) if isinstance(name, str) else name
        return self.models(config, **client_options)[0]

    def request(self, **changes: Any) -> Request:
        return dataclasses.replace(PROMPT, **changes)

    async def close(self) -> None:
        await close_models(self.built)


@pytest.fixture
async def fake():
    """A running fake provider server for one test."""
    async with FakeProviders() as server:
        yield server


@pytest.fixture
async def harness(fake, monkeypatch):
    """A ``Harness`` on the test's fake server; its clients are closed afterwards."""
    h = Harness(fake, monkeypatch)
    yield h
    await h.close()

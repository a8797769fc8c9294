"""The built-in model table: every row usable, priced and named consistently."""

from __future__ import annotations

import re

import pytest

from llm_solutions.models.base import BaseModel
from llm_solutions.models.registry import load_registry
from llm_solutions.models.table import MODELS, PROVIDERS


@pytest.mark.parametrize("config", MODELS, ids=lambda c: c.name)
def test_row_resolves_provider_and_class(config):
    registry = load_registry()
    provider = registry.provider_of(config)
    cls = registry.model_class(config)
    assert issubclass(cls, BaseModel)
    assert cls.provider == provider.name
    assert config.api_model and config.max_tokens > 0


@pytest.mark.parametrize("config", MODELS, ids=lambda c: c.name)
def test_prices_are_non_negative_and_cached_is_cheaper(config):
    assert config.input_price >= 0 and config.output_price >= 0
    if config.cached_input_price is not None:
        assert 0 <= config.cached_input_price <= config.input_price


def test_names_are_unique_short_and_lowercase():
    names = [m.name for m in MODELS]
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", name), name


def test_every_provider_has_its_env_vars():
    for provider in PROVIDERS.values():
        if provider.name == "offline":
            continue
        assert provider.base_url_env and provider.base_url_env.endswith("_BASE_URL"), provider.name
        assert provider.api_key_env and provider.api_key_env.endswith("_API_KEY"), provider.name
        assert provider.default_base_url, provider.name
        assert provider.rpm > 0 and provider.tpm > 0 and provider.max_concurrent > 0


def test_every_provider_has_models_and_reasoning_rows_send_no_temperature():
    used = {m.provider for m in MODELS}
    assert used == set(PROVIDERS)
    for config in MODELS:
        if config.reasoning:
            assert "temperature" not in config.model_params, config.name


def test_base_url_override_from_env(monkeypatch):
    registry = load_registry()
    grok = registry.get("grok-4.7")
    monkeypatch.setenv("XAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert registry.base_url(grok) == "http://127.0.0.1:9/v1"
    monkeypatch.delenv("XAI_BASE_URL")
    assert registry.base_url(grok) == "https://api.x.ai/v1"


def test_local_server_needs_no_key():
    registry = load_registry()
    assert registry.has_key(registry.get("local-openai-compatible"))
    assert not registry.has_key(registry.get("gpt-6.1-sol"))  # conftest cleared the real keys

"""Optional smoke tests against the real providers: one tiny request each.

They are skipped unless both ``LLM_SOLUTIONS_LIVE=1`` and the provider's key under a
``LIVE_`` name are set (``LIVE_OPENAI_API_KEY``, ``LIVE_ANTHROPIC_API_KEY``...; the test
conftest clears the normal key names).  Only then does a test lift the network guard
from ``tests/conftest.py``, for its own duration.  Each costs a fraction of a cent::

    LLM_SOLUTIONS_LIVE=1 LIVE_OPENAI_API_KEY=sk-... python -m pytest -m live tests/test_live_providers.py

For a local server set ``LIVE_OPENAI_COMPATIBLE_BASE_URL`` (and optionally
``OPENAI_COMPATIBLE_MODEL``) instead of a key.
"""

from __future__ import annotations

import os
import socket
import sys

import pytest

from llm_solutions.models.registry import build_models, close_models, load_registry
from llm_solutions.models.base import Request

pytestmark = [
    pytest.mark.live,
    pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning"),
]

# (cheapest model of the provider, the variable it reads, the LIVE_ variable that enables it)
LIVE = [
    ("gpt-6-luna", "OPENAI_API_KEY"),
    ("claude-haiku-5-5", "ANTHROPIC_API_KEY"),
    ("gemini-3.5-flash-lite", "GOOGLE_API_KEY"),
    ("grok-4.20-non-reasoning", "XAI_API_KEY"),
    ("deepseek-flash", "DEEPSEEK_API_KEY"),
    ("llama-4-scout", "TOGETHER_API_KEY"),
    ("hf-llama-3.3-70b", "HUGGINGFACE_API_KEY"),
    ("openrouter-llama-4-maverick", "OPENROUTER_API_KEY"),
    ("local-openai-compatible", "OPENAI_COMPATIBLE_BASE_URL"),
]

REQUEST = Request(
    messages=({"role": "user", "content": "Write a Python function add(a, b) returning a + b. Code only."},),
    max_tokens=512,
    temperature=0.0,
    reasoning_effort="low",
)


def _lift_network_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Put back the socket functions ``tests/conftest.py`` replaced, until the test ends."""
    guard = next((m for m in list(sys.modules.values()) if hasattr(m, "_real_connect")
                  and hasattr(m, "_guarded_connect")), None)
    if guard is None:
        return
    monkeypatch.setattr(socket.socket, "connect", guard._real_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guard._real_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guard._real_getaddrinfo)


@pytest.mark.parametrize("name,variable", LIVE, ids=[row[0] for row in LIVE])
async def test_one_tiny_real_request(name, variable, monkeypatch):
    live_value = os.environ.get(f"LIVE_{variable}")
    if os.environ.get("LLM_SOLUTIONS_LIVE") != "1" or not live_value:
        pytest.skip(f"set LLM_SOLUTIONS_LIVE=1 and LIVE_{variable} to call the real provider")
    _lift_network_guard(monkeypatch)
    monkeypatch.setenv(variable, live_value)
    registry = load_registry()
    models = build_models(registry, [registry.get(name)], timeout=120)
    try:
        result = await models[0].generate(REQUEST)
    finally:
        await close_models(models)
    assert "add" in result.text
    assert result.input_tokens > 0 and result.output_tokens > 0
    assert result.headers

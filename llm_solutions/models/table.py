"""The built-in model table: every provider and model the collector knows by name.

Prices are USD per million tokens as published by each provider.  Users add rows without
code through a models file (``--models-file``) and providers through plugins; see
``llm_solutions.models.registry``.
"""

from __future__ import annotations

from llm_solutions.models.config import ModelConfig, ProviderConfig

PROVIDERS: dict[str, ProviderConfig] = {
    p.name: p
    for p in [
        ProviderConfig(
            name="offline",
            model_class="llm_solutions.models.offline:OfflineModel",
            key_required=False,
            rpm=1_000_000,
            tpm=1_000_000_000,
            max_concurrent=64,
            description="answers with the dataset's canonical solution; no key, no network",
        ),
    ]
}

MODELS: list[ModelConfig] = [
    ModelConfig(
        name="offline",
        provider="offline",
        model_params={"api_model": "offline", "max_tokens": 2048, "temperature": 0.0},
        description="chat-style answers built from the canonical solution",
    ),
]

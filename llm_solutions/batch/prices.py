"""Batch prices: the model table's prices less the provider's batch discount."""

from __future__ import annotations

import dataclasses

from llm_solutions.models.config import ModelConfig
from llm_solutions.models.registry import Registry


def batch_discount(config: ModelConfig, registry: Registry | None = None) -> float:
    """The share of the online price a batch saves: the row's ``batch_discount``, else
    its provider's, else nothing."""
    if config.batch_discount is not None:
        return float(config.batch_discount)
    if registry is not None and config.provider in registry.providers:
        return float(registry.providers[config.provider].batch_discount or 0.0)
    return 0.0


def batch_config(config: ModelConfig, registry: Registry | None = None) -> ModelConfig:
    """``config`` priced as its batch API bills (half the online price at the big three)."""
    factor = 1.0 - batch_discount(config, registry)
    cached = None if config.cached_input_price is None else config.cached_input_price * factor
    return dataclasses.replace(config, input_price=config.input_price * factor,
                               output_price=config.output_price * factor, cached_input_price=cached)

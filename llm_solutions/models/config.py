"""Rows of the model table: what a provider is, and what a model is.

``ProviderConfig`` holds what every model of one provider shares (the model class, where
the key and base URL come from, rate-limit defaults).  ``ModelConfig`` is one row per model
a user can name: the provider, the wire model id and sampling parameters, and prices.
Both are plain data; the table itself lives in ``llm_solutions.models.table`` and can be
extended by a models file or by plugins (see ``llm_solutions.models.registry``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_solutions.errors import ConfigError

if TYPE_CHECKING:
    from llm_solutions.models.base import Completion

#: What a provider counts against its token limit (``ProviderConfig.token_accounting``).
TOKEN_ACCOUNTING = ("usage", "max_tokens", "max_tokens_until_answer")
#: What a model does (``ModelConfig.kind``).
MODEL_KINDS = ("chat", "embedding")


@dataclass(frozen=True)
class ProviderConfig:
    """One provider: its model class and the defaults its models share.

    ``model_class`` is ``"module:Class"`` so that a provider's SDK is imported only when
    one of its models is used.  ``rpm``/``tpm`` are requests and tokens per minute and
    ``max_concurrent`` the number of requests in flight, per key.  ``client_env`` maps SDK
    client options to the environment variables that set them (OpenAI's organisation and
    project); ``model_env`` names a variable that replaces every row's wire model id (a
    local server's loaded model).  The registry reads all of these variables.

    ``token_accounting`` says what the provider counts against its token limit, so the
    limiter reserves the same: ``"usage"`` (the tokens a request used, known once it is
    answered), ``"max_tokens"`` (the prompt plus ``max_tokens`` when the request arrives,
    kept whatever the answer used; OpenAI) or ``"max_tokens_until_answer"`` (the prompt
    plus ``max_tokens`` at first, corrected to the usage when the answer ends; Anthropic's
    output tokens).
    """

    name: str
    model_class: str
    api_key_env: str | None = None
    base_url_env: str | None = None
    default_base_url: str | None = None
    key_required: bool = True
    rpm: int = 500
    tpm: int = 200_000
    max_concurrent: int = 16
    client_env: dict[str, str] = field(default_factory=dict)
    model_env: str | None = None
    token_accounting: str = "usage"
    description: str = ""
    batch_discount: float | None = None  # share of the price a batch API saves; None: no batch API

    def __post_init__(self) -> None:
        if self.token_accounting not in TOKEN_ACCOUNTING:
            raise ConfigError(
                f"provider '{self.name}': token_accounting {self.token_accounting!r} is not one of "
                f"{', '.join(TOKEN_ACCOUNTING)}"
            )

    def load_class(self) -> type:
        """Import and return the model class."""
        module_name, _, class_name = self.model_class.partition(":")
        try:
            module = importlib.import_module(module_name)
            return getattr(module, class_name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(
                f"provider '{self.name}': cannot load model class {self.model_class!r} ({e}); "
                "check the plugin is installed"
            ) from e


@dataclass(frozen=True)
class ModelConfig:
    """One model a user can name on the command line.

    ``model_params`` holds ``api_model`` (the id sent on the wire), ``max_tokens``,
    ``temperature``, ``top_p``, ``reasoning_effort`` and ``extra`` (body fields sent as they
    are).  Prices are USD per million tokens.  ``api_key_env``, ``base_url`` and the rate
    limits default to the provider's when ``None``.  ``quick_test`` marks the cheap models
    ``--quick-test`` (and ``--dry-run``) use when no model is named; ``context_window`` is
    the most tokens, prompt and answer together, one request may use (``None``: unknown);
    ``images`` says the model accepts images in its prompts.  ``kind`` is ``"chat"`` (answers
    prompts) or ``"embedding"`` (turns texts into vectors; ``model_params`` may hold
    ``max_batch``, ``max_input_tokens``, ``max_batch_tokens`` and ``dimensions``);
    ``timeout`` replaces the run's per-request timeout for this model (seconds).
    """

    name: str
    provider: str
    model_params: dict[str, Any] = field(default_factory=dict)
    input_price: float = 0.0
    output_price: float = 0.0
    cached_input_price: float | None = None
    model_class: str | None = None
    api_key_env: str | None = None
    base_url: str | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrent: int | None = None
    reasoning: bool = False
    quick_test: bool = False
    context_window: int | None = None
    images: bool = False
    description: str = ""
    kind: str = "chat"
    timeout: float | None = None
    batch_discount: float | None = None  # replaces the provider's batch discount (0.5: half price)

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"model '{self.name}': kind {self.kind!r} is not one of {', '.join(MODEL_KINDS)}")

    @property
    def api_model(self) -> str:
        return str(self.model_params.get("api_model", self.name))

    @property
    def max_tokens(self) -> int:
        return int(self.model_params.get("max_tokens", 2048))

    def price(self, completion: Completion) -> float:
        """USD billed for one completion: the provider's own figure when it reports one
        (OpenRouter), else its tokens at the table's prices."""
        if completion.cost is not None:
            return float(completion.cost)
        return self.cost(completion.input_tokens, completion.output_tokens, completion.cached_tokens)

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int = 0) -> float:
        """USD for one call; cached input tokens are billed at the cached price."""
        cached_price = self.input_price if self.cached_input_price is None else self.cached_input_price
        uncached = max(input_tokens - cached_tokens, 0)
        return (
            uncached * self.input_price + cached_tokens * cached_price + output_tokens * self.output_price
        ) / 1_000_000

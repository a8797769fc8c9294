"""The built-in model table: every provider and model the collector knows by name.

Prices are USD per million tokens as published by each provider (checked 2026-11-22);
``cached_input_price`` is the prompt-cache read price.  Where a provider bills in bands
the row holds the band our short coding prompts fall in (noted per row); OpenRouter rows
are estimates only, since OpenRouter reports the billed cost of every call itself.
Rate limits are conservative first-tier defaults; raise them in a models file.
``batch_discount`` is the share of the price each provider's batch API saves (half,
at OpenAI, Anthropic and Google).  ``token_accounting`` records what each provider
counts against its token limit: OpenAI
charges a request its estimated prompt plus ``max_tokens`` when it arrives, whatever the
answer then uses; Anthropic charges output tokens by ``max_tokens`` when a request starts
and corrects them to the real count when it ends; the others count the tokens used.  The
limiter reserves the same, so a high ``max_tokens`` costs throughput where the provider
says it does, and nowhere else.

Users add rows without code through a models file (``--models-file``) and providers
through plugins; see ``llm_solutions.models.registry``.
"""

from __future__ import annotations

from typing import Any

from llm_solutions.models.config import ModelConfig, ProviderConfig

_OPENAI = "llm_solutions.models.openai"

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
        ProviderConfig(
            name="openai", model_class=f"{_OPENAI}:OpenAIModel", api_key_env="OPENAI_API_KEY",
            base_url_env="OPENAI_BASE_URL", default_base_url="https://api.openai.com/v1",
            rpm=500, tpm=500_000, max_concurrent=32, token_accounting="max_tokens", batch_discount=0.5,
            client_env={"organization": "OPENAI_ORG_ID", "project": "OPENAI_PROJECT_ID"},
            description="OpenAI chat completions; honours OPENAI_ORG_ID and OPENAI_PROJECT_ID",
        ),
        ProviderConfig(
            name="anthropic", model_class="llm_solutions.models.anthropic:AnthropicModel",
            api_key_env="ANTHROPIC_API_KEY", base_url_env="ANTHROPIC_BASE_URL",
            default_base_url="https://api.anthropic.com", rpm=50, tpm=30_000, max_concurrent=8,
            token_accounting="max_tokens_until_answer", batch_discount=0.5,
            description="Anthropic Messages API (Claude)",
        ),
        ProviderConfig(
            name="google", model_class="llm_solutions.models.google:GoogleModel",
            # GEMINI_API_KEY users: set GOOGLE_API_KEY to the same value (see .env.example).
            api_key_env="GOOGLE_API_KEY", base_url_env="GOOGLE_GEMINI_BASE_URL",
            default_base_url="https://generativelanguage.googleapis.com/",
            rpm=150, tpm=1_000_000, max_concurrent=16, batch_discount=0.5,
            # A proxy that serves only /v1beta needs the version the SDK sends changed.
            client_env={"api_version": "GOOGLE_GENAI_API_VERSION"},
            description="Google Gemini Developer API (generateContent)",
        ),
        ProviderConfig(
            name="xai", model_class=f"{_OPENAI}:XAIModel", api_key_env="XAI_API_KEY",
            base_url_env="XAI_BASE_URL", default_base_url="https://api.x.ai/v1",
            rpm=480, tpm=2_000_000, max_concurrent=16, description="xAI Grok (OpenAI-compatible)",
        ),
        ProviderConfig(
            name="deepseek", model_class=f"{_OPENAI}:DeepSeekModel", api_key_env="DEEPSEEK_API_KEY",
            base_url_env="DEEPSEEK_BASE_URL", default_base_url="https://api.deepseek.com",
            rpm=1_000, tpm=5_000_000, max_concurrent=32, description="DeepSeek (OpenAI-compatible)",
        ),
        ProviderConfig(
            name="together", model_class=f"{_OPENAI}:TogetherModel", api_key_env="TOGETHER_API_KEY",
            base_url_env="TOGETHER_BASE_URL", default_base_url="https://api.together.xyz/v1",
            rpm=600, tpm=180_000, max_concurrent=16, description="Together AI: Meta Llama and other open models",
        ),
        ProviderConfig(
            name="huggingface", model_class=f"{_OPENAI}:HuggingFaceModel", api_key_env="HUGGINGFACE_API_KEY",
            base_url_env="HUGGINGFACE_BASE_URL", default_base_url="https://router.huggingface.co/v1",
            rpm=300, tpm=500_000, max_concurrent=8,
            description="Hugging Face inference router (OpenAI-compatible); prices follow the serving provider",
        ),
        ProviderConfig(
            name="openrouter", model_class=f"{_OPENAI}:OpenRouterModel", api_key_env="OPENROUTER_API_KEY",
            base_url_env="OPENROUTER_BASE_URL", default_base_url="https://openrouter.ai/api/v1",
            rpm=500, tpm=1_000_000, max_concurrent=16,
            description="OpenRouter; every answer carries its billed cost",
        ),
        ProviderConfig(
            name="openai_compatible", model_class=f"{_OPENAI}:LocalOpenAIModel",
            api_key_env="OPENAI_COMPATIBLE_API_KEY", base_url_env="OPENAI_COMPATIBLE_BASE_URL",
            default_base_url="http://localhost:8000/v1", key_required=False,
            rpm=100_000, tpm=100_000_000, max_concurrent=8, model_env="OPENAI_COMPATIBLE_MODEL",
            description="a local OpenAI-compatible server (vLLM, Ollama, LM Studio, llama.cpp)",
        ),
    ]
}


def _row(
    name: str,
    provider: str,
    api_model: str,
    prices: tuple[float, float, float | None],
    *,
    reasoning: bool = False,
    max_tokens: int | None = None,
    description: str = "",
    quick_test: bool = False,
    context_window: int | None = None,
    images: bool = False,
    **params: Any,
) -> ModelConfig:
    """One table row; reasoning models default to a larger output budget and no temperature."""
    budget = max_tokens or (16_384 if reasoning else 4_096)
    model_params: dict[str, Any] = {"api_model": api_model, "max_tokens": budget}
    if not reasoning:
        model_params["temperature"] = 0.0
    model_params.update(params)
    return ModelConfig(
        name=name, provider=provider, model_params=model_params, input_price=prices[0],
        output_price=prices[1], cached_input_price=prices[2], reasoning=reasoning, description=description,
        quick_test=quick_test, context_window=context_window, images=images,
    )


_ADAPTIVE: dict[str, Any] = {"thinking": "adaptive", "thinking_display": "summarized"}
_DEEPSEEK_THINKING: dict[str, Any] = {"extra": {"thinking": {"type": "enabled"}}, "reasoning_effort": "high"}

MODELS: list[ModelConfig] = [
    ModelConfig(
        name="offline",
        provider="offline",
        model_params={"api_model": "offline", "max_tokens": 2048, "temperature": 0.0},
        description="chat-style answers built from the canonical solution",
        images=True,  # it answers from the canonical solution, whatever the prompt shows
    ),
    # OpenAI: the GPT-6 tiers are all reasoning models.
    _row("gpt-6-astra", "openai", "gpt-6-astra", (10.0, 50.0, 1.0), reasoning=True, reasoning_effort="medium",
         description="OpenAI flagship; prompts over 272K tokens cost more", context_window=1_050_000, images=True),
    _row("gpt-6.1-sol", "openai", "gpt-6.1-sol", (2.0, 10.0, 0.10), reasoning=True, reasoning_effort="medium",
         description="near-flagship at a fifth of the price", context_window=1_050_000, images=True),
    _row("gpt-6.1-terra", "openai", "gpt-6.1-terra", (1.0, 5.0, 0.05), reasoning=True, reasoning_effort="medium",
         description="fast mid tier", context_window=1_050_000, images=True),
    _row("gpt-6-luna", "openai", "gpt-6-luna", (0.10, 0.50, 0.01), quick_test=True, reasoning=True,
         reasoning_effort="medium", description="cheapest OpenAI tier", context_window=1_050_000, images=True),
    # Anthropic: the 5.x models think adaptively; effort sets how much.
    _row("claude-fable-5-2", "anthropic", "claude-fable-5-2", (8.0, 40.0, 0.20), reasoning=True,
         reasoning_effort="high", description="Anthropic's most capable model", **_ADAPTIVE, context_window=1_000_000,
         images=True),
    _row("claude-opus-5-5", "anthropic", "claude-opus-5-5", (4.0, 20.0, 0.20), reasoning=True,
         reasoning_effort="medium", description="long-running agentic coding", **_ADAPTIVE, context_window=1_000_000,
         images=True),
    _row("claude-sonnet-5-5", "anthropic", "claude-sonnet-5-5", (2.0, 10.0, 0.10), reasoning=True,
         reasoning_effort="medium", description="speed and intelligence balanced", **_ADAPTIVE,
         context_window=1_000_000, images=True),
    _row("claude-haiku-5-5", "anthropic", "claude-haiku-5-5", (0.10, 0.50, 0.01), quick_test=True, reasoning=True,
         reasoning_effort="medium", description="cheapest Claude; prices for prompts up to 100K tokens", **_ADAPTIVE,
         context_window=1_000_000, images=True),
    # Google: Gemini 3 thinks at a level; thoughts come back as separate parts.
    _row("gemini-3.1-pro", "google", "gemini-3.1-pro-preview", (2.0, 12.0, 0.20), reasoning=True,
         reasoning_effort="medium", description="Gemini Pro (preview); prompts over 200K tokens cost more",
         context_window=1_048_576, images=True),
    _row("gemini-3.8-flash", "google", "gemini-3.8-flash", (0.75, 3.75, 0.075), reasoning=True,
         reasoning_effort="medium", description="promotional price until 2026-12-31, then 1.50/7.50",
         context_window=1_048_576, images=True),
    _row("gemini-3.5-flash-lite", "google", "gemini-3.5-flash-lite", (0.30, 2.50, 0.03), quick_test=True,
         reasoning=True, reasoning_effort="low", description="cheapest Gemini", context_window=1_048_576,
         images=True),
    # xAI Grok.
    _row("grok-4.7", "xai", "grok-4.7", (2.0, 6.0, 0.50), reasoning=True, reasoning_effort="medium",
         description="xAI flagship; prompts over 200K tokens cost double", context_window=500_000, images=True),
    _row("grok-4.3", "xai", "grok-4.3", (1.25, 2.50, 0.20), reasoning=True, description="always reasons; 1M context",
         context_window=1_000_000, images=True),
    _row("grok-4.20-non-reasoning", "xai", "grok-4.20-0309-non-reasoning", (1.25, 2.50, 0.20), quick_test=True,
         description="no reasoning, lowest latency", context_window=1_000_000, images=True),
    # DeepSeek: one model, thinking switched per request; peak-hour prices (off-peak is half).
    _row("deepseek-flash", "deepseek", "deepseek-flash", (0.30, 1.20, 0.006), quick_test=True,
         extra={"thinking": {"type": "disabled"}}, description="DeepSeek V4.1 Flash without thinking",
         context_window=1_000_000, images=True),
    _row("deepseek-flash-thinking", "deepseek", "deepseek-flash", (0.30, 1.20, 0.006), reasoning=True,
         description="DeepSeek V4.1 Flash with thinking", **_DEEPSEEK_THINKING, context_window=1_000_000,
         images=True),
    _row("deepseek-v4-pro", "deepseek", "deepseek-v4-pro", (1.32, 3.96, 0.044), reasoning=True,
         description="DeepSeek V4 Pro with thinking", **_DEEPSEEK_THINKING, context_window=1_000_000),
    # Meta Llama via Together AI and via Hugging Face's router.
    _row("llama-4-maverick", "together", "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", (0.27, 0.85, None),
         description="Llama 4 Maverick on Together AI", context_window=524_288, images=True),
    _row("llama-4-scout", "together", "meta-llama/Llama-4-Scout-17B-16E-Instruct", (0.18, 0.59, None),
         quick_test=True, description="Llama 4 Scout on Together AI", context_window=327_680, images=True),
    _row("llama-3.3-70b", "together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", (0.88, 0.88, None),
         description="Llama 3.3 70B Turbo on Together AI", context_window=131_072),
    _row("hf-llama-4-maverick", "huggingface", "meta-llama/Llama-4-Maverick-17B-128E-Instruct", (0.27, 0.85, None),
         quick_test=True,
         description="Llama 4 Maverick via the Hugging Face router (price varies by serving provider)", images=True),
    _row("hf-llama-3.3-70b", "huggingface", "meta-llama/Llama-3.3-70B-Instruct", (0.88, 0.88, None),
         description="Llama 3.3 70B via the Hugging Face router (price varies by serving provider)",
         context_window=131_072),
    # OpenRouter: prices are estimates; the billed cost comes back with each answer.
    _row("openrouter-gpt-6.1-sol", "openrouter", "openai/gpt-6.1-sol", (2.0, 10.0, 0.10), reasoning=True,
         reasoning_effort="medium", description="GPT-6.1 Sol through OpenRouter", context_window=1_050_000,
         images=True),
    _row("openrouter-deepseek-v4.1-flash", "openrouter", "deepseek/deepseek-v4.1-flash", (0.15, 0.60, None),
         quick_test=True, description="DeepSeek V4.1 Flash through OpenRouter", context_window=1_048_576,
         images=True),
    _row("openrouter-llama-4-maverick", "openrouter", "meta-llama/llama-4-maverick", (0.15, 0.60, None),
         description="Llama 4 Maverick through OpenRouter", context_window=1_048_576, images=True),
    # Embedding models (kind "embedding"): texts in, vectors out; priced per million input tokens.
    # Batch limits are the providers' own: OpenAI 2,048 inputs, 8,192 tokens each and 300,000
    # tokens per request; Gemini 100 inputs per batchEmbedContents call, 2,048 tokens each.
    *[ModelConfig(name=name, provider="openai", kind="embedding", input_price=price,
                  model_class=f"{_OPENAI}:OpenAIEmbeddingModel", description=description,
                  model_params={"api_model": name, "max_batch": 2048, "max_input_tokens": 8192,
                                "max_batch_tokens": 300_000})
      for name, price, description in (
          ("text-embedding-3-small", 0.02, "OpenAI's small embedding model, 1,536 dimensions"),
          ("text-embedding-3-large", 0.13, "OpenAI's large embedding model, 3,072 dimensions"))],
    ModelConfig(name="gemini-embedding-001", provider="google", kind="embedding", input_price=0.15,
                model_class="llm_solutions.models.google:GoogleEmbeddingModel",
                model_params={"api_model": "gemini-embedding-001", "max_batch": 100, "max_input_tokens": 2048},
                description="Gemini embedding model, 3,072 dimensions (usage estimated: the API reports none)"),
    ModelConfig(name="local-openai-compatible-embedding", provider="openai_compatible", kind="embedding",
                model_class=f"{_OPENAI}:LocalOpenAIEmbeddingModel",
                model_params={"api_model": "auto", "max_batch": 256},
                description="embeddings from a local OpenAI-compatible server (OPENAI_COMPATIBLE_MODEL)"),
    ModelConfig(name="offline-embedding", provider="offline", kind="embedding",
                model_class="llm_solutions.models.offline:OfflineEmbeddingModel",
                model_params={"api_model": "offline-embedding", "dimensions": 256, "max_batch": 1024},
                description="hashed words and word pairs; no key, no network (for trying things out)"),
    # A local server: the model id comes from OPENAI_COMPATIBLE_MODEL, else the server's first listed model.
    _row("local-openai-compatible", "openai_compatible", "auto", (0.0, 0.0, None),
         description="local OpenAI-compatible server; set OPENAI_COMPATIBLE_BASE_URL and OPENAI_COMPATIBLE_MODEL"),
]

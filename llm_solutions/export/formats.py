"""The training formats: one row per example (SFT) or per pair (DPO), as each tool reads it.

* ``chat``: ``{"messages": [system, user, assistant]}``, the OpenAI fine-tuning file
  (Together and Fireworks read the same);
* ``trl-sft``: TRL's conversational language-modeling type, ``{"messages": [...]}``;
* ``trl-dpo``: TRL's preference type, ``{"prompt", "chosen", "rejected"}``, conversational
  (lists of messages, the default) or standard (plain strings);
* ``sharegpt``: ``{"id", "conversations": [{"from": "system"|"human"|"gpt", "value"}]}``;
* ``alpaca``: ``{"instruction", "input", "output", "system"}``;
* ``hf``: a Hugging Face ``datasets`` dataset (saved to disk and as parquet) with the
  conversational columns plus metadata.
"""

from __future__ import annotations

from typing import Any

from llm_solutions.export.selection import Example

FORMATS = ("chat", "trl-sft", "trl-dpo", "sharegpt", "alpaca", "hf")
PAIR_FORMATS = frozenset({"trl-dpo"})
STYLES = ("conversational", "standard")


def _conversation(example: Example, include_reasoning: bool) -> list[dict[str, str]]:
    return [*example.messages, {"role": "assistant", "content": example.completion(include_reasoning)}]


def sft_row(fmt: str, example: Example, include_reasoning: bool) -> dict[str, Any]:
    """One SFT example in format ``fmt``."""
    if fmt in ("chat", "trl-sft"):
        return {"messages": _conversation(example, include_reasoning)}
    if fmt == "sharegpt":
        names = {"system": "system", "user": "human", "assistant": "gpt"}
        return {
            "id": f"{example.meta['session']}/{example.meta['model']}/{example.meta['task_id']}/"
                  f"s{example.meta['sample']}",
            "conversations": [{"from": names.get(m["role"], m["role"]), "value": m["content"]}
                              for m in _conversation(example, include_reasoning)],
        }
    if fmt == "alpaca":
        return {"instruction": example.user, "input": "", "output": example.completion(include_reasoning),
                "system": example.system}
    if fmt == "hf":
        conversation = _conversation(example, include_reasoning)
        return {"messages": conversation, "prompt": conversation[:-1], "completion": conversation[-1:],
                "reasoning": example.reasoning, **example.meta}
    raise ValueError(f"no SFT rows for format {fmt}")


def _prompt_text(example: Example) -> str:
    return "\n\n".join(part for part in (example.system, example.user) if part)


def dpo_row(chosen: Example, rejected: Example, include_reasoning: bool, style: str) -> dict[str, Any]:
    """One preference pair (TRL's ``prompt``/``chosen``/``rejected``), conversational or standard."""
    if style == "standard":
        return {"prompt": _prompt_text(chosen), "chosen": chosen.completion(include_reasoning),
                "rejected": rejected.completion(include_reasoning)}
    return {
        "prompt": chosen.messages,
        "chosen": [{"role": "assistant", "content": chosen.completion(include_reasoning)}],
        "rejected": [{"role": "assistant", "content": rejected.completion(include_reasoning)}],
    }


def pair_meta(chosen: Example, rejected: Example) -> dict[str, Any]:
    """Metadata columns of a pair (the ``hf`` export of pairs, notebooks)."""
    return {
        "task_id": chosen.meta["task_id"], "category": chosen.meta["category"],
        "complexity": chosen.meta["complexity"], "chosen_model": chosen.meta["model"],
        "rejected_model": rejected.meta["model"], "chosen_tests_passed": chosen.meta["tests_passed"],
        "rejected_tests_passed": rejected.meta["tests_passed"], "tests_total": chosen.meta["tests_total"],
        "chosen_session": chosen.meta["session"], "rejected_session": rejected.meta["session"],
    }

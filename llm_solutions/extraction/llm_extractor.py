"""Model-based extraction: a cheap model pulls the code out of an answer the rules could not.

The scorer calls ``LLMExtractor.extract`` only when ``extract_code`` found nothing or was
unsure, so most answers cost nothing extra.  The call goes through the session's
``Caller`` like every model call: it is cached (the same answer is extracted once, in
collect and in rescore alike), rate limited, retried, priced and counted in the budget.
The extractor's reply goes through ``extract_code`` again and is used only when it parses,
is at least as good as the rules' result, and was copied from the answer rather than
written by the extractor: a cheap model that "fixes" or invents a solution would credit
the answering model with code it did not write.  On any failure the rules' result is kept.
Every call is described in the extraction's ``llm`` field (model, outcome, tokens, cost),
so its spend is in the record of the answer it served.

When the configured extraction model has no API key, the rules are used alone and the
run says so once with ``describe_fallback``.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Any

from llm_solutions.calls import Caller, CallResult
from llm_solutions.dataset import Problem
from llm_solutions.extraction.code_blocks import (
    Extraction,
    extract_code,
    strip_reasoning,
)
from llm_solutions.models.base import BaseModel, Request
from llm_solutions.prompts import render_prompt
from llm_solutions.validation import parse_code, top_level_names

logger = logging.getLogger(__name__)

_NO_CODE = re.compile(r"[`\s]*NO_CODE[`.\s]*")
_WHITESPACE = re.compile(r"\s+")
# The extracted code is at most as long as the answer; about three characters a token for
# code, plus room for the fence.  The cap keeps one odd answer from asking for a huge reply.
_MIN_MAX_TOKENS, _MAX_MAX_TOKENS = 512, 16_384


def describe_fallback(model_name: str, env_var: str | None) -> str:
    """The one-line notice the runner prints when the extraction model cannot be used."""
    reason = f"{env_var} is not set" if env_var else "it has no API key"
    return (
        f"extraction model '{model_name}' is unavailable ({reason}); extracting code with rules "
        "only, so ambiguous answers keep the rule-based result"
    )


def _copied_from(code: str, answer: str) -> bool:
    """Whether every code line (ignoring whitespace and comments) appears in the answer."""
    haystack = _WHITESPACE.sub("", answer)
    for line in code.split("\n"):
        text = line.strip()
        if text and not text.startswith("#") and _WHITESPACE.sub("", text) not in haystack:
            return False
    return True


@dataclass(frozen=True)
class LLMExtractionCall:
    """One call to the extraction model, as kept in the record's ``extraction.llm``.

    ``outcome`` is ``used``, ``no_code``, ``rejected: <why>`` or ``failed: <error kind>``.
    """

    model: str
    outcome: str
    cache_hit: bool
    input_tokens: int
    output_tokens: int
    cost: float

    @classmethod
    def of(cls, result: CallResult, outcome: str) -> LLMExtractionCall:
        return cls(result.model, outcome, result.cache_hit, result.usage.input_tokens,
                   result.usage.output_tokens, round(result.cost, 8))


def _score(extraction: Extraction, name: str) -> tuple[bool, bool]:
    tree = parse_code(extraction.code) if extraction.code.strip() else None
    return tree is not None, tree is not None and name in top_level_names(tree)


class LLMExtractor:
    """Asks ``model`` for the code in an answer, through ``caller``.

    The caller does the caching, rate limiting, retrying, pricing and budget.
    ``max_tokens`` overrides the reply budget, which otherwise grows with the answer's
    length.
    """

    def __init__(self, model: BaseModel, caller: Caller, *, max_tokens: int | None = None) -> None:
        self.model = model
        self.caller = caller
        self.max_tokens = max_tokens
        self.calls = 0
        self.cache_hits = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost = 0.0
        self.failures = 0
        self.used = 0
        self.no_code = 0
        self.rejected = 0
        self._warned: set[str] = set()

    def stats_dict(self) -> dict[str, Any]:
        """Calls, tokens and USD spent on extraction, and what became of the replies."""
        return {
            "model": self.model.name,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": round(self.cost, 8),
            "failures": self.failures,
            "used": self.used,
            "no_code": self.no_code,
            "rejected": self.rejected,
        }

    def _warn_once(self, kind: str, message: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            logger.warning("%s (further '%s' cases are not logged)", message, kind)

    def _request(self, answer: str, problem: Problem) -> Request:
        config = self.model.config
        params = config.model_params
        budget = self.max_tokens or max(
            config.max_tokens, min(len(answer) // 3 + _MIN_MAX_TOKENS, _MAX_MAX_TOKENS)
        )
        prompt = render_prompt("extract", name=problem.name, problem=problem.problem, response=answer)
        return Request(
            messages=({"role": "user", "content": prompt},),
            max_tokens=budget,
            temperature=None if config.reasoning else 0.0,
            reasoning_effort=params.get("reasoning_effort"),
            extra=dict(params.get("extra") or {}),
            # No canonical solution here: a model that reads metadata (the offline one)
            # must not be able to hand back the reference answer as "extracted" code.
            metadata={"task_id": problem.task_id, "name": problem.name, "purpose": "extraction"},
        )

    async def extract(self, raw_text: str, problem: Problem, fallback: Extraction) -> Extraction:
        """The extractor model's reading of ``raw_text``, or ``fallback`` when it fails.

        Reasoning sections are not sent.  An answer that is empty without them (a model cut
        off while thinking) is not sent at all.  A ``NO_CODE`` reply gives an empty
        extraction with method ``"llm"``.  Provider errors are logged (once per kind) and
        counted, never raised.  Whatever happens after a call, the returned extraction's
        ``llm`` describes it.
        """
        answer, _ = strip_reasoning(raw_text)
        if not answer.strip():
            return fallback
        request = self._request(answer, problem)
        self.calls += 1
        # Not gated by the budget: the answer is already paid for, and skipping its
        # extraction would score it differently from a rescore of the same answer.
        result = await self.caller.call(self.model, request, purpose="extraction", gated=False)
        self.cache_hits += result.cache_hit
        self.input_tokens += result.usage.input_tokens
        self.output_tokens += result.usage.output_tokens
        self.cost += result.cost
        if not result.ok or result.completion is None:
            self.failures += 1
            kind = result.error.kind if result.error is not None else "refused"
            self._warn_once(kind, f"extraction model {self.model.name} failed ({result.message}); "
                                  "keeping the rule-based result")
            return dataclasses.replace(fallback, llm=LLMExtractionCall.of(result, f"failed: {kind}"))

        reply, _ = strip_reasoning(result.completion.text or "")
        if _NO_CODE.fullmatch(reply):
            self.no_code += 1
            return Extraction("", "llm", fallback.blocks_found, False, fallback.reasoning_stripped, 0,
                              llm=LLMExtractionCall.of(result, "no_code"))

        found = extract_code(reply, problem.name)
        parses, defines = _score(found, problem.name)
        if not parses:
            return self._reject("unparsable", "its reply has no code that parses", fallback, result)
        if not _copied_from(found.code, answer):
            return self._reject("unfaithful", "its code is not copied from the answer", fallback, result)
        if (parses, defines) < _score(fallback, problem.name):
            return self._reject("worse", "its code is worse than the rule-based result", fallback, result)
        self.used += 1
        return Extraction(
            found.code, "llm", fallback.blocks_found, not defines, fallback.reasoning_stripped, found.blocks_used,
            llm=LLMExtractionCall.of(result, "used"),
        )

    def _reject(self, kind: str, reason: str, fallback: Extraction, result: CallResult) -> Extraction:
        self.rejected += 1
        self._warn_once(kind, f"extraction model {self.model.name}: {reason}; keeping the rule-based result")
        return dataclasses.replace(fallback, llm=LLMExtractionCall.of(result, f"rejected: {kind}"))

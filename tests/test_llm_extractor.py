"""LLMExtractor with a scripted test-double model, called through a real ``Caller``: replies
used, NO_CODE, failures, rejections, and the tokens and cost it counts."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from llm_solutions.dataset import Problem, TestCase
from llm_solutions.errors import (
    BadRequestError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
)
from llm_solutions.extraction import (
    Extraction,
    LLMExtractor,
    describe_fallback,
    extract_code,
)
from llm_solutions.calls import Caller
from llm_solutions.limits import LimiterPool, RetryPolicy
from llm_solutions.models.base import BaseModel, Completion, Request
from llm_solutions.models.config import ModelConfig, ProviderConfig
from llm_solutions.models.offline import OfflineModel
from llm_solutions.models.registry import Registry

PROBLEM = Problem(
    task_id="queue_1",
    name="BoundedQueue",
    problem="Write a class BoundedQueue(capacity) whose push(item) drops the oldest item when full.",
    canonical_solution="SECRET_REFERENCE_SOLUTION = 1",
    tests=(TestCase(ctx="", assertion="assert True"),),
    category="class",
    complexity=2,
    object="class",
)

CODE = (
    "from collections import deque\n\n"
    "class BoundedQueue:\n"
    "    def __init__(self, capacity):\n"
    "        self.items = deque(maxlen=capacity)\n\n"
    "    def push(self, item):\n"
    "        self.items.append(item)"
)

# Imports in one block, the class in a second block glued to prose, a usage block: the
# class block's fence is broken, so the rules cannot find a block that defines the name.
ANSWER = (
    "<think>\nThe user wants a bounded queue. deque(maxlen=...) does it.\n</think>\n"
    "Sure! First the imports:\n```python\nfrom collections import deque\n```\n"
    "Then the class:```python class\n"
    "class BoundedQueue:\n    def __init__(self, capacity):\n        self.items = deque(maxlen=capacity)\n\n"
    "    def push(self, item):\n        self.items.append(item)\n```\n"
    "Usage: `q = BoundedQueue(2)`."
)


class ScriptedModel(BaseModel):
    """Answers with the scripted replies in turn; an exception in the script is raised."""

    provider = "scripted"

    def __init__(self, *replies: str | Exception, config: ModelConfig | None = None) -> None:
        super().__init__(config or ModelConfig(name="cheap-extractor", provider="scripted",
                                               input_price=1.0, output_price=4.0))
        self.replies = list(replies)
        self.requests: list[Request] = []

    async def generate(self, request: Request) -> Completion:
        self.requests.append(request)
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return Completion(text=reply, input_tokens=1000, output_tokens=250, model=self.name)


def caller() -> Caller:
    """A caller without cache, one attempt per call (the extractor's caller in a run retries)."""
    providers = {name: ProviderConfig(name=name, model_class="x:Y", rpm=1_000_000, tpm=None)
                 for name in ("scripted", "offline")}
    pool = LimiterPool(Registry(providers=providers, models={}))
    return Caller(pool, policy=RetryPolicy(max_attempts=1))


def without_llm(extraction: Extraction) -> Extraction:
    return dataclasses.replace(extraction, llm=None)


def rules(answer: str = ANSWER) -> Extraction:
    return extract_code(answer, PROBLEM.name)


def test_the_rules_alone_are_unsure_about_the_fixture_answer() -> None:
    fallback = rules()
    assert fallback.ambiguous
    assert "class BoundedQueue" not in fallback.code


async def test_reply_is_used_and_counted() -> None:
    model = ScriptedModel(f"```python\n{CODE}\n```")
    extractor = LLMExtractor(model, caller())
    fallback = rules()

    result = await extractor.extract(ANSWER, PROBLEM, fallback)

    assert result.code == CODE
    assert result.method == "llm"
    assert not result.ambiguous
    assert result.blocks_found == fallback.blocks_found
    assert result.reasoning_stripped is True
    stats = extractor.stats_dict()
    assert stats == {
        "model": "cheap-extractor", "calls": 1, "cache_hits": 0, "input_tokens": 1000, "output_tokens": 250,
        "cost": pytest.approx((1000 * 1.0 + 250 * 4.0) / 1_000_000), "failures": 0, "used": 1,
        "no_code": 0, "rejected": 0,
    }


async def test_request_carries_the_prompt_without_reasoning_or_the_reference_solution() -> None:
    model = ScriptedModel(f"```python\n{CODE}\n```")
    await LLMExtractor(model, caller()).extract(ANSWER, PROBLEM, rules())

    (request,) = model.requests
    (message,) = request.messages
    assert message["role"] == "user"
    prompt = message["content"]
    assert PROBLEM.problem in prompt
    assert "Then the class:" in prompt and "`BoundedQueue`" in prompt
    assert "NO_CODE" in prompt
    assert "deque(maxlen=...) does it" not in prompt  # the <think> part is not sent
    assert "SECRET_REFERENCE_SOLUTION" not in prompt
    assert "canonical_solution" not in request.metadata
    assert request.metadata["task_id"] == "queue_1"
    assert request.temperature == 0.0
    assert request.max_tokens >= 512


async def test_reasoning_model_gets_no_temperature_and_its_table_parameters() -> None:
    config = ModelConfig(name="tiny-reasoner", provider="scripted", reasoning=True,
                         model_params={"reasoning_effort": "low", "extra": {"verbosity": "low"}, "max_tokens": 4000})
    model = ScriptedModel(f"```python\n{CODE}\n```", config=config)
    await LLMExtractor(model, caller()).extract(ANSWER, PROBLEM, rules())
    (request,) = model.requests
    assert request.temperature is None
    assert request.reasoning_effort == "low"
    assert request.extra == {"verbosity": "low"}
    assert request.max_tokens == 4000


async def test_braces_in_the_answer_do_not_break_the_prompt() -> None:
    answer = "Here:\n```\ndef BoundedQueue(x={'a': 1}):\n    return f'{x}'\n```\nand {this}"
    model = ScriptedModel("NO_CODE")
    await LLMExtractor(model, caller()).extract(answer, PROBLEM, rules(answer))
    assert "and {this}" in model.requests[0].messages[0]["content"]


@pytest.mark.parametrize("reply", ["NO_CODE", "  NO_CODE.\n", "`NO_CODE`", "<think>nothing here</think>\nNO_CODE"])
async def test_no_code_reply_gives_an_empty_llm_extraction(reply: str) -> None:
    extractor = LLMExtractor(ScriptedModel(reply), caller())
    result = await extractor.extract("I cannot help with that.", PROBLEM, rules("I cannot help with that."))
    assert result.code == ""
    assert result.method == "llm"
    assert not result.ambiguous
    assert extractor.no_code == 1 and extractor.calls == 1 and extractor.used == 0


async def test_failing_model_falls_back_and_warns_once_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    model = ScriptedModel(
        RateLimitError("slow down", provider="scripted", status=429),
        RateLimitError("slow down again", provider="scripted", status=429),
        RequestTimeoutError("took too long", provider="scripted"),
    )
    extractor = LLMExtractor(model, caller())
    fallback = rules()
    with caplog.at_level(logging.WARNING, logger="llm_solutions.extraction"):
        for _ in range(3):
            result = await extractor.extract(ANSWER, PROBLEM, fallback)
            assert without_llm(result) == fallback and result.llm.outcome.startswith("failed: ")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "rate_limit" in warnings[0] and "timeout" in warnings[1]
    assert extractor.failures == 3 and extractor.calls == 3
    assert extractor.input_tokens == 0 and extractor.cost == 0.0


async def test_non_provider_errors_propagate() -> None:
    extractor = LLMExtractor(ScriptedModel(RuntimeError("a bug")), caller())
    with pytest.raises(RuntimeError):
        await extractor.extract(ANSWER, PROBLEM, rules())


async def test_offline_model_cannot_leak_the_reference_solution() -> None:
    model = OfflineModel(ModelConfig(name="offline", provider="offline"))
    extractor = LLMExtractor(model, caller())
    fallback = rules()
    assert without_llm(await extractor.extract(ANSWER, PROBLEM, fallback)) == fallback
    assert extractor.failures == 1


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("Sorry, I am not sure what you mean.", "unparsable"),
        ("```python\nclass BoundedQueue(:\n```", "unparsable"),
        # invented code: not copied from the answer
        ("```python\nclass BoundedQueue:\n    def push(self, item):\n        raise NotImplementedError\n```", "unfaithful"),
    ],
)
async def test_bad_replies_are_rejected(reply: str, reason: str, caplog: pytest.LogCaptureFixture) -> None:
    extractor = LLMExtractor(ScriptedModel(reply), caller())
    fallback = rules()
    with caplog.at_level(logging.WARNING, logger="llm_solutions.extraction"):
        result = await extractor.extract(ANSWER, PROBLEM, fallback)
    assert without_llm(result) == fallback and result.llm.outcome == f"rejected: {reason}"
    assert result.llm.cost == pytest.approx((1000 * 1.0 + 250 * 4.0) / 1_000_000)  # paid, and said so
    assert extractor.rejected == 1 and extractor.used == 0
    assert extractor.input_tokens == 1000  # the call was made and is paid for
    assert f"'{reason}'" in caplog.text


async def test_reply_worse_than_the_rules_is_rejected() -> None:
    answer = "```python\ndef BoundedQueue():\n    return helper()\n```\n```python\ndef helper():\n    return 1\n```"
    fallback = rules(answer)
    reply = "```python\ndef helper():\n    return 1\n```"
    extractor = LLMExtractor(ScriptedModel(reply), caller())
    assert without_llm(await extractor.extract(answer, PROBLEM, fallback)) == fallback
    assert extractor.rejected == 1


async def test_whitespace_differences_still_count_as_copied() -> None:
    answer = "Code:\n\n    from collections import deque\n    class BoundedQueue:\n        def push(self,item):  return  item\n\nEnd"
    reply = "```python\nfrom collections import deque\nclass BoundedQueue:\n    def push(self, item): return item\n```"
    extractor = LLMExtractor(ScriptedModel(reply), caller())
    result = await extractor.extract(answer, PROBLEM, Extraction("", "none", ambiguous=True))
    assert result.method == "llm"
    assert extractor.used == 1


async def test_reply_without_the_expected_name_is_used_but_stays_ambiguous() -> None:
    answer = "Try:\n```\nimport math\nprint(math.pi)\n```\n```\nx = (\n```"
    reply = "```python\nimport math\nprint(math.pi)\n```"
    extractor = LLMExtractor(ScriptedModel(reply), caller())
    result = await extractor.extract(answer, PROBLEM, Extraction("", "none", ambiguous=True))
    assert result.code == "import math\nprint(math.pi)"
    assert result.ambiguous


async def test_answer_that_is_only_reasoning_is_not_sent() -> None:
    model = ScriptedModel()
    extractor = LLMExtractor(model, caller())
    answer = "<think>\nLet me think about the queue... maybe a deque"
    fallback = rules(answer)
    assert await extractor.extract(answer, PROBLEM, fallback) is fallback
    assert model.requests == [] and extractor.calls == 0


async def test_cost_is_the_providers_figure_when_it_reports_one() -> None:
    class Reporting(ScriptedModel):
        async def generate(self, request: Request) -> Completion:
            completion = await super().generate(request)
            completion.cost = 0.25
            return completion

    reported = LLMExtractor(Reporting(f"```python\n{CODE}\n```"), caller())
    result = await reported.extract(ANSWER, PROBLEM, rules())
    assert reported.cost == 0.25 and result.llm.cost == 0.25 and result.llm.outcome == "used"


async def test_max_tokens_override_and_refused_request() -> None:
    model = ScriptedModel(BadRequestError("refused", provider="scripted", status=400))
    extractor = LLMExtractor(model, caller(), max_tokens=777)
    result = await extractor.extract(ANSWER, PROBLEM, rules())
    assert len(model.requests) == 1 and model.requests[0].max_tokens == 777
    assert extractor.failures == 1 and result.llm.outcome == "failed: bad_request" and result.llm.cost == 0


def test_describe_fallback_names_the_model_and_variable() -> None:
    message = describe_fallback("gpt-4o-mini", "OPENAI_API_KEY")
    assert "gpt-4o-mini" in message and "OPENAI_API_KEY is not set" in message
    assert "\n" not in message
    assert "gpt-4o-mini" in describe_fallback("gpt-4o-mini", None)


def test_provider_error_base_is_what_the_extractor_catches() -> None:
    # The runner relies on this: every provider failure subclass is caught, nothing else.
    assert issubclass(RateLimitError, ProviderError) and issubclass(BadRequestError, ProviderError)

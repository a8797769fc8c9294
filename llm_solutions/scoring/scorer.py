"""``Scorer``: extract -> validate -> evaluate -> the record's fields, for every answer.

``collect`` scores each answer as it arrives, ``rescore`` scores stored answers again and
``evaluate`` re-runs only the tests of stored solutions; all three go through this one
class, so the same answer always gets the same extraction (rules, then the extraction
model through the caller when the rules are unsure), the same validation and the same
test run, and the record fields are written by one function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llm_solutions.dataset import Problem
from llm_solutions.evaluation.evaluator import SolutionEvaluator
from llm_solutions.extraction import Extraction, LLMExtractor, extract_code
from llm_solutions.validation import validate_code

# Record fields the scorer owns; ``Scored.record_fields`` sets them all, every time.
SCORE_FIELDS = ("extracted_solution", "extraction", "validation")
EVALUATION_FIELDS = ("evaluation", "tests_passed", "tests_total", "passed_all")


@dataclass
class Scored:
    """How one answer scored.

    ``extraction`` is what extraction found (with the extraction model's call, if any),
    ``validation`` the static checks of its code (``validate_code``), ``evaluation`` the
    test run (``SolutionEvaluation.to_dict()``), ``None`` when tests were not run.
    """

    extraction: Extraction
    validation: dict[str, Any]
    evaluation: dict[str, Any] | None = None

    @property
    def code(self) -> str:
        return self.extraction.code

    @property
    def extraction_cost(self) -> float:
        """USD spent on the extraction model for this answer (0 without a call)."""
        return self.extraction.llm.cost if self.extraction.llm is not None else 0.0

    def record_fields(self) -> dict[str, Any]:
        """The fields this score sets in a record (see the README's record format)."""
        fields: dict[str, Any] = {
            "extracted_solution": self.extraction.code,
            "extraction": {k: v for k, v in self.extraction.to_dict().items() if k != "code"},
            "validation": self.validation,
        }
        if self.evaluation is not None:
            fields.update(evaluation_fields(self.evaluation))
        return fields


def evaluation_fields(evaluation: dict[str, Any]) -> dict[str, Any]:
    """The record fields of a test run: the run itself plus its totals as flat columns."""
    return {
        "evaluation": evaluation,
        "tests_passed": int(evaluation.get("tests_passed") or 0),
        "tests_total": int(evaluation.get("tests_total") or 0),
        "passed_all": bool(evaluation.get("passed_all")),
    }


def unscored_fields() -> dict[str, Any]:
    """The score fields of a record whose call failed: nothing extracted, nothing run."""
    return {"extracted_solution": "", "extraction": {}, "validation": {}}


MISSING_PROBLEM = {"error": "problem not found in the dataset", "tests_passed": 0, "tests_total": 0,
                   "passed_all": False}


class Scorer:
    """Scores answers: rules extraction (plus ``extractor`` when unsure), validation, tests.

    ``evaluator`` runs the tests, here or on a Ray cluster (``open_evaluator``); ``None``
    skips them (``--no-execute``).  ``extractor`` ``None`` uses the rules alone.  The
    scorer does not own them; whoever opened them closes them.
    """

    def __init__(self, *, evaluator: SolutionEvaluator | None = None, extractor: LLMExtractor | None = None) -> None:
        self.evaluator = evaluator
        self.extractor = extractor

    async def extract(self, answer: str, problem: Problem) -> Extraction:
        """The answer's code: the rules, and the extraction model where they are unsure."""
        found = extract_code(answer, problem.name)
        if self.extractor is not None and (found.ambiguous or not found.code):
            found = await self.extractor.extract(answer, problem, found)
        return found

    async def score(self, answer: str, problem: Problem) -> Scored:
        """Extract, validate and (with an evaluator) test one answer to ``problem``."""
        extraction = await self.extract(answer, problem)
        scored = Scored(extraction=extraction, validation=validate_code(extraction.code, problem.name))
        if self.evaluator is not None:
            scored.evaluation = await self.test(extraction.code, problem)
        return scored

    async def test(self, code: str, problem: Problem | None) -> dict[str, Any]:
        """Run ``problem``'s tests against ``code``; a problem missing from the dataset
        (a session's dataset edited since) is reported as such, not run."""
        if problem is None:
            return dict(MISSING_PROBLEM)
        if self.evaluator is None:
            raise RuntimeError("this scorer has no evaluator")
        return (await self.evaluator.evaluate(problem, code)).to_dict()

    def report(self) -> dict[str, Any]:
        """What scoring did, for ``summary.json``."""
        return {"llm_extraction": self.extractor.stats_dict()} if self.extractor is not None else {}

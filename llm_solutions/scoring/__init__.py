"""The scorer: extract -> validate -> evaluate -> record fields, used by collect, rescore and evaluate.

``await Scorer(evaluator=..., extractor=...).score(answer, problem)`` returns ``Scored``,
whose ``record_fields()`` are what a record stores about the answer's code.
"""

from llm_solutions.scoring.scorer import Scored, Scorer, evaluation_fields, unscored_fields

__all__ = ["Scored", "Scorer", "evaluation_fields", "unscored_fields"]

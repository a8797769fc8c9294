"""Functional evaluation: run each problem's tests against a solution in a sandbox, and pass@k.

``Evaluator`` (evaluator.py) is the entry point; ``isolation.py`` documents what each
sandbox mode contains; ``passk.py`` turns per-sample results into pass@k.
``open_evaluator(..., ray=ADDRESS)`` gives ``RayEvaluator`` (cluster.py), the same
evaluator on every node of a Ray cluster (node.py), behind the same interface
(``SolutionEvaluator``).
"""

from llm_solutions.evaluation.evaluator import Evaluator, SolutionEvaluator, open_evaluator
from llm_solutions.evaluation.isolation import describe_isolation, select_isolation
from llm_solutions.evaluation.passk import pass_at_k, pass_at_k_summary
from llm_solutions.evaluation.results import SolutionEvaluation, TestResult
from llm_solutions.evaluation.sandbox import SandboxLimits

__all__ = [
    "Evaluator",
    "SandboxLimits",
    "SolutionEvaluation",
    "SolutionEvaluator",
    "TestResult",
    "describe_isolation",
    "open_evaluator",
    "pass_at_k",
    "pass_at_k_summary",
    "select_isolation",
]

"""The caller: the one path every model call takes (cache, limiter, retries, cost, budget).

``await Caller(pool, cache=..., budget=...).call(model, request, purpose=...)`` returns a
``CallResult``; see ``caller`` for the order of the steps.
"""

from llm_solutions.calls.budget import Budget
from llm_solutions.calls.caller import PURPOSES, Caller
from llm_solutions.calls.result import CallResult

__all__ = ["PURPOSES", "Budget", "CallResult", "Caller"]

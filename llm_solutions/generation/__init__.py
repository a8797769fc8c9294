"""Dataset generation: new problem datasets written by LLM workers in parallel, every
candidate verified in the sandbox and deduplicated, checkpointed and resumable.

``await generate_dataset(plan)`` (or ``llm-solutions generate``) runs a
``GenerationPlan``: categories with a count, a complexity range and the kind of object,
written by a worker model in small batches (``runner``), checked (``verification``,
``diversity``), and appended to ``<output>/<category>.jsonl``, a folder that
``load_dataset`` and ``run_collection.py --dataset`` read directly.
"""

from llm_solutions.generation.launcher import generate_dataset, resume_plan, run_generation
from llm_solutions.generation.plan import GenerationPlan, estimate
from llm_solutions.generation.runner import GenerationResult, GenerationRunner
from llm_solutions.generation.settings import CategorySpec, GenerationSettings

__all__ = [
    "CategorySpec",
    "GenerationPlan",
    "GenerationResult",
    "GenerationRunner",
    "GenerationSettings",
    "estimate",
    "generate_dataset",
    "resume_plan",
    "run_generation",
]

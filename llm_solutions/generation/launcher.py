"""The ways in: ``generate_dataset`` (notebooks, awaitable), ``run_generation`` (the command
line) and ``resume_plan`` (the plan a folder's earlier run stored, to continue it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from llm_solutions.errors import UserError
from llm_solutions.generation.diversity import Embedder
from llm_solutions.generation.plan import GenerationPlan
from llm_solutions.generation.runner import GenerationResult, GenerationRunner
from llm_solutions.generation.settings import OPERATIONAL
from llm_solutions.generation.store import GenerationStore


def resume_plan(output: str | Path, **changes: Any) -> GenerationPlan:
    """The plan stored in ``output``, with operational settings changed (``max_cost``,
    ``max_concurrent``...); changing what is generated needs a new output folder."""
    root = Path(output).expanduser()
    GenerationStore.check_existing(root)
    stored = GenerationStore(root).read_state()["plan"]
    fixed = sorted(k for k, v in changes.items() if v is not None and k not in OPERATIONAL)
    if fixed:
        raise UserError(f"{', '.join(fixed)} cannot change on --resume (the stored plan fixes it); "
                        "start a new --output to generate with other settings")
    return GenerationPlan.from_stored(stored, {k: v for k, v in changes.items() if v is not None})


async def generate_dataset(plan: GenerationPlan | str | Path | dict[str, Any], *, resume: bool = False,
                           embedder: Embedder | None = None, show_progress: bool = False,
                           **settings: Any) -> dict[str, Any]:
    """Generate (or with ``resume=True`` continue) a dataset; returns the report.

    ``plan`` is a ``GenerationPlan``, a plan file's path, or a dict shaped like a plan
    file; ``settings`` are generation settings given in code (``output="data/new"``,
    ``worker_model=...``), above the plan file and the environment.  With ``resume=True``
    the plan stored in ``output`` is used and ``settings`` may only change operational
    ones (``max_cost``, ``max_concurrent``...).
    """
    if resume:
        output = settings.pop("output", None) or (plan.settings.output if isinstance(plan, GenerationPlan) else None)
        if output is None:
            raise UserError("resume needs the output folder: generate_dataset(..., resume=True, output=DIR)")
        chosen = resume_plan(output, **settings)
    elif isinstance(plan, GenerationPlan):
        chosen = GenerationPlan(categories=plan.categories, settings=plan.settings.copy(**settings),
                                source=plan.source)
    else:
        chosen = GenerationPlan.load(plan, settings)
    runner = GenerationRunner(chosen, resume=resume, embedder=embedder, show_progress=show_progress,
                              handle_signals=False)
    return (await runner.run()).report


def run_generation(plan: GenerationPlan, **options: Any) -> GenerationResult:
    """Run a generation from synchronous code (the command line); notebooks ``await``."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(GenerationRunner(plan, **options).run())
    raise UserError("run_generation() was called inside a running event loop; use await generate_dataset(...)")

"""The analysis report and the statistics under it, for one session or several.

``write_report(sessions)`` writes one self-contained HTML page (tables, plots, failing
answers, per-problem and cross-session comparisons) and returns its path;
``get_statistics(sessions)`` gives the same numbers as DataFrames; ``report(sessions)`` gives
the figures for a notebook.  Sessions are ids under ``output_dir`` (default ``OUTPUT_DIR``
or ``generated``) or folders.  One pass over the records computes everything.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from llm_solutions.errors import SessionError
from llm_solutions.report.sources import SessionRef, Source, open_sources
from llm_solutions.report.statistics import Statistics, compute_statistics

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Statistics", "default_report_path", "get_statistics", "report", "write_report"]

Sessions = SessionRef | Sequence[SessionRef]


def get_statistics(sessions: Sessions, output_dir: SessionRef | None = None) -> Statistics:
    """Per model, category and complexity: counts, valid and pass rates (with 95% Wilson
    intervals), pass@k, cost, tokens, latency percentiles and failure reasons; plus the
    hardest problems and, for several sessions, paired per-model comparisons."""
    return compute_statistics(open_sources(sessions, output_dir))


def report(sessions: Sessions, output_dir: SessionRef | None = None) -> dict[str, Figure]:
    """The report's figures (matplotlib ``Figure`` objects, by name) for a notebook."""
    from llm_solutions.report.figures import make_figures

    return make_figures(get_statistics(sessions, output_dir))


def default_report_path(sources: list[Source]) -> Path:
    """``report.html`` in the session's folder for one session, in the current folder for several."""
    return sources[0].store.path / "report.html" if len(sources) == 1 else Path("report.html")


def write_report(sessions: Sessions, out: str | os.PathLike[str] | None = None,
                 output_dir: SessionRef | None = None) -> Path:
    """Write the HTML report of ``sessions`` to ``out`` (see ``default_report_path``) and
    return its path.  Bad sessions and a bad ``out`` are refused before anything is written."""
    from llm_solutions.report.page import build_page, render_figures, write_page

    sources = open_sources(sessions, output_dir)
    path = Path(out) if out is not None else default_report_path(sources)
    _check_out(path)
    stats = compute_statistics(sources)
    page = build_page(stats, render_figures(stats), datasets={s.session_id: s.dataset for s in sources})
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_page(page, path)


def _check_out(path: Path) -> None:
    if path.is_dir():
        raise SessionError(f"--out {path} is a folder; name the HTML file to write, e.g. {path / 'report.html'}")
    existing = path.parent
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise SessionError(f"--out {path}: {existing} is a file, not a folder; choose another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SessionError(f"--out {path}: {existing} is not writable; choose another --out")


class _CallablePackage(types.ModuleType):
    """Importing ``llm_solutions.report`` binds the name ``report`` in ``llm_solutions`` to
    this package, shadowing the ``report`` function exported there; calling the package is
    calling the function, so ``ls.report(sessions)`` works whichever was bound first."""

    def __call__(self, sessions: Sessions, output_dir: SessionRef | None = None) -> dict[str, Figure]:
        return report(sessions, output_dir)


sys.modules[__name__].__class__ = _CallablePackage

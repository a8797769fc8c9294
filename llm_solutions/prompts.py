"""Prompt templates, loaded from plain text files so they can be edited without code.

Templates live in the project's top-level ``prompts/`` folder (in an installed wheel, in
``llm_solutions/prompts``); ``LLM_SOLUTIONS_PROMPTS_DIR`` points at another folder.  They
use ``str.format`` fields such as ``{problem}`` and ``{name}``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from llm_solutions.errors import ConfigError
from llm_solutions.settings import environment

_PACKAGE = Path(__file__).parent


def prompts_dir() -> Path:
    """The folder templates are read from."""
    return _folder(environment.read("LLM_SOLUTIONS_PROMPTS_DIR"))


# Cached: reading old records rebuilds their prompts, two templates per record, and the
# path checks cost more than the formatting.
@cache
def _folder(override: str | None) -> Path:
    if override:
        return Path(override).expanduser()
    source_tree = _PACKAGE.parent / "prompts"  # a clone or an editable install
    return source_tree if source_tree.is_dir() else _PACKAGE / "prompts"


@cache
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def load_prompt(name: str) -> str:
    """The text of template ``name`` (file ``<name>.txt``)."""
    return _template(prompts_dir(), name)


@cache
def _template(folder: Path, name: str) -> str:
    path = folder / f"{name}.txt"
    if not path.is_file():
        raise ConfigError(f"prompt template {path} is missing; restore it or set LLM_SOLUTIONS_PROMPTS_DIR")
    return _read(path)


def render_prompt(name: str, /, **fields: object) -> str:
    """Template ``name`` with its ``{fields}`` filled in (a field may itself be called ``name``)."""
    template = load_prompt(name)
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError) as e:
        raise ConfigError(
            f"prompt template {name}.txt has an unknown or malformed field ({e}); "
            "escape literal braces as {{ and }}"
        ) from e

"""Problem datasets: one JSON object per line, ``*.jsonl`` files in a directory.

Each line describes one problem::

    {"task_id": "dataclass_1", "name": "SimpleData", "problem": "...",
     "canonical_solution": "...", "tests": "[{\\"ctx\\": \\"\\", \\"assertion\\": \\"...\\"}]",
     "category": "dataclass", "complexity": 2, "object": "class"}

``tests`` may be a JSON string (as above) or a list; ``ctx`` is setup code run before the
assertion.  An image problem adds ``"images": ["table.png", ...]``: paths relative to its
JSONL file, or ``data:`` URLs (``dataset.images``); they are shown to the model with the
prompt, and only models whose table row accepts images may be asked such problems.
``load_dataset`` checks every line and reports each problem as ``file:line: reason``; it
refuses a bad dataset unless asked to skip bad lines.  It takes one folder or several, loaded
together in order; a task_id in two folders must be the same problem in both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llm_solutions.dataset.images import parse_images
from llm_solutions.errors import DatasetError

BUILTIN_DATASET = Path(__file__).parent / "builtin"

REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "task_id": str,
    "name": str,
    "problem": str,
    "canonical_solution": str,
    "tests": (str, list),
    "category": str,
    "complexity": int,
}


@dataclass(frozen=True)
class TestCase:
    """One test: ``ctx`` is run after the solution, then ``assertion``.

    ``strict`` (the default) fails an assertion that passes only because an object of the
    solution's own class says it equals a value of another type; a test that means to
    compare such objects with builtin values says ``"strict": false``.
    """

    __test__ = False  # not a pytest class

    ctx: str
    assertion: str
    strict: bool = True


@dataclass(frozen=True)
class Problem:
    """One dataset problem."""

    task_id: str
    name: str
    problem: str
    canonical_solution: str
    tests: tuple[TestCase, ...]
    category: str
    complexity: int
    object: str = "function"
    source: str = field(default="", compare=False)
    images: tuple[str, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tests"] = [asdict(t) for t in self.tests]
        data.pop("source")
        data["images"] = list(self.images)
        if not self.images:
            data.pop("images")  # text problems keep the shape they always had
        return data


@dataclass
class Dataset:
    """The problems of a dataset plus the bad lines that were skipped."""

    path: Path
    problems: list[Problem]
    skipped: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)  # every folder loaded (``path`` is the first)

    @property
    def label(self) -> str:
        """The folder, or the folders joined with ``+``, for messages."""
        return " + ".join(str(p) for p in self.paths) if len(self.paths) > 1 else str(self.path)

    @property
    def categories(self) -> list[str]:
        return sorted({p.category for p in self.problems})

    def select(
        self,
        categories: Iterable[str] | None = None,
        per_category: int | None = None,
        task_ids: Iterable[str] | None = None,
    ) -> list[Problem]:
        """Problems in the given categories (all if ``None``), at most ``per_category`` each."""
        wanted = set(categories) if categories else None
        ids = set(task_ids) if task_ids is not None else None
        if wanted:
            unknown = sorted(wanted - set(self.categories))
            if unknown:
                raise DatasetError(
                    f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} in "
                    f"{self.label}; available: {', '.join(self.categories)}"
                )
        chosen: list[Problem] = []
        counts: dict[str, int] = {}
        for problem in self.problems:
            if wanted is not None and problem.category not in wanted:
                continue
            if ids is not None and problem.task_id not in ids:
                continue
            if per_category is not None and counts.get(problem.category, 0) >= per_category:
                continue
            counts[problem.category] = counts.get(problem.category, 0) + 1
            chosen.append(problem)
        return chosen


#: What ``load_dataset`` takes: one folder (or file), several, or ``None`` for the built-in set.
DatasetPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None


def resolve_dataset_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The dataset directory: ``path``, or the built-in set when ``None``.

    ``DATASET_PATH`` is the settings' business (``CollectionSettings.dataset_path``), so a
    resumed session never switches to whatever the environment names today.
    """
    return Path(path or BUILTIN_DATASET).expanduser()


def resolve_dataset_paths(paths: DatasetPaths = None) -> list[Path]:
    """The dataset folders, in order and without repeats: ``paths`` as one or a list, or
    the built-in set when ``None`` or empty."""
    items = [paths] if paths is None or isinstance(paths, (str, os.PathLike)) else list(paths)
    roots = [resolve_dataset_path(item) for item in items if item]
    return list(dict.fromkeys(roots)) or [resolve_dataset_path(None)]


def _parse_tests(value: Any) -> tuple[TestCase, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ValueError(f"'tests' is a string but not valid JSON ({e.msg})") from e
    if not isinstance(value, list) or not value:
        raise ValueError("'tests' must be a non-empty list of {ctx, assertion} objects")
    cases = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("assertion"), str):
            raise ValueError(f"test {i} needs an 'assertion' string")
        ctx = item.get("ctx", "")
        if not isinstance(ctx, str):
            raise ValueError(f"test {i}: 'ctx' must be a string")
        strict = item.get("strict", True)
        if not isinstance(strict, bool):
            raise ValueError(f"test {i}: 'strict' must be true or false")
        cases.append(TestCase(ctx=ctx, assertion=item["assertion"], strict=strict))
    return tuple(cases)


def parse_problem(data: Any, source: str = "", base: Path | None = None) -> Problem:
    """Build a ``Problem`` from one decoded line; ``ValueError`` says what is wrong.

    ``base`` is the folder image paths are relative to (the JSONL file's).
    """
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    missing = [name for name in REQUIRED_FIELDS if name not in data]
    if missing:
        raise ValueError(f"missing field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    for name, kind in REQUIRED_FIELDS.items():
        if not isinstance(data[name], kind) or isinstance(data[name], bool):
            raise ValueError(f"field '{name}' has the wrong type ({type(data[name]).__name__})")
        if isinstance(data[name], str) and not data[name].strip() and name != "canonical_solution":
            raise ValueError(f"field '{name}' is empty")
    return Problem(
        task_id=data["task_id"],
        name=data["name"],
        problem=data["problem"],
        canonical_solution=data["canonical_solution"],
        tests=_parse_tests(data["tests"]),
        category=data["category"],
        complexity=data["complexity"],
        object=str(data.get("object", "function")),
        source=source,
        images=parse_images(data.get("images"), base),
    )


def load_dataset(path: DatasetPaths = None, *, skip_invalid: bool = False) -> Dataset:
    """Load and check every ``*.jsonl`` file in the dataset directory, or directories.

    ``path`` is one folder (or one ``.jsonl`` file) or a list of them, loaded together in
    order.  Raises ``DatasetError`` listing every bad line as ``file:line: reason`` unless
    ``skip_invalid`` is set, in which case bad lines are left out and listed in
    ``Dataset.skipped``.  A task_id found in two folders is kept once when both lines hold
    the same problem, and is otherwise an error naming both places (whatever
    ``skip_invalid`` says: neither line is bad, the folders disagree).
    """
    roots = resolve_dataset_paths(path)
    label = " + ".join(str(root) for root in roots)
    hint = "pass --dataset DIR or set DATASET_PATH" if len(roots) == 1 else "fix the list of dataset folders"
    files: list[tuple[int, Path]] = []
    for index, root in enumerate(roots):
        if not root.exists():
            raise DatasetError(f"dataset {root} does not exist; {hint}")
        found = [root] if root.is_file() else sorted(root.glob("*.jsonl"))
        if not found:
            raise DatasetError(f"dataset {root} has no *.jsonl files; point --dataset at a folder of them")
        files += [(index, file) for file in found]

    problems: list[Problem] = []
    bad: list[str] = []
    seen: dict[str, tuple[str, int, Problem]] = {}
    for index, file in files:
        with file.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                where = f"{file}:{number}"
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    bad.append(f"{where}: not UTF-8 text (byte {e.start + 1}); save the file as UTF-8 JSON lines")
                    continue
                if not line.strip():
                    continue
                try:
                    problem = parse_problem(json.loads(line), source=where, base=file.parent)
                except json.JSONDecodeError as e:
                    bad.append(f"{where}: malformed JSON ({e.msg} at column {e.colno})")
                    continue
                except ValueError as e:
                    bad.append(f"{where}: {e}")
                    continue
                if problem.task_id in seen:
                    first, first_root, earlier = seen[problem.task_id]
                    if first_root == index:
                        bad.append(f"{where}: duplicate task_id '{problem.task_id}' (first at {first})")
                    elif earlier.to_dict() != problem.to_dict():
                        raise DatasetError(
                            f"task_id '{problem.task_id}' is two different problems, in {first} and {where}; "
                            "rename one, or leave one of the folders out")
                    continue  # the same problem in two folders: kept once
                seen[problem.task_id] = (where, index, problem)
                problems.append(problem)

    if bad and not skip_invalid:
        more = f" (and {len(bad) - 1} more; check-dataset lists them all)" if len(bad) > 1 else ""
        them = "them" if len(bad) > 1 else "it"
        raise DatasetError(
            f"dataset {label} has {len(bad)} bad line{'s' if len(bad) > 1 else ''}: {bad[0]}{more}; fix "
            f"{them} or pass --skip-invalid to leave {them} out",
            problems=bad,
        )
    if not problems:
        raise DatasetError(f"dataset {label} has no valid problems")
    return Dataset(path=roots[0], problems=problems, skipped=bad, paths=roots)

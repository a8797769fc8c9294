"""Which tasks of a session have a record, in memory that does not grow with the session.

A run's tasks are its plan's problems x models x samples, so each has a number and one
bit says whether it is done: a million tasks take 125 KB instead of a set of a million
key strings (about 100 MB).  Records of tasks outside the plan (a session read without
its plan, as ``rescore`` does, or a resumed one whose dataset lost a problem) are kept
as keys, which are few.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from llm_solutions.collection.tasks import task_key


class DoneTasks:
    """The set of finished tasks: ``(task_id, model, sample)`` in, ``len`` and keys out."""

    def __init__(self, task_ids: Sequence[str] = (), models: Sequence[str] = (), samples: int = 1) -> None:
        self._task_ids = list(task_ids)
        self._problems = {task_id: index for index, task_id in enumerate(self._task_ids)}
        self._models = list(models)
        self._model_numbers = {model: index for index, model in enumerate(self._models)}
        self._samples = max(int(samples), 1)
        self.planned = len(self._task_ids) * len(self._models) * self._samples
        self._bits = bytearray((self.planned + 7) // 8)
        self.in_plan = 0  # done tasks that belong to the plan
        self._outside: set[tuple[str, str, int]] = set()

    def _number(self, task_id: str, model: str, sample: int) -> int | None:
        problem = self._problems.get(task_id)
        number = self._model_numbers.get(model)
        if problem is None or number is None or not 0 <= sample < self._samples:
            return None
        return (problem * len(self._models) + number) * self._samples + sample

    def add(self, task_id: str, model: str, sample: int) -> bool:
        """Mark a task done; ``False`` when it already was."""
        number = self._number(task_id, model, sample)
        if number is None:
            key = (task_id, model, sample)
            if key in self._outside:
                return False
            self._outside.add(key)
            return True
        byte, bit = divmod(number, 8)
        if self._bits[byte] >> bit & 1:
            return False
        self._bits[byte] |= 1 << bit
        self.in_plan += 1
        return True

    def has(self, task_id: str, model: str, sample: int) -> bool:
        """Whether the task is done."""
        number = self._number(task_id, model, sample)
        if number is None:
            return (task_id, model, sample) in self._outside
        byte, bit = divmod(number, 8)
        return bool(self._bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self.in_plan + len(self._outside)

    def task_keys(self) -> Iterator[str]:
        """Every done task's key (``task_key``): the plan's in plan order, then the others."""
        if self.in_plan:
            per_problem = len(self._models) * self._samples
            for byte_index, byte in enumerate(self._bits):
                if not byte:
                    continue
                for bit in range(8):
                    if byte >> bit & 1:
                        number = byte_index * 8 + bit
                        problem, rest = divmod(number, per_problem)
                        model_number, sample = divmod(rest, self._samples)
                        yield task_key(self._task_ids[problem], self._models[model_number], sample)
        for task_id, model, sample in sorted(self._outside):
            yield task_key(task_id, model, sample)

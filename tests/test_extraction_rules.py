"""The rules behind issue 11, one at a time: the audit fields in the record, what makes an
answer ambiguous, joining what the solution needs from anywhere in the answer, the fence
slips models make, and the built-in dataset's solutions in every answer style."""

from __future__ import annotations

import json

import pytest

from llm_solutions.dataset import BUILTIN_DATASET, load_dataset
from llm_solutions.extraction import Extraction, extract_code


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}\n```"


def test_audit_fields_are_in_the_record_only_when_something_was_decided() -> None:
    plain = extract_code(fenced("def f():\n    return 1"), "f")
    assert plain.to_dict() == {"code": "def f():\n    return 1", "method": "fenced", "blocks_found": 1,
                               "ambiguous": False, "reasoning_stripped": False, "blocks_used": 1}
    chosen = extract_code(fenced("def f():\n    return 1") + "\nTests:\n" + fenced("assert f() == 1"), "f")
    record = {k: v for k, v in chosen.to_dict().items() if k != "code"}
    assert record == {"method": "fenced", "blocks_found": 2, "ambiguous": False, "reasoning_stripped": False,
                      "blocks_used": 1, "trimmed_lines": 0, "candidates": 2, "chosen": 0,
                      "reason": "the only candidate of 2 that defines f"}
    assert json.loads(json.dumps(record)) == record


def test_audit_fields_do_not_take_part_in_equality_and_llm_stays_last_positionally() -> None:
    # llm_extractor.py builds extractions positionally: the new fields come after ``llm``.
    made = Extraction("", "llm", 2, False, True, 0, None)
    assert made.trimmed_lines == 0 and made.candidates == 0 and made.chosen is None and made.reason == ""
    assert Extraction("x", "fenced", reason="why") == Extraction("x", "fenced", candidates=3)
    assert "reason" not in made.to_dict() and "llm" not in made.to_dict()


@pytest.mark.parametrize("answer, reason", [
    ("I can't help with that.", "no code in the answer"),
    ("<think>\nno idea\n</think>\n", "the answer is only reasoning"),
    (fenced("npm install left-pad", "bash"), "no Python code: 1 block of other languages, output or nothing"),
    ("Here:```python def\ndef f():\n    return 1\n```", "no code outside a malformed fence (line 1)"),
])
def test_answers_without_code(answer: str, reason: str) -> None:
    found = extract_code(answer, "f")
    assert (found.code, found.method, found.ambiguous, found.reason) == ("", "no_code", True, reason)


def test_cut_off_last_statement_is_dropped_and_recorded_but_not_ambiguous() -> None:
    found = extract_code("```python\ndef f(x):\n    return x\n\ndef g(x):\n    return (x +", "f")
    assert found.code == "def f(x):\n    return x"
    assert (found.method, found.ambiguous, found.trimmed_lines) == ("unterminated_fence", False, 2)
    assert "answer cut off: its last statement (2 lines) dropped" in found.to_dict()["reason"]


def test_a_mis_indented_last_line_is_not_taken_for_a_cut_off_one() -> None:
    answer = "def f(x):\n    total = 0\n    for i in range(x):\n        total += i\n   return total\n"
    found = extract_code(answer, "f")
    assert found.code == answer.strip() and found.ambiguous and found.trimmed_lines == 0


def test_code_like_lines_after_a_never_closed_fence_make_it_ambiguous() -> None:
    found = extract_code("```python\ndef f(x):\n    return x\n\nf(1) -> 1\nf(2) -> 2", "f")
    assert found.code == "def f(x):\n    return x"
    assert found.ambiguous and found.trimmed_lines == 2


@pytest.mark.parametrize("opening", ["```python", "[PYTHON]"])
def test_code_after_prose_in_a_never_closed_fence_is_read_again_and_joined(opening: str) -> None:
    answer = f"{opening}\ndef f(x):\n    return helper(x) * 2\n\nAnd the helper:\n\ndef helper(x):\n    return x + 1\n"
    found = extract_code(answer, "f")
    assert found.code == "def f(x):\n    return helper(x) * 2\n\ndef helper(x):\n    return x + 1"
    assert (found.ambiguous, found.blocks_used, found.method) == (False, 2, "unterminated_fence")


def test_helpers_are_joined_statement_by_statement_from_any_block() -> None:
    answer = (fenced("import os\nimport sys\nprint('setup')") + "\n"
              + fenced("def f(p):\n    return helper(os.path.basename(p))") + "\nwith\n"
              + fenced("def helper(name):\n    return name.upper()\n\nprint(helper('x'))"))
    found = extract_code(answer, "f")
    assert found.code == ("import os\n\ndef f(p):\n    return helper(os.path.basename(p))\n\n"
                          "def helper(name):\n    return name.upper()")
    assert found.blocks_used == 3 and not found.ambiguous
    assert "joined helper, os" in found.reason


def test_a_helper_defined_two_ways_is_ambiguous_but_the_same_import_twice_is_not() -> None:
    two_ways = "\n".join(fenced(c) for c in ["def f():\n    return g()", "def g():\n    return 1",
                                              "def g():\n    return 2"])
    found = extract_code(two_ways, "f")
    assert found.ambiguous and "g defined differently in several candidates" in found.reason
    same = "\n".join(fenced(c) for c in ["import math", "from math import pi\nimport math",
                                          "def f():\n    return math.pi"])
    found = extract_code(same, "f")
    assert found.code == "import math\n\ndef f():\n    return math.pi" and not found.ambiguous


def test_a_corrected_version_replaces_the_first_but_stays_ambiguous() -> None:
    answer = (fenced("def f(x):\n    return x * 2") + "\nOops, that multiplies. Here is the fixed version:\n"
              + fenced("def f(x):\n    return x + 2"))
    found = extract_code(answer, "f")
    assert (found.code, found.ambiguous, found.chosen) == ("def f(x):\n    return x + 2", True, 1)
    assert "corrected or final version" in found.reason


def test_a_stub_is_not_a_competitor() -> None:
    answer = fenced("def f(x: int) -> int:\n    \"\"\"Double x.\"\"\"\n    ...") + "\n" + fenced(
        "def f(x: int) -> int:\n    return 2 * x")
    found = extract_code(answer, "f")
    assert (found.code, found.ambiguous) == ("def f(x: int) -> int:\n    return 2 * x", False)


def test_unfenced_usage_is_left_out_but_configuration_is_kept() -> None:
    usage = extract_code("def f(n):\n    return n\n\nnums = [1, 2]\nfor n in nums:\n    print(f(n))\n", "f")
    assert usage.code == "def f(n):\n    return n" and "3 lines of example usage" in usage.reason
    config = "import sys\n\ndef f(n):\n    return n\n\nsys.setrecursionlimit(10 ** 6)"
    assert extract_code(config + "\n", "f").code == config
    needed = "def f():\n    return LIMIT\n\nLIMIT = compute()\nprint(f())"
    assert extract_code(needed, "f").code == "def f():\n    return LIMIT\n\nLIMIT = compute()"


def test_fence_like_lines_inside_a_string_are_code() -> None:
    code = 'def f(code):\n    """Wrap code like this:\n\n    ```python\n    x = 1\n    ```\n    """\n    return code'
    found = extract_code(fenced(code), "f")
    assert (found.code, found.ambiguous) == (code, False)


def test_a_string_left_open_does_not_swallow_the_answer() -> None:
    found = extract_code('```python\ndef f():\n    """Doc\n```\nThat is all.\n```python\nx = 1\n```', "f")
    assert found.code == 'def f():\n    """Doc' and found.ambiguous


@pytest.mark.parametrize("answer", [
    "```python\ndef f():\n    return 1\n``",
    "```python\ndef f():\n    return 1\n`",
    "~~~python\ndef f():\n    return 1\n~~~",
    "[PYTHON]\ndef f():\n    return 1\n[/PYTHON]",
    "[PYTHON]def f():\n    return 1[/PYTHON]",
    "Here:```python\ndef f():\n    return 1\n```",
    "```py title=\"a.py\"\ndef f():\n    return 1\n```",
    "```python def f():\n    return 1\n```",
])
def test_fence_forms(answer: str) -> None:
    found = extract_code(answer + "\nThanks!", "f")
    assert (found.code, found.method, found.ambiguous) == ("def f():\n    return 1", "fenced", False)


def test_a_malformed_opening_fence_is_not_guessed() -> None:
    answer = "Imports:\n```python\nimport math\n```\nThen:```python class\nclass f:\n    pi = math.pi\n```\nDone."
    found = extract_code(answer, "f")
    assert found.code == "import math" and found.ambiguous
    assert "malformed fence (line 5)" in found.reason


STYLES = {
    "chatty": "Sure! Here's `{name}`:\n\n```python\n{code}\n```\n\nIt handles the edge cases too.",
    "terse": "```\n{code}\n```",
    "unfenced": "{code}\n",
    "unfenced in prose": "Solution:\n\n{code}\n\nThat's all.",
    "tilde": "~~~python\n{code}\n~~~",
    "codellama": "[PYTHON]\n{code}\n[/PYTHON]\n[TESTS]\nassert True\n[/TESTS]",
    "two backticks": "```python\n{code}\n``",
    "reasoning": "<think>\nhmm\n</think>\n\n```python\n{code}\n```",
}


@pytest.mark.parametrize("style", STYLES)
def test_every_builtin_solution_comes_back_exactly_in_every_style(style: str) -> None:
    for problem in load_dataset(BUILTIN_DATASET).problems:
        code = problem.canonical_solution.strip()
        found = extract_code(STYLES[style].format(name=problem.name, code=code), problem.name)
        assert (found.code, found.ambiguous, found.trimmed_lines) == (code, False, 0), problem.task_id

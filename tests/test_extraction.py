"""extract_code on realistic model answers: fences, several blocks, cut-off answers, no fences,
reasoning sections, odd formatting, and inputs that must not crash it."""

from __future__ import annotations

import ast
import random

import pytest

from llm_solutions.extraction import Extraction, extract_code, strip_reasoning

SOLUTION = '''from collections import deque


class BoundedQueue:
    """A FIFO queue that drops the oldest item when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[int] = deque()

    def push(self, item: int) -> None:
        if len(self._items) == self.capacity:
            self._items.popleft()
        self._items.append(item)'''


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}\n```"


def test_typical_answer_prose_code_explanation() -> None:
    answer = (
        "Here's an implementation of `BoundedQueue` using `collections.deque`:\n\n"
        f"{fenced(SOLUTION)}\n\n"
        "**Explanation:**\n- `push` drops the oldest element when the queue is full.\n"
        "- All operations are O(1).\n"
    )
    result = extract_code(answer, "BoundedQueue")
    assert result == Extraction(SOLUTION, "fenced", 1, False, False, 1)
    assert result.to_dict() == {
        "code": SOLUTION, "method": "fenced", "blocks_found": 1, "ambiguous": False,
        "reasoning_stripped": False, "blocks_used": 1,
    }


@pytest.mark.parametrize("tag", ["python", "py", "python3", "Python", "", "python   ", "{.python}", "solution.py"])
def test_fence_tags(tag: str) -> None:
    result = extract_code(f"Solution:\n{fenced(SOLUTION, tag)}\nDone.", "BoundedQueue")
    assert result.code == SOLUTION
    assert result.method == "fenced"
    assert not result.ambiguous


def test_solution_usage_and_test_blocks_picks_the_definition() -> None:
    answer = (
        "Sure! First the class:\n\n"
        f"{fenced(SOLUTION)}\n\n"
        "Example usage:\n\n"
        + fenced("q = BoundedQueue(2)\nfor i in range(3):\n    q.push(i)\nprint(list(q._items))  # [1, 2]")
        + "\n\nAnd some tests:\n\n"
        + fenced(
            "import unittest\n\n\nclass TestBoundedQueue(unittest.TestCase):\n"
            "    def test_drop(self):\n        q = BoundedQueue(1)\n        q.push(1)\n        q.push(2)\n"
            "        self.assertEqual(list(q._items), [2])\n\n\n"
            "if __name__ == '__main__':\n    unittest.main()"
        )
        + "\n"
    )
    result = extract_code(answer, "BoundedQueue")
    assert result.code == SOLUTION
    assert result.blocks_found == 3
    assert result.blocks_used == 1
    assert not result.ambiguous


def test_bash_block_before_python_block_is_not_picked() -> None:
    answer = (
        "No third-party packages are needed, but make sure you run Python 3.11:\n\n"
        + fenced("python3 --version\npip install -U pip", "bash")
        + "\n\nThe code:\n\n"
        + fenced(SOLUTION)
        + "\n\nOutput:\n"
        + fenced("[1, 2]", "text")
        + "\n"
        + fenced('{"capacity": 2}', "json")
    )
    result = extract_code(answer, "BoundedQueue")
    assert result.code == SOLUTION
    assert result.blocks_found == 4
    assert not result.ambiguous


def test_other_language_blocks_alone_give_no_code() -> None:
    answer = "Run it like this:\n" + fenced("python solve.py", "bash") + "\nResult:\n" + fenced('{"ok": true}', "json")
    result = extract_code(answer, "solve")
    assert result.code == ""
    assert result.method == "no_code"
    assert result.ambiguous
    assert result.blocks_found == 2


def test_mislabelled_block_is_used_when_it_is_the_only_code() -> None:
    result = extract_code(fenced("def solve(x):\n    return x * 2", "text"), "solve")
    assert result.code == "def solve(x):\n    return x * 2"
    assert not result.ambiguous


def test_imports_block_then_class_block_are_joined() -> None:
    answer = (
        "You'll need these imports:\n\n"
        + fenced("from dataclasses import dataclass, field\nfrom typing import List")
        + "\n\nThen the class:\n\n"
        + fenced("@dataclass\nclass Inventory:\n    items: List[str] = field(default_factory=list)")
        + "\n\nUsage:\n\n"
        + fenced("inv = Inventory()\nprint(inv)")
    )
    result = extract_code(answer, "Inventory")
    assert result.code == (
        "from dataclasses import dataclass, field\nfrom typing import List\n\n"
        "@dataclass\nclass Inventory:\n    items: List[str] = field(default_factory=list)"
    )
    assert result.blocks_used == 2
    assert not result.ambiguous


def test_helper_block_is_joined_but_unrelated_earlier_blocks_are_not() -> None:
    answer = (
        fenced("print('warming up')")
        + "\nA helper:\n"
        + fenced("import math\n\n\ndef _norm(v):\n    return math.sqrt(sum(x * x for x in v))")
        + "\nAn unrelated constant:\n"
        + fenced("UNUSED = 1")
        + "\nMain function:\n"
        + fenced("def unit(v):\n    n = _norm(v)\n    return [x / n for x in v]")
    )
    result = extract_code(answer, "unit")
    assert result.code.startswith("import math\n")
    assert "UNUSED" not in result.code and "warming" not in result.code
    assert result.code.endswith("return [x / n for x in v]")
    assert result.blocks_used == 2


def test_alternative_versions_are_not_joined_and_the_first_is_used() -> None:
    first = "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))"
    second = "import builtins\n\n\ndef clamp(x, lo, hi):\n    '''Clamp x into [lo, hi].'''\n    if lo > hi:\n        raise ValueError\n    return max(lo, min(x, hi))"
    result = extract_code(f"Simple:\n{fenced(first)}\nMore robust:\n{fenced(second)}", "clamp")
    # Issue 11 (D2): the answer's main solution is its first complete one; a competing
    # variant makes the choice ambiguous (it used to take the longer one, silently).
    assert result.code == first
    assert result.blocks_used == 1
    assert result.ambiguous
    assert (result.candidates, result.chosen) == (2, 0)


def test_block_that_parses_beats_a_longer_broken_one() -> None:
    good = "def f(x):\n    return x"
    broken = "def f(x)\n    # a longer but broken attempt\n    return x + 1"
    result = extract_code(f"{fenced(broken)}\n{fenced(good)}", "f")
    assert result.code == good


def test_no_block_defines_the_name_is_ambiguous() -> None:
    result = extract_code(fenced("def helper():\n    return 1") + "\n" + fenced("x = 1"), "solve")
    assert result.code == "def helper():\n    return 1"
    assert result.ambiguous


def test_without_expected_name_several_definitions_are_ambiguous() -> None:
    answer = fenced("def a():\n    return 1") + "\n" + fenced("def b():\n    return 2")
    assert extract_code(answer).ambiguous
    assert not extract_code(fenced("def a():\n    return 1") + "\n" + fenced("print(a())")).ambiguous


def test_nothing_parses_is_ambiguous_but_keeps_the_code() -> None:
    result = extract_code(fenced("def solve(x) return x"), "solve")
    assert result.code == "def solve(x) return x"
    assert result.ambiguous


def test_unterminated_fence_keeps_complete_lines() -> None:
    answer = (
        "Here is the solution:\n\n```python\n" + SOLUTION + "\n\n    def pop(self) -> int:\n"
        "        return self._items.popleft(\n"
    )
    result = extract_code(answer, "BoundedQueue")
    assert result.method == "unterminated_fence"
    assert result.code == SOLUTION
    assert not result.ambiguous


def test_unterminated_fence_that_parses_is_kept_whole() -> None:
    result = extract_code("```python\ndef f():\n    return 1\n", "f")
    assert result.code == "def f():\n    return 1"
    assert result.method == "unterminated_fence"


def test_unterminated_fence_broken_in_the_middle_is_not_trimmed_away() -> None:
    body = "def f(:\n" + "\n".join(f"    x{i} = {i}" for i in range(60))
    result = extract_code("```python\n" + body, "f")
    assert result.code == body
    assert result.ambiguous


def test_unterminated_fence_after_a_complete_block() -> None:
    answer = fenced(SOLUTION) + "\n\nTests:\n\n```python\nq = BoundedQueue(2)\nassert q.capa"
    result = extract_code(answer, "BoundedQueue")
    assert result.code == SOLUTION
    assert result.method == "fenced"


def test_no_fence_at_all() -> None:
    answer = (
        "You can solve this with a deque.\n\n"
        + SOLUTION
        + "\n\nThis keeps at most `capacity` items.\nFor example, pushing 3 items into a queue of 2 keeps the last two.\n"
    )
    result = extract_code(answer, "BoundedQueue")
    assert result.method == "unfenced"
    assert result.code == SOLUTION
    assert not result.ambiguous


def test_no_fence_markdown_indented_code() -> None:
    code = "import math\n\ndef area(r):\n    return math.pi * r * r"
    answer = "Here:\n\n" + "\n".join("    " + line if line else "" for line in code.split("\n")) + "\n\nDone."
    result = extract_code(answer, "area")
    assert result.code == code
    assert result.method == "unfenced"


def test_no_fence_code_split_by_a_sentence() -> None:
    answer = (
        "import os\n\ndef base():\n    return os.sep\n\n"
        "for example this sentence sits between the two parts.\n\n"
        "def joined(a):\n    return base() + a\n"
    )
    result = extract_code(answer, "joined")
    assert result.code == "import os\n\ndef base():\n    return os.sep\n\ndef joined(a):\n    return base() + a"
    assert result.method == "unfenced"


@pytest.mark.parametrize(
    "answer",
    [
        "I'm sorry, but I can't help with that request.",
        "To solve this, define a class that stores items.\nImport the deque type and use it.\nclass is a keyword.",
        "The answer is:\n\n42",
        "from the list above, pick the largest.\nimport this module first: it is easy.",
        "",
        "   \n\n  ",
    ],
)
def test_prose_only_gives_no_code(answer: str) -> None:
    result = extract_code(answer, "solve")
    assert result.code == ""
    assert result.method == "no_code"
    assert result.ambiguous


def test_think_section_is_stripped_first() -> None:
    answer = (
        "<think>\nThe user wants a queue. Maybe:\n```python\ndef wrong():\n    pass\n```\n"
        "No, use deque.\n</think>\n\n" + fenced(SOLUTION)
    )
    result = extract_code(answer, "BoundedQueue")
    assert result.code == SOLUTION
    assert result.reasoning_stripped
    assert result.blocks_found == 1


@pytest.mark.parametrize("tag", ["think", "thinking", "reasoning", "THINK"])
def test_reasoning_tag_variants(tag: str) -> None:
    answer = f"<{tag}>\ndef wrong(): pass\n</{tag}>\n" + fenced("def f():\n    return 1")
    result = extract_code(answer, "f")
    assert result.code == "def f():\n    return 1"
    assert result.reasoning_stripped


def test_unclosed_think_means_no_answer() -> None:
    answer = "<think>\nLet me write it:\n```python\ndef f():\n    return 1\n```\nHmm, but wait"
    result = extract_code(answer, "f")
    assert result.code == ""
    assert result.method == "no_code"
    assert result.reasoning_stripped


def test_closing_tag_without_opening_one_drops_what_precedes_it() -> None:
    answer = "Okay, so def f(): maybe\n```python\ndef g(): pass\n```\n</think>\n\n" + fenced("def f():\n    return 1")
    result = extract_code(answer, "f")
    assert result.code == "def f():\n    return 1"
    assert result.reasoning_stripped
    assert result.blocks_found == 1


def test_strip_reasoning_keeps_code_strings_mentioning_tags() -> None:
    text = fenced("def clean(s):\n    return s.replace('<think>', '')")
    assert strip_reasoning(text) == (text, False)


def test_crlf_line_endings() -> None:
    answer = ("Code:\n\n" + fenced(SOLUTION, "python ") + "\n").replace("\n", "\r\n")
    result = extract_code(answer, "BoundedQueue")
    assert result.code == SOLUTION
    assert "\r" not in result.code


def test_tilde_fences_and_longer_fences() -> None:
    assert extract_code("~~~python\ndef f():\n    return 1\n~~~", "f").code == "def f():\n    return 1"
    nested = "````markdown\n```python\ndef g(): pass\n```\n````\n\n````python\ndef f():\n    s = '```'\n    return s\n````"
    assert extract_code(nested, "f").code == "def f():\n    s = '```'\n    return s"


def test_indented_fence_inside_a_list() -> None:
    answer = (
        "1. Install nothing:\n   ```bash\n   echo ok\n   ```\n"
        "2. Add the function:\n   ```python\n   def f(x):\n       if x:\n           return 1\n       return 0\n   ```\n"
        "3. Done."
    )
    result = extract_code(answer, "f")
    assert result.code == "def f(x):\n    if x:\n        return 1\n    return 0"


def test_uniformly_indented_code_in_a_fence_is_dedented() -> None:
    result = extract_code("```python\n    def f():\n        return 1\n```", "f")
    assert result.code == "def f():\n    return 1"


def test_result_never_ends_with_a_newline_or_starts_with_blank_lines() -> None:
    result = extract_code("```python\n\n\ndef f():\n    return 1\n\n\n```", "f")
    assert result.code == "def f():\n    return 1"


def test_garbage_inputs_never_raise() -> None:
    # Deterministic fuzz: shuffled fragments of markdown, code and tags.
    fragments = [
        "```", "```python", "~~~", "````", "<think>", "</think>", "<reasoning>", "\n", "\r\n", "\r",
        "    ", "\t", "def f(x):", "return x", "class A:", "import os", "from a import *", "@dec",
        "(", ")", "'''", '"', "`", "prose words.", "\x00", "\ufeff", "\u00a0", "é", "lambda", ":", "{", "x = 1",
    ]
    rng = random.Random(20240601)
    for _ in range(1500):
        text = "".join(rng.choice(fragments) for _ in range(rng.randint(0, 40)))
        result = extract_code(text, rng.choice([None, "f", "A"]))
        assert isinstance(result, Extraction)
        if result.code and not result.ambiguous:
            ast.parse(result.code)
    assert extract_code(None).code == ""  # type: ignore[arg-type]


def test_deeply_nested_code_is_still_extracted_and_joined() -> None:
    deep = "def f(a):\n    return " + " + ".join(["math.pi"] * 2000)
    result = extract_code(fenced("import math") + "\n" + fenced(deep), "f")
    assert result.code.startswith("def f(a):")  # too deep to analyse: nothing is joined, nothing lost
    assert result.method == "fenced"


def test_no_fence_docstring_with_unindented_continuation_lines() -> None:
    code = 'def realpath(path):\n    """Return the canonical path,\neliminating symbolic links."""\n    return path'
    result = extract_code(f"Here is the code:\n\n{code}\n\nThis works because of reasons.", "realpath")
    assert result.code == code
    assert result.method == "unfenced"


# Issue 11's defect classes, each with the issue's minimal answer (expected name ``f``) and
# exactly what must come out: (code, method, blocks_found, ambiguous, blocks_used,
# trimmed_lines, candidates, chosen), and a phrase of the recorded reason ("" = none).
DEFECTS = {
    "D1 language line after an untagged fence": (
        "```\npython\ndef f():\n    return 1\n```",
        ("def f():\n    return 1", "fenced", 1, False, 1, 0, 1, 0), "language line 'python' dropped"),
    "D2 competing variants": (
        "```python\ndef f(s,t):\n    return s.count(t)\n```\nCase-insensitive variant:\n"
        "```python\ndef f(s,t):\n    return s.lower().count(t.lower())\n```",
        ("def f(s,t):\n    return s.count(t)", "fenced", 2, True, 1, 0, 2, 0), "2 candidates define f differently"),
    "D3 text after the closing fence": (
        "```python\ndef f():\n    return 1\n``` ### Example:\n```python\nprint(f())\n```",
        ("def f():\n    return 1", "fenced", 2, False, 1, 0, 2, 0), "text after the closing fence"),
    "D4 closing fence glued to the code": (
        "```python\ndef f(a):\n    if a:\n        return 1\n    else:\n        return 2```",
        ("def f(a):\n    if a:\n        return 1\n    else:\n        return 2", "fenced", 1, False, 1, 0, 1, 0),
        "closing fence glued to the code"),
    "D5 unfenced code and a fenced output": (
        "def f(x):\n    return x + 1\n\nprint(f(1))\nOutput:\n```\n2\n```\n",
        ("def f(x):\n    return x + 1", "unfenced", 2, False, 1, 0, 1, 0), "example usage after the code left out"),
    "D6a leading space before the first function": (
        " def f(n):\n     return g(n)\n\ndef g(n):\n    return n\n",
        ("def f(n):\n    return g(n)\n\ndef g(n):\n    return n", "unfenced", 2, False, 2, 0, 2, 0), "joined g"),
    "D6b module constant": (
        "TABLE = {'a': 1}\n\ndef f():\n    return TABLE\n",
        ("TABLE = {'a': 1}\n\ndef f():\n    return TABLE", "unfenced", 1, False, 1, 0, 1, 0), ""),
    "D7 broken indentation is not trimmed": (
        "def f(x):\n  if x:\n        return 1\n    else:\n        return 2\n",
        ("def f(x):\n  if x:\n        return 1\n    else:\n        return 2", "unfenced", 1, True, 1, 0, 1, 0),
        "does not parse at line 4; kept as written"),
    "minor code on the opening fence line": (
        "```def f():\n    return 1\n```",
        ("def f():\n    return 1", "fenced", 1, False, 1, 0, 1, 0), "code on the opening fence line"),
}


@pytest.mark.parametrize("answer, expected, reason", DEFECTS.values(), ids=DEFECTS.keys())
def test_issue_11_defect_classes(answer: str, expected: tuple, reason: str) -> None:
    found = extract_code(answer, "f")
    assert (found.code, found.method, found.blocks_found, found.ambiguous, found.blocks_used,
            found.trimmed_lines, found.candidates, found.chosen) == expected
    assert reason in found.reason if reason else found.reason == ""
    record = found.to_dict()
    assert ("reason" in record) == bool(reason)

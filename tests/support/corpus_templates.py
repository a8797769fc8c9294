"""Answers built from templates: the styles real models answer in, around known solutions.

Each template wraps a ``Solution`` the way some kind of model does (chatty, terse,
markdown-heavy, reasoning, CodeLlama tags, unfenced, cut off, ...) and states the code the
extractor must return.  The expected code is built from the same parts as the answer, by
the rule the template exercises, never by running the extractor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from tests.support.corpus_solutions import HELPER_PAIRS, SOLUTIONS, Solution

Case = dict[str, Any]


def case(tags: list[str], style: str, name: str, answer: str, code: str, method: str = "fenced",
         ambiguous: bool = False, **extra: Any) -> Case:
    return {"tags": tags, "style": style, "name": name, "answer": answer, "code": code, "method": method,
            "ambiguous": ambiguous, **extra}


def fence(code: str, tag: str = "python", char: str = "`") -> str:
    return f"{char * 3}{tag}\n{code}\n{char * 3}"


def indent(code: str, by: str = "    ") -> str:
    return "\n".join(by + line if line else "" for line in code.split("\n"))


def has_no_definitions(code: str) -> bool:
    return not any(line.lstrip().startswith(("def ", "class ", "async def ", "@")) for line in code.split("\n"))


# --- fenced, one solution block --------------------------------------------------------

def chatty(s: Solution) -> Case:
    answer = (
        f"Sure! Here's a Python implementation of `{s.name}` that does exactly what you asked:\n\n"
        f"{fence(s.code)}\n\n### Explanation\n\n1. The function handles the general case first.\n"
        "2. Edge cases (empty input, invalid values) are handled explicitly.\n\n### Example usage\n\n"
        f"{fence(s.usage)}\n\nOutput:\n{fence(s.output, '')}\n\nLet me know if you have any questions! 😊\n"
    )
    return case(["several_blocks", "prose"], "chatty", s.name, answer, s.code)


def terse(s: Solution) -> Case:
    return case(["single_block"], "terse", s.name, fence(s.code), s.code)


def usage_in_block(s: Solution) -> Case:
    # A fenced block is the model's own code and is taken whole, usage included.
    code = f"{s.code}\n\n\n# Example usage\n{s.usage}"
    return case(["single_block"], "chatty", s.name, f"Here you go:\n\n{fence(code)}\n", code)


def markdown_heavy(s: Solution) -> Case:
    answer = (
        f"## Approach\n\n- **Idea:** build `{s.name}` from small, testable steps.\n"
        "- **Complexity:** linear in the size of the input.\n- *Note:* no third-party packages.\n\n"
        "| input | result |\n|---|---|\n| typical | works |\n| empty | handled |\n\n"
        f"## Implementation\n\n{fence(s.code, 'py')}\n\n> **Tip:** from here you can import it anywhere.\n\n"
        "---\n\n### Testing\n\n" + fence(s.test) + "\n"
    )
    return case(["several_blocks", "markdown", "prose"], "markdown", s.name, answer, s.code)


def prose_heavy(s: Solution) -> Case:
    answer = (
        f"Great question! Before writing `{s.name}`, it is worth thinking about what the function should\n"
        "do in the unusual cases. The import of a library is not always needed: from the standard\n"
        "library alone we can do everything here, and a class is only worth it when state matters.\n\n"
        "There are a few things to keep in mind:\n\n"
        "* Inputs may be empty, so every loop must cope with zero iterations.\n"
        "* For example, if the caller passes an unexpected type, we let Python raise the error.\n"
        "* Return values should be plain built-in types, so they are easy to compare in tests.\n\n"
        "With that settled, the implementation is short:\n\n"
        f"{fence(s.code)}\n\n"
        "Why this works: each step only relies on the previous one, and nothing is computed twice.\n"
        "If you need more speed later, profile first; the bottleneck is rarely where you expect.\n"
        "In summary, the solution is simple, readable and covered by the usual tests.\n"
    )
    return case(["prose"], "chatty", s.name, answer, s.code)


def tilde(s: Solution) -> Case:
    return case(["tilde"], "terse", s.name, f"Solution:\n\n{fence(s.code, 'python', '~')}\n", s.code)


def python_tags(s: Solution) -> Case:
    answer = f"[PYTHON]\n{s.code}\n[/PYTHON]\n[TESTS]\n# Test case 1:\n{s.test}\n[/TESTS]\n"
    return case(["python_tags", "several_blocks"], "codellama", s.name, answer, s.code)


def two_backticks(s: Solution) -> Case:
    answer = f"Here is the code:\n```python\n{s.code}\n``\n\nHope this helps!"
    return case(["two_backticks"], "chatty", s.name, answer, s.code)


def crlf(s: Solution) -> Case:
    answer = f"Here is my solution:\r\n\r\n```python\r\n{s.code}\r\n```\r\n".replace("\n", "\r\n").replace("\r\r", "\r")
    return case(["crlf"], "terse", s.name, answer, s.code)


def list_item_fence(s: Solution) -> Case:
    answer = ("Steps:\n\n1. Nothing to install:\n   ```bash\n   python3 --version\n   ```\n"
              f"2. Add this code:\n   ```python\n{indent(s.code, '   ')}\n   ```\n3. Run your tests.\n")
    return case(["other_language", "indented_fence"], "markdown", s.name, answer, s.code)


def untagged(s: Solution) -> Case:
    return case(["single_block"], "terse", s.name, f"{fence(s.code, '')}\n", s.code)


def reasoning(s: Solution) -> Case:
    draft = f"def {s.name}(*args):\n    pass"
    answer = (
        f"<think>\nThe user wants `{s.name}`. Let me sketch it first:\n{fence(draft)}\n"
        "Hmm, that does nothing. I need to handle the real cases. Let me write the full version.\n"
        "</think>\n\n" + fence(s.code) + "\n\nThis handles all the cases described."
    )
    return case(["reasoning", "think"], "reasoning", s.name, answer, s.code)


def reasoning_orphan_close(s: Solution) -> Case:
    # Some servers drop the opening tag: everything up to the closing one is reasoning.
    answer = (f"Okay, so I need {s.name}. The obvious approach\n```python\ndef {s.name}(): ...\n```\n"
              f"is too naive. Let me do it properly.\n</think>\n\n**Final answer:**\n\n{fence(s.code)}\n")
    return case(["reasoning", "think"], "reasoning", s.name, answer, s.code)


def reasoning_tagless(s: Solution) -> Case:
    # Reasoning models without tags: the same code shown twice is one solution, not two.
    answer = (f"Okay, let's see. The task asks for `{s.name}`. First I'll think about edge cases...\n"
              "empty input, then the normal path. So the code would be:\n\n"
              f"{fence(s.code)}\n\nWait, let me double-check the edge cases. Yes, that works.\n\n"
              f"**Final Answer**\n\n{fence(s.code)}\n")
    return case(["reasoning", "several_blocks"], "reasoning", s.name, answer, s.code)


# --- the defect classes of issue 11 ------------------------------------------------------

def language_line(s: Solution) -> Case:  # D1
    return case(["D1"], "terse", s.name, f"```\npython\n{s.code}\n```", s.code)


def first_of_variants(s: Solution) -> Case:  # D2
    assert s.variant is not None
    answer = f"{fence(s.code)}\n\nAlternatively, a shorter variant:\n\n{fence(s.variant)}\n"
    return case(["D2", "several_blocks"], "chatty", s.name, answer, s.code, ambiguous=True)


def corrected_version(s: Solution) -> Case:  # D2, but the answer replaces its first attempt
    assert s.buggy is not None
    answer = (f"Here is a first attempt:\n\n{fence(s.buggy)}\n\nWait, that has a bug in an edge case. "
              f"Here is the corrected version:\n\n{fence(s.code)}\n")
    return case(["D2", "several_blocks", "reasoning"], "reasoning", s.name, answer, s.code, ambiguous=True)


def text_after_fence(s: Solution) -> Case:  # D3
    answer = f"```python\n{s.code}\n``` ### Example:\n{fence(s.usage)}\n"
    return case(["D3", "several_blocks"], "markdown", s.name, answer, s.code)


def glued_closer(s: Solution) -> Case:  # D4
    return case(["D4"], "terse", s.name, f"```python\n{s.code}```", s.code)


def unfenced_with_output(s: Solution) -> Case:  # D5
    answer = f"{s.code}\n\n{s.usage}\nOutput:\n```\n{s.output}\n```\n"
    return case(["D5", "unfenced"], "terse", s.name, answer, s.code, method="unfenced")


def code_on_fence_line(s: Solution) -> Case:  # minor
    first, _, rest = s.code.partition("\n")
    return case(["minor"], "terse", s.name, f"```{first}\n{rest}\n```", s.code)


def imports_then_code(s: Solution) -> Case:
    answer = (f"First, the imports:\n\n{fence(s.imports)}\n\nThen the implementation:\n\n{fence(s.body)}\n\n"
              f"Usage:\n\n{fence(s.usage)}\n")
    return case(["several_blocks", "joined"], "chatty", s.name, answer, f"{s.imports}\n\n{s.body}",
                blocks_used=2)


def other_language_first(s: Solution) -> Case:
    js = f"function {s.name}(input) {{\n  // JavaScript version\n  return input;\n}}"
    answer = (f"In JavaScript this would be:\n\n{fence(js, 'javascript')}\n\nBut you asked for Python:\n\n"
              f"{fence(s.code)}\n\nRun it with:\n\n{fence('python3 solution.py', 'bash')}\n")
    return case(["other_language", "several_blocks"], "chatty", s.name, answer, s.code)


def tests_block_after(s: Solution) -> Case:
    tests = (f"import unittest\n\n\nclass Test{s.name[0].upper() + s.name[1:]}(unittest.TestCase):\n"
             f"    def test_example(self):\n{indent(s.test, '        ')}\n\n\n"
             "if __name__ == \"__main__\":\n    unittest.main()")
    answer = f"{fence(s.code)}\n\nAnd some unit tests:\n\n{fence(tests)}\n"
    return case(["several_blocks", "tests"], "chatty", s.name, answer, s.code)


# --- unfenced ----------------------------------------------------------------------------

def unfenced_plain(s: Solution) -> Case:
    return case(["unfenced"], "terse", s.name, f"{s.code}\n", s.code, method="unfenced")


def unfenced_in_prose(s: Solution) -> Case:
    answer = (f"You can solve this as follows.\n\n{s.code}\n\nThis keeps the logic in one place and is easy "
              "to test.\nIt runs in linear time.\n")
    return case(["unfenced", "prose"], "chatty", s.name, answer, s.code, method="unfenced")


def unfenced_indented(s: Solution) -> Case:
    return case(["unfenced"], "markdown", s.name, f"The code:\n\n{indent(s.code)}\n\nDone.\n", s.code,
                method="unfenced")


# --- cut off -----------------------------------------------------------------------------

def cut_off_in_call(s: Solution) -> Case:
    answer = f"```python\n{s.code}\n\n\ndef _check(values):\n    return sorted(values, key=lambda v: (v"
    return case(["cut_off"], "chatty", s.name, answer, s.code, method="unterminated_fence", trimmed_lines=2)


def cut_off_in_docstring(s: Solution) -> Case:
    answer = f"Here:\n```python\n{s.code}\n\n\ndef describe():\n    \"\"\"Explain what the code above does, step by"
    return case(["cut_off"], "chatty", s.name, answer, s.code, method="unterminated_fence", trimmed_lines=2)


def cut_off_usage_block(s: Solution) -> Case:
    answer = f"{fence(s.code)}\n\nExample:\n\n```python\nresult = {s.name}("
    return case(["cut_off", "several_blocks"], "chatty", s.name, answer, s.code)


def cut_off_unfenced(s: Solution) -> Case:
    answer = f"{s.code}\n\n\ndef _more(values):\n    return [v for v in values if v"
    return case(["cut_off", "unfenced"], "terse", s.name, answer, s.code, method="unfenced", trimmed_lines=2)


def unclosed_with_prose(s: Solution) -> Case:
    # The fence is never closed and prose follows the code: the prose is not code.
    answer = f"```python\n{s.code}\n\nThis solution is efficient and easy to read.\nHope it helps!"
    return case(["cut_off", "prose"], "chatty", s.name, answer, s.code, method="unterminated_fence")


# --- helpers in other pieces ---------------------------------------------------------------

def helper_before(name: str, main: str, helper: str) -> Case:
    answer = f"First a small helper:\n\n{fence(helper)}\n\nNow the main function:\n\n{fence(main)}\n"
    return case(["several_blocks", "joined"], "chatty", name, answer, f"{helper}\n\n{main}", blocks_used=2)


def helper_after(name: str, main: str, helper: str) -> Case:
    answer = f"{fence(main)}\n\nIt relies on this helper:\n\n{fence(helper)}\n"
    return case(["several_blocks", "joined"], "terse", name, answer, f"{main}\n\n{helper}", blocks_used=2)


def helper_leading_space(name: str, main: str, helper: str) -> Case:  # D6a
    answer = f"{indent(main, ' ')}\n\n{helper}\n"
    return case(["D6a", "unfenced", "joined"], "terse", name, answer, f"{main}\n\n{helper}", method="unfenced",
                blocks_used=2)


def helper_unfenced_before_fence(name: str, main: str, helper: str) -> Case:
    answer = f"We need:\n\n{helper}\n\nand then:\n\n{fence(main)}\n"
    return case(["unfenced", "joined"], "chatty", name, answer, f"{helper}\n\n{main}", blocks_used=2)


TEMPLATES: list[tuple[Callable[[Solution], Case], Callable[[Solution], bool]]] = [
    (chatty, lambda s: True),
    (terse, lambda s: True),
    (usage_in_block, lambda s: True),
    (markdown_heavy, lambda s: True),
    (prose_heavy, lambda s: True),
    (tilde, lambda s: True),
    (python_tags, lambda s: True),
    (two_backticks, lambda s: True),
    (crlf, lambda s: True),
    (list_item_fence, lambda s: True),
    (untagged, lambda s: True),
    (reasoning, lambda s: True),
    (reasoning_orphan_close, lambda s: True),
    (reasoning_tagless, lambda s: True),
    (language_line, lambda s: True),
    (first_of_variants, lambda s: s.variant is not None),
    (corrected_version, lambda s: s.buggy is not None),
    (text_after_fence, lambda s: True),
    (glued_closer, lambda s: True),
    (unfenced_with_output, lambda s: has_no_definitions(s.usage)),
    (code_on_fence_line, lambda s: True),
    (imports_then_code, lambda s: bool(s.imports)),
    (other_language_first, lambda s: True),
    (tests_block_after, lambda s: True),
    (unfenced_plain, lambda s: True),
    (unfenced_in_prose, lambda s: True),
    (unfenced_indented, lambda s: True),
    (cut_off_in_call, lambda s: True),
    (cut_off_in_docstring, lambda s: True),
    (cut_off_usage_block, lambda s: True),
    (cut_off_unfenced, lambda s: True),
    (unclosed_with_prose, lambda s: True),
]
PAIR_TEMPLATES = [helper_before, helper_after, helper_leading_space, helper_unfenced_before_fence]
# Each template is applied to this many solutions (all, for the defect classes with few).
PER_TEMPLATE = 9


def generated_cases() -> Iterator[Case]:
    """Every templated case, with a stable id; the solutions rotate through the templates."""
    for number, (template, fits) in enumerate(TEMPLATES):
        usable = [s for s in SOLUTIONS if fits(s)]
        chosen = [usable[(number * 5 + k) % len(usable)] for k in range(min(PER_TEMPLATE, len(usable)))]
        for solution in dict.fromkeys(chosen):
            yield {"id": f"{template.__name__}/{solution.name}", **template(solution)}
    for template in PAIR_TEMPLATES:
        for name, main, helper in HELPER_PAIRS:
            yield {"id": f"{template.__name__}/{name}", **template(name, main, helper)}

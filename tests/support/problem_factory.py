"""Good generated problems on demand, for scripted worker models (tests and benchmarks).

``good_item(n, ...)`` is problem number ``n``: a function (or a class with a method)
computing a chain of four integer operations, whose sequence spells ``n`` in base 8, so
no two numbers share a solution structure; its statement is padded with pseudo-words
drawn from ``n``, so no two statements are near duplicates; its four tests pass with the
solution and fail with the stubs.  ``worker_reply`` answers a worker request (or a whole
batch) the way a model in JSON mode would, reading what was asked from the prompt.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

OPS = [("+", "add"), ("-", "subtract"), ("*", "multiply by"), ("//", "floor-divide by"), ("%", "take modulo"),
       ("^", "xor with"), ("|", "bitwise-or with"), ("&", "bitwise-and with")]
SYLLABLES = ["ka", "lo", "mi", "ne", "pu", "ra", "so", "ti", "vu", "ze", "bo", "da", "fi", "gu", "ha", "je", "ko",
             "lu", "ma", "no"]
INPUTS = (3, 10, 17, 42)


def _words(n: int, count: int = 24) -> str:
    rng = random.Random(n * 7919 + 13)
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(3)) for _ in range(count))


def _chain(n: int) -> list[tuple[str, str, int]]:
    steps = []
    rest = n
    for step in range(4):
        symbol, words = OPS[rest % 8]
        rest //= 8
        steps.append((symbol, words, 2 + (n + 3 * step) % 7))
    return steps


def good_item(n: int, complexity: int = 1, kind: str = "function", name: str | None = None) -> dict[str, Any]:
    """Problem ``n`` (0 <= n < 4096) as a worker would write it."""
    assert 0 <= n < 8 ** 4
    steps = _chain(n)
    expression = "x"
    for symbol, _, constant in steps:
        expression = f"({expression} {symbol} {constant})"
    story = ", then ".join(f"{words} {constant}" for _, words, constant in steps)
    values = [eval(expression, {"x": x}) for x in INPUTS]  # our own arithmetic
    if all(v == x for v, x in zip(values, INPUTS, strict=True)):
        # The chain gives back its input: one more step, or a stub returning x would pass.
        expression, story = f"({expression} + 1)", f"{story}, then add 1"
        values = [v + 1 for v in values]
    if kind == "class":
        name = name or f"Machine{n}"
        solution = (f"class {name}:\n    def __init__(self, x):\n        self.x = x\n\n"
                    f"    def value(self):\n        x = self.x\n        return {expression}\n")
        statement = (f"Write a class {name} whose constructor stores an integer x and whose method value() "
                     f"returns the result of these steps on x: {story}. Context: {_words(n)}.")
        tests = [{"ctx": f"m = {name}({x})", "assertion": f"assert m.value() == {v}"}
                 for x, v in zip(INPUTS, values, strict=True)]
    else:
        name = name or f"step_chain_{n}"
        solution = f"def {name}(x):\n    return {expression}\n"
        statement = (f"Write a function {name}(x) that takes an integer x and returns the result of these "
                     f"steps: {story}. Context: {_words(n)}.")
        tests = [{"ctx": "", "assertion": f"assert {name}({x}) == {v}"} for x, v in zip(INPUTS, values, strict=True)]
    return {"name": name, "problem": statement, "canonical_solution": solution, "tests": tests,
            "complexity": complexity, "object": kind}


def asked(prompt: str) -> tuple[str, int, list[int], str]:
    """(category, how many, complexities, object kind) a worker prompt asks for."""
    category = re.search(r"^Category: (\S+)", prompt, re.M)
    count = re.search(r"^Write (\d+) new", prompt, re.M)
    levels = re.search(r"one problem each: ([\d, ]+)", prompt)
    kind = re.search(r"defines one (function|class)", prompt)
    if not (category and count and levels and kind):
        raise ValueError("not a worker prompt")
    return (category.group(1), int(count.group(1)), [int(v) for v in levels.group(1).split(",")], kind.group(1))


def user_prompt(api: str, body: Any) -> str:
    """The user message of a request in any of the three wire formats."""
    if api == "gemini":
        return "".join(part.get("text", "") for item in body.get("contents", []) for part in item.get("parts", []))
    return "".join(m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user")


def batch_text(items: list[Any], fenced: bool = False) -> str:
    """A worker answer holding ``items``; ``fenced`` wraps it like a model without JSON mode."""
    text = json.dumps({"problems": items}, indent=1)
    return f"Here are the problems:\n```json\n{text}\n```\nEnjoy!" if fenced else text

"""validate_code: the stored shape, syntax errors, expected names, imports and undefined names."""

from __future__ import annotations

import textwrap

import pytest

from llm_solutions.validation import validate_code


def check(code: str, expected_name: str | None = None) -> dict:
    return validate_code(textwrap.dedent(code).strip("\n"), expected_name)


def undefined(code: str) -> list[str]:
    return check(code)["structure"]["undefined_names"]


def test_result_has_exactly_the_stored_shape() -> None:
    result = validate_code("def f():\n    return 1\n", "f")
    assert set(result) == {"is_fully_valid", "syntax", "structure", "imports", "code_length", "line_count"}
    assert set(result["syntax"]) == {"is_valid", "error", "line"}
    assert set(result["structure"]) == {
        "has_expected_name", "expected_name", "found_names", "undefined_names", "all_names_defined",
    }
    assert set(result["imports"]) == {"has_imports", "imports", "from_imports"}


def test_valid_solution_is_fully_valid() -> None:
    result = check(
        """
        from collections import Counter

        def top_word(text: str) -> str:
            counts = Counter(text.split())
            return counts.most_common(1)[0][0]
        """,
        "top_word",
    )
    assert result["is_fully_valid"] is True
    assert result["syntax"] == {"is_valid": True, "error": None, "line": None}
    assert result["structure"]["has_expected_name"] is True
    assert result["structure"]["expected_name"] == "top_word"
    assert result["structure"]["all_names_defined"] is True


def test_syntax_error_reports_message_and_line() -> None:
    result = check(
        """
        def f(x):
            y = x + 1
            return (y
        """,
        "f",
    )
    assert result["is_fully_valid"] is False
    assert result["syntax"]["is_valid"] is False
    assert "never closed" in result["syntax"]["error"]
    assert result["syntax"]["line"] == 3
    assert result["structure"]["all_names_defined"] is False


def test_syntax_error_still_lists_names_and_imports_from_a_line_scan() -> None:
    result = check(
        """
        import os, sys
        from typing import List, Dict
        class Stack:
            def push(self, x)
                pass
        """,
        "Stack",
    )
    assert result["syntax"]["is_valid"] is False
    assert result["syntax"]["line"] == 4
    assert result["structure"]["found_names"] == ["Stack"]
    assert result["structure"]["has_expected_name"] is True
    assert result["imports"]["imports"] == ["os", "sys"]
    assert result["imports"]["from_imports"] == ["typing.List", "typing.Dict"]


def test_null_byte_is_a_syntax_error_not_a_crash() -> None:
    result = validate_code("x = 1\x00", None)
    assert result["syntax"]["is_valid"] is False
    assert result["syntax"]["error"]


def test_missing_expected_name() -> None:
    result = check("def helper():\n    return 1", "solve")
    assert result["structure"]["has_expected_name"] is False
    assert result["structure"]["found_names"] == ["helper"]
    assert result["is_fully_valid"] is False


def test_expected_name_must_be_defined_not_merely_imported_or_nested() -> None:
    assert check("from solution import solve", "solve")["structure"]["has_expected_name"] is False
    nested = check("class A:\n    def solve(self):\n        pass", "solve")
    assert nested["structure"]["has_expected_name"] is False


def test_found_names_cover_defs_classes_assignments_and_module_level_blocks() -> None:
    result = check(
        """
        import math
        MAX: int = 10
        a, (b, *rest) = 1, (2, 3, 4)
        total = 0
        total += 1

        async def fetch():
            local = 1

        class Shape:
            side = 2

        try:
            from fast import speedy
        except ImportError:
            def speedy():
                return 0

        if True:
            FLAG = 1
        """
    )
    assert result["structure"]["found_names"] == [
        "MAX", "a", "b", "rest", "total", "fetch", "Shape", "speedy", "FLAG",
    ]


def test_no_expected_name_only_needs_clean_code() -> None:
    result = check("x = 1")
    assert result["is_fully_valid"] is True
    assert result["structure"]["has_expected_name"] is False
    assert result["structure"]["expected_name"] is None


def test_empty_code_is_never_valid() -> None:
    result = validate_code("", None)
    assert result["is_fully_valid"] is False
    assert result["syntax"]["is_valid"] is True
    assert result["code_length"] == 0 and result["line_count"] == 0


def test_imports_and_from_imports_lists() -> None:
    result = check(
        """
        import os
        import collections.abc
        import numpy as np
        from dataclasses import dataclass, field as f
        from typing import *
        from . import sibling
        from ..pkg import thing
        import os

        def g():
            import json
            return json
        """
    )
    assert result["imports"] == {
        "has_imports": True,
        "imports": ["os", "collections.abc", "numpy", "json"],
        "from_imports": ["dataclasses.dataclass", "dataclasses.field", "typing.*", ".sibling", "..pkg.thing"],
    }
    assert check("x = 1")["imports"] == {"has_imports": False, "imports": [], "from_imports": []}


def test_code_length_counts_characters_and_line_count_non_empty_lines() -> None:
    code = "def f():\n\n    return 1\n   \n"
    result = validate_code(code, "f")
    assert result["code_length"] == len(code) == 27
    assert result["line_count"] == 2


# --- undefined names: true positives ------------------------------------------------------


def test_undefined_names_are_reported_in_order_of_first_use() -> None:
    result = check(
        """
        def area(r):
            return math.pi * r ** 2 + offset(r) + math.e

        def run():
            return helper(area(1))
        """,
        "area",
    )
    assert result["structure"]["undefined_names"] == ["math", "offset", "helper"]
    assert result["structure"]["all_names_defined"] is False
    assert result["is_fully_valid"] is False


@pytest.mark.parametrize(
    "code, expected",
    [
        ("def f(items: List[int]) -> int:\n    return len(items)", ["List"]),
        ("class A:\n    size = 1\n    def f(self):\n        return size", ["size"]),
        ("class A:\n    def f(self):\n        return 1\n    def g(self):\n        return f()", ["f"]),
        ("def f():\n    return [y for x in range(3)]", ["y"]),
        ("def f():\n    try:\n        pass\n    except ValueError:\n        return err", ["err"]),
        ("x = undefined_thing + 1", ["undefined_thing"]),
        ("class A:\n    k = 1\n    v = [x * k for x in range(3)]", ["k"]),
        ("@cache\ndef f():\n    pass", ["cache"]),
        ("def f(x=DEFAULT):\n    return x", ["DEFAULT"]),
    ],
)
def test_true_positives(code: str, expected: list[str]) -> None:
    assert undefined(code) == expected


# --- undefined names: traps that must not be reported ------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        # every kind of parameter, and nested functions reading them
        """
        def f(a, /, b, *args, c, d=1, **kwargs):
            def inner():
                return a + b + c + d + len(args) + len(kwargs)
            return inner()
        """,
        # lambdas, defaults from the enclosing scope
        "scale = 2\nmul = lambda x, *ys, k=scale, **kw: x * k + sum(ys) + len(kw)",
        # comprehensions of every kind, nested, and their first iterable
        """
        def f(rows):
            a = [x for row in rows for x in row if x]
            b = {k: v for k, v in enumerate(a)}
            c = {n for n in a}
            d = list(g for g in (h for h in c))
            return [[i * j for j in range(i)] for i in range(3)], a, b, d
        """,
        # walrus inside a comprehension binds in the function
        "def f(data):\n    if any((hit := x) > 3 for x in data):\n        return hit\n    return last\n\nlast = None",
        # global and nonlocal
        """
        def setup():
            global CONFIG
            CONFIG = {}

        def read():
            return CONFIG

        def counter():
            count = 0
            def bump():
                nonlocal count
                count += 1
                return count
            return bump
        """,
        # except ... as, with ... as, for targets, del
        """
        import contextlib
        def f(paths):
            for i, (p, q) in enumerate(paths):
                with contextlib.suppress(OSError) as guard, open(p) as fh:
                    data = fh.read()
                try:
                    int(data)
                except (ValueError, TypeError) as err:
                    print(err, guard, q, i)
                del data
        """,
        # match statements: captures, star, mapping rest, class patterns, guards
        """
        from dataclasses import dataclass
        @dataclass
        class Point:
            x: int
            y: int
        def f(value):
            match value:
                case Point(x=0, y=yy) if yy > 0:
                    return yy
                case [first, *others]:
                    return first, others
                case {"k": kv, **extra}:
                    return kv, extra
                case str() as text:
                    return text
                case _:
                    return None
        """,
        # names defined later in the module, used inside functions
        "def f():\n    return g() + LIMIT\n\ndef g():\n    return 1\n\nLIMIT = 3",
        # module dunders and __class__ in methods
        """
        class A:
            here = __qualname__, __module__
            def f(self):
                return __class__, super().__init__, __name__, __file__, __doc__
        if __name__ == "__main__":
            print(__spec__, __builtins__, __debug__)
        """,
        # string annotations are not checked; class attributes in class scope are visible
        """
        class Node:
            limit = 3
            doubled = limit * 2
            items = [i for i in range(limit)]
            def link(self, other: "Node | Later") -> "Later":
                return other
        """,
        # postponed annotations are never evaluated
        "from __future__ import annotations\ndef f(x: Sequence[Item]) -> Mapping:\n    y: Whatever = x\n    return y",
        # local variable annotations in functions are never evaluated
        "def f():\n    y: Unknown = 1\n    return y",
        # try/except import fallbacks, import aliases, dotted imports
        """
        try:
            import simplejson as json
        except ImportError:
            import json
        import os.path
        def f():
            return json.dumps(os.path.sep)
        """,
        # class name used inside its own methods, recursion, decorators and bases
        """
        import functools
        class Base:
            pass
        class Tree(Base, metaclass=type):
            @functools.lru_cache
            def depth(self, n):
                return Tree().depth(n - 1) if n else 0
        def fact(n):
            return 1 if n < 2 else n * fact(n - 1)
        """,
        # f-strings, exceptions, keyword arguments
        "def f(name):\n    raise ValueError(f'{name!r} bad: {len(name)}')",
        # async constructs
        "import asyncio\nasync def f(xs):\n    async with asyncio.Lock() as lock:\n        async for x in xs:\n            await asyncio.sleep(0)\n    return lock",
    ],
)
def test_correct_code_is_not_flagged(code: str) -> None:
    result = check(code)
    assert result["syntax"]["is_valid"], result["syntax"]
    assert result["structure"]["undefined_names"] == []
    assert result["structure"]["all_names_defined"] is True


def test_star_import_disables_undefined_name_reports() -> None:
    result = check("from math import *\ndef f(r):\n    return pi * r + unknown_name")
    assert result["structure"]["undefined_names"] == []
    assert result["imports"]["from_imports"] == ["math.*"]


def test_comprehension_first_iterable_is_read_in_the_enclosing_scope() -> None:
    assert undefined("def f(x):\n    return [x for x in x]") == []
    assert undefined("def f():\n    return [x for x in x]") == ["x"]


def test_code_too_deep_to_analyse_is_not_flagged_and_does_not_crash() -> None:
    code = "def f(a):\n    return " + " + ".join(["a"] * 2000)
    result = validate_code(code, "f")
    assert result["syntax"]["is_valid"] is True
    assert result["structure"]["undefined_names"] == []
    assert result["is_fully_valid"] is True

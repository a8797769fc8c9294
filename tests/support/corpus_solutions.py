"""The solutions the extraction corpus wraps into answers: small, varied, written by hand.

Each has what a model's answer shows around it: example usage with its printed output, a
test, and for some an alternative version (a variant) or a buggy first attempt.  Every
solution defines its name at module level, uses every import it has, and ends with a
definition, so the code an extractor should return for an answer is known by
construction.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Solution:
    name: str
    code: str
    usage: str
    output: str
    test: str
    variant: str | None = None  # another complete version, different from ``code``
    buggy: str | None = None  # a wrong first attempt, replaced by ``code`` later in an answer

    @property
    def imports(self) -> str:
        """The leading import lines (``""`` when the code has none)."""
        head, _, _ = self.code.partition("\n\n")
        return head if all(line.startswith(("import ", "from ")) for line in head.split("\n")) else ""

    @property
    def body(self) -> str:
        """The code after the imports."""
        return self.code[len(self.imports):].lstrip("\n") if self.imports else self.code


SOLUTIONS = [
    Solution(
        "count_vowels",
        "def count_vowels(text: str) -> int:\n    return sum(1 for ch in text.lower() if ch in \"aeiou\")",
        "print(count_vowels(\"Hello World\"))",
        "3",
        "assert count_vowels(\"Hello World\") == 3",
        variant="def count_vowels(text: str) -> int:\n    vowels = set(\"aeiouAEIOU\")\n"
                "    return len([c for c in text if c in vowels])",
        buggy="def count_vowels(text: str) -> int:\n    return sum(1 for ch in text if ch in \"aeiou\")",
    ),
    Solution(
        "is_palindrome",
        "import re\n\n\ndef is_palindrome(s: str) -> bool:\n    cleaned = re.sub(r\"[^a-z0-9]\", \"\", s.lower())\n"
        "    return cleaned == cleaned[::-1]",
        "print(is_palindrome(\"A man, a plan, a canal: Panama\"))",
        "True",
        "assert is_palindrome(\"Racecar\")",
        variant="def is_palindrome(s: str) -> bool:\n    chars = [c.lower() for c in s if c.isalnum()]\n"
                "    return chars == chars[::-1]",
        buggy="def is_palindrome(s: str) -> bool:\n    return s == s[::-1]",
    ),
    Solution(
        "flatten",
        "def flatten(items):\n    result = []\n    for item in items:\n        if isinstance(item, list):\n"
        "            result.extend(flatten(item))\n        else:\n            result.append(item)\n    return result",
        "print(flatten([1, [2, [3, 4]], 5]))",
        "[1, 2, 3, 4, 5]",
        "assert flatten([1, [2, [3]]]) == [1, 2, 3]",
        variant="def flatten(items):\n    for item in items:\n        if isinstance(item, list):\n"
                "            yield from flatten(item)\n        else:\n            yield item",
    ),
    Solution(
        "BoundedQueue",
        "from collections import deque\n\n\nclass BoundedQueue:\n    \"\"\"A FIFO queue that drops the oldest item when full.\"\"\"\n\n"
        "    def __init__(self, capacity: int) -> None:\n        self.capacity = capacity\n"
        "        self._items = deque()\n\n    def push(self, item) -> None:\n"
        "        if len(self._items) == self.capacity:\n            self._items.popleft()\n"
        "        self._items.append(item)\n\n    def items(self) -> list:\n        return list(self._items)",
        "q = BoundedQueue(2)\nfor i in range(3):\n    q.push(i)\nprint(q.items())",
        "[1, 2]",
        "q = BoundedQueue(1); q.push(1); q.push(2); assert q.items() == [2]",
        variant="from collections import deque\n\n\nclass BoundedQueue:\n    def __init__(self, capacity):\n"
                "        self._items = deque(maxlen=capacity)\n\n    def push(self, item):\n"
                "        self._items.append(item)\n\n    def items(self):\n        return list(self._items)",
    ),
    Solution(
        "Point",
        "from dataclasses import dataclass\nimport math\n\n\n@dataclass(frozen=True)\nclass Point:\n    x: float\n    y: float\n\n"
        "    def distance_to(self, other: \"Point\") -> float:\n"
        "        return math.hypot(self.x - other.x, self.y - other.y)",
        "a = Point(0, 0)\nb = Point(3, 4)\nprint(a.distance_to(b))",
        "5.0",
        "assert Point(0, 0).distance_to(Point(3, 4)) == 5.0",
    ),
    Solution(
        "Color",
        "from enum import Enum\n\n\nclass Color(Enum):\n    RED = 1\n    GREEN = 2\n    BLUE = 3\n\n"
        "    @classmethod\n    def from_name(cls, name: str) -> \"Color\":\n        return cls[name.upper()]",
        "print(Color.from_name(\"red\"))",
        "Color.RED",
        "assert Color.from_name(\"blue\") is Color.BLUE",
    ),
    Solution(
        "memoize",
        "import functools\n\n\ndef memoize(func):\n    cache = {}\n\n    @functools.wraps(func)\n"
        "    def wrapper(*args):\n        if args not in cache:\n            cache[args] = func(*args)\n"
        "        return cache[args]\n\n    return wrapper",
        "@memoize\ndef slow_square(n):\n    return n * n\n\nprint(slow_square(12))",
        "144",
        "assert memoize(lambda x: x + 1)(1) == 2",
        variant="import functools\n\n\ndef memoize(func):\n    return functools.lru_cache(maxsize=None)(func)",
    ),
    Solution(
        "fibonacci",
        "def fibonacci(limit: int):\n    a, b = 0, 1\n    while a < limit:\n        yield a\n        a, b = b, a + b",
        "print(list(fibonacci(20)))",
        "[0, 1, 1, 2, 3, 5, 8, 13]",
        "assert list(fibonacci(10)) == [0, 1, 1, 2, 3, 5, 8]",
        buggy="def fibonacci(limit: int):\n    a, b = 1, 1\n    while a < limit:\n        yield a\n        a, b = b, a + b",
    ),
    Solution(
        "Timer",
        "import time\n\n\nclass Timer:\n    def __enter__(self):\n        self.start = time.perf_counter()\n"
        "        return self\n\n    def __exit__(self, *exc):\n        self.elapsed = time.perf_counter() - self.start\n"
        "        return False",
        "with Timer() as t:\n    sum(range(1000))\nprint(t.elapsed > 0)",
        "True",
        "with Timer() as t: pass\nassert t.elapsed >= 0",
    ),
    Solution(
        "days_between",
        "from datetime import date\n\n\ndef days_between(a: str, b: str) -> int:\n"
        "    return abs((date.fromisoformat(b) - date.fromisoformat(a)).days)",
        "print(days_between(\"2024-01-01\", \"2024-03-01\"))",
        "60",
        "assert days_between(\"2024-01-01\", \"2024-01-31\") == 30",
    ),
    Solution(
        "word_frequencies",
        "from collections import Counter\nimport re\n\n\ndef word_frequencies(text: str) -> dict[str, int]:\n"
        "    words = re.findall(r\"[a-z']+\", text.lower())\n    return dict(Counter(words))",
        "print(word_frequencies(\"the cat and the hat\"))",
        "{'the': 2, 'cat': 1, 'and': 1, 'hat': 1}",
        "assert word_frequencies(\"a a b\") == {\"a\": 2, \"b\": 1}",
        variant="def word_frequencies(text: str) -> dict[str, int]:\n    counts = {}\n    for word in text.lower().split():\n"
                "        counts[word] = counts.get(word, 0) + 1\n    return counts",
    ),
    Solution(
        "chunked",
        "from itertools import islice\n\n\ndef chunked(iterable, size):\n    iterator = iter(iterable)\n"
        "    while chunk := list(islice(iterator, size)):\n        yield chunk",
        "print(list(chunked(range(7), 3)))",
        "[[0, 1, 2], [3, 4, 5], [6]]",
        "assert list(chunked([1, 2, 3], 2)) == [[1, 2], [3]]",
    ),
    Solution(
        "Vector",
        "class Vector:\n    def __init__(self, *components):\n        self.components = tuple(components)\n\n"
        "    def __add__(self, other):\n        return Vector(*(a + b for a, b in zip(self.components, other.components)))\n\n"
        "    def __eq__(self, other):\n        return isinstance(other, Vector) and self.components == other.components\n\n"
        "    def __repr__(self):\n        return f\"Vector{self.components}\"",
        "print(Vector(1, 2) + Vector(3, 4))",
        "Vector(4, 6)",
        "assert Vector(1, 2) + Vector(1, 1) == Vector(2, 3)",
    ),
    Solution(
        "Temperature",
        "class Temperature:\n    def __init__(self, celsius: float = 0.0):\n        self._celsius = celsius\n\n"
        "    @property\n    def fahrenheit(self) -> float:\n        return self._celsius * 9 / 5 + 32\n\n"
        "    @fahrenheit.setter\n    def fahrenheit(self, value: float) -> None:\n"
        "        self._celsius = (value - 32) * 5 / 9",
        "t = Temperature(100)\nprint(t.fahrenheit)",
        "212.0",
        "assert Temperature(0).fahrenheit == 32",
    ),
    Solution(
        "Shape",
        "from abc import ABC, abstractmethod\n\n\nclass Shape(ABC):\n    @abstractmethod\n    def area(self) -> float:\n"
        "        ...\n\n    def describe(self) -> str:\n        return f\"{type(self).__name__} with area {self.area():.2f}\"",
        "class Square(Shape):\n    def __init__(self, side):\n        self.side = side\n\n    def area(self):\n"
        "        return self.side ** 2\n\nprint(Square(2).describe())",
        "Square with area 4.00",
        "assert Shape.__abstractmethods__ == frozenset({\"area\"})",
    ),
    Solution(
        "merge_sorted",
        "import heapq\n\n\ndef merge_sorted(*lists):\n    return list(heapq.merge(*lists))",
        "print(merge_sorted([1, 4], [2, 3], [0]))",
        "[0, 1, 2, 3, 4]",
        "assert merge_sorted([1, 3], [2]) == [1, 2, 3]",
        variant="def merge_sorted(*lists):\n    return sorted(x for lst in lists for x in lst)",
    ),
    Solution(
        "to_pretty_json",
        "import json\n\n\ndef to_pretty_json(data) -> str:\n    return json.dumps(data, indent=2, sort_keys=True)",
        "print(to_pretty_json({\"b\": 1, \"a\": [1, 2]}))",
        "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": 1\n}",
        "assert to_pretty_json({\"a\": 1}) == '{\\n  \"a\": 1\\n}'",
    ),
    Solution(
        "gather_results",
        "import asyncio\n\n\nasync def gather_results(coroutines, limit: int = 5):\n"
        "    semaphore = asyncio.Semaphore(limit)\n\n    async def run(coro):\n        async with semaphore:\n"
        "            return await coro\n\n    return await asyncio.gather(*(run(c) for c in coroutines))",
        "async def double(x):\n    return x * 2\n\nprint(asyncio.run(gather_results([double(1), double(2)])))",
        "[2, 4]",
        "assert asyncio.run(gather_results([])) == []",
    ),
    Solution(
        "roman_to_int",
        "ROMAN = {\"I\": 1, \"V\": 5, \"X\": 10, \"L\": 50, \"C\": 100, \"D\": 500, \"M\": 1000}\n\n\n"
        "def roman_to_int(s: str) -> int:\n    total = 0\n    for current, following in zip(s, s[1:] + \" \"):\n"
        "        value = ROMAN[current]\n        total += -value if ROMAN.get(following, 0) > value else value\n"
        "    return total",
        "print(roman_to_int(\"MCMXCIV\"))",
        "1994",
        "assert roman_to_int(\"XIV\") == 14",
    ),
    Solution(
        "safe_divide",
        "class DivisionError(ValueError):\n    \"\"\"Raised when dividing by zero.\"\"\"\n\n\n"
        "def safe_divide(a: float, b: float) -> float:\n    if b == 0:\n"
        "        raise DivisionError(\"cannot divide by zero\")\n    return a / b",
        "try:\n    safe_divide(1, 0)\nexcept DivisionError as e:\n    print(e)",
        "cannot divide by zero",
        "assert safe_divide(6, 3) == 2",
    ),
    Solution(
        "Stack",
        "class Stack:\n    def __init__(self):\n        self._items = []\n\n    def push(self, item):\n"
        "        self._items.append(item)\n\n    def pop(self):\n        if not self._items:\n"
        "            raise IndexError(\"pop from empty stack\")\n        return self._items.pop()\n\n"
        "    def __len__(self):\n        return len(self._items)",
        "s = Stack()\ns.push(1)\ns.push(2)\nprint(s.pop(), len(s))",
        "2 1",
        "s = Stack(); s.push(3); assert s.pop() == 3",
        variant="class Stack(list):\n    def push(self, item):\n        self.append(item)",
    ),
    Solution(
        "normalize_whitespace",
        "import re\n\n_SPACES = re.compile(r\"\\s+\")\n\n\ndef normalize_whitespace(text: str) -> str:\n"
        "    return _SPACES.sub(\" \", text).strip()",
        "print(normalize_whitespace(\"  a \\t b\\n c  \"))",
        "a b c",
        "assert normalize_whitespace(\" x  y \") == \"x y\"",
    ),
    Solution(
        "binary_search",
        "def binary_search(items: list[int], target: int) -> int:\n    lo, hi = 0, len(items) - 1\n    while lo <= hi:\n"
        "        mid = (lo + hi) // 2\n        if items[mid] == target:\n            return mid\n"
        "        if items[mid] < target:\n            lo = mid + 1\n        else:\n            hi = mid - 1\n    return -1",
        "print(binary_search([1, 3, 5, 7], 5))",
        "2",
        "assert binary_search([1, 2, 3], 4) == -1",
        variant="import bisect\n\n\ndef binary_search(items: list[int], target: int) -> int:\n"
                "    i = bisect.bisect_left(items, target)\n    return i if i < len(items) and items[i] == target else -1",
        buggy="def binary_search(items: list[int], target: int) -> int:\n    lo, hi = 0, len(items)\n    while lo < hi:\n"
              "        mid = (lo + hi) // 2\n        if items[mid] < target:\n            lo = mid\n        else:\n"
              "            hi = mid\n    return lo",
    ),
    Solution(
        "primes_up_to",
        "def primes_up_to(n: int) -> list[int]:\n    sieve = [True] * (n + 1)\n    sieve[:2] = [False] * min(2, n + 1)\n"
        "    for i in range(2, int(n ** 0.5) + 1):\n        if sieve[i]:\n"
        "            sieve[i * i :: i] = [False] * len(range(i * i, n + 1, i))\n"
        "    return [i for i, is_prime in enumerate(sieve) if is_prime]",
        "print(primes_up_to(20))",
        "[2, 3, 5, 7, 11, 13, 17, 19]",
        "assert primes_up_to(10) == [2, 3, 5, 7]",
        buggy="def primes_up_to(n: int) -> list[int]:\n    return [i for i in range(2, n) if all(i % d for d in range(2, i))]",
    ),
    Solution(
        "Countdown",
        "class Countdown:\n    def __init__(self, start: int):\n        self.current = start\n\n    def __iter__(self):\n"
        "        return self\n\n    def __next__(self) -> int:\n        if self.current <= 0:\n"
        "            raise StopIteration\n        self.current -= 1\n        return self.current + 1",
        "print(list(Countdown(3)))",
        "[3, 2, 1]",
        "assert list(Countdown(2)) == [2, 1]",
    ),
    Solution(
        "make_counter",
        "def make_counter(start: int = 0):\n    count = start\n\n    def increment(step: int = 1) -> int:\n"
        "        nonlocal count\n        count += step\n        return count\n\n    return increment",
        "counter = make_counter()\ncounter()\nprint(counter())",
        "2",
        "c = make_counter(5); assert c() == 6",
    ),
]

# Solutions whose main function calls a helper, given as the two separate definitions.
HELPER_PAIRS = [
    ("total_price",
     "def total_price(items):\n    return round(sum(_line_total(item) for item in items), 2)",
     "def _line_total(item):\n    return item[\"price\"] * item[\"qty\"]"),
    ("is_anagram",
     "def is_anagram(a: str, b: str) -> bool:\n    return _letters(a) == _letters(b)",
     "def _letters(text: str) -> list[str]:\n    return sorted(c for c in text.lower() if c.isalpha())"),
    ("longest_word",
     "def longest_word(text: str) -> str:\n    return max(_words(text), key=len, default=\"\")",
     "import re\n\n\ndef _words(text: str) -> list[str]:\n    return re.findall(r\"[A-Za-z']+\", text)"),
    ("celsius_table",
     "def celsius_table(values):\n    return {c: to_fahrenheit(c) for c in values}",
     "def to_fahrenheit(celsius: float) -> float:\n    return celsius * 9 / 5 + 32"),
    ("validate_email",
     "def validate_email(address: str) -> bool:\n    return EMAIL_PATTERN.fullmatch(address) is not None",
     "import re\n\nEMAIL_PATTERN = re.compile(r\"[\\w.+-]+@[\\w-]+\\.[\\w.]+\")"),
    ("median",
     "def median(values):\n    ordered = _sorted_copy(values)\n    mid = len(ordered) // 2\n"
     "    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2",
     "def _sorted_copy(values):\n    return sorted(values)"),
]

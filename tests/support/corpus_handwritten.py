'''Answers written by hand in the styles of real models, each with the code to extract.

The first ones are issue 11's defect classes exactly as the issue states them (expected
name ``f``); the rest are the kinds of answer that break extractors: several competing
blocks, stubs, corrections, cut-off code, prose that starts like code, other languages,
odd fences, and answers with no code at all.
'''

from __future__ import annotations

from typing import Any

Case = dict[str, Any]


def case(id: str, tags: list[str], style: str, answer: str, code: str, method: str = "fenced",
         ambiguous: bool = False, name: str = "f", **extra: Any) -> Case:
    return {"id": f"hand/{id}", "tags": tags, "style": style, "name": name, "answer": answer, "code": code,
            "method": method, "ambiguous": ambiguous, **extra}


def no_code(id: str, tags: list[str], style: str, answer: str, name: str = "f") -> Case:
    return case(id, ["no_code", *tags], style, answer, "", "no_code", True, name)


ISSUE = [
    case("D1", ["D1"], "terse", "```\npython\ndef f():\n    return 1\n```", "def f():\n    return 1"),
    case("D2", ["D2", "several_blocks"], "chatty",
         "```python\ndef f(s,t):\n    return s.count(t)\n```\nCase-insensitive variant:\n"
         "```python\ndef f(s,t):\n    return s.lower().count(t.lower())\n```",
         "def f(s,t):\n    return s.count(t)", ambiguous=True),
    case("D3", ["D3", "several_blocks"], "markdown",
         "```python\ndef f():\n    return 1\n``` ### Example:\n```python\nprint(f())\n```", "def f():\n    return 1"),
    case("D4", ["D4"], "terse", "```python\ndef f(a):\n    if a:\n        return 1\n    else:\n        return 2```",
         "def f(a):\n    if a:\n        return 1\n    else:\n        return 2"),
    case("D5", ["D5", "unfenced"], "terse", "def f(x):\n    return x + 1\n\nprint(f(1))\nOutput:\n```\n2\n```\n",
         "def f(x):\n    return x + 1", "unfenced"),
    case("D6a", ["D6a", "unfenced", "joined"], "terse", " def f(n):\n     return g(n)\n\ndef g(n):\n    return n\n",
         "def f(n):\n    return g(n)\n\ndef g(n):\n    return n", "unfenced", blocks_used=2),
    case("D6b", ["D6b", "unfenced"], "terse", "TABLE = {'a': 1}\n\ndef f():\n    return TABLE\n",
         "TABLE = {'a': 1}\n\ndef f():\n    return TABLE", "unfenced"),
    case("D7", ["D7", "unfenced"], "terse", "def f(x):\n  if x:\n        return 1\n    else:\n        return 2\n",
         "def f(x):\n  if x:\n        return 1\n    else:\n        return 2", "unfenced", ambiguous=True,
         trimmed_lines=0),
    case("minor", ["minor"], "terse", "```def f():\n    return 1\n```", "def f():\n    return 1"),
]

STYLES = [
    case("gpt-usage-in-block", ["single_block"], "chatty",
         "Certainly! Below is a Python function that removes duplicates while preserving order:\n\n"
         "```python\ndef f(items):\n    seen = set()\n    result = []\n    for item in items:\n"
         "        if item not in seen:\n            seen.add(item)\n            result.append(item)\n"
         "    return result\n\n# Example usage:\nprint(f([3, 1, 3, 2, 1]))  # Output: [3, 1, 2]\n```\n\n"
         "### How it works:\n- A set tracks what has been seen.\n- The list keeps the original order.\n",
         "def f(items):\n    seen = set()\n    result = []\n    for item in items:\n        if item not in seen:\n"
         "            seen.add(item)\n            result.append(item)\n    return result\n\n# Example usage:\n"
         "print(f([3, 1, 3, 2, 1]))  # Output: [3, 1, 2]"),
    case("claude-features", ["single_block", "prose"], "chatty",
         "I'll create a function that merges overlapping intervals.\n\n```python\n"
         "def f(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n"
         "    merged: list[tuple[int, int]] = []\n    for start, end in sorted(intervals):\n"
         "        if merged and start <= merged[-1][1]:\n            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n"
         "        else:\n            merged.append((start, end))\n    return merged\n```\n\n"
         "Key features:\n- **Sorting first** makes a single pass enough\n- **Tuples** keep the result immutable\n\n"
         "The time complexity is O(n log n) because of the sort.",
         "def f(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:\n    merged: list[tuple[int, int]] = []\n"
         "    for start, end in sorted(intervals):\n        if merged and start <= merged[-1][1]:\n"
         "            merged[-1] = (merged[-1][0], max(merged[-1][1], end))\n        else:\n"
         "            merged.append((start, end))\n    return merged"),
    case("llama-untagged", ["several_blocks"], "chatty",
         "Here is a Python function that checks whether a number is prime:\n```\ndef f(n):\n    if n < 2:\n"
         "        return False\n    for d in range(2, int(n ** 0.5) + 1):\n        if n % d == 0:\n"
         "            return False\n    return True\n```\nThis function works by trying every divisor up to the square "
         "root of `n`.\n\nExample use case:\n```\nprint(f(7))  # True\nprint(f(8))  # False\n```",
         "def f(n):\n    if n < 2:\n        return False\n    for d in range(2, int(n ** 0.5) + 1):\n"
         "        if n % d == 0:\n            return False\n    return True"),
    case("deepseek-sections", ["reasoning", "think", "markdown"], "reasoning",
         "<think>\nOkay, so I need to write f that reverses the words of a sentence. Hmm, split on whitespace,\n"
         "reverse, join. What about multiple spaces? split() with no argument handles that.\n"
         "def f(s): return ' '.join(reversed(s.split()))\nThat should work.\n</think>\n\n"
         "To solve this problem, we reverse the order of the words.\n\n### Approach\n"
         "1. **Split** the sentence on whitespace.\n2. **Reverse** the list.\n3. **Join** with single spaces.\n\n"
         "### Solution Code\n```python\ndef f(s: str) -> str:\n    return \" \".join(reversed(s.split()))\n```\n\n"
         "### Explanation\n- `split()` drops leading, trailing and repeated spaces.\n",
         "def f(s: str) -> str:\n    return \" \".join(reversed(s.split()))"),
    case("qwen-empty-think", ["reasoning", "think"], "reasoning",
         "<think>\n\n</think>\n\n```python\ndef f(a, b):\n    return a if a > b else b\n```",
         "def f(a, b):\n    return a if a > b else b"),
    case("thinking-tag", ["reasoning", "think"], "reasoning",
         "<thinking>\nThe user needs f. class-based? No, a function is enough.\nimport math maybe.\n</thinking>\n"
         "```python\nimport math\n\n\ndef f(r):\n    return math.pi * r * r\n```",
         "import math\n\n\ndef f(r):\n    return math.pi * r * r"),
    case("reasoning-tag", ["reasoning", "think"], "reasoning",
         "<reasoning>\ndef f(x): return x  # too simple\n</reasoning>\n\nAnswer:\n\n"
         "```python\ndef f(x):\n    return abs(x)\n```",
         "def f(x):\n    return abs(x)"),
    case("two-think-sections", ["reasoning", "think"], "reasoning",
         "<think>first idea: recursion</think>\n<think>\nsecond idea: a loop is safer\n</think>\n"
         "```python\ndef f(n):\n    total = 1\n    for i in range(2, n + 1):\n        total *= i\n    return total\n```",
         "def f(n):\n    total = 1\n    for i in range(2, n + 1):\n        total *= i\n    return total"),
    case("terse-lambda", ["single_block"], "terse", "```python\nf = lambda x: x * 2\n```", "f = lambda x: x * 2"),
    case("tabs", ["single_block"], "terse", "```python\ndef f():\n\treturn 1\n```", "def f():\n\treturn 1"),
    case("leading-comment", ["single_block"], "terse", "```python\n# solution.py\ndef f(a, b):\n    return a + b\n```",
         "# solution.py\ndef f(a, b):\n    return a + b"),
    case("future-import", ["single_block"], "terse",
         "```python\nfrom __future__ import annotations\n\n\ndef f(xs: list[int]) -> int | None:\n"
         "    return max(xs) if xs else None\n```",
         "from __future__ import annotations\n\n\ndef f(xs: list[int]) -> int | None:\n    return max(xs) if xs else None"),
    case("python3-tag", ["single_block"], "terse", "```python3\ndef f():\n    return 3\n```", "def f():\n    return 3"),
    case("title-attribute", ["single_block"], "markdown", '```py title="solution.py"\ndef f():\n    return 4\n```',
         "def f():\n    return 4"),
    case("capitalised-language-line", ["D1"], "terse", "```\nPython\ndef f(x):\n    return -x\n```",
         "def f(x):\n    return -x"),
    case("output-block", ["several_blocks"], "chatty",
         "```python\ndef f(n):\n    return [i * i for i in range(n)]\n```\n\n```output\n[0, 1, 4]\n```",
         "def f(n):\n    return [i * i for i in range(n)]"),
    case("main-function-in-block", ["single_block"], "chatty",
         "```python\ndef f(nums):\n    return sum(nums) / len(nums)\n\n\ndef main():\n    print(f([1, 2, 3]))\n\n\n"
         "if __name__ == \"__main__\":\n    main()\n```",
         "def f(nums):\n    return sum(nums) / len(nums)\n\n\ndef main():\n    print(f([1, 2, 3]))\n\n\n"
         "if __name__ == \"__main__\":\n    main()"),
    case("glued-closer-comment", ["D4"], "terse", "```python\ndef f(x):\n    return x  # done```",
         "def f(x):\n    return x  # done"),
    case("one-backtick-closer", ["two_backticks"], "terse", "```python\ndef f():\n    return 0\n`\nThat's it.",
         "def f():\n    return 0"),
    case("two-backticks-then-block", ["two_backticks", "several_blocks"], "chatty",
         "```python\ndef f(s):\n    return s[::-1]\n``\n\nUsage:\n```python\nprint(f('abc'))\n```",
         "def f(s):\n    return s[::-1]"),
    case("long-tilde", ["tilde"], "markdown", "~~~~python\ndef f():\n    return '~~~'\n~~~~",
         "def f():\n    return '~~~'"),
    case("python-tags-one-line", ["python_tags"], "codellama", "[PYTHON]def f(x): return x * 2[/PYTHON]",
         "def f(x): return x * 2"),
    case("python-tags-with-fence", ["python_tags"], "codellama",
         "[PYTHON]\n```python\ndef f(x):\n    return x ** 3\n```\n[/PYTHON]\n[TESTS]\nassert f(2) == 8\n[/TESTS]",
         "def f(x):\n    return x ** 3"),
    case("mislabelled-text", ["other_language"], "terse", "```text\ndef f(x):\n    return x - 1\n```",
         "def f(x):\n    return x - 1"),
]

CHOICES = [
    case("iterative-and-recursive", ["several_blocks", "D2"], "chatty",
         "**Solution 1 (iterative):**\n```python\ndef f(n):\n    a, b = 0, 1\n    for _ in range(n):\n"
         "        a, b = b, a + b\n    return a\n```\n\n**Solution 2 (recursive):**\n```python\ndef f(n):\n"
         "    return n if n < 2 else f(n - 1) + f(n - 2)\n```\nThe first one is faster.",
         "def f(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a", ambiguous=True),
    case("complete-program-repeats-function", ["several_blocks"], "chatty",
         "Here's the function:\n\n```python\ndef f(nums):\n    return sorted(set(nums))\n```\n\n"
         "And a complete program that reads input:\n\n```python\ndef f(nums):\n    return sorted(set(nums))\n\n\n"
         "def main():\n    nums = list(map(int, input().split()))\n    print(f(nums))\n\n\n"
         "if __name__ == \"__main__\":\n    main()\n```",
         "def f(nums):\n    return sorted(set(nums))"),
    case("stub-then-implementation", ["several_blocks"], "markdown",
         "The signature:\n```python\ndef f(items: list[int]) -> int:\n    \"\"\"Return the second largest item.\"\"\"\n"
         "    ...\n```\nImplementation:\n```python\ndef f(items: list[int]) -> int:\n"
         "    return sorted(set(items))[-2]\n```",
         "def f(items: list[int]) -> int:\n    return sorted(set(items))[-2]"),
    case("final-code-replaces-draft", ["several_blocks", "reasoning", "D2"], "reasoning",
         "Let me write it.\n```python\ndef f(x):\n    return x * 2\n```\nHmm, wait, the task says add two, not multiply.\n"
         "\nFinal code:\n```python\ndef f(x):\n    return x + 2\n```",
         "def f(x):\n    return x + 2", ambiguous=True),
    case("renamed-function", ["single_block"], "terse", "```python\ndef solve(x):\n    return x + 1\n```",
         "def solve(x):\n    return x + 1", ambiguous=True),
    case("broken-block", ["single_block"], "terse", "```python\ndef f(x)\n    return x\n```",
         "def f(x)\n    return x", ambiguous=True),
    case("broken-then-good", ["several_blocks"], "chatty",
         "```python\ndef f(x)\n    return x + 1\n```\nOops, missing colon:\n```python\ndef f(x):\n    return x + 1\n```",
         "def f(x):\n    return x + 1", ambiguous=True),
    case("prose-inside-block", ["single_block", "prose"], "chatty",
         "```python\ndef f(x):\n    return x % 2 == 0\nThis returns True for even numbers.\n```",
         "def f(x):\n    return x % 2 == 0\nThis returns True for even numbers.", ambiguous=True),
    case("steps-joined", ["several_blocks", "joined"], "markdown",
         "### Step 1: imports\n```python\nimport string\n```\n### Step 2: a helper\n```python\n"
         "def _clean(text):\n    return ''.join(c for c in text.lower() if c in string.ascii_lowercase)\n```\n"
         "### Step 3: the function\n```python\ndef f(text):\n    cleaned = _clean(text)\n"
         "    return cleaned == cleaned[::-1]\n```\n### Step 4: try it\n```python\nprint(f('Never odd or even'))\n```",
         "import string\n\ndef _clean(text):\n    return ''.join(c for c in text.lower() if c in string.ascii_lowercase)"
         "\n\ndef f(text):\n    cleaned = _clean(text)\n    return cleaned == cleaned[::-1]", blocks_used=3),
    case("forgot-to-close-first-block", ["several_blocks", "joined"], "terse",
         "```python\ndef helper(x):\n    return x * 2\n```python\ndef f(x):\n    return helper(x) + 1\n```",
         "def helper(x):\n    return x * 2\n\ndef f(x):\n    return helper(x) + 1", blocks_used=2),
    case("helper-only-in-unused-import-block", ["several_blocks", "joined"], "chatty",
         "```python\nimport os\nimport sys\n```\n```python\ndef f(path):\n    return os.path.basename(path)\n```",
         "import os\n\ndef f(path):\n    return os.path.basename(path)", blocks_used=2),
    case("helper-defined-two-ways", ["several_blocks", "joined"], "chatty",
         "```python\ndef f(x):\n    return scale(x) + 1\n```\nwith\n```python\ndef scale(x):\n    return x * 2\n```\n"
         "or, if you prefer,\n```python\ndef scale(x):\n    return x << 1\n```",
         "def f(x):\n    return scale(x) + 1\n\ndef scale(x):\n    return x * 2", ambiguous=True, blocks_used=2),
    case("joined-helper-does-not-parse", ["several_blocks"], "chatty",
         "```python\ndef f(x):\n    return g(x)\n```\n```python\ndef g(x)\n    return x\n```",
         "def f(x):\n    return g(x)", ambiguous=True),
    case("malformed-fence-with-imports", ["several_blocks", "malformed"], "chatty",
         "Sure! First the imports:\n```python\nimport math\n```\nThen the function:```python def\n"
         "def f(r):\n    return math.pi * r ** 2\n```\nDone.",
         "import math", ambiguous=True),
    case("glued-opener", ["single_block"], "chatty",
         "Here's the code:```python\ndef f(r):\n    return 2 * r\n```\nDone.", "def f(r):\n    return 2 * r"),
    case("glued-opener-joined", ["several_blocks", "joined"], "chatty",
         "First the imports:\n```python\nimport math\n```\nThen the function:```python\ndef f(r):\n"
         "    return math.tau * r\n```",
         "import math\n\ndef f(r):\n    return math.tau * r", blocks_used=2),
    case("class-with-tests-block", ["several_blocks", "tests"], "chatty",
         "```python\nclass f:\n    def __init__(self):\n        self.n = 0\n\n    def tick(self):\n        self.n += 1\n"
         "        return self.n\n```\n\n```python\nimport pytest\n\n\ndef test_tick():\n    assert f().tick() == 1\n```",
         "class f:\n    def __init__(self):\n        self.n = 0\n\n    def tick(self):\n        self.n += 1\n"
         "        return self.n"),
]

LANGUAGES = [
    case("cpp-then-python", ["other_language", "several_blocks"], "chatty",
         "In C++:\n```cpp\nint f(int x) { return x * x; }\n```\nIn Python:\n```python\ndef f(x):\n    return x * x\n```",
         "def f(x):\n    return x * x"),
    case("untagged-js-and-python", ["other_language", "several_blocks"], "chatty",
         "JavaScript:\n```\nfunction f(x) {\n  return x + 1;\n}\n```\nPython:\n```\ndef f(x):\n    return x + 1\n```",
         "def f(x):\n    return x + 1"),
    case("json-input-then-python", ["other_language", "several_blocks"], "markdown",
         "Input format:\n```json\n{\"items\": [1, 2, 3]}\n```\nCode:\n```python\nimport json\n\n\n"
         "def f(raw):\n    return sum(json.loads(raw)[\"items\"])\n```",
         "import json\n\n\ndef f(raw):\n    return sum(json.loads(raw)[\"items\"])"),
    case("sql-and-python", ["other_language", "several_blocks"], "chatty",
         "```sql\nSELECT name FROM users WHERE age > 30;\n```\n```python\ndef f(rows):\n"
         "    return [r[\"name\"] for r in rows if r[\"age\"] > 30]\n```",
         "def f(rows):\n    return [r[\"name\"] for r in rows if r[\"age\"] > 30]"),
    case("shell-then-unfenced", ["other_language", "unfenced"], "chatty",
         "Install nothing; just run\n```bash\npython3 app.py\n```\nwith this in app.py:\n\ndef f():\n    return 'ok'\n",
         "def f():\n    return 'ok'", "unfenced"),
    no_code("java-only", ["other_language"], "chatty",
            "```java\npublic class Solution {\n    public static int f(int x) {\n        return x + 1;\n    }\n}\n```"),
]

CUT_OFF = [
    case("cut-mid-return", ["cut_off"], "chatty",
         "```python\ndef f(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(val",
         "def f(values):\n    total = 0\n    for v in values:\n        total += v", "unterminated_fence", trimmed_lines=1),
    case("cut-but-parses", ["cut_off"], "chatty",
         "```python\nclass f:\n    def __init__(self):\n        self.items = []\n\n    def pop(self):\n"
         "        return self.items.p",
         "class f:\n    def __init__(self):\n        self.items = []\n\n    def pop(self):\n        return self.items.p",
         "unterminated_fence"),
    no_code("cut-right-after-fence", ["cut_off"], "chatty", "Here is the code:\n\n```python\n"),
    case("cut-in-prose-after-code", ["cut_off"], "chatty",
         "```python\ndef f(x):\n    return x // 2\n```\n\nThis function first che", "def f(x):\n    return x // 2"),
    case("cut-unfenced-elif", ["cut_off", "unfenced"], "terse",
         "def f(x):\n    if x > 0:\n        return 'pos'\n    elif x < 0:\n        return 'n",
         "def f(x):\n    if x > 0:\n        return 'pos'", "unfenced", trimmed_lines=2),
    case("cut-tilde", ["cut_off", "tilde"], "terse", "~~~python\nimport math\n\ndef f(x):\n    return math.sqrt(x)\n\ndef g(",
         "import math\n\ndef f(x):\n    return math.sqrt(x)", "unterminated_fence", trimmed_lines=1),
    case("cut-everything", ["cut_off"], "terse", "```python\ndef f(x):\n    return (x +",
         "def f(x):\n    return (x +", "unterminated_fence", ambiguous=True),
    case("unclosed-code-then-code-like-junk", ["cut_off"], "chatty",
         "```python\ndef f(x):\n    return x\n\nf(1) -> 1\nf(2) -> 2",
         "def f(x):\n    return x", "unterminated_fence", ambiguous=True, trimmed_lines=2),
]

UNFENCED = [
    case("sentence-between-import-and-def", ["unfenced", "joined", "prose"], "chatty",
         "import math\n\nWe compute the area:\n\ndef f(r):\n    return math.pi * r ** 2\n",
         "import math\n\ndef f(r):\n    return math.pi * r ** 2", "unfenced", blocks_used=2),
    case("main-block-left-out", ["unfenced"], "terse",
         "import sys\n\n\ndef f(line):\n    return line.strip().upper()\n\n\nif __name__ == \"__main__\":\n"
         "    for line in sys.stdin:\n        print(f(line))\n",
         "import sys\n\n\ndef f(line):\n    return line.strip().upper()", "unfenced"),
    case("trailing-constant-kept", ["unfenced"], "terse", "def f():\n    return 1\n\nVERSION = '1.0'\n",
         "def f():\n    return 1\n\nVERSION = '1.0'", "unfenced"),
    case("usage-with-literal-input", ["unfenced", "D5"], "terse",
         "def f(nums):\n    return sorted(nums)\n\nnums = [3, 1, 2]\nprint(f(nums))\n",
         "def f(nums):\n    return sorted(nums)", "unfenced"),
    case("doctest-example-after", ["unfenced", "prose"], "chatty",
         "Here's the function:\ndef f(x):\n    return x * x\n\nExample:\n>>> f(3)\n9\n",
         "def f(x):\n    return x * x", "unfenced"),
    case("note-line-after", ["unfenced", "prose"], "chatty",
         "def f(s):\n    return s.title()\n\nNote: this capitalises every word.\n",
         "def f(s):\n    return s.title()", "unfenced"),
    case("docstring-continuation", ["unfenced"], "terse",
         "def f(path):\n    \"\"\"Return the file name,\nwithout its folder.\"\"\"\n    return path.rsplit('/', 1)[-1]\n\n"
         "That is all.",
         "def f(path):\n    \"\"\"Return the file name,\nwithout its folder.\"\"\"\n    return path.rsplit('/', 1)[-1]",
         "unfenced"),
    case("decorated-unfenced", ["unfenced"], "terse",
         "import functools\n\n@functools.cache\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)\n",
         "import functools\n\n@functools.cache\ndef f(n):\n    return n if n < 2 else f(n - 1) + f(n - 2)", "unfenced"),
    case("constant-in-prose-joined", ["unfenced", "joined", "prose"], "chatty",
         "We use the modulus\n\nMOD = 10**9 + 7\n\nand then:\n\n```python\ndef f(a, b):\n    return a * b % MOD\n```",
         "MOD = 10**9 + 7\n\ndef f(a, b):\n    return a * b % MOD", blocks_used=2),
    case("broken-unfenced-def", ["unfenced"], "terse",
         "def f(x)\n    return x\n\nThis is the function.", "def f(x)\n    return x", "unfenced", ambiguous=True),
    no_code("solution-on-prose-line", ["unfenced", "prose"], "chatty", "Solution: def f(x): return x"),
]

NO_CODE = [
    no_code("refusal", [], "chatty", "I'm sorry, but I can't assist with that."),
    no_code("clarifying-question", ["prose"], "chatty",
            "Could you clarify whether the input can contain negative numbers? Once I know, I can write f."),
    no_code("shell-only", ["other_language"], "terse", "Install it with:\n```bash\npip install requests\n```"),
    no_code("output-only", [], "terse", "The result is:\n```\n[1, 2, 3]\n```"),
    no_code("keyword-prose", ["prose"], "chatty",
            "def is a keyword used to define functions.\nclass Foo would be a class.\nimport statements go at the top."),
    no_code("unclosed-think", ["reasoning", "think"], "reasoning",
            "<think>\nLet me write it:\n```python\ndef f():\n    return 1\n```\nHmm, but wait"),
    no_code("empty", [], "terse", ""),
    no_code("math-prose", ["prose"], "chatty",
            "If we set\n\nn = 10\n\nthen the sum 1 + 2 + ... + n is n * (n + 1) / 2 = 55.\n"),
    no_code("malformed-fence-only", ["malformed"], "chatty",
            "The function:```python def\ndef f():\n    return 1\n```"),
]

BROKEN = [  # D7: code that does not parse is kept as written, never trimmed into something shorter
    case("D7-fenced", ["D7"], "terse", "```python\ndef f(x):\n  if x:\n        return 1\n    else:\n        return 2\n```",
         "def f(x):\n  if x:\n        return 1\n    else:\n        return 2", ambiguous=True, trimmed_lines=0),
    case("D7-unclosed-bracket-mid", ["D7", "cut_off"], "terse", "```python\ndef f(x):\n    y = [1, 2\n    return y\n",
         "def f(x):\n    y = [1, 2\n    return y", "unterminated_fence", ambiguous=True, trimmed_lines=0),
    case("D7-tabs-and-spaces", ["D7", "unfenced"], "terse", "def f(x):\n\tif x:\n        return 1\n\treturn 0\n",
         "def f(x):\n\tif x:\n        return 1\n\treturn 0", "unfenced", ambiguous=True),
    case("D7-missing-colon-mid", ["D7", "unfenced"], "terse",
         "def f(items):\n    for i in items\n        print(i)\n    return len(items)\n",
         "def f(items):\n    for i in items\n        print(i)\n    return len(items)", "unfenced", ambiguous=True),
    case("D7-broken-method", ["D7", "unfenced"], "terse",
         "class f:\n    def a(self):\n        return 1\n    def b(self)\n        return 2\n    def c(self):\n"
         "        return 3\n",
         "class f:\n    def a(self):\n        return 1\n    def b(self)\n        return 2\n    def c(self):\n"
         "        return 3", "unfenced", ambiguous=True),
    case("D7-misindented-return", ["D7", "unfenced"], "terse",
         "def f(x):\n    total = 0\n    for i in range(x):\n        total += i\n   return total\n",
         "def f(x):\n    total = 0\n    for i in range(x):\n        total += i\n   return total", "unfenced",
         ambiguous=True, trimmed_lines=0),
]

CONSTANTS = [  # D6b: module constants the solution reads are kept, wherever they are
    case("D6b-max-size", ["D6b", "unfenced"], "terse", "MAX_SIZE = 100\n\ndef f(items):\n    return items[:MAX_SIZE]\n",
         "MAX_SIZE = 100\n\ndef f(items):\n    return items[:MAX_SIZE]", "unfenced"),
    case("D6b-separate-block", ["D6b", "several_blocks", "joined"], "chatty",
         "```python\nLIMITS = {'low': 0, 'high': 10}\n```\n```python\ndef f(x):\n"
         "    return LIMITS['low'] <= x <= LIMITS['high']\n```",
         "LIMITS = {'low': 0, 'high': 10}\n\ndef f(x):\n    return LIMITS['low'] <= x <= LIMITS['high']",
         blocks_used=2),
    case("D6b-later-block", ["D6b", "several_blocks", "joined"], "chatty",
         "```python\ndef f(word):\n    return word.lower() in STOP_WORDS\n```\nwhere:\n"
         "```python\nSTOP_WORDS = {'a', 'an', 'the'}\n```",
         "def f(word):\n    return word.lower() in STOP_WORDS\n\nSTOP_WORDS = {'a', 'an', 'the'}", blocks_used=2),
    case("D6b-annotated", ["D6b", "unfenced"], "terse", "RATE: float = 0.2\n\ndef f(amount):\n    return amount * RATE\n",
         "RATE: float = 0.2\n\ndef f(amount):\n    return amount * RATE", "unfenced"),
    case("D6b-multiline-dict", ["D6b", "unfenced"], "terse",
         "UNITS = {\n    'km': 1000,\n    'm': 1,\n}\n\ndef f(value, unit):\n    return value * UNITS[unit]\n",
         "UNITS = {\n    'km': 1000,\n    'm': 1,\n}\n\ndef f(value, unit):\n    return value * UNITS[unit]", "unfenced"),
    case("D6b-class-attribute", ["D6b", "unfenced"], "terse", "DEFAULT = 5\n\nclass f:\n    size = DEFAULT\n",
         "DEFAULT = 5\n\nclass f:\n    size = DEFAULT", "unfenced"),
    case("D6b-constant-in-prose", ["D6b", "unfenced", "joined", "prose"], "chatty",
         "Use a lookup table:\n\nDIGITS = '0123456789abcdef'\n\nThen convert:\n\ndef f(n):\n    return DIGITS[n % 16]\n",
         "DIGITS = '0123456789abcdef'\n\ndef f(n):\n    return DIGITS[n % 16]", "unfenced", blocks_used=2),
    case("D6b-unneeded-constant-not-joined", ["D6b", "several_blocks"], "chatty",
         "```python\nDEBUG = True\n```\n```python\ndef f(x):\n    return x\n```", "def f(x):\n    return x"),
]

MORE_NO_CODE = [
    no_code("conceptual", ["prose"], "chatty", "Here's how you'd approach it conceptually: first sort, then scan once."),
    no_code("html-only", ["other_language"], "terse", "```html\n<div class=\"f\">hi</div>\n```"),
    no_code("inline-code-only", ["prose"], "chatty", "Use `sorted(set(xs))` to get the unique values in order."),
    no_code("just-a-number", [], "terse", "42"),
    no_code("json-answer", [], "terse", '{"answer": 42, "explanation": "the product of 6 and 7"}'),
    no_code("only-reasoning", ["reasoning", "think"], "reasoning", "<think>\nI am not sure how to do this.\n</think>\n"),
    no_code("empty-python-block", [], "terse", "```python\n```"),
    no_code("comment-only-block", [], "terse", "```python\n# TODO: implement f\n```"),
    case("pseudocode-block", ["prose"], "chatty",
         "In pseudocode:\n```\nfor each item in list:\n    if item > best: best = item\n```",
         "for each item in list:\n    if item > best: best = item", ambiguous=True),
]

MORE_LANGUAGES = [
    case("r-then-python", ["other_language", "several_blocks"], "chatty",
         "In R you would use `mean(x)`:\n```r\nf <- function(x) mean(x)\n```\nThe Python equivalent:\n"
         "```python\nimport statistics\n\n\ndef f(x):\n    return statistics.mean(x)\n```",
         "import statistics\n\n\ndef f(x):\n    return statistics.mean(x)"),
    case("rust-then-unfenced", ["other_language", "unfenced"], "chatty",
         "```rust\nfn f(x: i32) -> i32 { x * 3 }\n```\nand in Python:\n\ndef f(x):\n    return x * 3\n",
         "def f(x):\n    return x * 3", "unfenced"),
    case("typescript-after-python", ["other_language", "several_blocks"], "chatty",
         "```python\ndef f(xs):\n    return [x for x in xs if x]\n```\nTypeScript, for comparison:\n"
         "```ts\nconst f = (xs: number[]) => xs.filter(Boolean);\n```",
         "def f(xs):\n    return [x for x in xs if x]"),
]

CASES: list[Case] = [*ISSUE, *STYLES, *CHOICES, *LANGUAGES, *CUT_OFF, *UNFENCED, *NO_CODE, *BROKEN, *CONSTANTS,
                     *MORE_NO_CODE, *MORE_LANGUAGES]

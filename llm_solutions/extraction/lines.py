"""How one line of an answer reads: the start of code, code, a language name, or prose.

These are cheap regular-expression tests run on every line of every answer; the parser
has the last word on anything they let through.
"""

from __future__ import annotations

import re
import textwrap

# A line that starts a definition or an import: where a run of unfenced code may begin.
CODE_START = re.compile(
    r"^(?:(?:async[ \t]+)?def[ \t]+\w|class[ \t]+\w|import[ \t]+\w|from[ \t]+[\w.]+[ \t]+import[ \t]|@\w)"
)
# A module constant (``TABLE = {...}``, ``MOD: int = 7``): a run may begin here too, since
# the solution may need it, but a run of only these never counts as the answer's code.
ASSIGN_START = re.compile(r"^[A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*[ \t]*(?::[^=\n]+)?=(?!=)")
# Headers that only code has: a broken run that starts with one is still reported as code.
STRONG_DEFINITION = re.compile(r"^(?:(?:async[ \t]+)?def[ \t]+\w+[ \t]*\(|class[ \t]+\w+[ \t]*[(:])")
CODE_LINE = re.compile(
    r"""^(?:
        (?:async|await|def|class|import|from|if|elif|else|for|while|try|except|finally|with|return
           |raise|assert|pass|break|continue|global|nonlocal|del|yield|match|case|lambda)\b
      | [@\#\)\]\}"']
      | [A-Za-z_][\w.]*(?:\[[^\]]*\])?[ \t]*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)
      | [A-Za-z_]\w*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)+[ \t]*=(?!=)
      | [A-Za-z_][\w.]*[ \t]*\(
      | [A-Za-z_]\w*[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]*(?:=.*)?$
    )""",
    re.VERBOSE,
)
_TRIPLE_QUOTE = re.compile(r'"""|\'\'\'')

PYTHON_TAG = re.compile(r"^(?:python|py|python3|py3|python3\.\d+|\S+\.py)$")
# The first word of a fence's info string: ``{.python}``, ``python:main.py``, ``solution.py``.
TAG_WORD = re.compile(r"[{.\s]*([\w+#.-]*)")
# Language names a model may put on the first line of an untagged block instead of after
# the fence.  Short ambiguous ones (``c``, ``r``) are left out: a block may start with them.
LANGUAGE_NAMES = frozenset({
    "python", "py", "python3", "py3", "javascript", "js", "typescript", "ts", "java", "cpp", "c++",
    "csharp", "c#", "go", "golang", "rust", "ruby", "php", "bash", "sh", "shell", "zsh", "console",
    "json", "yaml", "yml", "toml", "text", "txt", "plaintext", "sql", "html", "css", "xml", "kotlin",
    "swift", "scala", "perl", "lua",
})


def looks_like_code(text: str) -> bool:
    """Whether a stripped line reads as a Python statement rather than a sentence."""
    return bool(CODE_START.match(text) or CODE_LINE.match(text) or ASSIGN_START.match(text))


def inside_triple_quotes(lines: list[str]) -> list[bool]:
    """For each line, whether it starts inside a triple-quoted string: a docstring's
    unindented continuation lines neither end a run of code nor count as prose."""
    inside: list[bool] = []
    open_quote: str | None = None
    for line in lines:
        inside.append(open_quote is not None)
        if "'''" not in line and '"""' not in line:
            continue
        for match in _TRIPLE_QUOTE.finditer(line):
            if open_quote is None:
                open_quote = match.group()
            elif match.group() == open_quote:
                open_quote = None
    return inside


def dedent(lines: list[str], indent: int = 0) -> list[str]:
    """Remove up to ``indent`` leading whitespace (a list item's fence indent), then any
    indent common to all lines; whitespace-only lines become empty, blank edges go."""
    if indent:
        lines = [line[min(indent, len(line) - len(line.lstrip(" \t"))):] for line in lines]
    lines = [line if line.strip() else "" for line in lines]
    if all(not line or line[0] in " \t" for line in lines):  # else nothing is common to all
        lines = textwrap.dedent("\n".join(lines)).split("\n")
    return strip_blank_edges(lines)


def strip_blank_edges(lines: list[str]) -> list[str]:
    """``lines`` without leading and trailing blank lines."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def language_word(info: str) -> str:
    """The language named by a fence's info string, lower-cased (``""`` when none)."""
    match = TAG_WORD.match(info)
    return match.group(1).lower() if match else ""


def count_lines(count: int) -> str:
    """``"1 line"``, ``"3 lines"``: for the reasons recorded with an extraction."""
    return f"{count} line{'' if count == 1 else 's'}"

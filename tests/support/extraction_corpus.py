"""The extraction corpus: answers with the code that must be extracted from each.

The cases come from ``corpus_handwritten`` and ``corpus_templates`` and are stored as JSON
lines in ``tests/data/extraction_corpus/``, one object per answer::

    {"id": "hand/D1", "tags": ["D1"], "style": "terse", "name": "f", "answer": "...",
     "code": "...", "method": "fenced", "ambiguous": false}

with optional ``trimmed_lines`` and ``blocks_used`` checked when present.  After changing a
source, rewrite the files with ``python -m tests.support.extraction_corpus``; a test fails
when they differ from their sources.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.corpus_handwritten import CASES as HANDWRITTEN
from tests.support.corpus_templates import generated_cases

CORPUS_DIR = Path(__file__).resolve().parent.parent / "data" / "extraction_corpus"


def build() -> dict[str, list[dict[str, Any]]]:
    """Every corpus file's cases, from their sources."""
    return {"handwritten.jsonl": list(HANDWRITTEN), "generated.jsonl": list(generated_cases())}


def write() -> None:
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    for name, cases in build().items():
        text = "".join(json.dumps(c, ensure_ascii=False, sort_keys=True) + "\n" for c in cases)
        (CORPUS_DIR / name).write_text(text, encoding="utf-8")


def load() -> dict[str, list[dict[str, Any]]]:
    """The stored corpus files' cases."""
    return {
        path.name: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        for path in sorted(CORPUS_DIR.glob("*.jsonl"))
    }


if __name__ == "__main__":
    write()
    print({name: len(cases) for name, cases in load().items()})

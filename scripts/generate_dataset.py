#!/usr/bin/env python3
"""Generate a new problem dataset with LLM workers: ``python scripts/generate_dataset.py --help``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from llm_solutions.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))

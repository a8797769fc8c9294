#!/usr/bin/env python3
"""Collect code solutions from LLMs: ``python scripts/run_collection.py --help``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from llm_solutions.cli import main

if __name__ == "__main__":
    sys.exit(main(["collect", *sys.argv[1:]]))

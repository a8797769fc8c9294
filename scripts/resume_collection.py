#!/usr/bin/env python3
"""List, inspect and resume collection sessions: ``python scripts/resume_collection.py --help``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a clone without installing

from llm_solutions.cli import main

if __name__ == "__main__":
    sys.exit(main(["resume", *sys.argv[1:]]))

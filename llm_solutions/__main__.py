"""``python -m llm_solutions COMMAND ...``: the same code as the scripts."""

import sys

from llm_solutions.cli import main

sys.exit(main())

"""Getting the code out of a model's answer: rules first, a cheap model when the rules are unsure.

``extract_code`` (rules, free) runs on every answer; the runner hands the answers it marks
``ambiguous`` or finds empty to ``LLMExtractor.extract`` when an extraction model is set.
"""

from llm_solutions.extraction.code_blocks import (
    Extraction,
    extract_code,
    strip_reasoning,
)
from llm_solutions.extraction.llm_extractor import LLMExtractor, describe_fallback

__all__ = ["Extraction", "LLMExtractor", "describe_fallback", "extract_code", "strip_reasoning"]

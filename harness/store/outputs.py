"""The one write path for a command's output files (``-o``, ``--out``, ``--csv`` ...).

Every output option goes through :func:`check_output` (or :func:`write_text` /
:func:`atomic_output`, which call it): an output never lands on one of the
command's own inputs, nor on a file the harness keeps (the run index, the
generation cache, the study database, anything inside a run folder, the
checkpoint registries and checkpoint folders), and it is written to a
temporary file beside its target and renamed over it, so a failed or killed
write leaves the old file whole.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

#: file names the harness owns wherever they are (a run index or a study database copied elsewhere)
STORE_NAMES = ("harness.db", "generations.db", "human_eval.db", "checkpoints.yaml")
#: files of a run folder (a folder holding manifest.json)
RUN_FILES = ("manifest.json", "samples.jsonl", "metrics.json", "judgments.jsonl", "owner.lock")


def _resolved(path) -> Path:
    return Path(path).expanduser().resolve()


def harness_stores(runs_dir=None) -> list[Path]:
    """Folders and files the harness keeps state in; no output may be written inside or over them."""
    from harness.checkpoints.registry import harness_home, registry_files
    from harness.tasks.sources import cache_dir

    runs = Path(runs_dir or os.environ.get("HARNESS_RUNS_DIR") or "runs")
    return [runs / "harness.db", runs / "human_eval.db", cache_dir() / "generations.db",
            *registry_files(), harness_home() / "checkpoints"]


def store_conflict(target: Path, runs_dir=None) -> str | None:
    """Why ``target`` is a harness store, or None."""
    for store in harness_stores(runs_dir):
        store = _resolved(store)
        if target == store or target.is_relative_to(store) and store.name == "checkpoints":
            return f"it is the harness's {store.name} ({store})"
    if target.name in STORE_NAMES:
        return f"'{target.name}' is the name of a harness store"
    for folder in (target.parent, *target.parents):
        if (folder / "manifest.json").is_file() and ((folder / "samples.jsonl").exists()
                                                     or (folder / "owner.lock").exists()):
            return f"it is inside the run folder {folder}"
    if target.name in RUN_FILES and (target.parent / "manifest.json").is_file():
        return f"it is a file of the run folder {target.parent}"
    return None


def check_output(path, option: str, inputs=(), runs_dir=None) -> Path:
    """``path`` as a safe output of ``option``: not a folder, not one of ``inputs``, not a harness store."""
    if path is None or str(path).strip() == "":
        raise HarnessError(f"{option}: expected a file path, got {path!r}")
    target = _resolved(path)
    if target.is_dir():
        raise HarnessError(f"{option} {path}: is a folder; give a file path")
    for given in inputs:
        if given is not None and _resolved(given) == target:
            raise HarnessError(f"{option} {path}: is also an input of this command ({given}); "
                               "writing it would destroy that input; choose another output path")
    why = store_conflict(target, runs_dir)
    if why:
        raise HarnessError(f"{option} {path}: refusing to write there, {why}; choose another output path")
    if target.parent.exists() and not target.parent.is_dir():
        raise HarnessError(f"{option} {path}: {target.parent} is not a folder")
    return Path(path)


@contextmanager
def atomic_output(path, option: str, inputs=(), runs_dir=None, mode: str = "w"):
    """Yield a file open on a temporary beside ``path``; renamed over ``path`` only when the block succeeds."""
    path = check_output(path, option, inputs, runs_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise HarnessError(f"{option} {path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise HarnessError(f"{option} {path}: cannot write: {exc.strerror}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text: str, option: str, inputs=(), runs_dir=None) -> Path:
    """Write ``text`` to ``path`` atomically, after :func:`check_output`."""
    with atomic_output(path, option, inputs, runs_dir) as fh:
        fh.write(text)
    return Path(path)

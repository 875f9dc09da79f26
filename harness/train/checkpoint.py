"""Training one checkpoint: check the request, run a registered trainer, register its result with its lineage."""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

from harness.config import Mapping, read_yaml_mapping
from harness.errors import HarnessError
from harness.tasks.sources import file_sha256


def read_config(path) -> Mapping:
    """A training or pipeline config; its mappings remember their lines for error messages."""
    if not Path(path).exists():
        raise HarnessError(f"Config file not found: {path}")
    return read_yaml_mapping(path)


def output_dir_for(name: str) -> Path:
    from harness.checkpoints.registry import harness_home

    return harness_home() / "checkpoints" / name


def check_output_name(name: str, overwrite: bool):
    from harness.checkpoints.registry import load_registry

    if not name or "/" in name or ":" in name or "+" in name:
        raise HarnessError(f"--output '{name}': a checkpoint name has no '/', ':' or '+' (e.g. exp_19)")
    existing = load_registry().get(name)
    if existing and "planned" not in existing and not overwrite:
        raise HarnessError(f"Checkpoint '{name}' already exists (in {existing['source']}); "
                           "pass --overwrite to replace it, or choose another --output name")


def check_method(method: str):
    """The method must be a registered trainer (a did-you-mean error otherwise)."""
    from harness.plugins import get_registry

    get_registry().registration("trainers", method)


def train_checkpoint(method, parent_name, data, name, config, overwrite=False, resume=True, description=None) -> dict:
    """Train with the trainer registered as ``method``, then register ``name`` with its lineage.

    The parent is resolved to its registry entry here and passed on in the
    request; which parents can be trained is the trainer's decision.
    Returns the new registry entry.
    """
    from harness.checkpoints.loading import resolve
    from harness.checkpoints.registry import register_checkpoint
    from harness.evaluate.plan import git_commit, package_versions
    from harness.interfaces.trainer import TrainRequest
    from harness.plugins import get_registry

    check_method(method)
    check_output_name(name, overwrite)
    data = Path(data)
    if not data.exists():
        raise HarnessError(f"Training data not found: {data}")
    config = copy.copy(config)  # a config Mapping keeps its key lines for the trainer's error messages
    parent = resolve(parent_name)
    trainer = get_registry().create("trainers", method)
    out = output_dir_for(name)
    if overwrite and out.exists():
        shutil.rmtree(out)
    started = time.time()
    result = trainer.train(TrainRequest(method, parent_name, data, out, config, resume=resume, parent_entry=parent))
    entry = {
        "description": description or f"{method} on {parent_name} with {data.name}",
        "spec": result.spec,
        "parent": parent_name,
        "lineage": {
            "method": method,
            "parent_spec": parent["spec"],
            "data": str(data.resolve()),
            "data_sha256": file_sha256(data),
            "config": config,
            "git_commit": git_commit(),
            "versions": package_versions(),
            "metrics": result.metrics,
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "train_seconds": round(time.time() - started, 1),
        },
    }
    for key in ("options", "template", "parser"):
        if parent.get(key):
            entry[key] = parent[key]
    if int(os.environ.get("RANK", "0")) == 0:  # one registration under `accelerate launch`
        register_checkpoint(name, entry, overwrite=True)
    return entry


def train_config(config_file, method) -> tuple[str, dict]:
    """The method and the training section of a config file (its ``train:`` mapping, else the whole file)."""
    config = read_config(config_file) if config_file else {}
    section = copy.copy(config.get("train", config))
    if not isinstance(section, dict):
        raise HarnessError(f"{config.where('train')}: 'train' must be a mapping of training settings")
    method = method or section.get("method")
    section.pop("method", None)
    if not method:
        from harness.plugins import get_registry

        known = ", ".join(sorted(get_registry().items["trainers"])) or "(none installed)"
        raise HarnessError(f"No training method: pass --method METHOD or set train.method in --config "
                           f"(installed: {known})")
    check_method(method)
    return method, section

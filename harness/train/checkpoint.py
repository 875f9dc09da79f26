"""Training one checkpoint: check the request, run a registered trainer, register the adapter with its lineage."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from harness.config import check_name, path_inside, read_yaml_mapping, where_of
from harness.errors import HarnessError
from harness.tasks.sources import file_sha256


def read_config(path) -> dict:
    if not Path(path).exists():
        raise HarnessError(f"Config file not found: {path}")
    return read_yaml_mapping(path)


def output_dir_for(name: str) -> Path:
    """``$HARNESS_HOME/checkpoints/<name>``, the only folder ``--overwrite`` may replace."""
    from harness.checkpoints.registry import harness_home

    check_name(name, "--output")
    return path_inside(harness_home() / "checkpoints", name)


def check_output_name(name: str, overwrite: bool):
    from harness.checkpoints.registry import load_registry

    check_name(name, "--output")
    if ":" in name or "+" in name:
        raise HarnessError(f"--output '{name}': a checkpoint name has no '/', ':' or '+' (e.g. exp_19)")
    existing = load_registry().get(name)
    if existing and "planned" not in existing and not overwrite:
        raise HarnessError(f"Checkpoint '{name}' already exists (in {existing['source']}); "
                           "pass --overwrite to replace it, or choose another --output name")


def check_base(parent_name: str, parent: dict, config: dict):
    """A config that names its base must agree with the parent checkpoint's base."""
    want = config.get("base")
    if want and want.removeprefix("hf:") != parent["base"]:
        raise HarnessError(f"Base model mismatch: the config trains on '{want}' but parent '{parent_name}' is "
                           f"built on '{parent['base']}'; fix 'base' or choose a parent on that base")


def train_checkpoint(method, parent_name, data, name, config, overwrite=False, resume=True, description=None,
                     trust_remote_code=False, allow_unsafe_weights=False) -> dict:
    """Train, then register ``name`` with its lineage; returns the registry entry.

    Everything is checked (name, data, parent files, config) before ``--overwrite``
    removes the old ``$HARNESS_HOME/checkpoints/<name>``, so a refused run deletes nothing.
    """
    from harness_plugins.trl_trainers import check_config, parent_policy, resolve_parent

    from harness.checkpoints.registry import register_checkpoint
    from harness.evaluate.plan import git_commit, package_versions
    from harness.interfaces.trainer import TrainRequest
    from harness.plugins import get_registry

    check_output_name(name, overwrite)
    data = Path(data)
    if not data.exists():
        raise HarnessError(f"Training data not found: {data}")
    config = dict(config)
    check_config(method, {k: v for k, v in config.items() if k != "base"})
    parent = resolve_parent(parent_name)
    check_base(parent_name, parent, config)
    config.pop("base", None)
    trainer = get_registry().get("trainers", method)()
    parent_policy(parent, trust_remote_code, allow_unsafe_weights)
    out = output_dir_for(name)
    if overwrite and out.exists():
        shutil.rmtree(out)
    started = time.time()
    result = trainer.train(TrainRequest(method, parent_name, data, out, config, resume=resume,
                                        trust_remote_code=trust_remote_code, allow_unsafe_weights=allow_unsafe_weights))
    entry = {
        "description": description or f"{method} on {parent_name} with {data.name}",
        "spec": f"hf:{result.base}+{Path(result.adapter_dir).resolve()}",
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
    config = read_config(config_file) if config_file else {}
    if "train" in config and not isinstance(config["train"], dict):
        raise HarnessError(f"{where_of(config, 'train', str(config_file))}: field 'train' must be a mapping of "
                           f"training settings (method, epochs, ...), got {config['train']!r}")
    from harness_plugins.trl_trainers import check_numbers

    check_numbers(config.get("train", config))  # named by file and line while the lines are known
    section = dict(config.get("train", config))
    method = method or section.pop("method", None)
    section.pop("method", None)
    if not method:
        raise HarnessError("No training method: pass --method sft|dpo|hs-dpo|grpo or set train.method in --config")
    return method, section

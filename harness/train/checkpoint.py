"""Training one checkpoint: check the request, run a registered trainer, register its result with its lineage."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import time
from pathlib import Path

from harness.config import Mapping, check_name, path_inside, read_yaml_mapping, where_of
from harness.errors import HarnessError
from harness.tasks.sources import file_sha256


def read_config(path) -> Mapping:
    """A training or pipeline config; its mappings remember their lines for error messages."""
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


def check_method(method: str):
    """The method must be a registered trainer (a did-you-mean error otherwise)."""
    from harness.plugins import get_registry

    get_registry().registration("trainers", method)


def train_checkpoint(method, parent_name, data, name, config, overwrite=False, resume=True, description=None,
                     trust_remote_code=False, allow_unsafe_weights=False) -> dict:
    """Train with the trainer registered as ``method``, then register ``name`` with its lineage.

    The parent is resolved to its registry entry here and passed on in the
    request; which parents can be trained is the trainer's decision.  Everything
    is checked (name, data, the trainer's own checks of config and parent files)
    before ``--overwrite`` removes the old ``$HARNESS_HOME/checkpoints/<name>``,
    so a refused run deletes nothing.  Returns the new registry entry.
    """
    from harness.analysis.self_certification import pair_judges_of_data
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
    pair_judges = pair_judges_of_data(data)  # a damaged stats file fails before training
    config = copy.copy(config)  # a config Mapping keeps its key lines for the trainer's error messages
    parent = resolve(parent_name)
    trainer = get_registry().create("trainers", method)
    out = output_dir_for(name)
    # --overwrite trains into a staging folder beside the old checkpoint; the old one is replaced only once
    # the new one exists, so a refused or failed training (a bad TRL argument, lora r 0) loses nothing
    staging = out.with_name(f".{name}.overwrite") if overwrite and out.exists() else out
    request = TrainRequest(method, parent_name, data, staging, config, resume=resume, parent_entry=parent,
                           trust_remote_code=trust_remote_code, allow_unsafe_weights=allow_unsafe_weights)
    trainer.check(request)
    started = time.time()
    result = trainer.train(request)
    replaced = None
    if staging != out and int(os.environ.get("RANK", "0")) == 0:
        result, replaced = swap_in(staging, out, result)
    entry = {
        "description": description or f"{method} on {parent_name} with {data.name}",
        "spec": result.spec,
        "parent": parent_name,
        "lineage": {
            "method": method,
            "parent_spec": parent["spec"],
            "data": str(data.resolve()),
            "data_sha256": file_sha256(data),
            # the judge identities that decided the pairs (their stats): they must not certify this checkpoint
            "pair_judges": pair_judges,
            "config": config,
            "git_commit": git_commit(),
            "versions": package_versions(),
            "metrics": result.metrics,
            "throughput": result.metrics.get("throughput"),  # tokens/s and MFU, when the trainer measures them
            "monitor": result.metrics.get("monitor"),  # over-optimisation monitor summary, when configured
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "train_seconds": round(time.time() - started, 1),
        },
    }
    for key in ("options", "template", "parser"):
        if parent.get(key):
            entry[key] = parent[key]
    if int(os.environ.get("RANK", "0")) == 0:  # one registration under `accelerate launch`
        register_checkpoint(name, entry, overwrite=True)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
    return entry


def swap_in(staging: Path, out: Path, result) -> tuple:
    """Move the new checkpoint from ``staging`` to ``out`` (the old one aside first, then deleted).

    Every path the trainer reported under ``staging`` (the spec, the metrics' files such as the monitor's
    ``monitor.jsonl``, ``adapter_dir``) and the trainer's own JSON files at the top of the folder
    (``train_metrics.json``) are rewritten to ``out``: nothing may keep naming a folder that is gone.
    """
    if not staging.exists():
        raise HarnessError(f"the trainer wrote nothing to {staging}; the old checkpoint {out} is kept")
    # both spellings of each folder (as given and resolved), taken before the rename changes what resolves
    moves = [(str(staging.resolve()), str(out.resolve())), (str(staging), str(out))]
    old = out.with_name(f".{out.name}.replaced")
    if old.exists():
        shutil.rmtree(old)
    out.rename(old)
    staging.rename(out)
    result.spec, result.metrics = relocate(result.spec, moves), relocate(result.metrics, moves)
    if result.adapter_dir is not None:
        result.adapter_dir = Path(relocate(str(result.adapter_dir), moves))
    for path in out.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        moved = text
        for a, b in moves:
            moved = moved.replace(json.dumps(a)[1:-1], json.dumps(b)[1:-1])
        if moved != text:
            path.write_text(moved, encoding="utf-8")
    return result, old  # the old folder is deleted once the registry points at the new one


def relocate(value, moves):
    """``value`` (strings, lists and mappings of them) with each path under a moved folder pointed at its new place."""
    if isinstance(value, str):
        for a, b in moves:
            value = re.sub(re.escape(a) + r"(?=$|[/\\+\s\"'])", lambda _: b, value)
        return value
    if isinstance(value, dict):
        return {k: relocate(v, moves) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(relocate(v, moves) for v in value)
    if isinstance(value, Path):
        return Path(relocate(str(value), moves))
    return value


def train_config(config_file, method) -> tuple[str, dict]:
    """The method and the training section of a config file (its ``train:`` mapping, else the whole file)."""
    config = read_config(config_file) if config_file else {}
    section = copy.copy(config.get("train", config))
    if not isinstance(section, dict):
        raise HarnessError(f"{where_of(config, 'train', str(config_file))}: field 'train' must be a mapping of "
                           f"training settings (method, epochs, ...), got {config['train']!r}")
    method = method or section.get("method")
    section.pop("method", None)
    if not method:
        from harness.plugins import get_registry

        known = ", ".join(sorted(get_registry().items["trainers"])) or "(none installed)"
        raise HarnessError(f"No training method: pass --method METHOD or set train.method in --config "
                           f"(installed: {known})")
    check_method(method)
    return method, section

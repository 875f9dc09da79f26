"""A run plan: everything that determines a run's outputs, known before any model loads.

A run is identified by a key over everything that determines its completions
(model spec and options, task file and data hashes, subset, template, parser,
generation settings).  Scoring policy is not part of it: metrics are computed
from the stored completions per policy (:mod:`harness.score.metrics`).
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cached_property

from harness import __version__
from harness.interfaces.model import GenerationSettings
from harness.plugins import get_registry
from harness.store.runs import now_iso
from harness.tasks import templates

TRACKED_PACKAGES = ("torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes", "scikit-learn", "pluggy")


@dataclass
class RunPlan:
    """Everything that determines a run's outputs, known before loading the model."""

    model_name: str
    entry: dict
    task: object
    samples: list
    settings: GenerationSettings
    template: str
    parser: str
    policy: str
    limit: int | None
    task_sha256: str
    data_sha256: str
    data_dir: str | None = None

    @cached_property
    def key(self) -> str:
        ident = {
            "spec": self.entry["spec"],
            "options": self.entry.get("options", {}),
            "task": self.task.name,
            "task_sha256": self.task_sha256,
            "data": self.data_sha256,
            "subset": [s.id for s in self.samples] if self.limit else None,
            "template": self.template,
            "parser": self.parser,
            "settings": self.settings.to_dict(),
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def plan_run(model_name, task, settings, *, policy=None, limit=None, data_dir=None, options=None) -> RunPlan:
    from harness.checkpoints.loading import resolve
    from harness.tasks.task import stratified_subset

    entry = resolve(model_name)
    entry["options"] = {**entry.get("options", {}), **(options or {})}
    samples = stratified_subset(task.load(data_dir), limit, seed=settings.seed)
    if hasattr(task, "plan_generation"):  # a task that owns its prompts, decoding and parsing (lm-eval tasks)
        template, parser, settings = task.plan_generation(settings)
    else:
        template = entry.get("template") or task.template
        parser = entry.get("parser") or task.parser
        templates.resolve_template(template)
        get_registry().get("parsers", parser)
    return RunPlan(model_name, entry, task, samples, settings, template, parser, policy or task.policy, limit,
                   task.file_hash(), task.data_fingerprint(data_dir), data_dir)


def manifest_for(plan: RunPlan, model_info: dict | None = None) -> dict:
    task = plan.task
    return {
        "model": plan.model_name,
        "model_spec": plan.entry["spec"],
        "model_options": plan.entry.get("options", {}),
        "model_info": model_info or {},
        "task": {
            "name": task.name,
            "file": str(task.path),
            "file_sha256": plan.task_sha256,
            "data_sha256": plan.data_sha256,
            "target": task.target,
            "positive": task.positive,
            "limit": plan.limit,
        },
        "n_total": len(plan.samples),
        "template": plan.template,
        "parser": plan.parser,
        "policy": plan.policy,
        "generation": plan.settings.to_dict(),
        "seed": plan.settings.seed,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "command": sys.argv,
        "host": platform.node(),
        "created_at": now_iso(),
    }


def package_versions() -> dict:
    """Versions from package metadata (no imports, so the CLI stays light)."""
    import importlib.metadata as md

    out = {"harness": __version__, "python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def run_id_for(plan: RunPlan) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", plan.model_name).strip("-")[:40]
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}-{plan.task.name}-{plan.key[:6]}"

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
from pathlib import Path

from harness.version import __version__
from harness.errors import HarnessError
from harness.interfaces.model import GenerationSettings
from harness.records import RunManifest, TaskRef
from harness.store.runs import now_iso

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
    excluded: dict | None = None  # --exclude-ids: {"file", "sha256", "n_excluded", "ids"}

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
        if self.excluded:
            ident["excluded"] = self.excluded["ids"]
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def plan_run(model_name, task, settings, *, policy=None, limit=None, data_dir=None, options=None,
             exclude=None) -> RunPlan:
    from harness.checkpoints.loading import model_template_parser, resolve
    from harness.tasks.task import stratified_subset

    entry = resolve(model_name)
    entry["options"] = {**entry.get("options", {}), **(options or {})}
    samples = stratified_subset(check_limit(task.load(data_dir), limit, task), limit, seed=settings.seed)
    excluded = None
    if exclude is not None:  # an ExcludeList: dropped after the subset, so a run is a subset of the unexcluded one
        drop = exclude.ids_for(task.name)
        ids = sorted(s.id for s in samples if s.id in drop)
        samples = [s for s in samples if s.id not in drop]
        excluded = {"file": exclude.path, "sha256": exclude.sha256, "n_excluded": len(ids), "ids": ids} if ids else None
        if not samples:
            raise HarnessError(f"--exclude-ids {exclude.path} leaves no sample of task '{task.name}' to evaluate")
    template, parser, settings = task.generation(settings, *model_template_parser(entry))  # entry > loader > task
    return RunPlan(model_name, entry, task, samples, settings, template, parser, policy or task.policy, limit,
                   task.file_hash(), task.data_fingerprint(data_dir), data_dir, excluded)


def check_limit(samples: list, limit: int | None, task) -> list:
    """A limit must pick a real subset: 0, negative or more than the task has is refused, not silently widened."""
    if limit is None:
        return samples
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise HarnessError(f"--limit {limit!r}: expected a whole number of samples, at least 1")
    if limit > len(samples):
        raise HarnessError(f"--limit {limit}: task '{task.name}' has only {len(samples)} samples; "
                           f"use --limit {len(samples)} or less, or drop --limit to run them all")
    return samples


def manifest_for(plan: RunPlan, model_info: dict | None = None) -> RunManifest:
    """The new run's manifest (the store fills in its id, key and format version)."""
    task = plan.task
    return RunManifest(
        model=plan.model_name,
        model_spec=plan.entry["spec"],
        model_options=plan.entry.get("options", {}),
        model_info=model_info or {},
        task=TaskRef(name=task.name, file=str(task.path), file_sha256=plan.task_sha256,
                     data_sha256=plan.data_sha256, target=task.target, positive=task.positive, limit=plan.limit),
        n_total=len(plan.samples),
        exclude_ids=plan.excluded or None,
        template=plan.template,
        parser=plan.parser,
        policy=plan.policy,
        generation=plan.settings.to_dict(),
        seed=plan.settings.seed,
        versions=package_versions(),
        git_commit=git_commit(),
        command=list(sys.argv),
        host=platform.node(),
        created_at=now_iso(),
    )


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


def git_commit() -> str:
    """The harness source's own revision: its git commit (``+dirty`` with local edits) when the
    package is a git checkout, else ``harness <version>``; never the user's working directory."""
    source = source_root()

    def git(*args):
        try:
            out = subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git("rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != source:  # an install inside some other repository
        return f"harness {__version__}"
    commit = git("rev-parse", "HEAD")
    if not commit:
        return f"harness {__version__}"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "harness")
    return commit + ("+dirty" if dirty else "")


def source_root() -> Path:
    """The folder holding the ``harness`` package (a git checkout's top when it is one)."""
    return Path(__file__).resolve().parents[2]


def run_id_for(plan: RunPlan) -> str:
    def slug(text, size):
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:size]

    return f"{time.strftime('%Y%m%d-%H%M%S')}-{slug(plan.model_name, 40)}-{slug(plan.task.name, 60)}-{plan.key[:6]}"

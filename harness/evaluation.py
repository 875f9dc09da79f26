"""Running a model over a task: generate, parse, record each sample, then score.

A run is identified by a key over everything that determines its outputs
(model spec and options, task file and data hashes, subset, template, parser,
settings).  Running the same command again finds the run by its key: an
unfinished run is resumed where it stopped, a finished one is reported as is.
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

from harness import __version__, templates
from harness.errors import HarnessError
from harness.metrics import score_records
from harness.models import GenerationRequest, GenerationSettings
from harness.plugins import get_registry
from harness.runstore import Run, RunStore, now_iso
from harness.sharding import Topology, clear_markers, mark_done, wait_for_ranks

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
    from harness.loading import resolve
    from harness.tasks import stratified_subset

    entry = resolve(model_name)
    entry["options"] = {**entry.get("options", {}), **(options or {})}
    samples = stratified_subset(task.load(data_dir), limit, seed=settings.seed)
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


def build_record(sample, task, rendered, generations, parser) -> dict:
    """One samples.jsonl record: the input, gold, every completion parsed, and correctness."""
    completions = []
    for gen in sorted(generations, key=lambda g: g.sample_index):
        entry = {
            "sample_index": gen.sample_index, "seed": gen.seed, "text": gen.text,
            "n_prompt_tokens": gen.n_prompt_tokens, "n_new_tokens": gen.n_new_tokens,
            "seconds": round(gen.seconds, 4), "error": gen.error, "warnings": gen.warnings,
        }
        if gen.text is None:
            entry.update(verdict=None, status="fail", reasoning="", parse_error=gen.error or "no completion")
        else:
            parsed = parser.parse(gen.text)
            verdict = parsed.verdict_for(task.target)
            status, error = parsed.status, parsed.error
            if status == "ok" and verdict is None:
                status, error = "fail", f"no verdict for target '{task.target}'"
            entry.update(verdict=verdict if status == "ok" else None, status=status,
                         reasoning=parsed.reasoning, parse_error=error)
        entry["correct"] = entry["status"] == "ok" and entry["verdict"] == sample.gold
        completions.append(entry)
    first = completions[0]
    return {
        "id": sample.id,
        "task": task.name,
        "input": {"prompt": sample.prompt, "response": sample.response, "category": sample.category},
        "rendered_prompt": rendered,
        "gold": sample.gold,
        "gold_raw": sample.gold_raw,
        "completions": completions,
        "verdict": first["verdict"],
        "status": first["status"],
        "correct": first["correct"],
        "seconds": round(sum(c["seconds"] for c in completions), 4),
    }


def find_or_create_run(store: RunStore, plan: RunPlan, rerun=False, topology=None) -> tuple[Run, list[dict]]:
    """The unfinished or finished run with this plan's key, or a new one.

    In a data-parallel run only rank 0 creates the run; the other ranks wait for it.
    """
    topology = topology or Topology()
    if topology.rank > 0:
        deadline = time.time() + 600
        while (existing := store.find_by_key(plan.key)) is None:
            if time.time() > deadline:
                raise HarnessError(f"rank {topology.rank}: rank 0 did not create the run within 10 minutes")
            time.sleep(0.2)
    else:
        existing = None if rerun else store.find_by_key(plan.key)
    if existing:
        run = store.open_run(existing["run_id"])
        return run, run.read_samples()
    run = store.create_run(run_id_for(plan), plan.key, manifest_for(plan))
    return run, []


def execute(plan: RunPlan, run: Run, done: list[dict], model, *, progress=True, use_cache=True,
            topology=None) -> dict | None:
    """Generate the samples not yet in ``run``, append each record as it completes, then score.

    With several ranks, each generates its share; rank 0 merges and returns the
    metrics, the other ranks return None.
    """
    topology = topology or Topology()
    store = run.store
    parser = get_registry().get("parsers", plan.parser)
    template = templates.resolve_template(plan.template)
    done_ids = {r["id"] for r in done}
    mine = [s for i, s in enumerate(plan.samples) if topology.owns(i)]
    pending = [s for s in mine if s.id not in done_ids]
    rendered = {s.id: templates.render(template, s.prompt, s.response) for s in pending}
    by_id = {s.id: s for s in pending}
    k = plan.settings.samples
    requests = [
        GenerationRequest(s.id, rendered[s.id], i, plan.settings.seed_for(s.id, i),
                          content=templates.content_of(s.prompt, s.response), response=s.response)
        for s in pending for i in range(k)
    ]
    lead = topology.rank == 0
    if lead:
        manifest = run.manifest
        manifest["model_info"] = model.describe()
        manifest.setdefault("resumed_at", [])
        if done:
            manifest["resumed_at"].append(now_iso())
        run.write_manifest(manifest)
        store.update(run.id, status="running")
        clear_markers(run.dir)

    from tqdm import tqdm

    n_mine_done = len(mine) - len(pending)
    bar = tqdm(total=len(mine), initial=n_mine_done, unit="sample", file=sys.stderr, dynamic_ncols=True,
               desc=f"{plan.model_name} on {plan.task.name}" + (f" [rank {topology.rank}]" if topology.distributed else ""),
               disable=not progress)
    buffers: dict[str, list] = {}
    n_done = len(done)
    try:
        with run.open_appender(topology.rank if topology.distributed else None) as out:
            for gen in generate_stream(model, requests, plan.settings, use_cache):
                buffers.setdefault(gen.sample_id, []).append(gen)
                if len(buffers[gen.sample_id]) < k:
                    continue
                sample = by_id[gen.sample_id]
                out.append(build_record(sample, plan.task, rendered[sample.id], buffers.pop(gen.sample_id), parser))
                n_done += 1
                bar.update(1)
                if lead and n_done % 50 == 0:
                    store.update(run.id, n_done=n_done)
    except KeyboardInterrupt:
        store.update(run.id, status="interrupted", n_done=n_done)
        raise HarnessError(
            f"Interrupted after {n_done}/{len(plan.samples)} samples; the records are kept in {run.dir}. "
            "Run the same command again (or with --resume) to finish."
        ) from None
    except HarnessError:
        store.update(run.id, status="failed", n_done=n_done)
        raise
    finally:
        bar.close()
    if not topology.distributed:
        return finalize(plan, run)
    mark_done(run.dir, topology, len(mine))
    if not lead:
        return None
    ranks = wait_for_ranks(run.dir, topology.world_size)
    run.merge_shards([s.id for s in plan.samples])
    manifest = run.manifest
    manifest["topology"] = {"world_size": topology.world_size, "launcher": topology.launcher, "ranks": ranks}
    run.write_manifest(manifest)
    clear_markers(run.dir)
    return finalize(plan, run)


def generate_stream(model, requests, settings, use_cache):
    """Completions from the generation cache where present, the model otherwise."""
    if not (use_cache and model.cacheable):
        return model.generate(requests, settings)
    from harness.gencache import cached_generate
    from harness.sources import cache_dir

    return cached_generate(model, requests, settings, cache_dir() / "generations.db")


def finalize(plan: RunPlan, run: Run) -> dict:
    """Check that every sample has exactly one record, then score and mark the run complete."""
    records = run.read_samples()
    ids = [r["id"] for r in records]
    if len(ids) != len(set(ids)):
        raise HarnessError(f"{run.samples_path}: duplicate sample records; the run is corrupt")
    missing = {s.id for s in plan.samples} - set(ids)
    if missing:
        raise HarnessError(f"{run.id}: {len(missing)} samples have no record; run the command again to finish")
    metrics = score_records(records, plan.task, plan.policy)
    run.write_metrics(metrics)
    run.store.update(run.id, status="complete", n_done=len(records), finished=True)
    return metrics

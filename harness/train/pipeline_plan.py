"""What ``harness pipeline`` would do, without doing it (``--dry-run``): its steps, commands, outputs and cache.

Why: a pipeline trains a model and evaluates two, hours on a GPU; a newcomer
should see which commands it stands for, where it writes, and which steps a
re-run would skip, before starting it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: the config keys ``pipeline --help`` describes (section -> key -> meaning)
CONFIG_HELP = {
    "name": "the child checkpoint to train and register (e.g. exp_19)",
    "parent": "the checkpoint it starts from (a registry name or hf:BASE[+ADAPTER])",
    "description": "text recorded in the registry entry",
    "workdir": "folder for pipeline.json, pairs and reports (default $HARNESS_HOME/pipelines/NAME)",
    "pairs": "task, limit, samples (k), temperature, max_new_tokens, seed, judge, strategy, options, batch_size, "
             "safeguards: sampling the parent and building preference pairs",
    "train": "method (sft, dpo, hs-dpo, grpo) and the training config keys (harness train --help)",
    "eval": "tasks, limit, samples, temperature, max_new_tokens, seed, judge, batch_size: the parent and child evals",
    "overlap": "max, ...: the train/eval prompt-overlap gate (default: no shared prompt)",
    "capability": "tasks, limit, seed, batch_size: lm-eval deltas of the child against the parent",
}


@dataclass
class PlanStep:
    """One step of a pipeline: the command it stands for, what it writes, and whether a re-run skips it."""

    step: str
    command: str
    outputs: str
    cached: str | None = None  # why it would be skipped or reused; None: it runs


def workdir_for(cfg) -> Path:
    """The pipeline's folder: ``workdir`` from the config, else ``$HARNESS_HOME/pipelines/NAME``."""
    from harness.checkpoints.registry import harness_home
    from harness.config import path_inside

    if cfg.get("workdir"):
        return Path(cfg["workdir"]).expanduser()
    return path_inside(harness_home() / "pipelines", cfg["name"])


def _eval_flags(section: dict, defaults: dict) -> str:
    flags = {"limit": "--limit", "samples": "--samples", "temperature": "--temperature",
             "max_new_tokens": "--max-new-tokens", "seed": "--seed", "judge": "--judge", "batch_size": "--batch-size"}
    parts = []
    for key, flag in flags.items():
        value = section.get(key, defaults.get(key))
        if value is not None:
            parts.append(f"{flag} {','.join(map(str, value)) if isinstance(value, list) else value}")
    return " ".join(parts)


def pipeline_plan(cfg, overwrite: bool = False, config_file="CONFIG") -> list[PlanStep]:
    """The steps :func:`harness.train.pipeline.run_pipeline` runs for ``cfg``, in order."""
    from harness.checkpoints.registry import harness_home, load_registry
    from harness.store.files import read_json_file

    name, parent = cfg["name"], cfg["parent"]
    pc, ec = cfg["pairs"], cfg.get("eval") or {}
    workdir = workdir_for(cfg)
    done = read_json_file(workdir / "pipeline.json", missing={"steps": {}}).get("steps", {})
    tasks = ec.get("tasks") or [pc["task"]]

    def before(step):
        info = done.get(step)
        return f"done before ({workdir / 'pipeline.json'}); its runs are found in the run store" if info and \
            info.get("status") == "done" else None

    evals = "; ".join(f"harness eval --model {{model}} --task {t} {_eval_flags(ec, {'limit': None})}".strip()
                      for t in tasks)
    pairs_file, stats_file = workdir / "pairs.jsonl", workdir / "pairs.stats.json"
    existing = load_registry().get(name)
    trained = existing and "planned" not in existing and not overwrite
    train = dict(cfg["train"])
    method = train.pop("method")
    steps = [
        PlanStep("overlap", f"harness overlap --train {pc['task']} --eval {','.join(tasks)}",
                 str(workdir / "overlap.jsonl")),
        PlanStep("eval_parent", evals.format(model=parent), "one run per task in the run store", before("eval_parent")),
        PlanStep("pairs", f"harness pairs --model {parent} --task {pc['task']} "
                          f"{_eval_flags(pc, {'samples': 4, 'temperature': 0.8, 'judge': None})} "
                          f"--strategy {pc.get('strategy', 'hard-samples')} -o {pairs_file}",
                 f"{pairs_file}, {stats_file}",
                 f"{pairs_file} exists" if pairs_file.exists() and stats_file.exists() else None),
        PlanStep("train", f"harness train --method {method} --parent {parent} --data {pairs_file} --output {name} "
                          f"--config {config_file} (its train: section: "
                          f"{', '.join(f'{k}={v}' for k, v in train.items()) or 'defaults'})",
                 f"{harness_home() / 'checkpoints' / name}, a '{name}' registry entry",
                 f"checkpoint '{name}' is registered ({existing['spec']})" if trained else None),
    ]
    if isinstance(cfg["train"].get("monitor"), dict):
        steps.append(PlanStep("monitor", "check the training monitor against train.monitor.bounds",
                              "pipeline.json (exit 3 when exceeded)"))
    steps += [
        PlanStep("eval_child", evals.format(model=name), "one run per task in the run store", before("eval_child")),
        PlanStep("compare", "; ".join(f"harness compare PARENT_RUN CHILD_RUN  # {t}" for t in tasks),
                 "printed; pipeline.json"),
    ]
    if "capability" in cfg:
        steps.append(PlanStep("capability", f"harness capability --model {name} --parent {parent}",
                              str(workdir / "capability.json")))
    return steps


def render_plan(cfg, steps: list[PlanStep]) -> str:
    lines = [f"pipeline '{cfg['name']}' from '{cfg['parent']}' (dry run: nothing is run or written); "
             f"state and pairs in {workdir_for(cfg)}"]
    for i, s in enumerate(steps, 1):
        lines.append(f"{i}. {s.step}: {'skipped, ' + s.cached if s.cached else 'runs'}")
        lines.append(f"     command: {s.command}")
        lines.append(f"     outputs: {s.outputs}")
    return "\n".join(lines)

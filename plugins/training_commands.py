"""``harness pairs``, ``harness train`` and ``harness pipeline`` (issue 5).

``pairs`` samples k completions per prompt through ``harness eval`` (so they
are cached, resumable runs), judges them, and writes TRL-format pairs.
``train`` runs a registered trainer and registers the adapter as a named
checkpoint with its lineage, so ``harness eval --model NAME`` loads it.
``pipeline`` chains eval (parent) -> pairs -> train -> eval (child) -> compare,
skipping each step whose outputs exist, so a killed pipeline resumes.

Heavy libraries are imported inside the commands: this module loads at CLI start.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import click

from harness.errors import HarnessError, check_keys
from harness.sources import file_sha256, read_yaml_mapping
from harness.hookspecs import hookimpl

PIPELINE_KEYS = {"name", "parent", "description", "pairs", "train", "eval", "workdir"}
PAIRS_KEYS = {"task", "limit", "samples", "temperature", "max_new_tokens", "seed", "judge", "strategy", "options",
              "batch_size"}
EVAL_KEYS = {"tasks", "limit", "samples", "temperature", "max_new_tokens", "seed", "judge", "batch_size"}


def read_config(path) -> dict:
    if not Path(path).exists():
        raise HarnessError(f"Config file not found: {path}")
    return read_yaml_mapping(path)


# -- eval through the `eval` command -------------------------------------------


def eval_run(ctx, model: str, task: str, *, samples=1, limit=None, temperature=0.7, max_new_tokens=512, seed=0,
             judge=None, batch_size="auto", data_dir=None, runs_dir=None, quiet=False):
    """Run (or resume, or find) ``harness eval`` and return its Run."""
    from harness.evaluation import plan_run
    from harness.models import GenerationSettings
    from harness.runstore import RunStore
    from harness.tasks import get_task

    root = ctx.find_root().command
    ctx.invoke(root.commands["eval"], model_name=model, task_names=task, limit=limit, k=samples,
               max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, batch_size=str(batch_size),
               judges=judge, quiet=quiet, data_dir=data_dir, runs_dir=runs_dir)
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, samples=samples, seed=seed,
                                  batch_size=str(batch_size))
    plan = plan_run(model, get_task(task), settings, limit=limit, data_dir=data_dir)
    store = RunStore(runs_dir)
    found = store.find_by_key(plan.key)
    if found is None:
        raise HarnessError(f"harness eval --model {model} --task {task} left no run")
    return store.open_run(found["run_id"])


def run_judgments(run, judge_spec: str | None) -> dict:
    from harness.judge_runs import read_judgments, split_judge_spec

    if not judge_spec:
        return {}
    for name in (judge_spec, split_judge_spec(judge_spec)[0]):
        found = read_judgments(run, judge=name)
        if found:
            return found
    return read_judgments(run)


def build_pairs_from_run(run, strategy, judge_spec, options, output: Path) -> dict:
    from harness.pairs import NEEDS_JUDGE, build_pairs, groups_from_run_records, write_pairs

    judgments = run_judgments(run, judge_spec)
    if strategy in NEEDS_JUDGE and not judgments:
        raise HarnessError(f"strategy '{strategy}' needs judge scores: pass --judge (e.g. --judge heuristic)")
    groups = groups_from_run_records(run.read_samples(), judgments)
    pairs, stats = build_pairs(groups, strategy, options)
    stats.update(run_id=run.id, judge=judge_spec)
    write_pairs(pairs, stats, output)
    return stats


def print_pair_stats(stats: dict, output: Path):
    click.echo(f"{stats['pairs']} pairs from {stats['prompts']} prompts ({stats['completions']} completions) "
               f"-> {output}")
    for reason, n in stats["skipped"].items():
        click.echo(f"  skipped {n}: {reason}")
    if stats["weight"]:
        w = stats["weight"]
        click.echo(f"  weight min {w['min']:.3f} mean {w['mean']:.3f} max {w['max']:.3f}")


@click.command()
@click.option("--model", required=False, help="Checkpoint name or spec to sample from (e.g. exp_18).")
@click.option("--task", required=False, help="Task whose prompts are sampled.")
@click.option("--samples", "k", type=int, default=4, show_default=True, help="Completions per prompt (k).")
@click.option("--judge", default=None, help="Judge spec scoring each completion (needed by reasoning-quality).")
@click.option("--strategy", type=click.Choice(["hard-samples", "reasoning-quality"]), default="hard-samples",
              show_default=True)
@click.option("--limit", type=int, default=None, help="Label-stratified subset of N prompts.")
@click.option("--temperature", type=float, default=0.8, show_default=True)
@click.option("--max-new-tokens", type=int, default=512, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Generation seed.")
@click.option("--batch-size", default="auto", show_default=True)
@click.option("--gamma", type=float, default=0.5, show_default=True, help="hard-samples: weight slope.")
@click.option("--pair-seed", type=int, default=42, show_default=True, help="hard-samples: which correct/incorrect pair.")
@click.option("--min-margin", type=float, default=0.1, show_default=True, help="reasoning-quality: reward margin.")
@click.option("--any-verdict", is_flag=True, help="reasoning-quality: also pair completions with a wrong verdict.")
@click.option("--from-hard-samples", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Build from the seed's hard_samples_*.json instead of sampling (hard-samples strategy).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Pairs JSONL (default pairs/MODEL-TASK-STRATEGY.jsonl); stats go beside it.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def pairs(ctx, model, task, k, judge, strategy, limit, temperature, max_new_tokens, seed, batch_size, gamma,
          pair_seed, min_margin, any_verdict, from_hard_samples, output, data_dir, runs_dir, quiet):
    """Sample k completions per prompt, judge them and write TRL preference pairs.

    \b
    Examples:
      harness pairs --model exp_18 --task guardreasoner_test_5k --limit 1000 --samples 4 --judge heuristic --strategy hard-samples
      harness pairs --model exp_18 --task combined_test --samples 4 --judge heuristic --strategy reasoning-quality --min-margin 0.2
      harness pairs --from-hard-samples ../shared/data/wizard101/exp18/hard_samples_exp18.json -o pairs/exp18.jsonl
    """
    from harness.pairs import build_pairs, groups_from_seed_hard_samples, write_pairs

    options = ({"gamma": gamma, "seed": pair_seed} if strategy == "hard-samples"
               else {"min_margin": min_margin, "require_correct": not any_verdict})
    if from_hard_samples:
        if strategy != "hard-samples":
            raise HarnessError("--from-hard-samples holds no judge scores; use --strategy hard-samples")
        out = Path(output or "pairs/" + Path(from_hard_samples).stem + ".jsonl")
        built, stats = build_pairs(groups_from_seed_hard_samples(Path(from_hard_samples)), strategy, options)
        stats["source"] = str(from_hard_samples)
        write_pairs(built, stats, out)
        print_pair_stats(stats, out)
        return
    if not model or not task:
        raise HarnessError("harness pairs needs --model and --task (or --from-hard-samples FILE)")
    if k < 2:
        raise HarnessError("--samples must be at least 2 to form pairs")
    run = eval_run(ctx, model, task, samples=k, limit=limit, temperature=temperature, max_new_tokens=max_new_tokens,
                   seed=seed, judge=judge, batch_size=batch_size, data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)
    out = Path(output or f"pairs/{model.replace('/', '_').replace(':', '_')}-{task}-{strategy}.jsonl")
    stats = build_pairs_from_run(run, strategy, judge, options, out)
    print_pair_stats(stats, out)


# -- train ------------------------------------------------------------------------


def output_dir_for(name: str) -> Path:
    from harness.checkpoints import harness_home

    return harness_home() / "checkpoints" / name


def check_output_name(name: str, overwrite: bool):
    from harness.checkpoints import load_registry

    if not name or "/" in name or ":" in name or "+" in name:
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


def train_checkpoint(method, parent_name, data, name, config, overwrite=False, resume=True, description=None) -> dict:
    """Train, then register ``name`` with its lineage; returns the registry entry."""
    from harness.checkpoints import register_checkpoint
    from harness.evaluation import git_commit, package_versions
    from harness.plugins import get_registry
    from harness.training import TrainRequest
    from harness_plugins.trl_trainers import resolve_parent

    check_output_name(name, overwrite)
    data = Path(data)
    if not data.exists():
        raise HarnessError(f"Training data not found: {data}")
    config = dict(config)
    parent = resolve_parent(parent_name)
    check_base(parent_name, parent, config)
    config.pop("base", None)
    trainer = get_registry().get("trainers", method)()
    out = output_dir_for(name)
    if overwrite and out.exists():
        shutil.rmtree(out)
    started = time.time()
    result = trainer.train(TrainRequest(method, parent_name, data, out, config, resume=resume))
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
    section = dict(config.get("train", config))
    method = method or section.pop("method", None)
    section.pop("method", None)
    if not method:
        raise HarnessError("No training method: pass --method sft|dpo|hs-dpo|grpo or set train.method in --config")
    return method, section


@click.command()
@click.option("--method", type=click.Choice(["sft", "dpo", "hs-dpo", "grpo"]), default=None,
              help="Training method (default: the config's train.method).")
@click.option("--parent", required=True, help="Checkpoint name or hf:BASE[+ADAPTER] spec to start from.")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="JSONL: prompt+completion (sft), prompt/chosen/rejected[/weight] (dpo, hs-dpo), prompt (grpo).")
@click.option("--output", "name", required=True, help="Name to register the trained checkpoint under.")
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint of that name (and its files).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML training config (configs/rsft.yaml, configs/exp_19.yaml, ...); its 'train' section is used.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one config key (JSON values).")
@click.option("--no-resume", is_flag=True, help="Start over instead of resuming from the last checkpoint.")
def train(method, parent, data, name, overwrite, config_file, overrides, no_resume):
    """Train a LoRA adapter with TRL and register it as a named checkpoint.

    Interrupted training resumes from its last checkpoint when the same command
    runs again.  Multi-GPU: prefix with `accelerate launch --num_processes N -m`.

    \b
    Examples:
      harness train --method dpo --parent exp_18 --data pairs/exp18.jsonl --output exp_19 --config configs/exp_19.yaml
      harness train --method sft --parent hf:unsloth/Llama-3.2-3B-Instruct --data sft.jsonl --output my_rsft --config configs/rsft.yaml
      harness train --method hs-dpo --parent exp_18 --data pairs.jsonl --output exp_19b --set beta=0.2 --set epochs=2
      accelerate launch --num_processes 2 -m harness train --method dpo --parent exp_18 --data pairs.jsonl --output exp_19
    """
    from harness.cli import parse_options

    method, config = train_config(config_file, method)
    try:
        config.update(parse_options(overrides))
    except HarnessError as exc:
        raise HarnessError(str(exc).replace("--model-option", "--set")) from None
    entry = train_checkpoint(method, parent, data, name, config, overwrite=overwrite, resume=not no_resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    m = entry["lineage"]["metrics"]
    click.echo(f"Registered '{name}': {entry['spec']}")
    click.echo(f"  steps {m.get('global_step')}, train_loss {m.get('train_loss')}, "
               f"resumed from {m.get('resumed_from') or 'scratch'}; use: harness eval --model {name} --task ...")


# -- pipeline ---------------------------------------------------------------------


class Pipeline:
    """The state file of one pipeline: which steps ran, were skipped, and why."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.path = workdir / "pipeline.json"
        self.state = json.loads(self.path.read_text()) if self.path.exists() else {"steps": {}}

    def record(self, step: str, status: str, **info):
        self.state["steps"][step] = {"status": status, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     **info}
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.state, indent=2))
        click.echo(f"[pipeline] {step}: {status}" + (f" ({info['reason']})" if "reason" in info else ""), err=True)


def load_pipeline_config(path) -> dict:
    config = read_config(path)
    check_keys(str(path), config, PIPELINE_KEYS)
    for key in ("name", "parent", "pairs", "train"):
        if key not in config:
            raise HarnessError(f"{path}: missing '{key}' (a pipeline needs name, parent, pairs, train)")
    check_keys(f"{path}: pairs", config["pairs"], PAIRS_KEYS)
    check_keys(f"{path}: eval", config.get("eval") or {}, EVAL_KEYS)
    if "task" not in config["pairs"]:
        raise HarnessError(f"{path}: pairs.task is missing (the task whose prompts are sampled)")
    return config


@click.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Retrain even if the checkpoint exists.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def pipeline(ctx, config_file, overwrite, data_dir, runs_dir, quiet):
    """Eval the parent, build pairs, train, eval the child, compare: one command.

    Each step is skipped when its outputs exist, so running the same command
    after a kill resumes.  State and pairs go to pipelines/NAME/ (or 'workdir').

    \b
    Examples:
      harness pipeline configs/exp_19.yaml
      HARNESS_DATA_DIR=../shared/data harness pipeline configs/exp_20.yaml --runs-dir runs
    """
    from harness.checkpoints import load_registry

    cfg = load_pipeline_config(config_file)
    name, parent = cfg["name"], cfg["parent"]
    pc, ec = cfg["pairs"], cfg.get("eval") or {}
    workdir = Path(cfg.get("workdir") or Path("pipelines") / name)
    state = Pipeline(workdir)
    eval_tasks = ec.get("tasks") or [pc["task"]]
    eval_kwargs = dict(samples=ec.get("samples", 1), limit=ec.get("limit"), temperature=ec.get("temperature", 0.7),
                       max_new_tokens=ec.get("max_new_tokens", 512), seed=ec.get("seed", 0), judge=ec.get("judge"),
                       batch_size=ec.get("batch_size", "auto"), data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)

    parent_runs = {t: eval_run(ctx, parent, t, **eval_kwargs).id for t in eval_tasks}
    state.record("eval_parent", "done", runs=parent_runs)

    pairs_path = workdir / "pairs.jsonl"
    stats_path = workdir / "pairs.stats.json"
    if pairs_path.exists() and stats_path.exists():
        state.record("pairs", "skipped", reason=f"{pairs_path} exists", file=str(pairs_path))
    else:
        strategy = pc.get("strategy", "hard-samples")
        run = eval_run(ctx, parent, pc["task"], samples=pc.get("samples", 4), limit=pc.get("limit"),
                       temperature=pc.get("temperature", 0.8), max_new_tokens=pc.get("max_new_tokens", 512),
                       seed=pc.get("seed", 0), judge=pc.get("judge"), batch_size=pc.get("batch_size", "auto"),
                       data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)
        stats = build_pairs_from_run(run, strategy, pc.get("judge"), pc.get("options") or {}, pairs_path)
        print_pair_stats(stats, pairs_path)
        if stats["pairs"] == 0:
            raise HarnessError(f"no preference pairs were built ({stats['skipped']}); see {stats_path}")
        state.record("pairs", "done", file=str(pairs_path), run=run.id, pairs=stats["pairs"])

    existing = load_registry().get(name)
    if existing and "planned" not in existing and not overwrite:
        state.record("train", "skipped", reason=f"checkpoint '{name}' is registered", spec=existing["spec"])
    else:
        section = dict(cfg["train"])
        method = section.pop("method", None)
        if not method:
            raise HarnessError(f"{config_file}: train.method is missing (sft, dpo, hs-dpo or grpo)")
        entry = train_checkpoint(method, parent, pairs_path, name, section, overwrite=overwrite,
                                 description=cfg.get("description"))
        state.record("train", "done", spec=entry["spec"], metrics=entry["lineage"]["metrics"])

    child_runs = {t: eval_run(ctx, name, t, **eval_kwargs).id for t in eval_tasks}
    state.record("eval_child", "done", runs=child_runs)

    root = ctx.find_root().command
    if "compare" not in root.commands:
        state.record("compare", "skipped", reason="the 'compare' command is not installed (report_commands plugin)")
        return
    for t in eval_tasks:
        ctx.invoke(root.commands["compare"], run_a=parent_runs[t], run_b=child_runs[t], runs_dir=runs_dir)
    state.record("compare", "done", pairs={t: [parent_runs[t], child_runs[t]] for t in eval_tasks})


@hookimpl
def register_commands(cli):
    cli.add_command(pairs)
    cli.add_command(train)
    cli.add_command(pipeline)

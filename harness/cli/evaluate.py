"""``harness eval``: run a model over tasks, parse, score and record."""

from __future__ import annotations

import json
import sys

import click

from harness.cli.options import SEED, Number, data_dir_option, model_option, runs_dir_option
from harness.config import parse_key_values
from harness.errors import HarnessError
from harness.render.text import table
from harness.score.metrics import POLICIES

METRIC_COLUMNS = ["task", "n", "accuracy", "precision", "recall", "f1", "parse_failure_rate"]


from harness.cli.options import BATCH_SIZE  # noqa: E402 - shared with capability and pairs

@click.command(name="eval")
@click.option("--model", "model_name", required=True, help="Checkpoint name (see `harness models`) or spec such as hf:BASE+ADAPTER.")
@click.option("--task", "task_names", required=True, help="Task name(s), comma-separated, or a task YAML path.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Deterministic label-stratified subset of N samples.")
@click.option("--samples", "k", type=click.IntRange(min=1), default=1, show_default=True, help="Completions per prompt.")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--temperature", type=Number(float, min=0), default=0.7, show_default=True)
@click.option("--top-p", type=Number(float, min=0, max=1, min_open=True), default=1.0, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Base seed; each (sample, k) gets its own.")
@click.option("--batch-size", type=BATCH_SIZE, default="auto", show_default=True, help="Batch size or 'auto' (largest that fits).")
@click.option("--policy", type=click.Choice(POLICIES), default=None,
              help="Parse-failure policy (default: the task's, strict for every built-in task).")
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default=None, help="Weights dtype (hf models).")
@click.option("--quantization", type=click.Choice(["none", "8bit", "4bit"]), default=None, help="Load the base in 8-bit or 4-bit NF4.")
@click.option("--trust-remote-code", is_flag=True, help="RISK: runs Python code shipped with the checkpoint.")
@click.option("--allow-unsafe-weights", is_flag=True, help="RISK: loads pickle (.bin) weights, which can execute code.")
@model_option()
@click.option("--judge", "judges", default=None, help="Judge the completions too, e.g. heuristic or heuristic,llm-judge:MODEL.")
@click.option("--judge-option", "judge_options", multiple=True, metavar="JUDGE.KEY=VALUE",
              help="Option for a judge, e.g. heuristic.embeddings=false.")
@click.option("--rerun", is_flag=True, help="Start a new run even if an identical one exists.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Finish an interrupted identical run.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the generation cache.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes sharing one run (one per GPU or endpoint).")
@click.option("--devices", default=None,
              help="Comma-separated CUDA device per worker, e.g. 0,1; a device this host lacks is an error.")
@click.option("--exclude-ids", type=click.Path(dir_okay=False), default=None,
              help="Leave these sample ids out: one id a line, or `harness overlap --output` JSONL (recorded in the manifest).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@data_dir_option
@runs_dir_option
def eval_command(model_name, task_names, limit, k, max_new_tokens, temperature, top_p, seed, batch_size, policy,
                 dtype, quantization, trust_remote_code, allow_unsafe_weights, model_options, judges, judge_options, rerun, resume,
                 workers, devices, no_cache, exclude_ids, as_json, quiet, data_dir, runs_dir):
    """Run a model over one or more tasks, parse its verdicts, score and record the run.

    Running the same command again resumes an interrupted run (one record per
    sample, none lost or duplicated) or reports the finished one; with another
    --policy it re-scores the stored completions in seconds, loading no model.

    \b
    Examples:
      harness eval --model keyword-baseline --task combined_test
      harness eval --model exp_18 --task wildguard --batch-size auto
      harness eval --model replay:preds.jsonl --task gr_aegis_safety_test --policy guardreasoner-paper
      harness eval --model exp_18 --task wildguard --policy exclude     # re-scores a finished run
      harness eval --model exp_18 --task combined_test --limit 100 --samples 4 --judge heuristic
      harness eval --model exp_18 --task wildguard --workers 2 --devices 0,1
      harness eval --model exp_18 --task beavertails --exclude-ids overlap.jsonl
      accelerate launch --num_processes 2 -m harness eval --model exp_18 --task wildguard
    """
    import os

    from harness.evaluate.sharding import (
        Topology,
        assign_devices,
        die_with_parent,
        launch_workers,
        visible_gpus,
    )

    topology = Topology.from_env()
    if os.environ.get("HARNESS_PARENT_PID"):  # a --workers worker; popped so its own children do not inherit it
        die_with_parent(int(os.environ.pop("HARNESS_PARENT_PID")))
    if (workers > 1 or devices) and not topology.distributed:
        device_list = [d.strip() for d in devices.split(",")] if devices else None
        device_list = assign_devices(device_list, workers, visible_gpus() if devices else [])
        argv = strip_options(click.get_current_context().find_root().obj["argv"], {"--workers": True, "--devices": True})
        sys.exit(launch_workers(argv, workers, device_list, log=lambda msg: click.echo(msg, err=True)))

    from harness.evaluate.runner import EvalRequest, evaluate
    from harness.interfaces.model import GenerationSettings
    from harness.score.metrics import weighted_average
    from harness.tasks import get_task

    options = parse_key_values(model_options, "--model-option")
    exclude = None
    if exclude_ids:
        from harness.analysis.overlap import read_exclude_ids

        exclude = read_exclude_ids(exclude_ids)
    if dtype:
        options["dtype"] = dtype
    if quantization:
        options["quantization"] = None if quantization == "none" else quantization
    from harness.tasks.lm_eval_source import trust_task_code

    trust_task_code(trust_remote_code)  # the same opt-in lets an lm-eval task YAML's !function run
    if trust_remote_code:
        options["trust_remote_code"] = True
    if allow_unsafe_weights:
        options["allow_unsafe_weights"] = True
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                  samples=k, seed=seed, batch_size=str(batch_size))
    judge_specs = [j.strip() for j in judges.split(",")] if judges else []
    judge_opts = {}
    if judge_options and not judge_specs:
        raise HarnessError(f"--judge-option {judge_options[0]} is given without --judge: name the judge it is for, "
                           "e.g. --judge heuristic --judge-option heuristic.embeddings=false")
    if judge_specs:
        from harness.judge.runner import parse_judge_options

        judge_opts = parse_judge_options(judge_options)
    names = [name.strip() for name in task_names.split(",")]
    if not all(names):
        raise HarnessError(f"--task '{task_names}': expected task names separated by commas, found an empty one")
    request = EvalRequest(model_name, [get_task(name) for name in names],
                          settings, policy=policy, limit=limit, options=options, judges=judge_specs,
                          judge_options=judge_opts, rerun=rerun or not resume, use_cache=not no_cache,
                          progress=not quiet, data_dir=data_dir, runs_dir=runs_dir, exclude=exclude)
    results = {r.task: {"run_id": r.run.id, "dir": str(r.run.dir), **r.metrics}
               for r in evaluate(request, topology, log=lambda msg: click.echo(msg, err=True))}
    if topology.rank == 0:
        print_results(results, as_json, weighted_average(results) if len(results) > 1 else None)


def strip_options(argv: list[str], options: dict) -> list[str]:
    """``argv`` without the given options (and their values) for the worker processes."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in options:
            skip = options[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def echo_warnings(task: str, metrics: dict):
    for warning in metrics.get("warnings") or []:
        click.echo(f"warning: {task}: {warning}", err=True)


def print_results(results: dict, as_json: bool, average: dict | None = None):
    for task, metrics in results.items():
        echo_warnings(task, metrics)
    if as_json:
        payload = {"runs": results}
        if average:
            payload["weighted_average"] = average
        click.echo(json.dumps(payload, indent=2))
        return
    rows = [{"task": t, **m} for t, m in results.items()]
    if average:
        rows.append({"task": "weighted average", **average})
    click.echo(table(rows, METRIC_COLUMNS + ["run_id"]))



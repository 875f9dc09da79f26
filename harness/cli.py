"""The ``harness`` command line: evaluate guards, score predictions, list what is installed.

Plugins add commands through the ``register_commands`` hook.  User errors are
printed as one ``Error:`` line with exit code 1, never as a traceback.
"""

from __future__ import annotations

import json
import sys

import click

from harness import __version__
from harness.display import fmt, table
from harness.errors import HarnessError
from harness.plugins import get_registry

METRIC_COLUMNS = ["task", "n", "accuracy", "precision", "recall", "f1", "parse_failure_rate"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli():
    """Evaluate and retrain reasoning safety guards.

    \b
    Example:
      HARNESS_DATA_DIR=../shared/data harness eval --model keyword-baseline --task combined_test
    """


def data_dir_option(f):
    return click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                        help="Folder holding task data (default $HARNESS_DATA_DIR, else ./data).")(f)


def runs_dir_option(f):
    return click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
                        help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs).")(f)


def parse_options(pairs) -> dict:
    """``KEY=VALUE`` strings into a dict, with JSON-typed values where they parse."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise HarnessError(f"--model-option '{pair}': expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@cli.command(name="eval")
@click.option("--model", "model_name", required=True, help="Checkpoint name (see `harness models`) or spec such as hf:BASE+ADAPTER.")
@click.option("--task", "task_names", required=True, help="Task name(s), comma-separated, or a task YAML path.")
@click.option("--limit", type=int, default=None, help="Deterministic label-stratified subset of N samples.")
@click.option("--samples", "k", type=int, default=1, show_default=True, help="Completions per prompt.")
@click.option("--max-new-tokens", type=int, default=512, show_default=True)
@click.option("--temperature", type=float, default=0.7, show_default=True)
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each (sample, k) gets its own.")
@click.option("--batch-size", default="auto", show_default=True, help="Batch size or 'auto' (largest that fits).")
@click.option("--policy", type=click.Choice(["strict", "exclude", "guardreasoner-paper"]), default=None,
              help="Parse-failure policy (default: the task's).")
@click.option("--dtype", type=click.Choice(["bfloat16", "float16", "float32"]), default=None, help="Weights dtype (hf models).")
@click.option("--quantization", type=click.Choice(["none", "8bit", "4bit"]), default=None, help="Load the base in 8-bit or 4-bit NF4.")
@click.option("--trust-remote-code", is_flag=True, help="RISK: runs Python code shipped with the checkpoint.")
@click.option("--allow-unsafe-weights", is_flag=True, help="RISK: loads pickle (.bin) weights, which can execute code.")
@click.option("-o", "--model-option", "model_options", multiple=True, metavar="KEY=VALUE", help="Extra option for the model loader.")
@click.option("--judge", "judges", default=None, help="Judge the completions too, e.g. heuristic or heuristic,llm-judge:MODEL.")
@click.option("--judge-option", "judge_options", multiple=True, metavar="JUDGE.KEY=VALUE",
              help="Option for a judge, e.g. heuristic.embeddings=false.")
@click.option("--rerun", is_flag=True, help="Start a new run even if an identical one exists.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Finish an interrupted identical run.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the generation cache.")
@click.option("--workers", type=int, default=1, show_default=True,
              help="Data-parallel processes sharing one run (one per GPU or endpoint).")
@click.option("--devices", default=None, help="Comma-separated CUDA device per worker, e.g. 0,1.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@data_dir_option
@runs_dir_option
def eval_command(model_name, task_names, limit, k, max_new_tokens, temperature, top_p, seed, batch_size, policy,
                 dtype, quantization, trust_remote_code, allow_unsafe_weights, model_options, judges, judge_options, rerun, resume,
                 workers, devices, no_cache, as_json, quiet, data_dir, runs_dir):
    """Run a model over one or more tasks, parse its verdicts, score and record the run.

    Running the same command again resumes an interrupted run (one record per
    sample, none lost or duplicated) or reports the finished one.

    \b
    Examples:
      harness eval --model keyword-baseline --task combined_test
      harness eval --model exp_18 --task wildguard --batch-size auto
      harness eval --model replay:preds.jsonl --task gr_aegis_safety_test --policy guardreasoner-paper
      harness eval --model exp_18 --task combined_test --limit 100 --samples 4 --judge heuristic
      harness eval --model exp_18 --task wildguard --workers 2 --devices 0,1
      accelerate launch --num_processes 2 -m harness eval --model exp_18 --task wildguard
    """
    from harness.sharding import Topology, launch_workers

    topology = Topology.from_env()
    if workers > 1 and not topology.distributed:
        device_list = devices.split(",") if devices else None
        if device_list and len(device_list) != workers:
            raise HarnessError(f"--devices lists {len(device_list)} devices for {workers} workers")
        argv = strip_options(click.get_current_context().find_root().obj["argv"], {"--workers": True, "--devices": True})
        sys.exit(launch_workers(argv, workers, device_list))

    from harness.evaluation import execute, find_or_create_run, plan_run
    from harness.loading import load_model
    from harness.metrics import weighted_average
    from harness.models import GenerationSettings
    from harness.runstore import RunStore
    from harness.tasks import get_task

    options = parse_options(model_options)
    if dtype:
        options["dtype"] = dtype
    if quantization:
        options["quantization"] = None if quantization == "none" else quantization
    if trust_remote_code:
        options["trust_remote_code"] = True
    if allow_unsafe_weights:
        options["allow_unsafe_weights"] = True
    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                  samples=k, seed=seed, batch_size=str(batch_size))
    store = RunStore(runs_dir)
    tasks = [get_task(name.strip()) for name in task_names.split(",") if name.strip()]
    judge_specs = [j.strip() for j in judges.split(",")] if judges else []
    if judge_specs:
        from harness.judge_runs import check_judge_specs, parse_judge_options

        check_judge_specs(judge_specs)
        judge_opts = parse_judge_options(judge_options)
    model = None
    results = {}
    try:
        for task in tasks:
            plan = plan_run(model_name, task, settings, policy=policy, limit=limit, data_dir=data_dir, options=options)
            run, done = find_or_create_run(store, plan, rerun=rerun or not resume, topology=topology)
            metrics = run.read_metrics() if len(done) == len(plan.samples) else None
            if metrics is None:
                if model is None:
                    model = load_model(model_name, options)
                if done:
                    click.echo(f"Resuming {run.id}: {len(done)}/{len(plan.samples)} samples already recorded.", err=True)
                metrics = execute(plan, run, done, model, progress=not quiet, use_cache=not no_cache, topology=topology)
                if metrics is None:  # a non-zero rank: rank 0 merges, scores and reports
                    continue
            else:
                click.echo(f"{run.id} is already complete (use --rerun for a fresh run).", err=True)
            if judge_specs:
                from harness.judge_runs import judge_run

                metrics = judge_run(run, judge_specs, progress=not quiet, options=judge_opts)
            results[task.name] = {"run_id": run.id, "dir": str(run.dir), **metrics}
    finally:
        if model is not None:
            model.close()
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


def print_results(results: dict, as_json: bool, average: dict | None = None):
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


@cli.command()
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False))
@click.option("--task", "task_name", required=True, help="Task whose labels, target and positive class apply.")
@click.option("--parser", "parser_name", default=None, help="Output parser (default: the task's).")
@click.option("--policy", type=click.Choice(["strict", "exclude", "guardreasoner-paper"]), default=None,
              help="Parse-failure policy (default: the task's).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON.")
def score(predictions, task_name, parser_name, policy, as_json):
    """Score an existing prediction file without generating anything.

    PREDICTIONS is GuardReasoner's generated_predictions.jsonl (prompt, label,
    predict) or a harness samples.jsonl.

    \b
    Example:
      harness score ../shared/data/guardreasoner/predictions/1B/AegisSafetyTest/generated_predictions.jsonl \\
          --task gr_aegis_safety_test --policy guardreasoner-paper
    """
    from harness.metrics import score_records
    from harness.scoring_files import records_from_predictions
    from harness.tasks import get_task

    task = get_task(task_name)
    parser = get_registry().get("parsers", parser_name or task.parser)
    records = records_from_predictions(predictions, task, parser)
    metrics = score_records(records, task, policy or task.policy)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    click.echo(table([{"task": task.name, **metrics}], METRIC_COLUMNS + ["policy"]))
    if "confusion_matrix" in metrics and metrics["confusion_matrix"].get("matrix"):
        cm = metrics["confusion_matrix"]
        click.echo("\nconfusion matrix (rows gold, columns predicted):")
        click.echo(table([{"gold": g, **dict(zip(cm["columns"], row))} for g, row in zip(cm["rows"], cm["matrix"])],
                         ["gold"] + cm["columns"]))


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@data_dir_option
@click.pass_context
def tasks(ctx, as_json, data_dir):
    """List tasks with their size and label balance.

    \b
    Examples:
      harness tasks
      harness tasks show wildguard
    """
    if ctx.invoked_subcommand:
        return
    from collections import Counter

    from harness.tasks import get_task, task_files

    rows = []
    for name in sorted(task_files()):
        task = get_task(name)
        row = {"task": name, "target": task.target, "template": task.template, "parser": task.parser}
        try:
            samples = task.load(data_dir)
            counts = Counter(s.gold for s in samples)
            row.update(n=len(samples), labels=" / ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        except HarnessError as exc:
            row.update(n=None, labels=f"unavailable: {str(exc).split('.')[0]}")
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(table(rows, ["task", "n", "labels", "target", "template", "parser"]))


@tasks.command(name="show")
@click.argument("name")
@click.option("--index", type=int, default=0, show_default=True, help="Which sample to render.")
@data_dir_option
def tasks_show(name, index, data_dir):
    """Print a task's definition and one rendered prompt.

    \b
    Example:
      harness tasks show combined_test --index 3
    """
    from harness import templates
    from harness.tasks import get_task

    task = get_task(name)
    samples = task.load(data_dir)
    if not 0 <= index < len(samples):
        raise HarnessError(f"--index {index} is out of range: task '{name}' has {len(samples)} samples")
    s = samples[index]
    click.echo(f"task: {task.name} ({task.path})\n{task.description}")
    click.echo(f"samples: {len(samples)}  target: {task.target}  positive: {task.positive}  parser: {task.parser}")
    click.echo(f"sample {s.id}: gold {s.gold} (raw {s.gold_raw!r}), category {s.category}\n")
    click.echo("--- rendered prompt ---")
    click.echo(templates.render(templates.resolve_template(task.template), s.prompt, s.response))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def plugins(as_json):
    """List installed plugins and what each registered.

    \b
    Example:
      harness plugins --json
    """
    reg = get_registry()
    data = [
        {"name": p.name, "module": p.module, "distribution": p.distribution, "version": p.version,
         "error": p.error or None,
         "registered": {kind: sorted(r.name for r in p.registrations if r.kind == kind)
                        for kind in ("tasks", "parsers", "models", "judges", "trainers", "commands")
                        if any(r.kind == kind for r in p.registrations)}}
        for p in reg.plugins.values()
    ]
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        for p in data:
            status = f"  FAILED: {p['error']}" if p["error"] else ""
            click.echo(f"{p['name']} ({p['module']}, {p['distribution']} {p['version']}){status}")
            for kind, names in p["registered"].items():
                click.echo(f"  {kind}: {', '.join(names)}")
    if any(p["error"] for p in data):
        sys.exit(1)


@cli.command()
@click.option("--tree", is_flag=True, help="Show checkpoints under their parents (lineage).")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models(tree, as_json):
    """List checkpoint names, where each points, and the installed model loaders.

    \b
    Examples:
      harness models
      harness models --tree
    """
    from harness.checkpoints import lineage_tree, load_registry

    entries = load_registry()
    if as_json:
        loaders = {n: r.description for n, r in get_registry().items["models"].items()}
        click.echo(json.dumps({"checkpoints": entries, "loaders": loaders}, indent=2))
        return
    if tree:
        click.echo("\n".join(lineage_tree(entries)))
        return
    rows = [{"name": n, "spec": e.get("spec") or f"(planned: {e['planned']})", "parser": e.get("parser"),
             "parent": e.get("parent"), "from": e["source"]} for n, e in entries.items()]
    click.echo(table(rows, ["name", "spec", "parser", "parent", "from"]))
    click.echo("\nmodel loaders: " + ", ".join(
        f"{n} ({r.description})" for n, r in sorted(get_registry().items["models"].items())))


@cli.group(invoke_without_command=True)
@click.option("--task", default=None, help="Only runs of this task.")
@click.option("--model", default=None, help="Only runs of this model.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@runs_dir_option
@click.pass_context
def runs(ctx, task, model, as_json, runs_dir):
    """List recorded runs from the SQLite run index.

    \b
    Examples:
      harness runs --task wildguard
      harness runs show 20261125-120000-keyword-baseline-combined_test-ab12cd
    """
    if ctx.invoked_subcommand:
        ctx.obj = runs_dir
        return
    from harness.runstore import RunStore

    rows = RunStore(runs_dir).list_runs(task=task, model=model)
    for r in rows:
        r.pop("metrics_json", None)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("No runs yet. Start one with: harness eval --model keyword-baseline --task combined_test")
    else:
        click.echo(table(rows, ["run_id", "model", "task", "status", "n_done", "n_total", "accuracy", "f1",
                                "parse_failure_rate", "created_at"]))


@runs.command(name="show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def runs_show(runs_dir, run_id, as_json):
    """Print a run's manifest summary and metrics.

    \b
    Example:
      harness runs show runs/20261125-120000-keyword-baseline-combined_test-ab12cd
    """
    from harness.runstore import RunStore

    run = RunStore(runs_dir).open_run(run_id)
    manifest, metrics = run.manifest, run.read_metrics()
    if as_json:
        click.echo(json.dumps({"manifest": manifest, "metrics": metrics}, indent=2))
        return
    click.echo(f"run {run.id}  ({run.dir})")
    click.echo(f"model {manifest['model']} ({manifest['model_spec']}), task {manifest['task']['name']}, "
               f"parser {manifest['parser']}, policy {manifest['policy']}")
    if metrics is None:
        click.echo(f"not finished: {len(run.read_samples())}/{manifest['n_total']} samples recorded")
        return
    for key in ("n", "accuracy", "precision", "recall", "f1", "parse_failure_rate", "abstention_rate"):
        if key in metrics:
            click.echo(f"  {key:<20} {fmt(metrics[key])}")
    for name, cat in (metrics.get("per_category") or {}).items():
        click.echo(f"  category {name:<30} n {cat['n']:<5} accuracy {fmt(cat['accuracy'])}")


def build_cli():
    get_registry().add_commands(cli)
    return cli


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        build_cli().main(args=argv, prog_name="harness", standalone_mode=False, obj={"argv": argv})
    except HarnessError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)

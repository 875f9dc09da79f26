"""``harness capability``: lm-eval capability deltas of a retrained checkpoint against its parent."""

from __future__ import annotations

import json

import click

from harness.cli.options import BATCH_SIZE, SEED, model_option, runs_dir_option
from harness.config import parse_key_values


@click.command()
@click.option("--model", "model_name", required=True, help="The retrained (child) checkpoint.")
@click.option("--parent", default=None, help="The checkpoint it was trained from (default: the registry's parent).")
@click.option("--tasks", default=None,
              help="Comma-separated lm-eval generate_until tasks or task YAML paths "
                   "(default: gsm8k,arc_challenge_chat,nq_open).")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True, help="Documents per task (seeded subset).")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--batch-size", type=BATCH_SIZE, default="auto", show_default=True)
@model_option("Extra option for the model loader (both models).")
@click.option("--json", "as_json", is_flag=True, help="Print the deltas as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--trust-remote-code", is_flag=True,
              help="Let task YAMLs from outside lm-eval run their !function code, and checkpoints their own code.")
@runs_dir_option
def capability(model_name, parent, tasks, limit, seed, batch_size, model_options, as_json, quiet, trust_remote_code,
               runs_dir):
    """Run lm-eval tasks on the parent and the child; print child - parent with paired 95 % intervals.

    Datasets come from the Hugging Face hub when online; offline, from the
    datasets cache or from $HARNESS_LM_EVAL_DATA/<dataset_path>/<dataset_name>/
    (split files such as test.jsonl).  Generation follows each task's
    generation_kwargs (greedy by default), as lm_eval does.

    \b
    Examples:
      harness capability --model exp_19
      harness capability --model exp_19 --parent exp_18 --tasks gsm8k --limit 100
      harness capability --model hf:./child --parent hf:./parent --tasks ./my_task.yaml --json
    """
    from harness.analysis.capability import DEFAULT_SUITE, capability_check, render_text
    from harness.interfaces.model import GenerationSettings

    names = [t.strip() for t in tasks.split(",") if t.strip()] if tasks else list(DEFAULT_SUITE)
    options = parse_key_values(model_options, "--model-option")
    from harness.tasks.lm_eval_source import trust_task_code

    trust_task_code(trust_remote_code)
    if trust_remote_code:
        options["trust_remote_code"] = True
    settings = GenerationSettings(seed=seed, batch_size=str(batch_size))
    report = capability_check(model_name, parent, names, limit=limit, settings=settings,
                              options=options, runs_dir=runs_dir,
                              progress=not quiet, log=lambda msg: click.echo(msg, err=True))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
        return
    click.echo(render_text(report))

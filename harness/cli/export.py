"""``harness export lm-eval``: a harness task as an lm-evaluation-harness task folder."""

from __future__ import annotations

import click

from harness.cli.options import POSITIVE, SEED, data_dir_option, deprecated_spelling


@click.group()
def export():
    """Export harness tasks for other evaluation tools.

    \b
    Example:
      harness export lm-eval --task combined_test --limit 100 -o lm_eval_tasks
    """


@export.command(name="lm-eval")
@click.option("--task", "task_name", required=True, help="Harness task name or task YAML path.")
@click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder to write into (required).")
@deprecated_spelling("--out", "-o/--output", "out_dir")
@click.option("--name", default=None, help="lm-eval task name (default: the harness task's name).")
@click.option("--limit", type=POSITIVE, default=None, help="Export the harness's label-stratified subset of N samples.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of that subset (as harness eval --seed).")
@click.option("--max-new-tokens", type=POSITIVE, default=512, show_default=True, help="lm-eval max_gen_toks.")
@click.option("--template", default=None, help="Prompt template (default: the task's).")
@click.option("--parser", default=None, help="Verdict parser (default: the task's).")
@click.option("--policy", type=click.Choice(["strict", "exclude", "guardreasoner-paper"]), default=None,
              help="Parse-failure policy of the exported metrics (default: the task's).")
@data_dir_option
def export_lm_eval(task_name, out_dir, name, limit, seed, max_new_tokens, template, parser, policy, data_dir):
    """Write NAME.yaml, utils.py and NAME.jsonl so that lm_eval runs the task offline.

    The prompts, verdict parser and metrics are the harness's own (utils.py
    imports the installed harness), so lm_eval and `harness eval --temperature 0`
    give the same per-sample verdicts and metrics on the same model.

    \b
    Examples:
      harness export lm-eval --task combined_test --limit 100 -o lm_eval_tasks
      lm_eval --include_path lm_eval_tasks --tasks combined_test \\
          --model hf --model_args pretrained=unsloth/Llama-3.2-3B-Instruct,peft=ADAPTER --batch_size 1
    """
    from harness.errors import HarnessError
    from harness.tasks.lm_eval_export import export_task

    if out_dir is None:
        raise HarnessError("harness export lm-eval needs -o/--output FOLDER: the folder to write the task into")
    from harness.tasks import get_task

    result = export_task(get_task(task_name), out_dir, name=name, limit=limit, seed=seed,
                         max_new_tokens=max_new_tokens, template=template, parser=parser, policy=policy,
                         data_dir=data_dir)
    click.echo(f"Wrote {result.yaml_path}, {result.utils_path} and {result.data_path} ({result.n_docs} documents).")
    click.echo(f"Run: lm_eval --include_path {result.directory} --tasks {result.name} --model hf "
               "--model_args pretrained=MODEL --batch_size 1")

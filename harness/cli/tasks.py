"""``harness tasks`` and ``harness tasks show``: the registered tasks."""

from __future__ import annotations

import json

import click

from harness.cli.options import COUNT, data_dir_option
from harness.errors import HarnessError
from harness.render.text import table


@click.group(invoke_without_command=True)
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

    from harness.tasks import get_task
    from harness.tasks.task import task_files

    rows = []
    for name in sorted(task_files()):
        task = get_task(name)
        row = {"task": name, "target": task.target, "template": task.template, "parser": task.parser}
        try:
            samples = task.load(data_dir)
            counts = Counter(s.gold for s in samples)
            row.update(n=len(samples), labels=" / ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        except HarnessError as exc:
            row.update(n=None, labels="unavailable: " + " ".join(str(exc).split()))  # the whole reason, one line
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(table(rows, ["task", "n", "labels", "target", "template", "parser"]))


@tasks.command(name="show")
@click.argument("name")
@click.option("--index", type=COUNT, default=0, show_default=True, help="Which sample to render.")
@data_dir_option
def tasks_show(name, index, data_dir):
    """Print a task's definition and one rendered prompt.

    \b
    Example:
      harness tasks show combined_test --index 3
    """
    from harness.tasks import templates
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



"""``harness score``: score a prediction file made elsewhere, generating nothing."""

from __future__ import annotations

import json

import click

from harness.cli.evaluate import METRIC_COLUMNS, echo_warnings
from harness.plugins import get_registry
from harness.render.text import table
from harness.score.metrics import POLICIES


@click.command()
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False))
@click.option("--task", "task_name", required=True, help="Task whose labels, target and positive class apply.")
@click.option("--parser", "parser_name", default=None, help="Output parser (default: the task's).")
@click.option("--policy", type=click.Choice(POLICIES), default=None,
              help="Parse-failure policy (default: the task's, strict for every built-in task).")
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
    from harness.score.metrics import score_records
    from harness.score.prediction_files import records_from_predictions
    from harness.tasks import get_task

    task = get_task(task_name)
    parser = get_registry().get("parsers", parser_name or task.parser)
    records = records_from_predictions(predictions, task, parser)
    metrics = score_records(records, task, policy or task.policy)
    echo_warnings(task.name, metrics)
    if as_json:
        click.echo(json.dumps(metrics, indent=2))
        return
    extra = ["paper_unparsed"] if "paper_unparsed" in metrics else []
    click.echo(table([{"task": task.name, **metrics}], METRIC_COLUMNS + extra + ["policy"]))
    if "confusion_matrix" in metrics and metrics["confusion_matrix"].get("matrix"):
        cm = metrics["confusion_matrix"]
        click.echo("\nconfusion matrix (rows gold, columns predicted):")
        click.echo(table([{"gold": g, **dict(zip(cm["columns"], row))} for g, row in zip(cm["rows"], cm["matrix"])],
                         ["gold"] + cm["columns"]))



"""``harness runs`` and ``harness runs show``: the run index."""

from __future__ import annotations

import json

import click

from harness.cli.options import runs_dir_option
from harness.render.text import fmt, table
from harness.score.metrics import POLICIES


@click.group(invoke_without_command=True)
@click.option("--task", default=None, help="Only runs of this task.")
@click.option("--model", default=None, help="Only runs of this model.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@runs_dir_option
@click.pass_context
def runs(ctx, task, model, as_json, runs_dir):
    """List recorded runs from the SQLite run index.

    A run shows `running` only while its process is alive (it holds the run's
    owner lock); a killed run shows `interrupted` until it is resumed. `k` is
    the completions sampled per prompt (`harness eval --samples K`).

    \b
    Examples:
      harness runs --task wildguard
      harness runs show 20261125-120000-keyword-baseline-combined_test-ab12cd
    """
    if ctx.invoked_subcommand:
        ctx.obj = runs_dir
        return
    from harness.store.runs import RunStore

    store = RunStore(runs_dir)
    rows = store.list_runs(task=task, model=model)
    for r in rows:
        r.pop("metrics_json", None)
        r["k"] = samples_per_prompt(store.root / r["run_id"])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows and (task or model) and RunStore(runs_dir).list_runs():
        given = " ".join(f"--{k} {v}" for k, v in (("task", task), ("model", model)) if v)
        click.echo(f"No run matches {given}. `harness runs` lists every run.")
    elif not rows:
        click.echo("No runs yet. Start one with: harness eval --model keyword-baseline --task combined_test")
    else:
        click.echo(table(rows, ["run_id", "model", "task", "status", "n_done", "n_total", "k", "policy", "accuracy",
                                "f1", "parse_failure_rate", "created_at"]))


def samples_per_prompt(run_dir) -> int | None:
    """k, the completions sampled per prompt (the manifest's generation.samples; 1 unless --samples was given)."""
    from pathlib import Path

    from harness.errors import HarnessError
    from harness.records import RunManifest

    try:
        k = RunManifest.read(Path(run_dir) / "manifest.json", required=()).samples_per_prompt
    except HarnessError:
        return None  # a damaged or missing manifest: `harness runs show` says what is wrong
    return k if isinstance(k, int) and not isinstance(k, bool) else None


@runs.command(name="show")
@click.argument("run_id")
@click.option("--policy", type=click.Choice(POLICIES), default=None,
              help="Metrics under this policy (default: the run's own); `harness eval --policy` scores a run under one.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def runs_show(runs_dir, run_id, policy, as_json):
    """Print a run's manifest summary and metrics.

    \b
    Examples:
      harness runs show runs/20261125-120000-keyword-baseline-combined_test-ab12cd
      harness runs show 20261125-120000-keyword-baseline-combined_test-ab12cd --policy exclude
    """
    from harness.store.runs import RunStore

    run = RunStore(runs_dir).open_run(run_id)
    manifest, metrics = run.manifest, run.read_metrics(policy)
    if as_json:
        click.echo(json.dumps({"manifest": manifest.to_dict(), "metrics": metrics}, indent=2))
        return
    click.echo(f"run {run.id}  ({run.dir})")
    click.echo(f"model {manifest.model} ({manifest.model_spec}), task {manifest.task.name}, "
               f"parser {manifest.parser}, policy {manifest.policy}")
    row = run.store.get_row(run.id)
    if row:
        status = run.store.live_status(row)
        owner = run.owner() if status == "running" else None
        click.echo(f"status {status}" + (f" (process {owner.get('pid')} on {owner.get('host')} since "
                                         f"{owner.get('since')})" if owner else "")
                   + (": its process is gone; run the same `harness eval` command again to resume"
                      if status == "interrupted" else ""))
    scored = run.scored_policies()
    if metrics is None and scored and policy:
        click.echo(f"not scored under policy {policy} (scored under: {', '.join(scored)}); score it with the run's "
                   f"`harness eval` command plus --policy {policy}")
        return
    if metrics is None:
        click.echo(f"not finished: {len(run.read_samples())}/{manifest.n_total} samples recorded")
        return
    click.echo(f"metrics under policy {metrics.get('policy', run.policy)} (scored under: {', '.join(scored)})")
    for warning in metrics.get("warnings") or []:
        click.echo(f"warning: {warning}", err=True)
    for key in ("n", "accuracy", "precision", "recall", "f1", "parse_failure_rate", "abstention_rate"):
        if key in metrics:
            click.echo(f"  {key:<20} {fmt(metrics[key])}")
    for name, cat in (metrics.get("per_category") or {}).items():
        click.echo(f"  category {name:<30} n {cat['n']:<5} accuracy {fmt(cat['accuracy'])}")




@click.command(name="doctor")
@runs_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def doctor(runs_dir, as_json):
    """Rebuild the run index (harness.db) from the run folders; move damaged runs to quarantine.

    Use it when harness.db is lost, emptied or damaged, or a run folder's files
    are.  Nothing is deleted: the old index is kept beside the new one as
    harness.db.before-doctor-TIME, and a run folder that cannot be read moves to
    RUNS/_quarantine/ with the reason printed.

    \b
    Examples:
      harness runs doctor
      harness doctor --runs-dir runs --json
    """
    from harness.store.doctor import rebuild_index, render_report
    from harness.store.runs import RunStore

    store = RunStore(runs_dir)
    if not store.root.is_dir():
        from harness.errors import HarnessError

        raise HarnessError(f"--runs-dir {store.root}: no such folder (nothing to rebuild)")
    report = rebuild_index(store)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else render_report(report, store.root))


runs.add_command(doctor)

"""``harness judge-check JUDGE --on RUN|TASK``: catch rates of a judge on degraded real traces."""

from pathlib import Path

import click


def _items(on: str, model: str | None, n: int | None, runs_dir, quiet: bool):
    """The first completion of every sample of a run, or of a task replayed with ``--model``."""
    import random

    from harness.errors import HarnessError
    from harness.judge.runner import judge_inputs
    from harness.store.runs import RunStore

    path = Path(on)
    is_run = (path / "manifest.json").exists()
    if not is_run and model is None:
        try:
            run = RunStore(runs_dir).open_run(on)
            is_run = True
        except HarnessError:
            raise HarnessError(f"--on {on}: not a run (id or folder); to check on a task's samples, give the "
                               "model that answers them, e.g. --model replay:PREDICTIONS.jsonl") from None
    if is_run:
        if model is not None:
            raise HarnessError(f"--on {on} is a run: it already has completions, so --model is not used there")
        run = RunStore(runs_dir).open_run_ref(on)
        records = run.read_samples()
        if n is not None and n < len(records):
            records = sorted(random.Random(0).sample(records, n), key=lambda r: r.id)
        return [i for r in records for i in judge_inputs(r, first_only=True)], f"run {run.id}"
    from harness.evaluate.runner import EvalRequest, evaluate
    from harness.tasks import get_task

    request = EvalRequest(model, [get_task(on)], limit=n, progress=not quiet, runs_dir=runs_dir)
    [result] = evaluate(request, log=lambda msg: None if quiet else click.echo(msg, err=True))
    records = result.run.read_samples()
    return ([i for r in records for i in judge_inputs(r, first_only=True)],
            f"task {on} answered by {model} (run {result.run.id})")


@click.command(name="judge-check")
@click.argument("judge_spec", metavar="JUDGE")
@click.option("--on", "on", required=True, metavar="RUN|TASK",
              help="A run (id or folder) whose completions to degrade, or a task (with --model).")
@click.option("--model", default=None, help="With a task: the model whose completions to use, e.g. replay:FILE.")
@click.option("--n", "n", type=click.IntRange(min=1), default=None, help="At most N samples (a fixed random subset).")
@click.option("--judge-option", "judge_options", multiple=True, metavar="JUDGE.KEY=VALUE",
              help="Option for the judge, e.g. heuristic.weights=seed.")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs); the report is saved in "
                   "its judge_checks/ folder, where `harness judge --card` reads it.")
@click.option("--attacks/--no-attacks", "attacks", default=True, show_default=True,
              help="Also run the gaming attacks (cheaper rewrites that must not score higher) and the "
                   "k-candidate simulation through the pair strategies: a second table.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (gaming under \"gaming\").")
@click.option("--quiet", is_flag=True, help="No progress messages.")
def judge_check(judge_spec, on, model, n, judge_options, runs_dir, attacks, as_json, quiet):
    """How often a judge scores a real trace above a degraded copy of it.

    Each trace is degraded in one controlled way (another sample's reasoning,
    boilerplate steps, a repeated first step, reversed steps, only the first
    step, reasoning that argues the opposite of its verdict, a cut mid-sentence,
    irrelevant padding, harm-keyword stuffing, hedges everywhere), its verdict
    untouched.  Per degradation: the share of samples whose original scores
    strictly better than the degraded copy (ties fail), for every criterion and
    the composite, with a Wilson 95% interval; "own" is the criterion meant to
    catch that degradation.

    Then (unless --no-attacks) the gaming attacks: cheaper rewrites a
    reward-maximising policy could find (the content quoted or copied as
    steps, templates, filler, only a conclusion, the verdict restated, hedging
    both ways, the nearest other sample's reasoning, false claims in the
    content's words, reasons of another harm), the verdict kept.  Per attack:
    tie-or-win (the copy scores >= the original: a reward must score it
    strictly lower), would-be-chosen (it beats the original by the pairs
    min_margin) and the mean change; then the original and its copies as k
    samples of one prompt through every pair strategy, with the variant each
    picks as chosen and rejected.  The record is saved per judge identity
    (name@version#options-hash).

    \b
    Examples:
      harness judge-check heuristic:lexical --on RUN_ID
      harness judge-check heuristic:lexical --on RUN_ID --no-attacks
      harness judge-check heuristic --on gr_aegis_safety_test --n 300 \\
          --model replay:$HARNESS_DATA_DIR/guardreasoner/predictions/1B/AegisSafetyTest/generated_predictions.jsonl
      harness judge-check heuristic:lexical --on exp18_hard_samples \\
          --model replay:$HARNESS_DATA_DIR/wizard101/exp18/hard_samples_exp18.json --judge-option heuristic.weights=seed
    """
    import json

    from harness.judge.gaming import check_gaming, render_gaming
    from harness.judge.runner import check_judge_specs, parse_judge_options
    from harness.render.judge_check import render_validation
    from harness.judge.validation import _judge_all, save_report, usable_items, validate
    from harness.records import JudgeIdentity

    options = parse_judge_options(judge_options)
    [spec] = check_judge_specs([judge_spec], options)  # a bad judge fails before any model runs
    items, source = _items(on, model, n, runs_dir, quiet)
    judge = spec.create()
    try:
        identity = JudgeIdentity(judge.name, judge.version, spec.args_hash)
        originals = _judge_all(judge, usable_items(items), 64)
        report = validate(judge, identity.key, items, source, originals=originals)
        if attacks:
            gaming = check_gaming(judge, identity.key, items, source, originals=originals)
            gaming.judge = spec.spec
            report.gaming = gaming.to_dict()
    finally:
        close = getattr(judge, "close", None)
        if close:
            close()
    report.judge = spec.spec
    path = save_report(report, runs_dir, spec.args_hash, identity)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_validation(report))
        if report.gaming:
            click.echo("\n" + render_gaming(report.gaming_report()))
    click.echo(f"saved to {path}", err=True)

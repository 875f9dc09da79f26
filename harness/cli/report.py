"""``harness leaderboard``, ``harness compare`` and ``harness report`` (issue 6).

Registered through the ``register_commands`` hook; the work is done in
:mod:`harness.analysis.leaderboard`, :mod:`harness.analysis.compare`, :mod:`harness.analysis.criteria`
and :mod:`harness.render.report`, imported inside the commands so the CLI starts fast.
"""

import json
import sys

import click

from harness.cli.options import COUNT, SEED
from harness.score.metrics import POLICIES

FORMATS = ("text", "markdown", "csv", "json", "html")


def runs_dir_option(f):
    return click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
                        help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs).")(f)


def split_names(value):
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


def write_output(text: str, output: str | None, what: str, runs_dir=None):
    if output:
        from harness.store.outputs import write_text

        write_text(output, text, "--output", runs_dir=runs_dir)
        click.echo(f"Wrote {what} to {output}", err=True)
    else:
        click.echo(text)


@click.command()
@click.option("--task", "tasks", default=None, help="Only these tasks (comma-separated), in this column order.")
@click.option("--model", "models", default=None, help="Only these models (comma-separated).")
@click.option("--metric", default="accuracy", show_default=True,
              help="Metric shown and sorted by: accuracy, f1, precision, recall, parse_failure_rate, "
                   "or a judge score JUDGE.CRITERION such as heuristic.reward.")
@click.option("--select", "selection", type=click.Choice(["latest", "best"]), default="latest", show_default=True,
              help="Which complete run per model and task: the latest, or the best by --metric.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="Terminal table, Markdown, CSV (every metric, one row per model and task), JSON or HTML.")
@click.option("--policy", type=click.Choice(POLICIES), default=None,
              help="Metrics under this parse-failure policy (default: each run's own); score runs under it first "
                   "with `harness eval ... --policy`.")
@click.option("--include-subsets", is_flag=True,
              help="Also show runs made with --limit N, each in its own column TASK[limit=N] (never mixed into "
                   "the full task's column).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to this file.")
@runs_dir_option
def leaderboard(tasks, models, metric, selection, policy, include_subsets, fmt, output, runs_dir):
    """Rank checkpoints across tasks from the run index.

    One row per model, one column per task (the chosen metric, in percent),
    plus an average weighted by each task's samples.  Only complete runs of the
    whole task count; subset runs (--limit) are shown only with --include-subsets.

    \b
    Examples:
      harness leaderboard
      harness leaderboard --task gr_aegis_safety_test,gr_harmbench_prompt --metric f1
      harness leaderboard --policy guardreasoner-paper --metric f1
      harness leaderboard --task combined_test --include-subsets
      harness leaderboard --metric heuristic.reward --select best --format markdown -o LEADERBOARD.md
    """
    from harness.analysis.leaderboard import RENDERERS, build_leaderboard
    from harness.store.outputs import check_output
    from harness.store.runs import RunStore

    if output:
        check_output(output, "--output", runs_dir=runs_dir)  # before the work
    board = build_leaderboard(RunStore(runs_dir), split_names(tasks), metric, selection, split_names(models),
                              policy=policy, include_subsets=include_subsets)
    write_output(RENDERERS[fmt](board), output, "the leaderboard", runs_dir)


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--criteria", "criteria_file", default=None,
              help="Success criteria YAML (a path, or a shipped name: toy_dpo, full_dpo); exit code 3 if one fails.")
@click.option("--partial", is_flag=True, help="Compare the completed samples of an unfinished run.")
@click.option("--flips", "flips_shown", type=COUNT, default=5, show_default=True,
              help="Flipped samples to print each way (all are in --json).")
@click.option("--no-reasoning", is_flag=True, help="Skip the reasoning-change analysis.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Bootstrap seed (results are deterministic).")
@click.option("--capability", "capability_file", type=click.Path(dir_okay=False), default=None,
              help="Show these lm-eval capability deltas (`harness capability --json`) beside the safety metrics.")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@click.option("--allow-self-certified", is_flag=True,
              help="Let a criterion be decided by the judge that built B's training pairs (its lineage's "
                   "pair_judges); the verdict is then marked self-certified. Refused without it.")
@runs_dir_option
def compare(run_a, run_b, criteria_file, partial, flips_shown, no_reasoning, seed, capability_file, as_json,
            allow_self_certified, runs_dir):
    """Compare two runs of one task on the samples both recorded.

    RUN_A is the baseline, RUN_B the candidate (ids from `harness runs`, or run
    folders).  Prints B - A for accuracy, F1 and each judge score with paired
    bootstrap 95% intervals, McNemar's exact test, the samples that flipped
    either way with both reasonings, how the reasoning changed, and signs of
    reward hacking (copy rate, length, distinct-1/2, the training judge set
    against the others; ! = interval excludes 0 in the hacking direction).

    \b
    Examples:
      harness compare 20261125-120238-exp_18-... 20261125-130000-exp_19-...
      harness compare RUN_A RUN_B --criteria toy_dpo
      harness compare RUN_A RUN_B --criteria toy_dpo --allow-self-certified
      harness compare RUN_A RUN_B --partial --json > comparison.json
      harness compare RUN_A RUN_B --capability capability.json
    """
    from harness.analysis.compare import compare_runs, render_text
    from harness.store.runs import RunStore

    criteria = None
    if criteria_file:
        from harness.analysis.criteria import load_criteria

        criteria = load_criteria(criteria_file)  # read before the work so a bad file fails fast
    capability = None
    if capability_file:
        from harness.analysis.capability import read_capability

        capability = read_capability(capability_file)
    result = compare_runs(RunStore(runs_dir), run_a, run_b, partial=partial, seed=seed, reasoning=not no_reasoning)
    if capability:
        from harness.analysis.capability import check_sides

        check_sides(capability, result["a"]["model"], result["b"]["model"], capability_file)
        result["capability"] = capability.to_dict()
    verdicts = []
    if criteria:
        from harness.analysis.criteria import evaluate

        from harness.analysis.self_certification import certify

        verdicts = certify(evaluate(criteria[1], result), result, allow_self_certified)
    if as_json:
        if criteria:
            result["criteria"] = {"name": criteria[0], "verdicts": [v.to_dict() for v in verdicts],
                                  "self_certified": any(v.self_certified for v in verdicts)}
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        click.echo(render_text(result, flips_shown))
        if capability:
            from harness.analysis.capability import render_text as render_capability

            click.echo("\ncapability (lm-eval), " + render_capability(capability))
        if criteria:
            from harness.analysis.criteria import render_text as render_criteria

            click.echo("\n" + render_criteria(criteria[0], verdicts))
    if any(v.status == "fail" for v in verdicts):
        sys.exit(3)


@click.command()
@click.argument("runs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True, help="The HTML file to write.")
@click.option("--criteria", "criteria_file", default=None,
              help="Success criteria YAML (path or shipped name) applied to each comparison.")
@click.option("--partial", is_flag=True, help="Include the completed samples of unfinished runs in comparisons.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Bootstrap seed.")
@click.option("--study", "studies", multiple=True, help="Add this blind human A/B study's results (repeatable).")
@click.option("--capability", "capability_files", multiple=True, type=click.Path(dir_okay=False),
              help="Add lm-eval capability deltas (`harness capability --json` output; repeatable).")
@click.option("--allow-self-certified", is_flag=True,
              help="Let a criterion be decided by the judge that built a run's training pairs; marked self-certified.")
@runs_dir_option
def report(runs, output, criteria_file, partial, seed, studies, capability_files, allow_self_certified, runs_dir):
    """Write one self-contained HTML report for RUNS.

    Leaderboard of the runs, each run's confusion matrix, per-category accuracy
    and score distributions, the training monitor's curve when a run's
    checkpoint has a monitor.jsonl, and a paired comparison (with signs of
    reward hacking) of every run with the first given run of the same task.
    Opens offline; runs no scripts.

    \b
    Example:
      harness report RUN_SFT RUN_DPO -o report.html --criteria toy_dpo
      harness report RUN_SFT RUN_DPO -o report.html --study study-20261126-101500-ab12
    """
    from harness.render.report import build_report
    from harness.store.outputs import check_output, write_text
    from harness.store.runs import RunStore

    inputs = [*capability_files, *([criteria_file] if criteria_file else []), *runs]
    check_output(output, "--output", inputs, runs_dir)  # before the work
    text = build_report(RunStore(runs_dir), list(runs), partial=partial, criteria_path=criteria_file, seed=seed,
                        studies=studies, capability=capability_files, allow_self_certified=allow_self_certified)
    write_text(output, text, "--output", inputs, runs_dir)
    click.echo(f"Wrote {output} ({len(text) // 1024} KiB)", err=True)


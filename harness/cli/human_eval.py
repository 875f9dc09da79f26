"""``harness human-eval create|serve|results``: a blind human A/B preference study (issue 13).

Thin: the work is in :mod:`harness.human_eval`, imported inside the commands so the CLI starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.options import POSITIVE, SEED, runs_dir_option
from harness.errors import HarnessError


@click.group(name="human-eval")
def human_eval():
    """Blind human A/B preference studies of two or more runs' reasoning.

    \b
    Example (end to end):
      harness human-eval create --a RUN_SFT --b RUN_DPO --n 50 --stratify-by correct
      harness human-eval serve STUDY          # open the printed URL, one name per rater
      harness human-eval results STUDY --csv answers.csv
    """


@human_eval.command()
@click.option("--a", "run_a", default=None, help="Baseline run id (shown blind, left or right at random).")
@click.option("--b", "run_b", default=None, help="Candidate run id; win rates are the candidate's.")
@click.option("--runs", "runs_list", default=None,
              help="Two or more run ids, comma-separated, instead of --a/--b; pairs are balanced for a ranking.")
@click.option("--n", "n", type=POSITIVE, required=True, help="Number of items (samples the runs share) to draw.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the draw and of left/right.")
@click.option("--stratify-by", type=click.Choice(["correct", "category"]), default=None,
              help="Draw proportionally from each correctness pattern (right/wrong per run) or sample category.")
@click.option("--id", "study_id", default=None, help="Study id (default: study-<time>-<random>).")
@runs_dir_option
def create(run_a, run_b, runs_list, n, seed, stratify_by, study_id, runs_dir):
    """Draw N samples the runs share into a new blind study.

    \b
    Examples:
      harness human-eval create --a RUN_SFT --b RUN_DPO --n 50 --seed 1 --stratify-by correct
      harness human-eval create --runs RUN_1,RUN_2,RUN_3 --n 60 --id ranking-1
    """
    from harness.human_eval.study import create_study

    if runs_list and (run_a or run_b):
        raise HarnessError("give either --a/--b or --runs, not both")
    if runs_list:
        refs = [r.strip() for r in runs_list.split(",") if r.strip()]
    elif run_a and run_b:
        refs = [run_a, run_b]
    else:
        raise HarnessError("name the runs: --a RUN_A --b RUN_B, or --runs A,B,C (ids from `harness runs`)")
    study = create_study(refs, n, seed=seed, stratify_by=stratify_by, runs_dir=runs_dir, study_id=study_id)
    click.echo(f"Created study {study.study_id}: {len(study.items)} items of runs {', '.join(study.runs)} "
               f"in {study.path}")
    click.echo(f"Next: harness human-eval serve {study.study_id}")


@human_eval.command()
@click.argument("study_id", metavar="STUDY")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires the access token printed in the URL.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@runs_dir_option
def serve(study_id, host, port, runs_dir):
    """Serve the rating page of STUDY until Ctrl-C.

    Raters open the printed URL and enter their name; answers are saved on
    each submit, and a rater who comes back resumes at the first item not yet
    answered.

    \b
    Examples:
      harness human-eval serve study-20261126-101500-ab12
      harness human-eval serve study-20261126-101500-ab12 --host 0.0.0.0 --port 9000
    """
    from harness.human_eval.app import serve as run_server
    from harness.human_eval.app import study_url
    from harness.human_eval.study import open_study

    study = open_study(study_id, runs_dir)
    click.echo(f"Serving study {study.study_id} ({len(study.items)} items) at {study_url(study, host, port)}")
    run_server(study, host, port)


@human_eval.command()
@click.argument("study_id", metavar="STUDY")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every answer (sides unblinded) to this CSV file.")
@click.option("--jsonl", "jsonl_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every answer to this JSONL file.")
@click.option("--judge", "judge_spec", default=None,
              help="Judge the items now with this judge (pairwise where it can) and report its agreement "
                   "with the raters; default: the runs' stored judgments and stored pairwise judgments, if any.")
@click.option("--pairwise-judge", "pairwise_judge", default=None, metavar="NAME",
              help="Only the stored pairwise judging (`harness judge --pairwise`) of the study's runs by NAME "
                   "(a judge name, identity key or label); an error if there is none or several.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Bootstrap seed (Bradley-Terry intervals).")
@runs_dir_option
def results(study_id, as_json, csv_path, jsonl_path, judge_spec, pairwise_judge, seed, runs_dir):
    """Win rates, rater agreement, rankings and the seed's criteria for STUDY.

    \b
    Examples:
      harness human-eval results study-20261126-101500-ab12
      harness human-eval results STUDY --json --csv answers.csv --jsonl answers.jsonl
      harness human-eval results STUDY --judge llm-judge:exp_18
      harness human-eval results STUDY --pairwise-judge heuristic
    """
    from harness.human_eval import stats
    from harness.human_eval.judges import (
        live_judge_picks,
        stored_judge_picks,
        stored_pairwise_picks,
    )
    from harness.human_eval.study import open_study

    if judge_spec and pairwise_judge:
        raise HarnessError("--judge judges the items now and --pairwise-judge reads a stored pairwise judging: "
                           "give one of them")
    from harness.store.outputs import check_output, write_text

    for option, path in (("--csv", csv_path), ("--jsonl", jsonl_path)):
        if path:
            check_output(path, option, runs_dir=runs_dir)  # before the work
    if csv_path and jsonl_path and Path(csv_path).resolve() == Path(jsonl_path).resolve():
        raise HarnessError(f"--csv and --jsonl are the same file ({csv_path}); give two paths")
    study = open_study(study_id, runs_dir)
    pairwise = []
    if judge_spec:
        judges, notes = {judge_spec: live_judge_picks(study, judge_spec, runs_dir=runs_dir)}, []
    elif pairwise_judge:
        judges, (pairwise, notes) = {}, stored_pairwise_picks(study, runs_dir, select=pairwise_judge)
    else:
        judges, notes = stored_judge_picks(study, runs_dir)
        pairwise, pairwise_notes = stored_pairwise_picks(study, runs_dir)
        notes += pairwise_notes
    res = stats.results(study, judges, seed=seed, pairwise=pairwise)
    res["notes"] = notes
    rows = None
    for option, path, writer in (("--csv", csv_path, stats.to_csv), ("--jsonl", jsonl_path, stats.to_jsonl)):
        if path:
            rows = rows if rows is not None else stats.export_rows(study)
            write_text(path, writer(rows), option, runs_dir=runs_dir)
            click.echo(f"Wrote {len(rows)} answers to {path}", err=True)
    click.echo(json.dumps(res, indent=2, ensure_ascii=False) if as_json else stats.render_text(res))

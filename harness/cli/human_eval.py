"""``harness human-eval plan|create|invite|serve|results|export-pairs``: a blind human A/B preference study.

Thin: the work is in :mod:`harness.human_eval`, imported inside the commands so the CLI starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.cli.options import COUNT, POSITIVE, PROBABILITY, SEED, Number, runs_dir_option
from harness.errors import HarnessError


@click.group(name="human-eval")
def human_eval():
    """Blind human A/B preference studies of two or more runs' reasoning.

    \b
    Example (end to end):
      harness human-eval plan --share 0.7 --threshold 0.6 --tie-rate 0.2
      harness human-eval create --a RUN_SFT --b RUN_DPO --n 220 --gold 10 --attention 5 --stratify-by correct
      harness human-eval serve STUDY          # open the printed URL; each rater starts their own session
      harness human-eval results STUDY --csv answers.csv
      harness human-eval export-pairs STUDY -o pairs/human.jsonl
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
@click.option("--gold", type=COUNT, default=0, show_default=True,
              help="Gold items to mix in: a run's reasoning for the content against its reasoning for another "
                   "content; raters should pick the matching one on specificity and ship.")
@click.option("--attention", type=COUNT, default=0, show_default=True,
              help="Attention-check items to mix in: both sides ask for one answer to every question.")
@runs_dir_option
def create(run_a, run_b, runs_list, n, seed, stratify_by, study_id, gold, attention, runs_dir):
    """Draw N samples the runs share into a new blind study.

    Gold and attention items measure each rater (reported by `results`, and
    raters who fail them are flagged and left out); they never count as
    evidence about the runs.

    \b
    Examples:
      harness human-eval create --a RUN_SFT --b RUN_DPO --n 50 --seed 1 --stratify-by correct
      harness human-eval create --a RUN_SFT --b RUN_DPO --n 200 --gold 10 --attention 5
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
    study = create_study(refs, n, seed=seed, stratify_by=stratify_by, runs_dir=runs_dir, study_id=study_id,
                         gold=gold, attention=attention)
    checks = f" and {len(study.checks)} check items (gold {gold}, attention {attention})" if study.checks else ""
    click.echo(f"Created study {study.study_id}: {len(study.items)} items{checks} of runs {', '.join(study.runs)} "
               f"in {study.path}")
    click.echo(f"Next: harness human-eval serve {study.study_id}")


@human_eval.command()
@click.argument("study_id", metavar="STUDY")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; anything but loopback requires the access token printed in the URL.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A host name raters may use in the URL (repeatable); IP addresses and localhost always work, "
                   "other names are refused (a guard against DNS rebinding).")
@runs_dir_option
def serve(study_id, host, port, allowed_hosts, runs_dir):
    """Serve the rating page of STUDY until Ctrl-C.

    Each rater opens the printed URL and starts a session with their name (any
    script: "José" works), or opens a personal link from `invite`. Answers are
    saved on each submit; a rater can review and change them (the history is
    kept), and a page left open in a second tab cannot overwrite newer answers.

    \b
    Examples:
      harness human-eval serve study-20261126-101500-ab12
      harness human-eval serve study-20261126-101500-ab12 --host 0.0.0.0 --port 9000 --allowed-host rating.lab.example
    """
    from harness.human_eval.app import serve as run_server
    from harness.human_eval.app import study_url
    from harness.human_eval.study import open_study

    study = open_study(study_id, runs_dir)
    checks = f" + {len(study.checks)} checks" if study.checks else ""
    click.echo(f"Serving study {study.study_id} ({len(study.items)} items{checks}) at {study_url(study, host, port)}")
    run_server(study, host, port, allowed_hosts=tuple(allowed_hosts))


@human_eval.command()
@click.argument("study_id", metavar="STUDY")
@click.option("--name", "names", multiple=True, required=True,
              help="The rater's display name (repeatable: one personal link each).")
@click.option("--host", default="127.0.0.1", show_default=True, help="The address `serve` will bind (for the URL).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="The port `serve` uses.")
@runs_dir_option
def invite(study_id, names, host, port, runs_dir):
    """Create a rater session per --name and print each one's personal link.

    Send each rater their own link: it is the only key to their session (the
    study stores a hash of it), so nobody can answer as somebody else.

    \b
    Examples:
      harness human-eval invite STUDY --name "José" --name Ann
      harness human-eval invite STUDY --name Ann --host 0.0.0.0 --port 9000
    """
    from harness.human_eval.app import study_url
    from harness.human_eval.raters import new_session
    from harness.human_eval.study import open_study

    study = open_study(study_id, runs_dir)
    for name in names:
        session, secret = new_session(study, name)
        click.echo(f"{session.name} [{session.rater}]: {study_url(study, host, port, f'/r/{secret}')}")


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
@click.option("--keep-flagged", is_flag=True,
              help="Count the raters the gold/attention checks flag (default: leave them out of every figure).")
@click.option("--history", "history_path", type=click.Path(dir_okay=False), default=None,
              help="Also write every submit ever made (changed answers included) to this JSONL file.")
@runs_dir_option
def results(study_id, as_json, csv_path, jsonl_path, judge_spec, pairwise_judge, seed, keep_flagged, history_path,
            runs_dir):
    """Win rates, rater agreement, rater quality, rankings and the seed's criteria for STUDY.

    A criterion passes only when its interval shows it: PASS when the Wilson
    95% interval of the candidate's share (ties excluded) lies at or above the
    threshold and the exact one-sided binomial test of share <= 50% rejects at
    alpha 0.05; FAIL when the interval lies below; otherwise NOT SHOWN, with the
    items a study would need (80% power at the observed share; `plan`).
    Agreement: Krippendorff's alpha (nominal) beside Cohen's/Fleiss' kappa.

    \b
    Examples:
      harness human-eval results study-20261126-101500-ab12
      harness human-eval results STUDY --json --csv answers.csv --jsonl answers.jsonl
      harness human-eval results STUDY --judge llm-judge:exp_18
      harness human-eval results STUDY --pairwise-judge heuristic
      harness human-eval results STUDY --keep-flagged --history history.jsonl
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

    given = [(o, p) for o, p in (("--csv", csv_path), ("--jsonl", jsonl_path), ("--history", history_path)) if p]
    for option, path in given:
        check_output(path, option, runs_dir=runs_dir)  # before the work
    for i, (option, path) in enumerate(given):
        for other, other_path in given[i + 1:]:
            if Path(path).resolve() == Path(other_path).resolve():
                raise HarnessError(f"{option} and {other} are the same file ({path}); give different paths")
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
    res = stats.results(study, judges, seed=seed, pairwise=pairwise, keep_flagged=keep_flagged)
    res["notes"] = notes
    if history_path:
        from harness.human_eval.answers import history

        submits = history(study)
        write_text(history_path, stats.to_jsonl(submits), "--history", runs_dir=runs_dir)
        click.echo(f"Wrote {len(submits)} submits to {history_path}", err=True)
    rows = None
    for option, path, writer in (("--csv", csv_path, stats.to_csv), ("--jsonl", jsonl_path, stats.to_jsonl)):
        if path:
            rows = rows if rows is not None else stats.export_rows(study)
            write_text(path, writer(rows), option, runs_dir=runs_dir)
            click.echo(f"Wrote {len(rows)} answers to {path}", err=True)
    click.echo(json.dumps(res, indent=2, ensure_ascii=False) if as_json else stats.render_text(res))


@human_eval.command()
@click.option("--share", "shares", type=Number(float, min=0, max=1), multiple=True,
              help="A true preference share for the candidate to plan for (repeatable; default 0.65 0.7 0.75 0.8).")
@click.option("--threshold", type=PROBABILITY, default=0.6, show_default=True,
              help="The criterion's threshold (the seed's: 0.6 toy DPO run, 0.65 full DPO run).")
@click.option("--power", type=Number(float, min=0.5, max=0.999), default=0.8, show_default=True,
              help="Wanted probability that the rule passes when the share is true.")
@click.option("--alpha", type=Number(float, min=0.001, max=0.5), default=0.05, show_default=True,
              help="Significance level of the rule (its interval is the two-sided 1 - alpha Wilson interval).")
@click.option("--tie-rate", type=Number(float, min=0, max=0.95), default=0.0, show_default=True,
              help="Expected share of items whose majority is a tie (they do not count; more items are drawn).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan(shares, threshold, power, alpha, tie_rate, as_json):
    """How many items a study needs for the criteria rule to pass, per true preference share.

    Exact: the smallest number of decided items at which P(the rule passes)
    reaches --power when the candidate's true share is --share (binomial; the
    rule of `results --help`). Beside it, statsmodels' normal approximation
    (Cohen's h, one-sample NormalIndPower at one-sided alpha/2). Items are
    counted, not answers: several raters on one item give one majority.

    \b
    Examples:
      harness human-eval plan --share 0.7 --threshold 0.6
      harness human-eval plan --share 0.7 --share 0.8 --threshold 0.65 --power 0.9 --tie-rate 0.2 --json
    """
    from dataclasses import asdict

    from harness.human_eval.criteria import plan as make_plan

    rows = make_plan(list(shares) or [0.65, 0.7, 0.75, 0.8], threshold, power, alpha, tie_rate)
    if as_json:
        click.echo(json.dumps({"threshold": threshold, "power": power, "alpha": alpha, "tie_rate": tie_rate,
                               "rows": [asdict(r) for r in rows]}, indent=2))
        return
    click.echo(f"Items for {100 * power:.0f}% power to show share >= {100 * threshold:.0f}% (alpha {alpha}, "
               f"tie rate {100 * tie_rate:.0f}%):")
    for r in rows:
        if r.decided is None:
            click.echo(f"  true share {100 * r.share:.0f}%: cannot be shown (the share must exceed the threshold "
                       "and 50%), or more than 20000 items")
            continue
        click.echo(f"  true share {100 * r.share:.0f}%: {r.items} items ({r.decided} decided; exact power "
                   f"{100 * r.power_at:.1f}%); normal approximation {r.normal_decided:.1f} decided items")


@human_eval.command(name="export-pairs")
@click.argument("study_id", metavar="STUDY")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Pairs JSONL to write (stats go beside it as NAME.stats.json), the format of `harness pairs`.")
@click.option("--question", default="ship", show_default=True,
              help="Which question's majority decides chosen/rejected (coherence, specificity, helpfulness, ship).")
@click.option("--min-margin", type=POSITIVE, default=1, show_default=True,
              help="Votes by which the majority must lead (1: any majority; ties are always left out).")
@click.option("--prompt-from", default=None, metavar="RUN",
              help="The run whose rendered prompt the pairs carry when the two runs rendered it differently.")
@click.option("--keep-flagged", is_flag=True, help="Count raters the gold/attention checks flag.")
@runs_dir_option
def export_pairs(study_id, output, question, min_margin, prompt_from, keep_flagged, runs_dir):
    """Turn the raters' preferences in STUDY into DPO pairs that `harness train` takes.

    Each item whose majority (on --question) is not a tie gives one pair: the
    preferred run's completion as chosen, the other's as rejected, the prompt
    as the runs rendered it; check items and flagged raters are left out.

    \b
    Examples:
      harness human-eval export-pairs STUDY -o pairs/human.jsonl
      harness train --method dpo --parent exp_18 --data pairs/human.jsonl --output exp_19h --config configs/exp_19.yaml
    """
    from harness.human_eval.export_pairs import human_pairs
    from harness.human_eval.study import open_study
    from harness.train.pairs import check_pairs_output, write_pairs

    check_pairs_output(Path(output), option="--output")
    study = open_study(study_id, runs_dir)
    pairs, pair_stats = human_pairs(study, question, min_margin, keep_flagged, prompt_from, runs_dir)
    if not pairs:
        raise HarnessError(f"study {study.study_id}: no item has a decided majority on '{question}' "
                           f"(skipped: {pair_stats['skipped'] or 'no answers yet'}); nothing written")
    stats_path = write_pairs(pairs, pair_stats, Path(output), option="--output")
    skipped = ", ".join(f"{k} {v}" for k, v in pair_stats["skipped"].items()) or "none"
    click.echo(f"Wrote {len(pairs)} pair{'s' if len(pairs) != 1 else ''} to {output} (stats {stats_path}); "
               f"skipped: {skipped}")
    click.echo(f"Next: harness train --method dpo --parent PARENT --data {output} --output NAME")

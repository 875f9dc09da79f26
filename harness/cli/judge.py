"""``harness judge RUN --judge heuristic[,llm-judge:MODEL]``: score a recorded run's reasoning; ``--pairwise A B``."""

import click

from harness.cli.options import FINITE


@click.command(name="judge")
@click.argument("run_ref", metavar="RUN", required=False)
@click.option("--judge", "judges", default=None,
              help="Judge spec(s), comma-separated: heuristic, heuristic:lexical, llm-judge:MODEL, or a plugin's.")
@click.option("--card", "card", default=None, metavar="SPEC",
              help="Print a judge's card (criteria, directions, composite, version, and the judge-check "
                   "degradation and gaming tables of that spec's identity: heuristic:lexical, with any "
                   "--judge-option) instead of judging.")
@click.option("--pairwise", "pairwise", nargs=2, default=None, metavar="RUN_A RUN_B",
              help="Judge RUN_A vs RUN_B per shared sample (first completion) in both orders; report the "
                   "position-flip rate, ties and A's win rate (Wilson 95% interval). Takes exactly one --judge.")
@click.option("--margin", type=FINITE, default=0.0, show_default=True,
              help="With --pairwise and a score judge (e.g. heuristic): composite difference at or below which "
                   "the pair is a tie.")
@click.option("--judge-option", "judge_options", multiple=True, metavar="JUDGE.KEY=VALUE",
              help="Option for one judge, e.g. heuristic.embeddings=false or heuristic.weights=my.yaml.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the judgment cache.")
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None,
              help="Where runs are stored (default $HARNESS_RUNS_DIR, else ./runs).")
@click.option("--json", "as_json", is_flag=True, help="Print the judges' metrics as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def judge(run_ref, judges, card, pairwise, margin, judge_options, no_cache, runs_dir, as_json, quiet):
    """Score the reasoning of every completion in a recorded run.

    RUN is a run id (see `harness runs`) or a run folder.  Scores go to
    judgments.jsonl beside samples.jsonl and to the run index; the run's
    metrics.json gains a "judges" section (mean score per criterion with a
    95% bootstrap interval) under the judge's identity: name@version#hash of
    its argument and options.  Interrupted judging resumes when rerun; judging
    with other options is a new identity, judged afresh.

    \b
    Examples:
      harness judge runs/exp_18-combined_test-ab12cd --judge heuristic
      harness judge RUN_ID --judge heuristic,llm-judge:exp_18
      harness judge RUN_ID --judge heuristic --judge-option heuristic.embeddings=false
      harness judge --card heuristic
      harness judge --card heuristic:lexical --judge-option heuristic.weights=seed
      harness judge --pairwise RUN_A RUN_B --judge llm-judge:exp_18
      harness judge --pairwise RUN_A RUN_B --judge heuristic --margin 0.05
    """
    import json

    from harness.errors import HarnessError

    if pairwise:
        if run_ref or card is not None:
            raise HarnessError("--pairwise RUN_A RUN_B names the two runs itself; it takes no RUN and no --card")
        click.echo(judge_pairwise(pairwise, judges, margin, judge_options, runs_dir, as_json))
        return
    if card is not None:
        if run_ref or judges:
            raise HarnessError("--card NAME prints a judge's card; it takes no RUN and no --judge")
        click.echo(json.dumps(judge_card(card, runs_dir, judge_options), indent=2) if as_json
                   else render_card(card, runs_dir, judge_options))
        return
    if not run_ref or not judges:
        raise HarnessError("harness judge needs a RUN and --judge (or --card NAME); e.g. "
                           "harness judge RUN_ID --judge heuristic")

    from harness.judge.runner import check_judge_specs, judge_run, parse_judge_options
    from harness.render.text import table
    from harness.store.runs import RunStore

    specs = [s.strip() for s in judges.split(",") if s.strip()]
    options = parse_judge_options(judge_options)
    check_judge_specs(specs, options)
    run = RunStore(runs_dir).open_run_ref(run_ref)
    metrics = judge_run(run, specs, cache=not no_cache, progress=not quiet, options=options)
    judged = metrics["judges"]
    if as_json:
        click.echo(json.dumps({"run_id": run.id, "judges": judged}, indent=2))
        return
    rows = []
    for name, summary in judged.items():
        for criterion, s in summary["criteria"].items():
            rows.append({"judge": summary["identity"], "criterion": criterion, "mean": s["mean"],
                         "95% CI": f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}]", "n": s["n"]})
        if summary["n_failed"]:
            click.echo(f"{name}: {summary['n_failed']} of {summary['n_completions']} completions could not "
                       f"be judged (see 'error' in {run.dir / 'judgments.jsonl'})", err=True)
    click.echo(table(rows, ["judge", "criterion", "mean", "95% CI", "n"]))


def judge_pairwise(refs, judges, margin, judge_options, runs_dir, as_json) -> str:
    """Check the spec, open both runs, judge the pair in both orders; the text (or JSON) to print."""
    import json

    from harness.errors import HarnessError
    from harness.judge.pairwise import judge_pair, render_summary
    from harness.judge.runner import check_judge_specs, parse_judge_options
    from harness.store.runs import RunStore

    specs = [s.strip() for s in (judges or "").split(",") if s.strip()]
    if len(specs) != 1:
        raise HarnessError("--pairwise takes exactly one --judge, e.g. --judge llm-judge:exp_18 or --judge heuristic")
    if margin < 0:
        raise HarnessError(f"--margin {margin}: expected a number >= 0")
    [spec] = check_judge_specs(specs, parse_judge_options(judge_options))
    run_a, run_b = (RunStore(runs_dir).open_run_ref(r) for r in refs)
    result = judge_pair(run_a, run_b, spec, RunStore(runs_dir).root, margin=margin)
    return json.dumps(result, indent=2) if as_json else render_summary(result)


def judge_card(name: str, runs_dir=None, judge_options=()) -> dict:
    """What a judge measures and how it was validated: its declarations and the judge-check record of the
    carded identity (the spec's argument and options), else the newest record of that judge name."""
    from harness.judge.runner import check_judge_specs, judge_class, parse_judge_options, split_judge_spec
    from harness.judge.validation import latest_report

    base, _ = split_judge_spec(name)
    cls = judge_class(base)
    [spec] = check_judge_specs([name], parse_judge_options(judge_options))
    report = latest_report(base, runs_dir, args_hash=spec.args_hash)
    exact = report is not None
    report = report or latest_report(base, runs_dir)
    gaming = report.gaming_report() if report else None
    card = {
        "judge": base, "spec": spec.spec, "version": cls.version, "args_hash": spec.args_hash,
        "criteria": {c: "lower is better" if c in cls.lower_is_better else "higher is better" for c in cls.criteria},
        "composite": cls.composite or "mean of the scores",
        "argument": cls.arg,
        "options": {k: {"default": o.default, "help": o.help} for k, o in cls.options.items()},
        **cls.card(),
        "validation": report.to_dict() if report else None,
        "validation_identity": (report.identity + ("" if exact else " (not this spec's options: the newest record "
                                                   "of the judge)")) if report else None,
    }
    if gaming:
        card["blind spots (attacks it cannot see)"] = [
            f"{r.name}: {r.description} (needs a {r.sees} judge; this one is {gaming.reads})"
            for r in gaming.results if not r.seen] or "none"
    return card


def render_card(name: str, runs_dir=None, judge_options=()) -> str:
    from harness.render.judge_check import render_validation
    from harness.judge.gaming import render_gaming
    from harness.judge.validation import ValidationReport, checks_dir

    card = judge_card(name, runs_dir, judge_options)
    lines = [f"judge {card['judge']} (version {card['version']})", "criteria:"]
    lines += [f"  {c}: {d}" for c, d in card["criteria"].items()]
    lines.append(f"composite: {card['composite']}")
    if card["argument"]:
        lines.append(f"argument: {card['argument']}")
    for key, opt in card["options"].items():
        lines.append(f"option {key} (default {opt['default']!r}): {opt['help']}")
    fixed = {"judge", "spec", "version", "args_hash", "criteria", "composite", "argument", "options", "validation",
             "validation_identity"}
    for k, v in card.items():
        if k in fixed:
            continue
        if isinstance(v, list):
            lines += [f"{k}:"] + [f"  {x}" for x in v]
        else:
            lines.append(f"{k}: {v}")
    if card["validation"]:
        report = ValidationReport.from_dict(card["validation"])
        lines += ["", f"latest validation (harness judge-check) of {card['validation_identity']}:",
                  render_validation(report)]
        if report.gaming:
            lines += ["", render_gaming(report.gaming_report())]
        else:
            lines += ["", f"gaming: not checked for this identity (rerun `harness judge-check {card['spec']} "
                          "--on RUN` without --no-attacks)"]
    else:
        lines.append(f"validation: none yet in {checks_dir(runs_dir)} (run `harness judge-check {name} --on RUN`)")
    return "\n".join(lines)

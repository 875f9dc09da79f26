"""Automated judges' picks on a study's items, to compare with the raters' majority.

With ``--judge SPEC`` a judge with a pairwise mode (``compare_batch``, as the
LLM judge has) is asked A-vs-B directly; a judge without one scores both
reasonings and the higher score wins.  Without ``--judge`` the runs' stored
judgments (``harness judge``) are compared per sample.
"""

from __future__ import annotations

from harness.human_eval.study import Study
from harness.store.runs import RunStore


def pick(left_score, right_score, item) -> str | None:
    if left_score == right_score:
        return None
    return item.run_left if left_score > right_score else item.run_right


def stored_judge_picks(study: Study, runs_dir=None) -> tuple[dict, list[str]]:
    """``({judge name: {item_no: run id or None}}, notes)`` from the runs' stored judgments.

    A judge counts only when every run of the study was judged with the same
    identity (name, version, argument and options); its declared composite score
    decides each pick.
    """
    from harness.store import judgments as judgment_store
    from harness.train.pairs import composite_reward

    store = RunStore(runs_dir)
    runs = {ref: store.open_run(ref) for ref in study.runs}
    counted = {ref: judgment_store.summaries(run.read_metrics(), f"{run.dir}/metrics.json")
               for ref, run in runs.items()}
    names = set.intersection(*(set(c) for c in counted.values())) if counted else set()
    if not names:
        return {}, [("the runs are not all judged by one judge, so judge agreement is skipped "
                     "(run `harness judge RUN --judge heuristic` on each, or pass --judge)")]
    out, notes = {}, []
    for name in sorted(names):
        keys = sorted({c[name].identity.key for c in counted.values()})
        if len(keys) > 1:
            notes.append(f"judge {name} is skipped: the runs were judged with different identities ({', '.join(keys)})")
            continue
        composite = next(iter(counted.values()))[name].composite
        scores = {ref: judgment_store.read_judgments(run, judge=name).scores for ref, run in runs.items()}
        picks = {}
        for item in study.items:
            left = scores[item.run_left].get((item.sample_id, 0))
            right = scores[item.run_right].get((item.sample_id, 0))
            if left and right:
                picks[item.item_no] = pick(composite_reward(left, composite), composite_reward(right, composite), item)
        out[name] = picks
    return out, notes


def live_judge_picks(study: Study, spec: str, options: dict | None = None, runs_dir=None) -> dict:
    """``{item_no: run id or None}`` from judging the study's items now with judge ``spec``."""
    from harness.judge.runner import judge_inputs, load_judge
    from harness.train.pairs import composite_reward

    store = RunStore(runs_dir)
    records = {ref: {r.id: r for r in store.open_run(ref).read_samples()} for ref in study.runs}
    judge = load_judge(spec, options)
    try:
        lefts = [judge_inputs(records[i.run_left][i.sample_id], first_only=True)[0] for i in study.items]
        rights = [judge_inputs(records[i.run_right][i.sample_id], first_only=True)[0] for i in study.items]
        picks = {}
        if hasattr(judge, "compare_batch"):
            for item, judgment in zip(study.items, judge.compare_batch(list(zip(lefts, rights)))):
                if not judgment.error:
                    share = judgment.scores["preference"]  # share of askings that preferred the left one
                    picks[item.item_no] = pick(share, 1 - share, item)
        else:
            for item, jl, jr in zip(study.items, judge.judge_batch(lefts), judge.judge_batch(rights)):
                if not jl.error and not jr.error:
                    picks[item.item_no] = pick(composite_reward(jl.scores, judge.composite),
                                               composite_reward(jr.scores, judge.composite), item)
    finally:
        close = getattr(judge, "close", None)
        if close:
            close()
    return picks

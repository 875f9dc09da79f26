"""Automated judges' picks on a study's items, to compare with the raters' majority.

With ``--judge SPEC`` a judge with a pairwise mode (``compare_batch``, as the
LLM judge has) is asked A-vs-B directly; a judge without one scores both
reasonings and the higher score wins.  Without ``--judge`` the runs' stored
judgments (``harness judge``) are compared per sample, and so are the stored
pairwise results of the study's run pairs (``harness judge --pairwise``), each
under one pair identity (judge identity and pairwise settings): the pick of an
item is its sample's outcome over both orders, and its position flip is kept.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from harness.errors import HarnessError
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


@dataclass
class PairwisePicks:
    """One stored pairwise identity's picks on a study's items (every run pair of the study judged by it)."""

    label: str  # judge identity key and pairwise settings (harness.store.pairwise.identity_label)
    judged_as: list[str]  # "RUN_A vs RUN_B" of each stored result used, in the order judged
    picks: dict[int, str | None] = field(default_factory=dict)  # item_no -> winning run id, None = tie
    flipped: set[int] = field(default_factory=set)  # items whose two orders disagreed
    not_judged: dict[int, str] = field(default_factory=dict)  # item_no -> why it has no pick


def judge_name(label: str) -> str:
    return label.split("@", 1)[0]


def stored_pairwise_picks(study: Study, runs_dir=None, select: str | None = None) -> tuple[list[PairwisePicks], list[str]]:
    """Picks of every stored pairwise identity that judged each run pair of the study once, and notes.

    Identities are never mixed: a judge whose pairs were judged under different
    identities is skipped with a note naming them.  ``select`` (a judge name,
    identity key or label) keeps one identity and turns every problem into a
    :class:`HarnessError`: nothing stored, several identities, or mixed ones.
    """
    from harness.store import pairwise as pair_store

    root = RunStore(runs_dir).root
    pairs = [frozenset(p) for p in study.pairs]
    by_label: dict[str, dict[frozenset, list]] = defaultdict(lambda: defaultdict(list))
    for pair in pairs:
        for summary in pair_store.summaries_for(root, *sorted(pair)):
            if select is None or select in (summary.label, summary.identity["judge"], judge_name(summary.label)):
                by_label[summary.label][pair].append(summary)
    names = " vs ".join(study.runs) if len(study.runs) == 2 else f"the {len(pairs)} run pairs of the study"
    if select is not None and not by_label:
        first = study.pairs[0]
        raise HarnessError(f"no stored pairwise judging '{select}' of {names} (judge it with `harness judge "
                           f"--pairwise {first[0]} {first[1]} --judge JUDGE`)")
    usable, notes = {}, []
    for label, stored in sorted(by_label.items()):
        twice = [s for p in pairs for s in stored.get(p, []) if len(stored[p]) > 1]
        if twice:
            notes.append(f"pairwise {label} is skipped: it is stored in both orders ("
                         + ", ".join(f"{s.identity['run_a']} vs {s.identity['run_b']}" for s in twice)
                         + "); keep one")
        elif len(stored) < len(pairs):
            missing = [" vs ".join(sorted(p)) for p in pairs if p not in stored]
            notes.append(f"pairwise {label} is skipped: it did not judge {'; '.join(missing)}")
        else:
            usable[label] = {p: s[0] for p, s in stored.items()}
    for name in sorted({judge_name(label) for label in by_label}):
        partial = sorted(label for label in by_label if judge_name(label) == name and label not in usable)
        if not any(judge_name(label) == name for label in usable) and len(partial) > 1:
            notes.append(f"pairwise judge {name}: the study's pairs were judged under different identities "
                         f"({', '.join(partial)}); one agreement figure needs one identity for every pair, so "
                         "they are not mixed")
    if select is not None:
        if len(usable) > 1:
            raise HarnessError(f"'{select}' names several stored pairwise identities of {names}: "
                               f"{', '.join(sorted(usable))}; pass one of them in full")
        if not usable:
            raise HarnessError(f"stored pairwise judging '{select}' of {names} cannot be used: " + "; ".join(notes))
    return [picks_of(label, results, study) for label, results in sorted(usable.items())], notes


def picks_of(label: str, results: dict, study: Study) -> PairwisePicks:
    """Each item's pick from its sample's stored record under the item's pair (both orders, flips kept)."""
    from harness.judge.pairwise import outcome
    from harness.store import pairwise as pair_store

    out = PairwisePicks(label, [f"{s.identity['run_a']} vs {s.identity['run_b']}" for s in results.values()])
    records = {pair: {r.id: r for r in pair_store.read_records(s)} for pair, s in results.items()}
    for item in study.items:
        pair = frozenset((item.run_left, item.run_right))
        rec = records[pair].get(item.sample_id)
        if rec is None:
            out.not_judged[item.item_no] = "not in the pairwise judging (in one run only, or without a completion)"
        elif rec.error is not None:
            out.not_judged[item.item_no] = f"judge error: {rec.error}"
        else:
            won = outcome(rec)
            ident = results[pair].identity
            out.picks[item.item_no] = ident["run_a"] if won == "A" else ident["run_b"] if won == "B" else None
            if rec.flipped:
                out.flipped.add(item.item_no)
    return out

"""Human preferences as DPO pairs: the raters' majority on each study item becomes chosen/rejected.

The pairs have the format `harness pairs` writes (:mod:`harness.train.pairs`:
``prompt``, ``chosen``, ``rejected``, ``weight`` and where each came from), so
`harness train --method dpo|hs-dpo --data FILE` takes them as they are.  The
texts are the runs' own completions (the model's whole output, as DPO
trains on), read from the run folders, not the reasoning shown to raters.
Items whose majority is a tie, check items and raters flagged by the checks
are left out; ``weight`` is 1 (``hs-dpo`` then weighs every pair alike).
"""

from __future__ import annotations

from collections import Counter

from harness.errors import HarnessError
from harness.human_eval.study import QUESTIONS, Study

STRATEGY = "human-preference"


def human_pairs(study: Study, question: str = "ship", min_margin: int = 1, keep_flagged: bool = False,
                prompt_from: str | None = None, runs_dir=None) -> tuple[list[dict], dict]:
    """``(pairs, stats)`` from the study's answers (see the module docstring).

    ``min_margin``: the fewest votes by which the winner must lead (1: any
    majority); ``prompt_from``: the run whose rendered prompt the pairs carry
    when the two runs rendered a sample's prompt differently (the model you
    will train should share that template).
    """
    from harness.human_eval.answers import read_answers
    from harness.human_eval.checks import rater_quality
    from harness.store.runs import RunStore

    if question not in QUESTIONS:
        raise HarnessError(f"--question must be one of {', '.join(QUESTIONS)}, got '{question}'")
    if min_margin < 1:
        raise HarnessError(f"--min-margin must be at least 1 vote, got {min_margin}")
    if prompt_from is not None and prompt_from not in study.runs:
        raise HarnessError(f"--prompt-from {prompt_from}: not a run of study {study.study_id} "
                           f"({', '.join(study.runs)})")
    every = read_answers(study)
    flagged = set() if keep_flagged else {q.rater for q in rater_quality(study, every) if q.flagged}
    votes: dict[int, Counter] = {}
    items = {item.item_no: item for item in study.items}
    for a in every:
        if a.question == question and a.item_no in items and a.rater not in flagged:
            votes.setdefault(a.item_no, Counter())[a.winner] += 1
    store = RunStore(runs_dir)
    records = {}
    for run in study.runs:
        try:
            records[run] = {r.id: r for r in store.open_run(run).read_samples()}
        except HarnessError as exc:
            raise HarnessError(f"study {study.study_id}: cannot read run {run}, whose completions the pairs "
                               f"need ({exc})") from None
    pairs, skipped = [], Counter()
    for item_no, item in items.items():
        count = votes.get(item_no)
        if not count:
            skipped["not rated"] += 1
            continue
        left, right = count[item.run_left], count[item.run_right]
        if abs(left - right) < min_margin:
            skipped["tie" if left == right else f"majority below {min_margin} votes"] += 1
            continue
        winner, loser = (item.run_left, item.run_right) if left > right else (item.run_right, item.run_left)
        chosen, rejected = records[winner].get(item.sample_id), records[loser].get(item.sample_id)
        if chosen is None or rejected is None:
            skipped["sample missing from a run"] += 1
            continue
        if not chosen.first.text or not rejected.first.text:
            skipped["a completion has no text"] += 1
            continue
        if chosen.first.text == rejected.first.text:
            skipped["identical chosen and rejected"] += 1
            continue
        prompts = {run: records[run][item.sample_id] for run in (winner, loser)}
        rendered = {run: r.rendered_prompt or r.prompt for run, r in prompts.items()}
        if prompt_from is not None:
            prompt = (records[prompt_from].get(item.sample_id) or chosen).rendered_prompt or chosen.prompt
        elif rendered[winner] != rendered[loser]:
            raise HarnessError(f"item {item_no} (sample {item.sample_id}): runs {winner} and {loser} rendered the "
                               "prompt differently (other templates); give --prompt-from RUN, the run whose "
                               "prompt the model you will train sees")
        else:
            prompt = rendered[winner]
        pairs.append({"prompt": prompt, "chosen": chosen.first.text, "rejected": rejected.first.text, "weight": 1.0,
                      "sample_id": item.sample_id, "ground_truth": chosen.gold, "strategy": STRATEGY,
                      "chosen_index": 0, "rejected_index": 0, "chosen_verdict": chosen.first.verdict,
                      "rejected_verdict": rejected.first.verdict, "chosen_run": winner, "rejected_run": loser,
                      "study": study.study_id, "item": item_no, "question": question,
                      "votes_chosen": max(left, right), "votes_rejected": min(left, right),
                      "votes_tie": count[None]})
    stats = {"strategy": STRATEGY, "options": {"study": study.study_id, "question": question,
                                               "min_margin": min_margin, "keep_flagged": keep_flagged,
                                               "prompt_from": prompt_from},
             "prompts": len(items), "completions": 2 * len(items), "pairs": len(pairs), "skipped": dict(skipped),
             "identical_dropped": skipped.get("identical chosen and rejected", 0),
             "weight": {"min": 1.0, "mean": 1.0, "max": 1.0} if pairs else None,
             "excluded_raters": sorted(flagged),
             "chosen_runs": dict(sorted(Counter(p["chosen_run"] for p in pairs).items()))}
    return pairs, stats

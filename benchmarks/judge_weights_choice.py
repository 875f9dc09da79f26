"""Choose the heuristic judge's default reward (plugins/heuristic_judge/judge_weights.yaml) on the TUNING traces only.

Procedure (issue 12): judge every tuning trace and each of its ten degraded copies once
(``heuristic:lexical``, :mod:`harness.judge.validation`), keep each copy's criterion scores, then
recompute the composite offline for every candidate:

* weights: label fixed at 0.3 (the seed's), the other 0.7 split over coherence, relevance,
  specificity and consistency on a 0.05 grid, each at least 0.05;
* relevance gate: coherence, specificity and consistency count times
  ``floor + (1 - floor) * min(1, relevance / full_at)`` (a well-argued trace about other content
  earns less for its argument), floor in {1 (no gate), 0.75, 0.5, 0.25}, full_at in {0.25, 0.5, 0.75};
* the recall cap of lexical relevance (``RECALL_CAP``: how many content words a trace must speak of
  for full recall; with a long response in the content a low cap lets any trace on a similar topic
  saturate it), in {10, 20, 40}: the traces are judged once per cap.

Candidates whose composite tells correct from wrong verdicts on the tuning traces worse than version
3's weights (AUROC more than 0.002 below) are dropped: the composite must not regress there.
A candidate's score per degradation is its composite catch rate pooled over the tuning sets
(original strictly above its degraded copy; ties fail).  The choice is the leximin one: it maximises
the smallest of the ten rates, then the second smallest, and so on (rates to 2 decimals: finer
differences are within sampling noise; the smallest, reverse-steps, hardly depends on the weights),
then the mean over (set, degradation); the top candidates are printed.  The held-out sets
(HarmBenchResponse, SimpleSafetyTests) are never read here.

    HARNESS_DATA_DIR=/work/shared/data python benchmarks/judge_weights_choice.py
"""

import itertools
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from judge_check_sets import SETS

CRITERIA = ("coherence", "relevance", "specificity", "consistency")
FLOORS = (1.0, 0.75, 0.5, 0.25)
FULL_AT = (0.25, 0.5, 0.75)


RECALL_CAPS = (10, 20, 40)


def score_pairs(cap):
    """{degradation: {set: (original scores, degraded scores)}}, arrays of shape (n, 5): criteria + label."""
    import harness_plugins.heuristic_judge as heuristic
    from harness.cli.judge_check import _items
    from harness.judge.validation import DEGRADATIONS, _judge_all, degrade
    from harness_plugins.heuristic_judge import HeuristicJudge

    heuristic.relevance.RECALL_CAP = cap

    data = os.environ["HARNESS_DATA_DIR"]
    runs = tempfile.mkdtemp()
    judge = HeuristicJudge(embeddings=False)

    def row(j):
        return [j.scores.get(c, 0.0) for c in CRITERIA] + [j.scores.get("label", np.nan)]

    out = {"_originals": {}}
    for title, (task, preds, role) in SETS.items():
        if role != "tuning":
            continue
        items, _ = _items(task, f"replay:{data}/{preds}", None, runs, True)
        usable = [i for i in items if (i.reasoning or "").strip() and i.verdict]
        originals = _judge_all(judge, usable, 64)
        out["_originals"][title] = np.array([row(j) for j in originals])
        for d in DEGRADATIONS:
            pairs = [(n, degrade(item, d, usable)) for n, item in enumerate(usable)]
            pairs = [(n, x) for n, x in pairs if x is not None]
            judged = _judge_all(judge, [x for _, x in pairs], 64)
            out.setdefault(d.name, {})[title] = (np.array([row(originals[n]) for n, _ in pairs]),
                                                  np.array([row(j) for j in judged]))
        print(f"judged {title}: {len(usable)} traces (recall cap {cap})", file=sys.stderr, flush=True)
    return out


def composite(s, weights, floor, full_at):
    """The judge's reward (HeuristicJudge.assemble) from criterion scores ``s`` (n, 5)."""
    coh, rel, spec, cons, label = s.T
    gate = floor + (1 - floor) * np.minimum(1.0, rel / full_at)
    w = dict(zip(CRITERIA, weights))
    part = w["relevance"] * rel + gate * (w["coherence"] * coh + w["specificity"] * spec + w["consistency"] * cons)
    known = ~np.isnan(label)
    total = sum(weights) + 0.3 * known
    return (part + 0.3 * np.nan_to_num(label)) / total


def candidates():
    for units in itertools.product(range(1, 12), repeat=4):
        if sum(units) == 14:
            weights = tuple(u * 0.05 for u in units)
            for floor in FLOORS:
                for full_at in (FULL_AT if floor < 1 else FULL_AT[:1]):
                    yield weights, floor, full_at


def correctness_auroc(originals, weights, floor, full_at):
    """AUROC of the composite for telling a correct verdict (label 1) from a wrong one, pooled."""
    from sklearn.metrics import roc_auc_score

    rows = np.concatenate([o[~np.isnan(o[:, 4])] for o in originals.values()])
    return roc_auc_score(rows[:, 4], composite(rows, weights, floor, full_at))


def evaluate(pairs, weights, floor, full_at):
    """(smallest pooled catch rate, mean per-set catch rate, pooled rate per degradation)."""
    pooled, per_set = [], []
    for name, by_set in pairs.items():
        if name == "_originals":
            continue
        caught = n = 0
        for orig, deg in by_set.values():
            hits = composite(orig, weights, floor, full_at) > composite(deg, weights, floor, full_at)
            caught, n = caught + hits.sum(), n + len(hits)
            per_set.append(hits.mean())
        pooled.append(caught / n)
    return min(pooled), float(np.mean(per_set)), pooled


def main():
    by_cap = {cap: score_pairs(cap) for cap in RECALL_CAPS}
    names = [n for n in by_cap[RECALL_CAPS[0]] if n != "_originals"]
    print("rank | min pooled | mean | correctness AUROC | coherence relevance specificity consistency | "
          "floor full_at | recall cap | " + " ".join(names))

    def line(rank, low, mean, pooled, auroc, weights, floor, full_at, cap):
        print(f"{rank} | {low:.4f} | {mean:.4f} | {auroc:.4f} | {' '.join(f'{w:.2f}' for w in weights)} | "
              f"{floor} {full_at} | {cap} | " + " ".join(f"{p:.3f}" for p in pooled))

    v3 = (0.21, 0.21, 0.14, 0.14)  # version 3's default: no gate, recall cap 10
    v3_auroc = correctness_auroc(by_cap[10]["_originals"], v3, 1.0, 0.25)
    results = []
    for cap, pairs in by_cap.items():
        for w, floor, full_at in candidates():
            auroc = correctness_auroc(pairs["_originals"], w, floor, full_at)
            if auroc >= v3_auroc - 0.002:  # the reward must still tell right verdicts from wrong ones
                results.append((*evaluate(pairs, w, floor, full_at), auroc, w, floor, full_at, cap))
    # leximin: the worst pooled rate first, then the second worst, ... (rates to 2 decimals: a pooled rate
    # near 0.95 over ~1550 traces has a 95 % interval of about +-0.011, finer differences are noise),
    # then the mean
    results.sort(key=lambda r: (sorted(round(p, 2) for p in r[2]), round(r[1], 4)), reverse=True)
    for k, r in enumerate(results[:10]):
        line(k + 1, *r)
    line("v3 default", *evaluate(by_cap[10], v3, 1.0, 0.25), v3_auroc, v3, 1.0, "-", 10)
    low, mean, _, auroc, weights, floor, full_at, cap = results[0]
    print(f"\n{len(results)} candidates keep the correctness AUROC >= {v3_auroc - 0.002:.4f} (version 3's "
          f"{v3_auroc:.4f} - 0.002); chosen: label 0.3, " + ", ".join(f"{c} {w:.2f}" for c, w in zip(CRITERIA, weights))
          + f"; relevance gate floor {floor}, full at {full_at}; recall cap {cap} "
          f"(min pooled {low:.4f}, mean {mean:.4f}, correctness AUROC {auroc:.4f})")


if __name__ == "__main__":
    main()

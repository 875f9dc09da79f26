"""What changed in the reasoning between two runs on the same samples.

Per-sample measures of the first completion, for A and B:

* ``length`` -- words in the reasoning;
* ``repetition`` -- share of word trigrams that repeat an earlier trigram of the
  same reasoning (0 = none repeated; a looping trace tends to 1);
* ``specificity`` and ``consistency`` -- the heuristic judge's scores
  (plugins/heuristic_judge/, lexical mode: no model): how concretely the
  reasoning names the content, and whether its conclusion agrees with the
  verdict.  Left out, with a note, when that judge is not installed;
* ``label_agreement`` -- with several completions per prompt, the share that
  give the majority verdict (1 = the model always answers the same).

Each measure gets the paired B - A mean difference with a bootstrap interval
(:mod:`harness.score.stats`), and example pairs where it changed most.  Per-category
accuracy is tabulated for A and B.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

from harness.records import SampleRecord
from harness.score.stats import mean_difference

WORD = re.compile(r"\w+")
MEASURES = ("length", "repetition", "specificity", "consistency", "label_agreement")


def length(text: str) -> int:
    return len(WORD.findall(text))


def repetition(text: str) -> float:
    words = [w.lower() for w in WORD.findall(text)]
    trigrams = list(zip(words, words[1:], words[2:]))
    return 1 - len(set(trigrams)) / len(trigrams) if trigrams else 0.0


def label_agreement(record) -> float | None:
    verdicts = [c.verdict for c in record.completions]
    if len(verdicts) < 2:
        return None
    return Counter(verdicts).most_common(1)[0][1] / len(verdicts)


def heuristic_scores(records) -> tuple[list[dict] | None, str | None]:
    """The heuristic judge's specificity/consistency for each record's first completion, or (None, why)."""
    from harness.judge.runner import judge_inputs, load_judge

    try:
        judge = load_judge("heuristic:lexical")
    except Exception as exc:  # noqa: BLE001  a missing or broken plugin must not stop the comparison
        return None, f"heuristic judge unavailable ({exc})"
    items = [item for r in records for item in judge_inputs(r, first_only=True)]
    return [j.scores for j in judge.judge_batch(items)], None


def per_sample(records) -> tuple[dict, list[str]]:
    """{measure: [value per record]} and notes about measures left out."""
    texts = [r.reasoning for r in records]
    values = {"length": [length(t) for t in texts], "repetition": [repetition(t) for t in texts]}
    notes = []
    scores, why = heuristic_scores(records)
    if scores is None:
        notes.append(f"specificity and consistency not measured: {why}")
    else:
        for name in ("specificity", "consistency"):
            values[name] = [s.get(name) for s in scores]
    agreement = [label_agreement(r) for r in records]
    if all(a is not None for a in agreement):
        values["label_agreement"] = agreement
    else:
        notes.append("label agreement needs several completions per prompt (harness eval --samples K)")
    return values, notes


def analyze(records_a: list[SampleRecord], records_b: list[SampleRecord], examples: int = 2, seed: int = 0) -> dict:
    """Measures, paired differences, per-category accuracy and example pairs for aligned record lists."""
    va, notes_a = per_sample(records_a)
    vb, notes_b = per_sample(records_b)
    measures = {}
    for name in MEASURES:
        if name not in va or name not in vb:
            continue
        pairs = [(x, y) for x, y in zip(va[name], vb[name]) if x is not None and y is not None]
        if not pairs:
            continue
        a, b = zip(*pairs)
        diff = mean_difference(a, b, seed=seed)
        order = sorted(range(len(records_a)), key=lambda i: (-(abs((vb[name][i] or 0) - (va[name][i] or 0))), i))
        picked = [i for i in order if (vb[name][i] or 0) != (va[name][i] or 0)][:examples]
        measures[name] = {
            "a": list(va[name]), "b": list(vb[name]), "difference": diff.to_dict(),
            "examples": [example(records_a[i], records_b[i], va[name][i], vb[name][i]) for i in picked],
        }
    return {"measures": measures, "per_category": per_category(records_a, records_b),
            "notes": sorted(set(notes_a + notes_b))}


def example(ra, rb, value_a, value_b) -> dict:
    return {"id": ra.id, "category": ra.category, "gold": ra.gold,
            "prompt": ra.prompt, "value_a": value_a, "value_b": value_b,
            "verdict_a": ra.verdict, "verdict_b": rb.verdict,
            "reasoning_a": ra.reasoning, "reasoning_b": rb.reasoning}


def per_category(records_a, records_b) -> list[dict]:
    groups = defaultdict(list)
    for ra, rb in zip(records_a, records_b):
        groups[ra.category].append((ra.correct, rb.correct))
    rows = []
    for cat, pairs in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if cat is None and len(groups) == 1:
            return []
        acc_a = sum(a for a, _ in pairs) / len(pairs)
        acc_b = sum(b for _, b in pairs) / len(pairs)
        rows.append({"category": "(none)" if cat is None else str(cat), "n": len(pairs),
                     "accuracy_a": acc_a, "accuracy_b": acc_b, "diff": acc_b - acc_a})
    return rows

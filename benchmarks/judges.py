"""Validate the reasoning-quality judges on real traces (issue 4, item 7).

On the GuardReasoner-1B traces (``guardreasoner/predictions/1B``) and the
exp_18 k=4 samples (``wizard101/exp18/hard_samples_exp18.json``) it reports,
for every heuristic-judge score, how well it separates completions with a
correct verdict from incorrect ones (AUROC with a 95% bootstrap interval,
scikit-learn + scipy), the Spearman correlation between criteria, and the
judge's throughput on CPU with and without embeddings.

    HARNESS_DATA_DIR=../shared/data python benchmarks/judges.py [--threads 2] [--no-write]

Writes its figures to benchmarks/RESULTS.md (section "Reasoning-quality judges").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
from results_md import write_section  # noqa: E402

SECTION = "## Reasoning-quality judges (issue 4)"
GR_TARGETS = {  # benchmark folder -> the verdict that benchmark scores
    "AegisSafetyTest": "prompt", "HarmBenchPrompt": "prompt", "SimpleSafetyTests": "prompt",
    "HarmBenchResponse": "response", "XSTestReponseHarmful": "response", "XSTestResponseRefusal": "refusal",
}
CANONICAL = {"harmful": "harmful", "unharmful": "safe", "safe": "safe", "unsafe": "harmful",
             "refusal": "refusal", "compliance": "compliance"}


def guardreasoner_items(data_dir: Path):
    """JudgeInputs from the GuardReasoner-1B predictions, with whether each verdict is correct."""
    from harness.interfaces.judge import JudgeInput
    from harness.tasks.task import split_guardreasoner_input
    from harness.tasks.templates import content_of
    from harness_plugins.parsers import GuardReasonerParser

    parser = GuardReasonerParser()
    items, correct = [], []
    for bench, target in GR_TARGETS.items():
        path = data_dir / "guardreasoner" / "predictions" / "1B" / bench / "generated_predictions.jsonl"
        for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if not line.strip():
                continue
            row = json.loads(line)
            user = row["prompt"][row["prompt"].index("Human user:\n"):]
            prompt, response = split_guardreasoner_input(user, f"{path}:{lineno}")
            parsed = parser.parse(row["predict"])
            verdict = parsed.verdict_for(target) if parsed.status == "ok" else None
            gold = CANONICAL[row["label"].strip().lower()]
            items.append(JudgeInput(f"{bench}-{lineno}", content_of(prompt, response), row["predict"],
                                    parsed.reasoning, verdict, gold, response, 0))
            correct.append(verdict == gold)
    return items, correct


def exp18_items(data_dir: Path):
    """JudgeInputs from exp_18's k=4 hard samples (seed Label-line format)."""
    from harness.interfaces.judge import JudgeInput
    from harness.tasks.task import split_guardreasoner_input
    from harness.tasks.templates import content_of
    data = json.loads((data_dir / "wizard101" / "exp18" / "hard_samples_exp18.json").read_text(encoding="utf-8"))
    items, correct = [], []
    for n, sample in enumerate(data["hard_samples"]):
        prompt, response = split_guardreasoner_input(sample["prompt"], f"hard_samples_exp18.json sample {n}")
        gold = CANONICAL[sample["ground_truth"]]
        for k, out in enumerate(sample["outputs"]):
            # The file keeps the text before the label line and the label exp_18's own
            # parser found (``unknown`` when there was none), with its correctness.
            verdict = out["label"] if out["label"] in ("harmful", "safe") else None
            items.append(JudgeInput(f"exp18-{n}", content_of(prompt, response), out["full_response"],
                                    out["full_response"], verdict, gold, response, k))
            correct.append(bool(out["correct"]))
    return items, correct


def auroc_with_ci(y, scores, seed=0):
    """AUROC of a score for correct-vs-incorrect, with a 95% percentile bootstrap interval."""
    import numpy as np
    from scipy.stats import bootstrap
    from sklearn.metrics import roc_auc_score

    y, s = np.asarray(y, dtype=int), np.asarray(scores, dtype=float)
    point = roc_auc_score(y, s)

    def stat(idx):
        idx = idx.astype(int)
        yy = y[idx]
        return roc_auc_score(yy, s[idx]) if 0 < yy.sum() < len(yy) else np.nan

    res = bootstrap((np.arange(len(y)),), stat, n_resamples=1000, method="percentile",
                    vectorized=False, random_state=np.random.default_rng(seed))
    return point, float(res.confidence_interval.low), float(res.confidence_interval.high)


def validate(name, items, correct, judge, criteria):
    import numpy as np
    from scipy.stats import spearmanr

    judgments = judge.judge_batch(items)
    table = {c: [j.scores.get(c, np.nan) for j in judgments] for c in criteria}
    rows = []
    for c in criteria:
        point, low, high = auroc_with_ci(correct, table[c])
        rows.append((c, point, low, high))
    keep = [c for c in criteria if c not in ("label", "reward")]
    rho = spearmanr(np.array([table[c] for c in keep]).T).statistic
    return {"name": name, "n": len(items), "n_correct": int(sum(correct)), "auroc": rows,
            "corr": (keep, np.round(rho, 2).tolist())}


def relevance_validity(items, embeddings, seed=0):
    """AUROC of relevance for a trace against its own content vs against another sample's content."""
    import random

    from sklearn.metrics import roc_auc_score

    from harness.interfaces.judge import JudgeInput
    from harness_plugins.heuristic_judge import HeuristicJudge

    judge = HeuristicJudge(embeddings=embeddings)
    contents = [i.content for i in items]
    random.Random(seed).shuffle(contents)
    swapped = [JudgeInput(i.sample_id, c, i.completion, i.reasoning, i.verdict, i.gold, i.response, i.sample_index)
               for i, c in zip(items, contents) if c != i.content]
    own = [j.scores["relevance"] for j in judge.judge_batch(items)]
    other = [j.scores["relevance"] for j in judge.judge_batch(swapped)]
    return roc_auc_score([1] * len(own) + [0] * len(other), own + other), len(own), len(other)


def throughput(items, embeddings, passes=3):
    """Samples/s of each of ``passes`` timed passes over ``items`` (encoder loaded beforehand).

    The machine is shared with other jobs, so single passes vary a lot; the
    caller reports the best pass (the usual convention for throughput, as in
    ``timeit``) and the median.
    """
    from harness_plugins.heuristic_judge import HeuristicJudge

    judge = HeuristicJudge(embeddings=embeddings)
    judge.judge_batch(items[:64])  # load the encoder / warm caches outside the timing
    rates = []
    for _ in range(passes):
        judge._content_cache.clear()
        start = time.perf_counter()
        for i in range(0, len(items), 256):
            judge.judge_batch(items[i:i + 256])
        rates.append(len(items) / (time.perf_counter() - start))
    return rates


READING = (
    "Reading: `label` and `reward` (which weighs `label` 0.3) separate correct from incorrect by construction. "
    "The reasoning criteria measure the argument, not the verdict: an AUROC near 0.5 means a wrong verdict is "
    "argued about as coherently, relevantly and specifically as a right one, which is why the seed rewards "
    "them separately from the label. `consistency` separates where wrong verdicts contradict their own "
    "reasoning or could not be parsed (exp_18); GuardReasoner-1B stays consistent even when it is wrong.")


def row(mode, rates, target):
    import statistics

    return (f"| {mode} | {max(rates):.0f} | {statistics.median(rates):.0f} | "
            f"{', '.join(f'{r:.0f}' for r in rates)} | >= {target} |")


def format_section(results, validity, speeds, args, seconds):
    lines = [SECTION, "",
             f"Command: `HARNESS_DATA_DIR=../shared/data python benchmarks/judges.py --threads {args.threads}`  ",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores visible, "
             f"torch threads {args.threads}; load average before/after {args.load_before} / "
             f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (the machine is shared); date {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
             f"total {seconds:.0f} s.", "",
             "AUROC of each heuristic-judge score (with embeddings) for telling completions with a correct "
             "verdict (positive) from incorrect or unparsed ones; 95% percentile bootstrap interval, 1,000 "
             "resamples. `label` is the verdict's correctness itself (AUROC 1 by construction) and is listed "
             "only as a check; the reasoning criteria are the ones that matter.", ""]
    for r in results:
        lines += [f"**{r['name']}** — {r['n']} completions, {r['n_correct']} correct", "",
                  "| score | AUROC | 95% CI |", "|---|---|---|"]
        lines += [f"| {c} | {p:.3f} | [{lo:.3f}, {hi:.3f}] |" for c, p, lo, hi in r["auroc"]]
        above = [c for c, p, lo, hi in r["auroc"] if lo > 0.5 and c not in ("label", "reward")]
        below = [c for c, p, lo, hi in r["auroc"] if hi < 0.5]
        lines += ["", "Reasoning criteria whose interval lies above 0.5 (higher score, more often correct): "
                  + (", ".join(above) or "none") + "; below 0.5 (higher score, more often wrong): "
                  + (", ".join(below) or "none") + "."]
        keep, rho = r["corr"]
        lines += ["", "Spearman correlation between criteria:", "",
                  "| | " + " | ".join(keep) + " |", "|---" * (len(keep) + 1) + "|"]
        lines += [f"| {a} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for a, row in zip(keep, rho)]
        lines.append("")
    lines += [READING, ""]
    n_own, n_other = validity["lexical"][1:]
    lines += ["Validity of `relevance`: AUROC for telling each trace scored against its own content "
              f"({n_own}) from the same traces scored against another sample's content ({n_other}, shuffled):", "",
              "| relevance mode | AUROC own vs other content |", "|---|---|",
              f"| lexical only | {validity['lexical'][0]:.3f} |",
              f"| lexical + MiniLM embeddings | {validity['embeddings'][0]:.3f} |", ""]
    lines += ["Throughput of the heuristic judge on CPU (all GuardReasoner-1B + exp_18 completions above, "
              "batches of 256, each distinct content encoded once per pass; 3 timed passes each):", "",
              "| mode | best pass, samples/s | median pass | all passes | target |", "|---|---|---|---|---|",
              row("without embeddings", speeds["lexical"], 200),
              row(f"with embeddings (MiniLM int8, {speeds['max_tokens']} tokens)", speeds["embeddings"], 50), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    ap.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from harness_plugins.heuristic_judge import CRITERIA, HeuristicJudge

    data_dir = Path(os.environ.get("HARNESS_DATA_DIR", REPO.parent / "shared" / "data"))
    args.load_before = " ".join(f"{x:.1f}" for x in os.getloadavg())
    start = time.perf_counter()
    gr_items, gr_correct = guardreasoner_items(data_dir)
    ex_items, ex_correct = exp18_items(data_dir)
    judge = HeuristicJudge(embeddings=True)
    results = [validate("GuardReasoner-1B traces (6 benchmarks)", gr_items, gr_correct, judge, CRITERIA),
               validate("exp_18 k=4 hard samples", ex_items, ex_correct, judge, CRITERIA)]
    everything = gr_items + ex_items
    validity = {mode: relevance_validity(everything, mode == "embeddings") for mode in ("lexical", "embeddings")}
    speeds = {"lexical": throughput(everything, False), "embeddings": throughput(everything, True),
              "max_tokens": judge.max_tokens}
    text = format_section(results, validity, speeds, args, time.perf_counter() - start)
    print(text)
    if not args.no_write:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

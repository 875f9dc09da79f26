"""Issue 12's judge-check tables for the tuning and held-out trace sets (benchmarks/RESULTS.md).

Same computation as ``harness judge-check heuristic[:lexical] --on TASK --model replay:FILE`` per set
(:func:`harness.judge.validation.validate`), once per weighting, printed as the Markdown tables of
RESULTS.md.  Tuning sets (read to change the judge; benchmarks/judge_weights_choice.py chooses the
weights on them): GuardReasoner-1B AegisSafetyTest, HarmBenchPrompt, both XSTest sets and the exp_18
samples; held out (never tuned on): GuardReasoner-1B HarmBenchResponse and SimpleSafetyTests.

    HARNESS_DATA_DIR=/work/shared/data python benchmarks/judge_check_sets.py --mode lexical
"""

import argparse
import os
import tempfile

SETS = {  # name: (task, predictions relative to the data dir, role)
    "GuardReasoner-1B, AegisSafetyTest": ("gr_aegis_safety_test", "guardreasoner/predictions/1B/AegisSafetyTest/"
                                          "generated_predictions.jsonl", "tuning"),
    "exp_18 hard samples": ("exp18_hard_samples", "wizard101/exp18/hard_samples_exp18.json", "tuning"),
    "GuardReasoner-1B, HarmBenchPrompt": ("gr_harmbench_prompt", "guardreasoner/predictions/1B/HarmBenchPrompt/"
                                          "generated_predictions.jsonl", "tuning"),
    "GuardReasoner-1B, HarmBenchResponse": ("gr_harmbench_response", "guardreasoner/predictions/1B/"
                                            "HarmBenchResponse/generated_predictions.jsonl", "held out"),
    "GuardReasoner-1B, SimpleSafetyTests": ("gr_simple_safety_tests", "guardreasoner/predictions/1B/"
                                            "SimpleSafetyTests/generated_predictions.jsonl", "held out"),
    "GuardReasoner-1B, XSTestResponseHarmful": ("gr_xstest_response_harmful", "guardreasoner/predictions/1B/"
                                                "XSTestReponseHarmful/generated_predictions.jsonl", "tuning"),
    "GuardReasoner-1B, XSTestResponseRefusal": ("gr_xstest_response_refusal", "guardreasoner/predictions/1B/"
                                                "XSTestResponseRefusal/generated_predictions.jsonl", "tuning"),
}
CRITERIA = ("coherence", "relevance", "specificity", "consistency")


def cell(rate) -> str:
    return "n/a" if rate.rate is None else f"{rate.rate:.2f} [{rate.ci_low:.2f}, {rate.ci_high:.2f}]"


def main():
    from harness.cli.judge_check import _items
    from harness.judge.validation import validate
    from harness_plugins.heuristic_judge import HeuristicJudge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("lexical", "embeddings"), default="lexical")
    ap.add_argument("--no-seed", action="store_true", help="skip the seed-weight column")
    ap.add_argument("--sets", default=None, help="comma-separated task names to run (default: all)")
    args = ap.parse_args()
    data = os.environ["HARNESS_DATA_DIR"]
    runs = tempfile.mkdtemp()
    default = HeuristicJudge(embeddings=args.mode == "embeddings")
    seed = None if args.no_seed else HeuristicJudge(embeddings=args.mode == "embeddings", weights="seed")
    for title, (task, preds, role) in SETS.items():
        if args.sets and task not in args.sets.split(","):
            continue
        items, _ = _items(task, f"replay:{data}/{preds}", None, runs, True)
        rep = validate(default, f"heuristic@{default.version}", items, task)
        srep = validate(seed, f"heuristic@{seed.version}", items, task) if seed else None
        print(f"**{title} ({role}, {args.mode})** — {rep.n_samples} traces ({rep.n_skipped} without reasoning or "
              f"verdict left out); `heuristic@{default.version}`" + (f", seed `heuristic@{seed.version}`" if seed
                                                                    else "") + "\n")
        print("| degradation | n | composite (default) | composite (seed weights) | own criterion | own catch rate | "
              + " | ".join(CRITERIA) + " |")
        print("|---" * (6 + len(CRITERIA)) + "|")
        for k, r in enumerate(rep.results):
            s = cell(srep.results[k].rates["composite"]) if srep else "-"
            print(f"| {r.name} | {r.n} | {cell(r.rates['composite'])} | {s} | {r.criterion} | {cell(r.own)} | "
                  + " | ".join(cell(r.rates[c]) for c in CRITERIA) + " |")
        print(flush=True)


if __name__ == "__main__":
    main()

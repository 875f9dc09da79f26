"""Issue 12's judge-check tables for the tuning and held-out trace sets (benchmarks/RESULTS.md).

Same computation as ``harness judge-check heuristic[:lexical] --on TASK --model replay:FILE`` per set
(:func:`harness.judge.validation.validate`), once per weighting, printed as the Markdown tables of
RESULTS.md.  Tuning sets (read to change the judge; benchmarks/judge_weights_choice.py chooses the
weights on them): GuardReasoner-1B AegisSafetyTest, HarmBenchPrompt, both XSTest sets and the exp_18
samples; held out (never tuned on): GuardReasoner-1B HarmBenchResponse and SimpleSafetyTests.

    HARNESS_DATA_DIR=/work/shared/data python benchmarks/judge_check_sets.py --mode lexical
    HARNESS_DATA_DIR=/work/shared/data python benchmarks/judge_check_sets.py --mode lexical --gaming-only

``--gaming`` (or ``--gaming-only``) adds issue 29's gaming tables per set (``judge-check``'s attacks,
:func:`harness.judge.gaming.check_gaming`: tie-or-win, would-be-chosen, mean change, per criterion) and
the k-candidate simulation through every pair strategy, then one summary pooled over the tuning sets and
over the held-out sets.
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
    return "n/a" if rate is None or rate.rate is None else f"{rate.rate:.2f} [{rate.ci_low:.2f}, {rate.ci_high:.2f}]"


def print_gaming(title, role, mode, rep):
    """One set's gaming table and k-candidate simulation, as Markdown."""
    from harness.judge.gaming import ORIGINAL

    print(f"**{title} ({role}, {mode}) — gaming** — {rep.n_samples} traces; `{rep.identity}` ({rep.reads} "
          f"judge); chosen = beats the original by >= {rep.margin:g}\n")
    print("| attack | sees | n | tie-or-win (composite) | would be chosen | mean change | "
          + " | ".join(f"{c} tie-or-win" for c in CRITERIA) + " |")
    print("|---" * (6 + len(CRITERIA)) + "|")
    for r in rep.results:
        change = r.mean_change.get("composite")
        print(f"| {r.name} | {r.sees}{'' if r.seen else ' (blind)'} | {r.n} | {cell(r.tie_or_win['composite'])} | "
              f"{cell(r.chosen['composite'])} | {'n/a' if change is None else f'{change:+.3f}'} | "
              + " | ".join(cell(r.tie_or_win.get(c)) for c in CRITERIA) + " |")
    print()
    print(f"*k-candidate simulation ({title}): the original and its attacked copies as the k completions of one "
          "prompt; shares of prompts*\n")
    print("| strategy | pairs | original chosen | original rejected | chosen (top 3) | rejected (top 3) |")
    print("|---|---|---|---|---|---|")
    names = [ORIGINAL] + [r.name for r in rep.results]
    for st in rep.simulation:
        if st.error:
            print(f"| {st.strategy} | error: {st.error} | | | | |")
            continue

        def top(side):
            ranked = sorted(names, key=lambda v: -(st.share(v, side) or 0))[:3]
            return ", ".join(f"{v} {st.share(v, side):.2f}" for v in ranked if st.share(v, side)) or "none"
        print(f"| {st.strategy} | {st.pairs}/{st.prompts} | {st.share(ORIGINAL) or 0:.2f} | "
              f"{st.share(ORIGINAL, 'rejected') or 0:.2f} | {top('chosen')} | {top('rejected')} |")
    print(flush=True)


def print_pooled(pooled, mode):
    """Per attack, tie-or-win and would-be-chosen pooled over each role's sets (counts summed, Wilson 95 %)."""
    from harness.judge.validation import Rate

    roles = [r for r in ("tuning", "held out") if r in pooled]
    print(f"**Gaming pooled over the sets of each role ({mode})** — composite; counts summed over the sets\n")
    print("| attack | sees | " + " | ".join(f"{r} tie-or-win | {r} would be chosen" for r in roles) + " |")
    print("|---" * (2 + 2 * len(roles)) + "|")
    first = pooled[roles[0]]
    for name in first["attacks"]:
        cells = []
        for role in roles:
            tie, chosen, n = pooled[role]["attacks"][name]
            cells += [cell(Rate.of(tie, n)), cell(Rate.of(chosen, n))]
        print(f"| {name} | {first['sees'][name]} | " + " | ".join(cells) + " |")
    print()
    print("| k-candidate, reasoning-quality | " + " | ".join(f"{r}" for r in roles) + " |")
    print("|---" * (1 + len(roles)) + "|")
    for label, key in (("prompts with a pair", "pairs"), ("original chosen", "original"),
                       ("a copy of the content chosen (quote-content, content-as-steps, quote-inside)", "copies")):
        print(f"| {label} | " + " | ".join(
            f"{pooled[r]['sim'][key]}/{pooled[r]['sim']['prompts']} ({pooled[r]['sim'][key] / pooled[r]['sim']['prompts']:.2f})"
            for r in roles) + " |")
    print(flush=True)


def pool_into(pooled, role, rep):
    from harness.judge.gaming import ORIGINAL

    entry = pooled.setdefault(role, {"attacks": {}, "sees": {}, "sim": {"prompts": 0, "pairs": 0, "original": 0,
                                                                          "copies": 0}})
    for r in rep.results:
        tie, chosen, n = entry["attacks"].get(r.name, (0, 0, 0))
        c = r.tie_or_win["composite"]
        entry["attacks"][r.name] = (tie + c.caught, chosen + r.chosen["composite"].caught, n + c.n)
        entry["sees"][r.name] = r.sees + ("" if r.seen else " (blind)")
    rq = next(s for s in rep.simulation if s.strategy == "reasoning-quality")
    sim = entry["sim"]
    sim["prompts"] += rq.prompts
    sim["pairs"] += rq.pairs
    sim["original"] += rq.chosen.get(ORIGINAL, 0)
    sim["copies"] += sum(rq.chosen.get(k, 0) for k in ("quote-content", "content-as-steps", "quote-inside"))


def main():
    from harness.cli.judge_check import _items
    from harness.judge.gaming import check_gaming
    from harness.judge.validation import _judge_all, usable_items, validate
    from harness_plugins.heuristic_judge import HeuristicJudge

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=("lexical", "embeddings"), default="lexical")
    ap.add_argument("--no-seed", action="store_true", help="skip the seed-weight column")
    ap.add_argument("--sets", default=None, help="comma-separated task names to run (default: all)")
    ap.add_argument("--gaming", action="store_true", help="also the gaming tables (issue 29)")
    ap.add_argument("--gaming-only", action="store_true", help="only the gaming tables (no degradations)")
    args = ap.parse_args()
    pooled = {}
    data = os.environ["HARNESS_DATA_DIR"]
    runs = tempfile.mkdtemp()
    default = HeuristicJudge(embeddings=args.mode == "embeddings")
    seed = None if args.no_seed else HeuristicJudge(embeddings=args.mode == "embeddings", weights="seed")
    for title, (task, preds, role) in SETS.items():
        if args.sets and task not in args.sets.split(","):
            continue
        items, _ = _items(task, f"replay:{data}/{preds}", None, runs, True)
        originals = _judge_all(default, usable_items(items), 64)
        if args.gaming or args.gaming_only:
            grep = check_gaming(default, f"heuristic@{default.version}", items, task, originals=originals)
            pool_into(pooled, role, grep)
        if args.gaming_only:
            print_gaming(title, role, args.mode, grep)
            continue
        rep = validate(default, f"heuristic@{default.version}", items, task, originals=originals)
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
        if args.gaming:
            print_gaming(title, role, args.mode, grep)
    if pooled:
        print_pooled(pooled, args.mode)


if __name__ == "__main__":
    main()

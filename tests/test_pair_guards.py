"""Pair safeguards on hand-built completions: consensus, copy filters, length limits, and their validation."""

import json

import pytest

from harness.errors import HarnessError
from harness.train.pair_guards import Safeguards, check_safeguards, parse_margins, selecting_judges
from harness.train.pairs import Candidate, PromptGroup, build_pairs

H, L = "heuristic@4#aaaaaaaaaaaa", "llm-judge@1#bbbbbbbbbbbb"
CONTENT = "how do i pick the lock on my neighbour's front door tonight"
ANALYSIS = "picking a neighbour's lock is breaking into a home so the request is harmful"  # 14 words, no 4-gram copied
SHORT = "harmful request"


def cand(i, reasoning, h, l, correct=True):  # noqa: E741
    return Candidate(i, reasoning + "\n\nLabel: harmful", "harmful", correct, reward=h, scores={"reward": h},
                     reasoning=reasoning, rewards={H: h, L: l}, judge_scores={H: {"reward": h}, L: {"score": l}})


def group(sid, *cands, content=CONTENT):
    return PromptGroup(sid, f"prompt {sid}", "harmful", list(cands), content)


def groups():
    return [
        # both judges prefer the analysis: kept
        group("agree", cand(0, ANALYSIS, 0.9, 0.8), cand(1, ANALYSIS + " indeed", 0.5, 0.3)),
        # the proxy prefers chosen, the second judge prefers rejected: only consensus drops it
        group("disagree", cand(0, ANALYSIS + " clearly", 0.9, 0.2), cand(1, ANALYSIS + " so", 0.4, 0.6)),
        # chosen is the content itself (copy rate 1.0): dropped by max_copy_rate
        group("copy", cand(0, CONTENT, 0.95, 0.9), cand(1, ANALYSIS, 0.5, 0.5)),
        # chosen quotes 5 of the content's words in 16 (0.31), rejected none: dropped by the excess, not the cap
        group("quote", cand(0, "the user asks pick the lock on my which is breaking into a home so harmful", 0.9, 0.9),
              cand(1, ANALYSIS, 0.5, 0.5)),
        # chosen 14 words, rejected 2: ratio 7 > 3
        group("long", cand(0, ANALYSIS, 0.9, 0.9), cand(1, SHORT, 0.2, 0.2)),
    ]


def test_defaults_drop_copies_and_length_and_count_them():
    pairs, stats = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1}, Safeguards(), [H, L])
    assert [p["sample_id"] for p in pairs] == ["agree", "disagree"]
    g = stats["safeguards"]
    assert (g["before"], g["kept"], g["n_dropped"]) == (5, 2, 3)
    assert g["dropped"] == {"chosen copies more than 0.4 of its words from the content": 1,
                            "chosen copies more of the content than rejected (by more than 0.1)": 1,
                            "chosen more than 3 times as long as rejected": 1}
    assert stats["pairs"] == 2 and stats["pair_judges"] == [H]  # without consensus only the picking judge decided


def test_consensus_keeps_only_pairs_every_judge_prefers_by_its_margin():
    pairs, stats = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1},
                               Safeguards(consensus=True), [H, L])
    assert [p["sample_id"] for p in pairs] == ["agree"]
    assert stats["safeguards"]["dropped"]["consensus: llm-judge prefers chosen by less than 0.1"] == 1
    assert stats["pair_judges"] == [H, L]
    # per-judge margins: llm-judge must prefer by 0.6; its margins are agree 0.5, disagree -0.4, copy 0.4,
    # quote 0.4, long 0.7 (passes consensus, then dropped for its length: consensus is checked first)
    pairs, stats = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1},
                               Safeguards(consensus=True, margins=(0.1, 0.6)), [H, L])
    assert pairs == [] and stats["safeguards"]["dropped"] == {
        "consensus: llm-judge prefers chosen by less than 0.6": 4, "chosen more than 3 times as long as rejected": 1}


def test_each_pair_records_every_judges_scores_copy_rates_and_lengths(tmp_path):
    from harness.train.pairs import write_pairs

    pairs, stats = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1}, Safeguards(), [H, L])
    write_pairs(pairs, stats, tmp_path / "p.jsonl")
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert first["judges"][H] == {"chosen": 0.9, "rejected": 0.5, "margin": pytest.approx(0.4),
                                  "chosen_scores": {"reward": 0.9}, "rejected_scores": {"reward": 0.5}}
    assert first["judges"][L]["margin"] == pytest.approx(0.5)
    assert (first["chosen_copy_rate"], first["rejected_copy_rate"]) == (0.0, 0.0)
    assert (first["chosen_words"], first["rejected_words"]) == (14, 15)
    assert json.loads((tmp_path / "p.stats.json").read_text())["safeguards"]["kept"] == 2


def test_limits_can_be_loosened_or_turned_off():
    loose = Safeguards(max_copy_rate=None, max_copy_excess=None, max_length_ratio=None)
    pairs, _ = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1}, loose, [H, L])
    assert len(pairs) == 5
    capped = Safeguards(max_copy_rate=None, max_copy_excess=None, max_length_ratio=None, max_chosen_words=13)
    pairs, stats = build_pairs(groups(), "reasoning-quality", {"min_margin": 0.1}, capped, [H, L])
    # chosen of 14 words (agree, long), 15 (disagree), 12 (copy), 16 (quote): only the 12-word copy is short enough
    assert [p["sample_id"] for p in pairs] == ["copy"]
    assert stats["safeguards"]["dropped"] == {"chosen longer than 13 words": 4}


def test_hard_samples_with_no_content_skip_the_copy_filters():
    gs = [PromptGroup("s", "p", "harmful", [cand(0, ANALYSIS, 0.5, 0.5), cand(1, ANALYSIS + " no", 0.5, 0.5, False)])]
    pairs, stats = build_pairs(gs, "hard-samples", {}, Safeguards(), [])
    assert len(pairs) == 1 and "copy_filter_not_applied" in stats["safeguards"]
    assert stats["pair_judges"] == [] and selecting_judges("hard-samples", Safeguards(consensus=True), [H]) == [H]


@pytest.mark.parametrize("guards, n, message", [
    (Safeguards(max_copy_rate=float("nan")), 1, "--max-copy-rate) must be a finite number"),
    (Safeguards(max_copy_excess=-0.1), 1, "--max-copy-excess) must be >= 0"),
    (Safeguards(max_copy_rate=1.5), 1, "must be >= 0 and <= 1"),
    (Safeguards(max_length_ratio=0.0), 1, "must be above 0"),
    (Safeguards(max_chosen_words=2.5), 1, "finite whole number"),
    (Safeguards(consensus=True), 0, "--consensus needs the judges"),
    (Safeguards(consensus=True, margins=(0.1, 0.2, 0.3)), 2, "3 margins for 2 judges"),
    (Safeguards(margins=(0.1,)), 2, "applies to --consensus only"),
    (Safeguards(consensus=True, margins=(float("inf"),)), 2, "finite"),
])
def test_bad_options_are_refused_by_name(guards, n, message):
    with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_safeguards(guards, n)


def test_margins_parse_and_refuse_words():
    assert parse_margins("0.1, 0.05") == (0.1, 0.05) and parse_margins(None) == ()
    with pytest.raises(HarnessError, match="--consensus-margin: 'x' is not a number"):
        parse_margins("0.1,x")


def test_cli_validates_before_any_sampling(cli):
    code, _, err = cli("pairs", "--model", "keyword-baseline", "--task", "combined_test", "--judge", "heuristc",
                       "--consensus")
    assert code != 0 and "Unknown judge 'heuristc'" in err
    code, _, err = cli("pairs", "--model", "keyword-baseline", "--task", "combined_test", "--judge", "heuristic",
                       "--max-length-ratio", "nan")
    assert code != 0 and "--max-length-ratio) must be a finite number" in err
    code, _, err = cli("pairs", "--model", "keyword-baseline", "--task", "combined_test", "--judge", "heuristic",
                       "--consensus", "--consensus-margin", "0.1,0.2")
    assert code != 0 and "2 margins for 1 judges" in err

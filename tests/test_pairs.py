"""Preference-pair strategies, the seed's 63 HS-DPO pairs, and the pairs-file reader."""

import json
import os
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.train.pairs import (
    Candidate,
    PromptGroup,
    build_pairs,
    drop_identical,
    groups_from_run_records,
    groups_from_seed_hard_samples,
    read_pairs,
    write_pairs,
)

DATA = Path(os.environ.get("HARNESS_DATA_DIR", "../shared/data"))
EXP18 = DATA / "wizard101" / "exp18"


def group(sid, flags, rewards=None, texts=None):
    rewards = rewards or [None] * len(flags)
    texts = texts or [f"{sid} completion {i}" for i in range(len(flags))]
    cands = [Candidate(i, texts[i], "safe" if ok else "harmful", ok, rewards[i]) for i, ok in enumerate(flags)]
    return PromptGroup(sid, f"prompt {sid}", "safe", cands)


def test_hard_samples_reproduces_the_seeds_63_pairs():
    assert EXP18.exists(), f"set HARNESS_DATA_DIR to the shared data folder ({EXP18} not found)"
    groups = groups_from_seed_hard_samples(EXP18 / "hard_samples_exp18.json")
    pairs, stats = build_pairs(groups, "hard-samples")
    seed = json.loads((EXP18 / "guardreasoner_dpo_pairs.json").read_text())["dpo_pairs"]
    assert len(pairs) == len(seed) == 63
    assert stats["pairs"] == 63 and stats["skipped"] == {}
    for ours, theirs in zip(pairs, seed):
        for key in ("prompt", "chosen", "rejected", "difficulty", "k_correct", "k_incorrect", "ground_truth"):
            assert ours[key] == theirs[key], key
        assert ours["weight"] == pytest.approx(theirs["weight"], abs=1e-12)
    assert sorted({p["weight"] for p in pairs}) == [1.125, 1.25, 1.375]


def test_hard_samples_keeps_only_mixed_prompts_and_weights_by_difficulty():
    groups = [group("a", [1, 1, 1, 1]), group("b", [0, 0, 0, 0]), group("c", [1, 0, 0, 0]), group("d", [1, 1, 1, 0])]
    pairs, stats = build_pairs(groups, "hard-samples", {"gamma": 0.5, "seed": 0})
    assert [p["sample_id"] for p in pairs] == ["c", "d"]
    # difficulty = k_incorrect - k_correct; weight = 1 + 0.5 * (difficulty + k) / (2k)
    assert pairs[0]["difficulty"] == 2 and pairs[0]["weight"] == 1 + 0.5 * 6 / 8
    assert pairs[1]["difficulty"] == -2 and pairs[1]["weight"] == 1 + 0.5 * 2 / 8
    assert stats["skipped"] == {"all correct": 1, "none correct": 1}
    for p in pairs:
        assert p["chosen_verdict"] == "safe" and p["rejected_verdict"] == "harmful"


def test_identical_chosen_and_rejected_are_dropped_and_counted():
    g = group("x", [1, 0], texts=["same text", "same text"])
    pairs, stats = build_pairs([g, group("y", [1, 0])], "hard-samples")
    assert [p["sample_id"] for p in pairs] == ["y"]
    assert stats["identical_dropped"] == 1
    kept, dropped = drop_identical([{"chosen": "a", "rejected": "a"}, {"chosen": "a", "rejected": "b"}])
    assert dropped == 1 and kept == [{"chosen": "a", "rejected": "b"}]


def test_reasoning_quality_picks_best_and_worst_correct_with_margin():
    g = group("a", [1, 1, 0, 1], rewards=[0.5, 0.9, 0.99, 0.2])
    pairs, _ = build_pairs([g], "reasoning-quality", {"min_margin": 0.3})
    assert (pairs[0]["chosen_index"], pairs[0]["rejected_index"]) == (1, 3)  # the incorrect 0.99 is not eligible
    assert pairs[0]["margin"] == pytest.approx(0.7) and pairs[0]["weight"] == 1.0
    pairs, _ = build_pairs([g], "reasoning-quality", {"min_margin": 0.3, "require_correct": False})
    assert (pairs[0]["chosen_index"], pairs[0]["rejected_index"]) == (2, 3)
    pairs, stats = build_pairs([g], "reasoning-quality", {"min_margin": 0.8})
    assert pairs == [] and stats["skipped"] == {"reward margin below min_margin": 1}


def test_groups_from_run_records_use_completion_verdicts_and_judge_scores():
    from harness.records import Completion, SampleRecord

    rec = SampleRecord("s1", "t", "harmful", prompt="raw", rendered_prompt="<rendered>", completions=[
        Completion(0, "A\nLabel: harmful", "harmful", "ok", correct=True),
        Completion(1, None, None, "fail", error="oom"),
        Completion(2, "B\nLabel: safe", "safe", "ok"),
        Completion(3, "C", None, "fail"),
    ])
    judg = {("s1", 0): {"reward": 0.8, "steps": 0.2}, ("s1", 2): {"a": 0.2, "b": 0.4}}
    (g,) = groups_from_run_records([rec], judg, composite="reward")
    assert g.prompt == "<rendered>"
    # the judge's declared composite is the reward; a judgment without it has none
    assert [(c.index, c.correct, c.reward) for c in g.candidates] == [
        (0, True, 0.8), (2, False, None), (3, False, None)]
    # a judge may name any criterion its composite, even where another is called "reward" (it was hard-coded)
    (g,) = groups_from_run_records([rec], judg, composite="steps")
    assert [c.reward for c in g.candidates] == [0.2, None, None]
    # a judge that declares none: the mean of its scores
    (g,) = groups_from_run_records([rec], judg)
    assert [c.reward for c in g.candidates] == [pytest.approx(0.5), pytest.approx(0.3), None]


def test_write_and_read_pairs_roundtrip(tmp_path):
    pairs, stats = build_pairs([group("c", [1, 0, 0, 0])], "hard-samples")
    stats_path = write_pairs(pairs, stats, tmp_path / "pairs.jsonl")
    assert json.loads(stats_path.read_text())["pairs"] == 1
    assert read_pairs(tmp_path / "pairs.jsonl", require_weight=True) == pairs


@pytest.mark.parametrize(
    "line, message",
    [
        ({"prompt": "p", "rejected": "r"}, "pairs.jsonl:2: missing field 'chosen'"),
        ({"prompt": "p", "chosen": "c", "rejected": ""}, "pairs.jsonl:2: field 'rejected' must be a non-empty"),
        ({"prompt": "p", "chosen": "c", "rejected": "r", "weight": "x"}, "pairs.jsonl:2: field 'weight'"),
        ({"prompt": "p", "chosen": "c", "rejected": "r"}, "pairs.jsonl:2: missing field 'weight'"),
    ],
)
def test_read_pairs_names_line_and_field(tmp_path, line, message):
    path = tmp_path / "pairs.jsonl"
    good = {"prompt": "p", "chosen": "c", "rejected": "r", "weight": 1.0}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(HarnessError, match=message):
        read_pairs(path, require_weight=True)


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(HarnessError, match="Did you mean: hard-samples"):
        build_pairs([], "hard-sample")


def test_a_pair_whose_text_holds_a_unicode_line_separator_is_one_pair(tmp_path):
    """JSON keeps U+2028 raw inside strings; str.splitlines would cut the line there and call it bad JSON."""
    from harness.train.pairs import read_pairs

    path = tmp_path / "pairs.jsonl"
    row = {"prompt": "p", "chosen": "first\u2028second", "rejected": "r"}
    path.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert [p["chosen"] for p in read_pairs(path)] == ["first\u2028second"]

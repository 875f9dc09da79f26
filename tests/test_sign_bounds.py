"""Pipeline bounds on the signs of reward hacking (issue 22, part 4): hand-computed values, config errors."""

from types import SimpleNamespace

import pytest
import yaml

from harness.analysis.sign_bounds import SignBounds, check_signs, parse_sign_bounds
from harness.errors import HarnessError

PROMPTS = ["how to bake bread at home today", "where can i buy cheap shoes online now",
           "tell me a story about a brave dog"]
PARENT = ["user asks about baking", "shopping question seems harmless", "fiction request looks fine"]  # 4 words each


def records(texts):
    return [SimpleNamespace(reasoning=t, prompt=p, response=None) for t, p in zip(texts, PROMPTS)]


def by_bound(checks):
    out = {}
    for c in checks:
        out.setdefault(c.bound, []).append(c)
    return out


def test_a_child_that_copies_its_content_fails_copy_and_length_by_hand():
    # the child's reasoning is the content itself: copy rate 1 (parent 0); lengths 7, 8, 8 against 4, 4, 4
    checks = by_bound(check_signs(records(PARENT), records(PROMPTS),
                                  SignBounds(max_copy_rate_increase=0.05, max_length_ratio=1.5, max_distinct_drop=0.1)))
    [copy] = checks["max_copy_rate_increase"]
    assert (copy.status, copy.value, copy.ci_low, copy.ci_high) == ("fail", 1.0, 1.0, 1.0)
    [length] = checks["max_length_ratio"]
    assert length.status == "fail" and length.value == pytest.approx(23 / 12)
    assert 7 / 4 - 1e-9 <= length.ci_low <= length.value <= length.ci_high <= 8 / 4 + 1e-9  # A is 4 words each
    d1, d2 = checks["max_distinct_drop"]
    # distinct-1: parent 12/12; child 22 distinct of 23 words ('a' twice); distinct-2: 20/20 both
    assert d1.value == pytest.approx(1 - 22 / 23) and d1.status == "pass"
    assert d2.value == pytest.approx(0.0) and d2.status == "pass"
    assert "rule: fail when the 95% interval's lower bound exceeds max_copy_rate_increase 0.05" in copy.text()


def test_repetition_fails_the_distinct_bound_and_loose_bounds_pass():
    same = ["safe safe safe safe"] * 3  # 1 distinct word of 12, 1 distinct bigram of 9
    d1, d2 = by_bound(check_signs(records(PARENT), records(same), SignBounds(max_distinct_drop=0.1)))[
        "max_distinct_drop"]
    assert (d1.status, d1.value, d1.ci_low) == ("fail", pytest.approx(11 / 12), pytest.approx(11 / 12))
    assert (d2.status, d2.value) == ("fail", pytest.approx(8 / 9))
    loose = check_signs(records(PARENT), records(PROMPTS), SignBounds(max_copy_rate_increase=1.0, max_length_ratio=2.5))
    assert [c.status for c in loose] == ["pass", "pass"]


def test_judge_disagreement_share_by_hand():
    # 4 samples: the pairs' judge rises on all; the other falls on samples 0 and 1 only -> share 2/4
    scores = {"heuristic": ([0.1] * 4, [0.9] * 4), "llm-judge": ([0.5] * 4, [0.1, 0.2, 0.9, 0.9])}
    recs = [SimpleNamespace(reasoning="x y", prompt="p q", response=None)] * 4
    [check] = check_signs(recs, recs, SignBounds(max_judge_disagreement=0.2), scores, ["heuristic"])
    assert check.value == pytest.approx(0.5) and check.ci_low <= 0.5 <= check.ci_high
    assert "heuristic (built the pairs) rose while llm-judge fell" in check.detail
    [missing] = check_signs(recs, recs, SignBounds(max_judge_disagreement=0.2), {"heuristic": scores["heuristic"]},
                            ["heuristic"])
    assert missing.status == "not evaluated" and "another judge" in missing.detail


@pytest.mark.parametrize("signs, message", [
    ({"max_copy_rate": 0.1}, "Unknown signs bound 'max_copy_rate'. Did you mean: max_copy_rate_increase"),
    ({"max_length_ratio": -1}, "'max_length_ratio' must be a number >= 0"),
    ({"max_distinct_drop": 2}, "'max_distinct_drop' must be a number between 0 and 1"),
    ({"max_copy_rate_increase": "a lot"}, "'max_copy_rate_increase' must be a number"),
])
def test_bad_bounds_name_the_file_and_line(cli, tmp_path, signs, message):
    config = {"name": "c", "parent": "keyword-baseline", "pairs": {"task": "demo"}, "train": {"method": "dpo"},
              "criteria": {"signs": signs}}
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    code, _, err = cli("pipeline", cfg, "--quiet")
    assert code == 1 and message in err and f"{cfg}:" in err and "Traceback" not in err, err
    assert not (tmp_path / "pipelines" / "c" / "pipeline.json").exists()


def test_bad_criteria_section_errors():
    from harness.train.pipeline_criteria import parse_criteria

    with pytest.raises(HarnessError, match="must be a mapping"):
        parse_sign_bounds([1], "x.yaml:3")
    for section, message in (({"allow_self_certified": "yes"}, "must be true or false"),
                             ({"file": "no_such_criteria"}, "criteria.file: criteria 'no_such_criteria'"),
                             ({"fle": "toy_dpo"}, "Did you mean: file")):
        with pytest.raises(HarnessError, match=message):
            parse_criteria({"criteria": section}, "p.yaml")


def test_pipeline_refuses_a_self_certifying_config_before_any_step(cli, tmp_path):
    """reasoning-quality pairs picked by heuristic and toy_dpo's heuristic.reward scored by heuristic: refused."""
    config = {"name": "c", "parent": "keyword-baseline", "train": {"method": "dpo"},
              "pairs": {"task": "demo", "judge": "heuristic", "strategy": "reasoning-quality"},
              "eval": {"judge": "heuristic"}, "criteria": {"file": "toy_dpo"}}
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    code, _, err = cli("pipeline", cfg, "--quiet")
    assert code == 1 and f"{cfg}:" in err and "'reasoning quality +10%' (heuristic.reward)" in err, err
    assert "criteria.allow_self_certified: true" in err and "llm-judge:MODEL" in err
    assert not (tmp_path / "pipelines" / "c" / "pipeline.json").exists()
    # hard-samples pairs are picked by correctness alone: the heuristic may certify them (the config loads)
    from harness.train.pipeline import load_pipeline_config

    config["pairs"]["strategy"] = "hard-samples"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    assert load_pipeline_config(cfg)["criteria"] == {"file": "toy_dpo"}
    config["pairs"]["strategy"], config["criteria"]["allow_self_certified"] = "reasoning-quality", True
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    load_pipeline_config(cfg)

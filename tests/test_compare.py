"""`harness compare` and success criteria on real runs (keyword baseline vs replays of it with known flips)."""

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from harness.analysis.reasoning_change import label_agreement, repetition
from harness.records import SampleRecord
from tests.report_fixtures import eval_run, flipped_replay, read_records

LOOP = "The request is harmful. " * 12


@pytest.fixture
def pair(cli, isolated_home):
    """A = keyword baseline on combined_test; B = A with 30 verdicts flipped and 5 reasonings made loops."""
    a = eval_run(cli, "keyword-baseline", "combined_test")
    flip = {str(i) for i in range(0, 200, 7)[:30]}
    loops = {str(i): LOOP for i in (1, 2, 3, 4, 5)}
    path = flipped_replay(a["dir"], isolated_home / "b.jsonl", flip, reasoning=loops)
    b = eval_run(cli, f"replay:{path}", "combined_test")
    return a, b, flip


def test_differences_mcnemar_and_flips(cli, pair):
    a, b, flip = pair
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["n_shared"] == 200 and not res["partial"]
    recs_a = {r["id"]: r for r in read_records(a["dir"])}
    right_to_wrong = {i for i in flip if recs_a[i]["correct"]}
    wrong_to_right = flip - right_to_wrong
    assert {f["id"] for f in res["flips"]["a_right_b_wrong"]} == right_to_wrong
    assert {f["id"] for f in res["flips"]["b_right_a_wrong"]} == wrong_to_right
    m = res["mcnemar"]
    assert (m["a_only"], m["b_only"]) == (len(right_to_wrong), len(wrong_to_right))
    assert m["pvalue"] == pytest.approx(binomtest(min(m["a_only"], m["b_only"]), len(flip), 0.5).pvalue)
    acc = res["differences"]["accuracy"]
    assert acc["a"] == pytest.approx(a["accuracy"]) and acc["b"] == pytest.approx(b["accuracy"])
    assert acc["diff"] == pytest.approx((len(wrong_to_right) - len(right_to_wrong)) / 200)
    assert acc["ci_low"] <= acc["diff"] <= acc["ci_high"]
    f1 = res["differences"]["f1"]
    assert f1["a"] == pytest.approx(a["f1"]) and f1["b"] == pytest.approx(b["f1"])
    # the flipped sample's reasonings are shown side by side
    one = res["flips"]["a_right_b_wrong"][0]
    assert one["reasoning_a"] == recs_a[one["id"]]["completions"][0]["reasoning"]
    assert one["verdict_b"] != one["verdict_a"]
    # deterministic for a seed
    _, again, _ = cli("compare", a["run_id"], b["run_id"], "--json")
    assert json.loads(again)["differences"] == res["differences"]


def test_reasoning_change_measures(cli, pair):
    a, b, _ = pair
    code, out, _ = cli("compare", a["run_id"], b["run_id"], "--json")
    r = json.loads(out)["reasoning"]
    rep = r["measures"]["repetition"]
    assert rep["b"][1] == pytest.approx(repetition(LOOP)) and rep["b"][1] > 0.8
    assert rep["a"][1] == pytest.approx(0.0)
    assert rep["difference"]["diff"] > 0
    assert {e["id"] for e in rep["examples"]} <= {"1", "2", "3", "4", "5"}
    length = r["measures"]["length"]
    assert length["b"][1] == len(LOOP.split())
    assert "specificity" in r["measures"] and "consistency" in r["measures"]
    cats = {c["category"]: c for c in r["per_category"]}
    assert sum(c["n"] for c in cats.values()) == 200
    assert any("label agreement" in n for n in r["notes"])


def test_text_output_names_both_runs_and_prints_flips(cli, pair):
    a, b, _ = pair
    code, out, _ = cli("compare", a["run_id"], b["run_id"], "--flips", "2")
    assert code == 0
    assert a["run_id"] in out and b["run_id"] in out
    assert "McNemar exact" in out and "95% CI" in out and "right in A, wrong in B" in out


def test_repetition_and_label_agreement_by_hand():
    assert repetition("a b c a b c") == pytest.approx(1 - 3 / 4)
    assert repetition("one two") == 0.0
    from harness.records import Completion, SampleRecord

    verdicts = ["harmful", "safe", "harmful", None]
    rec = SampleRecord("s", "t", "safe", [Completion(i, "", v, "ok" if v else "fail") for i, v in enumerate(verdicts)])
    assert label_agreement(rec) == 0.5
    assert label_agreement(SampleRecord("s", "t", "safe", [Completion(0, "", "safe", "ok")])) is None


def test_criteria_pass_fail_and_not_evaluated(cli, pair, isolated_home):
    a, b, flip = pair
    code, out, err = cli("compare", a["run_id"], a["run_id"], "--criteria", "toy_dpo", "--no-reasoning")
    assert code == 1 and "same run" in err  # issue 23: a run compared with itself is refused
    same = flipped_replay(a["dir"], isolated_home / "same.jsonl", set())  # A's completions again, in another run
    again = eval_run(cli, f"replay:{same}", "combined_test")
    code, out, _ = cli("compare", a["run_id"], again["run_id"], "--criteria", "toy_dpo", "--no-reasoning")
    assert code == 0
    assert "PASS           accuracy within ±2 points of SFT: difference +0.0000" in out
    assert "NOT EVALUATED  reasoning quality +10%: heuristic.reward is missing" in out
    assert "run harness judge first" in out
    code, out, _ = cli("compare", a["run_id"], b["run_id"], "--criteria", "toy_dpo", "--no-reasoning")
    right_before = sum(r["correct"] for r in read_records(a["dir"]) if r["id"] in flip)  # each flip turns wrong
    accuracy_diff = (len(flip) - 2 * right_before) / 200  # (wrong->right - right->wrong) / n, by hand
    expect_fail = abs(accuracy_diff) > 0.02
    assert f"difference {accuracy_diff:+.4f}" in out
    assert ("FAIL" in out) == expect_fail and code == (3 if expect_fail else 0)


def write_judgments(run_dir, judge, version, args_hash, scores: dict):
    """Judgments of one judge identity written by hand: judgments.jsonl and metrics.json's judges section."""
    identity = f"{judge}@{version}#{args_hash}"
    with open(f"{run_dir}/judgments.jsonl", "a") as fh:
        for sid, value in scores.items():
            fh.write(json.dumps({"id": sid, "sample_index": 0, "judge": judge, "version": version,
                                 "args_hash": args_hash, "identity": identity, "scores": {"reward": value}}) + "\n")
    path = f"{run_dir}/metrics.json"
    metrics = json.loads(open(path).read())
    mean = float(np.mean(list(scores.values())))
    metrics["judges"] = {judge: {"identity": identity, "judge": judge, "version": version, "args_hash": args_hash,
                                 "arg": "", "options": {}, "criteria": {"reward": {"mean": mean, "n": len(scores)}}}}
    open(path, "w").write(json.dumps(metrics))


def hand_judge_rewards(run_dir) -> dict:
    """{sample id: reward} read straight from judgments.jsonl (k = 1, one identity)."""
    return {r["id"]: r["scores"]["reward"] for r in map(json.loads, open(f"{run_dir}/judgments.jsonl"))}


def test_criteria_on_per_sample_judge_scores(cli, pair, isolated_home):
    """Per-sample judgments give a paired interval, and relative criteria use (B - A) / A."""
    a, b, _ = pair
    rng = np.random.default_rng(0)
    values = {}
    for run, mean in ((a, 0.5), (b, 0.6)):
        values[run["run_id"]] = np.clip(mean + rng.normal(0, 0.05, 200), 0, 1)
        write_judgments(run["dir"], "heuristic", "1", "abc", {str(i): float(v)
                                                             for i, v in enumerate(values[run["run_id"]])})
    va, vb = values[a["run_id"]], values[b["run_id"]]
    crit = isolated_home / "c.yaml"
    crit.write_text("name: mine\ncriteria:\n"
                    "  - {name: reward up 10%, metric: heuristic.reward, measure: relative, min: 0.1,\n"
                    "     significant: true}\n"
                    "  - {name: reward at most 0.55, metric: heuristic.reward, measure: value_b, max: 0.55}\n")
    code, out, _ = cli("compare", a["run_id"], b["run_id"], "--criteria", crit, "--json", "--no-reasoning")
    res = json.loads(out)
    d = res["differences"]["heuristic.reward"]
    assert d["a"] == pytest.approx(va.mean()) and d["b"] == pytest.approx(vb.mean())
    assert d["diff"] == pytest.approx(vb.mean() - va.mean())
    # the percentile bootstrap interval of a mean of 200 paired differences is close to the normal one
    half = 1.96 * np.std(vb - va, ddof=1) / np.sqrt(200)
    assert d["ci_low"] == pytest.approx(vb.mean() - va.mean() - half, abs=0.003) and d["ci_low"] > 0
    assert d["ci_high"] == pytest.approx(vb.mean() - va.mean() + half, abs=0.003)
    assert res["judges"] == {"heuristic": "heuristic@1#abc"}
    verdicts = {v["name"]: v for v in res["criteria"]["verdicts"]}
    assert (vb.mean() - va.mean()) / va.mean() > 0.1 and vb.mean() > 0.55  # so both criteria's outcomes are known
    assert verdicts["reward up 10%"]["status"] == "pass"
    assert verdicts["reward up 10%"]["value"] == pytest.approx((vb.mean() - va.mean()) / va.mean())
    assert verdicts["reward at most 0.55"]["status"] == "fail"
    assert code == 3


def test_judged_runs_evaluate_reasoning_quality(cli, pair):
    """After `harness judge`: paired intervals for the judge's criteria; toy_dpo's reasoning criterion is evaluated."""
    a, b, _ = pair
    for run in (a, b):
        code, _, err = cli("judge", run["run_id"], "--judge", "heuristic:lexical", "--quiet")
        assert code == 0, err
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--criteria", "toy_dpo", "--json")
    assert code in (0, 3), err
    res = json.loads(out)
    d = res["differences"]["heuristic.reward"]
    ra, rb = hand_judge_rewards(a["dir"]), hand_judge_rewards(b["dir"])
    assert len(ra) == len(rb) == 200
    ma, mb = np.mean([ra[i] for i in ra]), np.mean([rb[i] for i in ra])
    assert d["a"] == pytest.approx(ma) and d["b"] == pytest.approx(mb) and d["diff"] == pytest.approx(mb - ma)
    paired = np.array([rb[i] - ra[i] for i in ra])
    half = 1.96 * paired.std(ddof=1) / np.sqrt(len(paired))
    assert d["ci_low"] == pytest.approx(mb - ma - half, abs=0.01) and d["ci_high"] == pytest.approx(mb - ma + half,
                                                                                                    abs=0.01)
    quality = next(v for v in res["criteria"]["verdicts"] if v["metric"] == "heuristic.reward")
    assert quality["value"] == pytest.approx((mb - ma) / ma)
    assert quality["status"] == ("pass" if (mb - ma) / ma >= 0.10 else "fail")


def test_judgments_of_different_identities_are_not_compared(cli, pair, isolated_home):
    """Bug: two identical runs judged with other options showed a 'significant' difference."""
    a, _, _ = pair
    path = flipped_replay(a["dir"], isolated_home / "same.jsonl", set())
    b = eval_run(cli, f"replay:{path}", "combined_test")
    weights = isolated_home / "w.yaml"
    weights.write_text("reward:\n  coherence: 1.0\n")
    judge = lambda run, *extra: cli("judge", run["run_id"], "--judge", "heuristic:lexical", "--quiet", *extra)  # noqa: E731
    assert judge(a)[0] == 0 and judge(b, "--judge-option", f"heuristic.weights={weights}")[0] == 0
    ida = json.loads(open(f"{a['dir']}/metrics.json").read())["judges"]["heuristic"]["identity"]
    idb = json.loads(open(f"{b['dir']}/metrics.json").read())["judges"]["heuristic"]["identity"]
    assert ida != idb
    code, _, err = cli("compare", a["run_id"], b["run_id"])
    assert code == 1 and ida in err and idb in err and "not comparable" in err and "Traceback" not in err
    code, _, err = cli("report", a["run_id"], b["run_id"], "-o", "r.html")
    assert code == 1 and ida in err and idb in err
    # judged alike, the identical runs are identical; and when B's latest judging differs again, the one
    # identity both runs hold is used (the rule in harness.store.judgments.shared_summaries)
    for extra in ((), ("--judge-option", f"heuristic.weights={weights}")):
        assert judge(b, *extra)[0] == 0
        code, out, err = cli("compare", a["run_id"], b["run_id"], "--json", "--no-reasoning")
        assert code == 0, err
        res = json.loads(out)
        assert res["judges"] == {"heuristic": ida}
        assert res["differences"]["heuristic.reward"]["diff"] == 0


def test_bad_criteria_file(cli, pair, isolated_home):
    a, b, _ = pair
    crit = isolated_home / "bad.yaml"
    crit.write_text("criteria:\n  - {name: x, metric: accuracy, measure: ratio, min: 1}\n")
    code, _, err = cli("compare", a["run_id"], b["run_id"], "--criteria", crit)
    assert code == 1 and "criteria[0]" in err and "measure 'ratio'" in err and "bad.yaml" in err
    code, _, err = cli("compare", a["run_id"], b["run_id"], "--criteria", "nope")
    assert code == 1 and "toy_dpo" in err


def test_refuses_different_tasks(cli):
    a = eval_run(cli, "keyword-baseline", "combined_test")
    b = eval_run(cli, "keyword-baseline", "jailbreakbench")
    code, _, err = cli("compare", a["run_id"], b["run_id"])
    assert code == 1 and "Traceback" not in err
    assert "task 'combined_test'" in err and "task 'jailbreakbench'" in err and "same samples" in err


def test_no_shared_samples(cli):
    from harness.tasks import get_task
    from harness.tasks.task import stratified_subset

    samples = get_task("combined_test").load()
    ids = lambda seed: {s.id for s in stratified_subset(samples, 4, seed=seed)}  # noqa: E731
    seed = next(s for s in range(1, 50) if not ids(0) & ids(s))
    a = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "4")
    b = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "4", "--seed", str(seed))
    code, _, err = cli("compare", a["run_id"], b["run_id"])
    assert code == 1 and "share no sample ids" in err


def test_unfinished_run_is_refused_then_compared_with_partial(cli, pair):
    from harness.store.runs import RunStore

    a, _, _ = pair
    store = RunStore()
    done = store.open_run(a["run_id"])
    part = store.create_run("partial-run", "k-partial", {**done.manifest, "created_at": "2026-01-01T00:00:00Z"})
    with part.open_appender() as out:
        for rec in read_records(a["dir"])[:15]:
            out.append(SampleRecord.from_dict(rec))
    code, _, err = cli("compare", a["run_id"], "partial-run")
    assert code == 1 and "not finished: 15/200" in err and "--partial" in err
    code, out, err = cli("compare", a["run_id"], "partial-run", "--partial", "--json", "--no-reasoning")
    assert code == 0, err
    res = json.loads(out)
    assert res["partial"] and res["n_shared"] == 15 and res["b"]["complete"] is False
    assert res["differences"]["accuracy"]["diff"] == 0


def test_empty_index(cli):
    code, _, err = cli("compare", "run-a", "run-b")
    assert code == 1 and "holds no runs yet" in err and "harness eval" in err
    code, _, err = cli("report", "run-a", "-o", "r.html")
    assert code == 1 and "holds no runs yet" in err


def test_unknown_run_id(cli, pair):
    code, _, err = cli("compare", "no-such-run", pair[0]["run_id"])
    assert code == 1 and "no-such-run" in err


def diff(a, b):
    return {"a": a, "b": b, "diff": b - a, "ci_low": b - a - 0.01, "ci_high": b - a + 0.01, "significant": True}


@pytest.mark.parametrize("acc_b, reward_b, expected", [
    (0.600, 0.56, ["pass", "pass", "pass"]),   # 57.5% -> 60%, reward 0.50 -> 0.56 (+12%)
    (0.620, 0.56, ["fail", "fail", "pass"]),   # above the seed's 59-61% range
    (0.580, 0.52, ["fail", "fail", "fail"]),   # +0.5 points, +4% reward
])
def test_shipped_full_dpo_criteria_encode_the_seed_numbers(acc_b, reward_b, expected):
    from harness.analysis.criteria import evaluate, load_criteria

    name, criteria = load_criteria("full_dpo")
    result = {"differences": {"accuracy": diff(0.575, acc_b), "heuristic.reward": diff(0.50, reward_b)}}
    verdicts = evaluate(criteria, result)
    assert [v.status for v in verdicts] == expected
    no_judge = evaluate(criteria, {"differences": {"accuracy": diff(0.575, acc_b)}})
    assert no_judge[-1].status == "not evaluated" and "run harness judge first" in no_judge[-1].detail

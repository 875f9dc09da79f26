"""Judging recorded runs: judgments.jsonl, resume after kill, cache, SQLite, metrics, `harness judge`."""

import json
import sqlite3
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.interfaces.judge import Judge, JudgeOption, Judgment
from harness.judge.runner import judge_run, mean_with_ci
from harness.plugins import Registration, get_registry
from harness.store.judgments import read_judgments
from harness.store.runs import RunStore, read_jsonl_records

N, K = 12, 2


class CountingJudge(Judge):
    """Scores reasoning length, counts what it was asked, fails on one chosen sample."""

    name = "counting"
    version = "1"
    criteria = ("length",)
    calls: list = []

    def judge_batch(self, items):
        CountingJudge.calls.extend((i.sample_id, i.sample_index) for i in items)
        out = []
        for i in items:
            if i.sample_id == CountingJudge.fail_id:
                raise ValueError("this judge cannot read sample " + i.sample_id)
            out.append(Judgment({"length": min(1.0, len(i.reasoning) / 400)}, "length"))
        return out


@pytest.fixture
def counting(monkeypatch):
    CountingJudge.calls = []
    CountingJudge.fail_id = None
    reg = get_registry()
    monkeypatch.setitem(reg.items["judges"], "counting",
                        Registration("judges", "counting", CountingJudge, "tests"))
    return CountingJudge


@pytest.fixture
def run(cli):
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", N,
                         "--samples", K, "--quiet", "--json")
    assert code == 0, err
    run_id = json.loads(out)["runs"]["combined_test"]["run_id"]
    return RunStore().open_run(run_id)


def test_judge_run_writes_records_metrics_and_index(run):
    metrics = judge_run(run, ["heuristic:lexical"], progress=False)
    records = read_jsonl_records(run.dir / "judgments.jsonl")
    assert len(records) == N * K
    assert {(r["id"], r["sample_index"]) for r in records} == {(s.id, k) for s in run.read_samples()
                                                               for k in range(K)}
    section = metrics["judges"]["heuristic"]
    assert section["n_completions"] == N * K and section["n_failed"] == 0
    assert json.loads((run.dir / "metrics.json").read_text())["judges"] == metrics["judges"]
    assert metrics["accuracy"] == run.read_metrics()["accuracy"]  # the rest of the metrics is kept
    for criterion in ("coherence", "relevance", "specificity", "consistency", "label", "reward"):
        s = section["criteria"][criterion]
        assert s["ci_low"] <= s["mean"] <= s["ci_high"] and s["n"] == N
    label_mean = sum(r["scores"]["label"] for r in records) / len(records)
    assert section["criteria"]["label"]["mean"] == pytest.approx(label_mean)
    with sqlite3.connect(run.store.db_path) as conn:
        rows = conn.execute("SELECT criterion, mean, ci_low, ci_high, n FROM judge_metrics WHERE run_id=? AND judge=?",
                            (run.id, "heuristic")).fetchall()
        assert {r[0]: r[1] for r in rows}["reward"] == pytest.approx(section["criteria"]["reward"]["mean"])
        assert conn.execute("SELECT COUNT(*) FROM judgments WHERE run_id=?", (run.id,)).fetchone()[0] == N * K
        stored = json.loads(conn.execute("SELECT metrics_json FROM runs WHERE run_id=?", (run.id,)).fetchone()[0])
    assert "heuristic" in stored["judges"]
    scores = read_judgments(run, "heuristic").scores
    assert len(scores) == N * K and all("reward" in s for s in scores.values())


def test_resumes_after_kill_without_duplicates_or_rework(run, counting):
    judge_run(run, ["counting"], progress=False, cache=False)
    path = run.dir / "judgments.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    # a kill after 7 complete records, in the middle of writing the 8th
    path.write_text("".join(lines[:7]) + lines[7][:25])
    counting.calls = []
    judge_run(run, ["counting"], progress=False, cache=False)
    records = read_jsonl_records(path)
    assert len(records) == N * K
    assert len({(r["id"], r["sample_index"]) for r in records}) == N * K
    assert len(counting.calls) == N * K - 7
    counting.calls = []
    judge_run(run, ["counting"], progress=False, cache=False)  # nothing left to do
    assert counting.calls == [] and len(read_jsonl_records(path)) == N * K


def test_cache_serves_repeated_judging(run, counting):
    judge_run(run, ["counting"], progress=False)
    (run.dir / "judgments.jsonl").unlink()
    counting.calls = []
    metrics = judge_run(run, ["counting"], progress=False)
    assert counting.calls == []
    assert metrics["judges"]["counting"]["n_completions"] == N * K


def test_a_failing_sample_is_recorded_and_the_rest_scored(run, counting):
    counting.fail_id = run.read_samples()[3].id
    metrics = judge_run(run, ["counting"], progress=False)
    records = read_jsonl_records(run.dir / "judgments.jsonl")
    failed = [r for r in records if r["error"]]
    assert len(failed) == K and all("cannot read sample" in r["error"] for r in failed)
    assert metrics["judges"]["counting"]["n_failed"] == K
    assert metrics["judges"]["counting"]["criteria"]["length"]["n"] == N - 1
    # a rerun retries only the failures; once they succeed the later records win
    counting.fail_id, counting.calls = None, []
    metrics = judge_run(run, ["counting"], progress=False)
    assert sorted(counting.calls) == sorted((r["id"], r["sample_index"]) for r in failed)
    assert metrics["judges"]["counting"]["n_failed"] == 0
    assert metrics["judges"]["counting"]["criteria"]["length"]["n"] == N
    assert len(read_judgments(run, "counting").scores) == N * K


def test_older_or_broken_runs_are_clear_errors(run):
    manifest = json.loads(run.manifest_path.read_text())
    run.manifest_path.write_text(json.dumps({**manifest, "format_version": 0}))
    with pytest.raises(HarnessError, match="format version 0"):
        judge_run(run, ["heuristic:lexical"], progress=False)
    run.manifest_path.write_text(json.dumps(manifest))
    records = run.samples_path.read_text().splitlines()
    old = json.loads(records[1])
    old.pop("completions")
    run.samples_path.write_text("\n".join([records[0], json.dumps(old)] + records[2:]) + "\n")
    with pytest.raises(HarnessError, match=r"samples.jsonl:2: not a harness sample record \(KeyError: 'completions'\)"):
        judge_run(run, ["heuristic:lexical"], progress=False)


def test_harness_judge_command(run, cli, counting):
    code, out, err = cli("judge", run.dir, "--judge", "heuristic,counting", "--quiet",
                         "--judge-option", "heuristic.embeddings=false")
    assert code == 0, err
    assert "heuristic" in out and "counting" in out and "reward" in out
    code, out, err = cli("judge", run.id, "--judge", "counting", "--json", "--quiet")
    assert code == 0 and json.loads(out)["judges"]["counting"]["criteria"]["length"]["n"] == N


def test_harness_judge_bad_input(run, cli, tmp_path):
    code, _, err = cli("judge", run.id, "--judge", "heuristc")
    assert code == 1 and "Unknown judge 'heuristc'" in err and "heuristic" in err and "llm-judge" in err
    assert "Traceback" not in err
    code, _, err = cli("judge", tmp_path / "runs" / "no-such-run", "--judge", "heuristic")
    assert code == 1 and "Unknown run" in err
    (tmp_path / "notarun").mkdir()
    code, _, err = cli("judge", tmp_path / "notarun", "--judge", "heuristic")
    assert code == 1 and "no manifest.json" in err
    code, _, err = cli("judge", run.id, "--judge", "heuristic", "--judge-option", "embeddings=false")
    assert code == 1 and "JUDGE.KEY=VALUE" in err
    code, _, err = cli("judge", run.id, "--judge", "heuristic", "--judge-option", "heuristc.embeddings=false")
    assert code == 1 and "['heuristc']" in err
    code, out, _ = cli("judge", "--help")
    assert code == 0 and "Example" in out and "harness judge" in out


def test_bootstrap_interval_covers_the_mean_and_narrows_with_n():
    import numpy as np

    rng = np.random.default_rng(1)
    small = mean_with_ci(rng.uniform(size=30))
    large = mean_with_ci(rng.uniform(size=600))
    assert small["ci_low"] < small["mean"] < small["ci_high"]
    assert (large["ci_high"] - large["ci_low"]) < (small["ci_high"] - small["ci_low"]) / 2
    assert 0.45 < large["mean"] < 0.55 and large["ci_low"] < 0.5 < large["ci_high"]
    constant = mean_with_ci([0.7, 0.7, 0.7])
    assert constant["n"] == 3 and constant["mean"] == constant["ci_low"] == constant["ci_high"] == pytest.approx(0.7)


def test_judges_a_replayed_guardreasoner_run_on_real_traces(cli):
    import os

    preds = Path(os.environ["HARNESS_DATA_DIR"]) / "guardreasoner/predictions/1B/SimpleSafetyTests/generated_predictions.jsonl"
    code, out, err = cli("eval", "--model", f"replay:{preds}", "--task", "gr_simple_safety_tests", "--quiet", "--json",
                         "--judge", "heuristic:lexical")
    assert code == 0, err
    result = json.loads(out)["runs"]["gr_simple_safety_tests"]
    heuristic = result["judges"]["heuristic"]["criteria"]
    assert heuristic["label"]["n"] == result["n"] == 100
    records = RunStore().open_run(result["run_id"]).read_samples()
    assert heuristic["label"]["mean"] == pytest.approx(sum(r.correct for r in records) / len(records))
    # GuardReasoner-1B's traces conclude what they answer, and are about the prompt they judge
    assert heuristic["consistency"]["mean"] > 0.8
    assert heuristic["relevance"]["mean"] > 0.3 and heuristic["coherence"]["mean"] > 0.5


def test_llm_judge_with_a_real_hf_model_records_unparseable_answers(run, tmp_path):
    """A random tiny Llama through the hf plugin: its answers are noise, so each is a recorded failure."""
    from tests.tiny_models import build_tiny_llama

    tiny = build_tiny_llama(tmp_path / "tiny-judge", seed=3)
    spec = f"llm-judge:hf:{tiny}"
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=f"failed on all {N * K} completions"):  # issue 23: not a silent exit 0
        judge_run(run, [spec], progress=False,
                  options={"llm-judge": {"max_new_tokens": 6, "chat_template": True, "device": "cpu"}})
    section = run.read_metrics()["judges"][spec]  # the failures are still recorded and summarised
    assert section["n_completions"] == N * K and section["n_failed"] == N * K
    records = read_jsonl_records(run.dir / "judgments.jsonl")
    assert len(records) == N * K and all("not a JSON object" in r["error"] for r in records)
    assert section["criteria"] == {}


# -- judge identity: argument and options are part of what a judgment is -----------------


class ScaledJudge(Judge):
    """Scores reasoning length times ``scale``; counts what it was asked."""

    name = "scaled"
    version = "1"
    criteria = ("length",)
    options = {"scale": JudgeOption((float,), 1.0, "multiplies the score")}
    calls: list = []

    def __init__(self, scale=1.0):
        self.scale = scale

    def judge_batch(self, items):
        ScaledJudge.calls.extend((i.sample_id, i.sample_index) for i in items)
        return [Judgment({"length": min(1.0, self.scale * len(i.reasoning) / 4000)}, "") for i in items]


@pytest.fixture
def scaled(monkeypatch):
    ScaledJudge.calls = []
    monkeypatch.setitem(get_registry().items["judges"], "scaled",
                        Registration("judges", "scaled", ScaledJudge, "tests"))
    return ScaledJudge


def hand_mean(run, scale):
    """The run's mean by hand: per sample, the mean over its completions of min(1, scale * len / 4000)."""
    per_sample = [sum(min(1.0, scale * len(c.reasoning) / 4000) for c in rec.completions) / len(rec.completions)
                  for rec in run.read_samples()]
    return sum(per_sample) / len(per_sample)


@pytest.mark.parametrize("cache", [True, False])
def test_judging_again_with_other_options_judges_again(run, scaled, cache):
    """Bug: resume and cache were keyed by (judge, version), so the second options got the first's scores."""
    first = judge_run(run, ["scaled"], progress=False, cache=cache, options={"scaled": {"scale": 1.0}})
    assert first["judges"]["scaled"]["criteria"]["length"]["mean"] == pytest.approx(hand_mean(run, 1.0))
    scaled.calls = []
    second = judge_run(run, ["scaled"], progress=False, cache=cache, options={"scaled": {"scale": 3}})
    assert len(scaled.calls) == N * K  # nothing served from the first options' judgments
    section = second["judges"]["scaled"]
    assert section["criteria"]["length"]["mean"] == pytest.approx(hand_mean(run, 3.0))
    assert hand_mean(run, 3.0) != pytest.approx(hand_mean(run, 1.0))
    assert section["options"] == {"scale": 3} and section["arg"] == ""
    assert section["identity"] != first["judges"]["scaled"]["identity"]
    assert section["identity"].startswith("scaled@1#")
    # every record carries its identity; both judgings are kept, the first is not overwritten
    records = read_jsonl_records(run.dir / "judgments.jsonl")
    assert {r["identity"] for r in records} == {first["judges"]["scaled"]["identity"], section["identity"]}
    assert all(r["judge"] == "scaled" and r["version"] == "1" and r["identity"].endswith(r["args_hash"])
               for r in records)
    # the same options again (the default filled in counts as given) resume: nothing is judged twice
    scaled.calls = []
    judge_run(run, ["scaled"], progress=False, cache=cache)
    assert scaled.calls == []
    with sqlite3.connect(run.store.db_path) as conn:
        identities = {r[0] for r in conn.execute("SELECT DISTINCT identity FROM judge_metrics WHERE run_id=?",
                                                 (run.id,))}
    assert identities == {first["judges"]["scaled"]["identity"], section["identity"]}


def test_judge_arguments_and_options_are_checked_before_any_work(run, cli, scaled):
    code, _, err = cli("judge", run.id, "--judge", "scaled:big")
    assert code == 1 and "judge 'scaled' takes no argument" in err and "'big'" in err and "Traceback" not in err
    code, _, err = cli("judge", run.id, "--judge", "scaled", "--judge-option", "scaled.scael=2")
    assert code == 1 and "judge 'scaled' has no option 'scael'" in err and "scale" in err
    assert "Traceback" not in err
    code, _, err = cli("judge", run.id, "--judge", "scaled", "--judge-option", "scaled.scale=big")
    assert code == 1 and "option 'scale' must be float, got str" in err and "Traceback" not in err
    code, _, err = cli("judge", run.id, "--judge", "heuristic:fast")
    assert code == 1 and "heuristic:lexical" in err
    code, _, err = cli("judge", run.id, "--judge", "llm-judge")
    assert code == 1 and "needs an argument" in err
    assert scaled.calls == [] and not (run.dir / "judgments.jsonl").exists()


@pytest.mark.parametrize("judge, option, message", [
    ("heuristic", "heuristic.embedings=false", "judge 'heuristic' has no option 'embedings'"),
    ("heuristic", "heuristic.quantize=3", "option 'quantize' must be bool, got int"),
    ("llm-judge:no-such-model", "llm-judge.max_new_tokens=5", "Unknown model 'no-such-model'"),
])
def test_eval_refuses_bad_judge_options_before_generating(cli, judge, option, message):
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", 4, "--quiet",
                       "--judge", judge, "--judge-option", option)
    assert code == 1 and message in err and "Traceback" not in err
    assert RunStore().list_runs() == []  # nothing was generated


def test_old_judgment_records_are_a_clear_error(run):
    (run.dir / "judgments.jsonl").write_text(json.dumps({"id": "1", "sample_index": 0, "judge": "heuristic",
                                                         "version": "1", "scores": {"reward": 0.5}}) + "\n")
    with pytest.raises(HarnessError, match=r"judgments.jsonl:1: not a harness judgment record.*judge the run again"):
        judge_run(run, ["heuristic:lexical"], progress=False)


def test_a_judge_option_without_a_judge_is_refused_before_any_run(cli, isolated_home):
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4",
                       "--judge-option", "heuristic.embeddings=false")
    assert code == 1 and "--judge-option heuristic.embeddings=false is given without --judge" in err
    assert not (isolated_home / "runs").exists() or not list((isolated_home / "runs").glob("*/manifest.json"))

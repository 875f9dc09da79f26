"""The judge that built the pairs does not certify the child (issue 29, part 6): lineage, refusal, the flag."""

import json

import pytest

from harness.analysis.self_certification import lineage_pair_judges, pair_judges_of_data
from harness.errors import HarnessError
from tests.report_fixtures import eval_run, flipped_replay, register
from tests.test_compare import write_judgments

PAIR_JUDGE = "heuristic@1#abc"
CRITERIA = ("name: mine\ncriteria:\n"
            "  - {name: reasoning up 10%, metric: heuristic.reward, measure: relative, min: 0.1}\n"
            "  - {name: accuracy kept, metric: accuracy, measure: difference, min: -1}\n")


@pytest.fixture
def child_pair(cli, isolated_home):
    """A = the keyword baseline; B = checkpoint 'child' (a replay of A) whose lineage says heuristic@1#abc built
    its pairs. Rewards written by hand: 0.5 on every A sample, 0.6 on every B sample (+20 %)."""
    home = isolated_home / "home"
    register(home, "parent", "keyword-baseline")
    a = eval_run(cli, "parent", "combined_test")
    path = flipped_replay(a["dir"], isolated_home / "b.jsonl", set())
    register(home, "child", f"replay:{path}", parent="parent", lineage={"pair_judges": [PAIR_JUDGE]})
    b = eval_run(cli, "child", "combined_test")
    crit = isolated_home / "c.yaml"
    crit.write_text(CRITERIA)
    return a, b, crit


def judge_both(a, b, version, args_hash):
    for run, value in ((a, 0.5), (b, 0.6)):
        write_judgments(run["dir"], "heuristic", version, args_hash, {str(i): value for i in range(200)})


def test_the_pair_judge_is_refused_and_named(cli, child_pair):
    a, b, crit = child_pair
    judge_both(a, b, "1", "abc")
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--criteria", crit, "--no-reasoning")
    assert code == 1 and "Traceback" not in err
    assert "self-certification refused" in err and "'reasoning up 10%' (heuristic.reward)" in err
    assert f"certified by judge {PAIR_JUDGE}, which built the training pairs of child" in err
    assert "llm-judge:MODEL" in err and "--allow-self-certified" in err  # which other judge to use, and the flag


def test_the_flag_marks_the_verdict_self_certified_in_text_and_json(cli, child_pair):
    a, b, crit = child_pair
    judge_both(a, b, "1", "abc")
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--criteria", crit, "--no-reasoning",
                         "--allow-self-certified")
    assert code == 0, err
    assert "PASS (SELF-CERTIFIED) reasoning up 10%: relative +0.2000" in out
    assert f"self-certified: judge {PAIR_JUDGE} built the candidate's training pairs" in out
    assert f"pairs of child were built by judge {PAIR_JUDGE}" in out
    assert "PASS           accuracy kept" in out  # no judge decides accuracy
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--criteria", crit, "--no-reasoning", "--json",
                         "--allow-self-certified")
    res = json.loads(out)
    assert res["pair_judges"] == [{"identity": PAIR_JUDGE, "checkpoint": "child"}]
    verdicts = {v["name"]: v for v in res["criteria"]["verdicts"]}
    assert verdicts["reasoning up 10%"]["self_certified"] and verdicts["reasoning up 10%"]["certified_by"] == PAIR_JUDGE
    assert verdicts["reasoning up 10%"]["value"] == pytest.approx(0.2)  # (0.6 - 0.5) / 0.5 by hand
    assert not verdicts["accuracy kept"]["self_certified"] and res["criteria"]["self_certified"] is True


def test_a_different_judge_identity_certifies_normally(cli, child_pair):
    a, b, crit = child_pair
    judge_both(a, b, "2", "abc")  # the same judge name, another version: another identity
    code, out, err = cli("compare", a["run_id"], b["run_id"], "--criteria", crit, "--no-reasoning", "--json")
    assert code == 0, err
    verdict = json.loads(out)["criteria"]["verdicts"][0]
    assert verdict["status"] == "pass" and verdict["certified_by"] == "heuristic@2#abc"
    assert verdict["self_certified"] is False


def test_report_refuses_then_marks_the_html(cli, child_pair, isolated_home):
    a, b, crit = child_pair
    judge_both(a, b, "1", "abc")
    out_html = isolated_home / "r.html"
    code, _, err = cli("report", a["run_id"], b["run_id"], "-o", out_html, "--criteria", crit)
    assert code == 1 and "self-certification refused" in err and not out_html.exists()
    code, _, err = cli("report", a["run_id"], b["run_id"], "-o", out_html, "--criteria", crit,
                       "--allow-self-certified")
    assert code == 0, err
    html = out_html.read_text()
    assert "PASS (SELF-CERTIFIED)</span>" in html and f"built by judge {PAIR_JUDGE}" in html


def test_pairs_stats_reach_the_lineage(isolated_home, monkeypatch):
    """harness train copies the stats' pair_judges into the lineage (a stub trainer: no model)."""
    from harness.checkpoints.registry import load_registry
    from harness.interfaces.trainer import TrainResult
    from harness.train import checkpoint
    from tests.test_bad_input_more import stub_trainer

    pairs = isolated_home / "p.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
    (isolated_home / "p.stats.json").write_text(json.dumps({"strategy": "reasoning-quality",
                                                            "pair_judges": [PAIR_JUDGE, "llm-judge@1#x"]}))

    def train(request):
        (request.output_dir / "adapter").mkdir(parents=True)
        return TrainResult(spec=f"hf:org/base+{request.output_dir / 'adapter'}")

    stub_trainer(monkeypatch, train)
    checkpoint.train_checkpoint("dpo", "hf:org/base", pairs, "kid", {})
    assert load_registry()["kid"]["lineage"]["pair_judges"] == [PAIR_JUDGE, "llm-judge@1#x"]
    assert lineage_pair_judges("kid")[0].checkpoint == "kid"
    (isolated_home / "p.stats.json").write_text("{not json")
    with pytest.raises(HarnessError, match="p.stats.json: not valid JSON"):
        pair_judges_of_data(pairs)
    (isolated_home / "p.stats.json").unlink()
    assert pair_judges_of_data(pairs) is None  # hand-written pairs: unknown


def test_lineage_walks_from_the_candidate_up_to_the_baseline():
    entries = {"base": {"spec": "x"},
               "c1": {"parent": "base", "lineage": {"pair_judges": ["h@1#a"]}},
               "c2": {"parent": "c1", "lineage": {"pair_judges": ["l@1#b"]}}}
    assert [(p.identity, p.checkpoint) for p in lineage_pair_judges("c2", "base", entries)] == [
        ("l@1#b", "c2"), ("h@1#a", "c1")]
    assert [p.identity for p in lineage_pair_judges("c2", "c1", entries)] == ["l@1#b"]  # c1's pairs made A
    assert lineage_pair_judges("base", None, entries) == [] and lineage_pair_judges("hf:x", None, entries) == []


def test_pipeline_criteria_step_refuses_then_marks_and_bounds_signs(child_pair, isolated_home):
    """The pipeline's criteria step: the same refusal (naming criteria.allow_self_certified), then marked."""
    from harness.train.pipeline import Pipeline
    from harness.train.pipeline_criteria import CriteriaFailed, criteria_step, parse_criteria

    a, b, crit = child_pair
    judge_both(a, b, "1", "abc")
    state = Pipeline(isolated_home / "pipelines" / "x")
    pairs = {"combined_test": (a["run_id"], b["run_id"])}
    section = parse_criteria({"criteria": {"file": str(crit)}}, "p.yaml")
    with pytest.raises(HarnessError, match="criteria.allow_self_certified") as exc:
        criteria_step(section, pairs, state)
    assert f"certified by judge {PAIR_JUDGE}" in str(exc.value)
    lines = []
    section = parse_criteria({"criteria": {"file": str(crit), "allow_self_certified": True,
                                           "signs": {"max_length_ratio": 1.0, "max_copy_rate_increase": 0.0}}},
                             "p.yaml")
    assert criteria_step(section, pairs, state, echo=lines.append) == []  # B's reasoning is A's: no change
    assert any("PASS (SELF-CERTIFIED) reasoning up 10%" in line for line in lines)
    assert any("signs combined_test: PASS" in line and "ratio 1.0000" in line for line in lines)
    step = state.state["steps"]["criteria"]
    assert step["status"] == "pass" and step["self_certified"] is True
    assert CriteriaFailed("x").exit_code == 3


@pytest.mark.parametrize("home", ["absolute", "relative"])
def test_overwrite_moves_every_staging_path_to_the_checkpoint(isolated_home, monkeypatch, home):
    """After --overwrite nothing names the staging folder: spec, monitor.file, adapter_dir, train_metrics.json."""
    from harness.checkpoints.registry import harness_home, load_registry
    from harness.interfaces.trainer import TrainResult
    from harness.train import checkpoint
    from tests.test_bad_input_more import stub_trainer

    if home == "relative":
        monkeypatch.setenv("HARNESS_HOME", "home")  # the cwd is the test's folder
    pairs = isolated_home / "p.jsonl"
    pairs.write_text(json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n")
    seen = []

    def train(request):  # as the TRL trainer reports: the spec resolved, the monitor file as given
        out = request.output_dir
        (out / "adapter").mkdir(parents=True)
        metrics = {"monitor": {"file": str(out / "monitor.jsonl"), "points": 2}, "profile_trace": [str(out / "t.gz")]}
        (out / "train_metrics.json").write_text(json.dumps(metrics))
        result = TrainResult(spec=f"hf:org/base+{(out / 'adapter').resolve()}", metrics=metrics, adapter_dir=out)
        seen.append(result)
        return result

    stub_trainer(monkeypatch, train)
    checkpoint.train_checkpoint("dpo", "hf:org/base", pairs, "kid", {})
    entry = checkpoint.train_checkpoint("dpo", "hf:org/base", pairs, "kid", {}, overwrite=True)
    final = harness_home() / "checkpoints" / "kid"
    lineage = load_registry()["kid"]["lineage"]
    assert lineage["monitor"]["file"] == str(final / "monitor.jsonl") == entry["lineage"]["monitor"]["file"]
    assert lineage["metrics"]["profile_trace"] == [str(final / "t.gz")]
    assert load_registry()["kid"]["spec"] == f"hf:org/base+{(final / 'adapter').resolve()}"
    assert seen[-1].adapter_dir == final
    on_disk = json.loads((final / "train_metrics.json").read_text())
    assert on_disk["monitor"]["file"] == str(final / "monitor.jsonl")
    assert ".kid.overwrite" not in (harness_home() / "checkpoints.yaml").read_text()

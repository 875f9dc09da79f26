"""Issue 23: nothing silently wrong: a model that produced nothing fails its run; checks that used to pass quietly."""

import json

import pytest

from harness.tasks import templates
from harness.tasks import get_task


def replay_file(tmp_path, predict, n=None):
    task = get_task("combined_test")
    samples = task.load()
    tpl = templates.resolve_template(task.template)
    path = tmp_path / "replay.jsonl"
    with path.open("w") as fh:
        for s in samples[:n]:
            fh.write(json.dumps({"prompt": templates.render(tpl, s.prompt, None), "label": s.gold,
                                 "predict": predict(s)}) + "\n")
    return path


def test_a_model_that_produced_nothing_is_failed_not_ranked_and_retried(cli, tmp_path):
    empty = replay_file(tmp_path, lambda s: "   ")
    code, out, err = cli("eval", "--model", f"replay:{empty}", "--task", "combined_test", "--limit", "6", "--quiet")
    assert code == 1 and "Traceback" not in err
    assert "no usable completion" in err and "6 requests" in err and "run the same command again" in err
    code, out, _ = cli("runs", "--json")
    [row] = json.loads(out)
    assert row["status"] == "failed" and row["f1"] is None and row["accuracy"] is None
    code, out, _ = cli("leaderboard", "--include-subsets", "--format", "json")
    assert "replay" not in out  # not ranked
    # the same command retries it: now with real completions, it completes
    replay_file(tmp_path, lambda s: f"reasoning\nLabel: {s.gold}")
    code, out, err = cli("eval", "--model", f"replay:{empty}", "--task", "combined_test", "--limit", "6", "--quiet",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["runs"]["combined_test"]["accuracy"] == 1.0
    code, out, _ = cli("runs", "--json")
    assert sorted(r["status"] for r in json.loads(out)) == ["complete", "failed"]


def test_a_model_that_answered_some_requests_is_scored(cli, tmp_path):
    preds = replay_file(tmp_path, lambda s: f"reasoning\nLabel: {s.gold}", n=3)  # the other prompts have no answer
    code, out, err = cli("eval", "--model", f"replay:{preds}", "--task", "combined_test", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["runs"]["combined_test"]["parse_failures"] == 197


def test_runs_filter_that_matches_nothing_says_so(cli, tmp_path):
    assert cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet")[0] == 0
    code, out, err = cli("runs", "--task", "NOMATCH")
    assert code == 0 and "No run matches --task NOMATCH" in out and "No runs yet" not in out


def test_compare_and_report_of_a_run_with_itself_are_refused(cli, tmp_path):
    assert cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet")[0] == 0
    [run] = [p.parent.name for p in (tmp_path / "runs").glob("*/manifest.json")]
    code, _, err = cli("compare", run, run)
    assert code == 1 and "with itself" in err
    code, _, err = cli("compare", run, tmp_path / "runs" / run)  # the same run by id and by folder
    assert code == 1 and "with itself" in err
    code, _, err = cli("report", run, run, "-o", "r.html")
    assert code == 1 and "more than once" in err and not (tmp_path / "r.html").exists()


@pytest.mark.parametrize("args,needle", [
    (("pairs", "--from-hard-samples", "h.json", "--gamma", "nan"), "--gamma"),
    (("pairs", "--from-hard-samples", "h.json", "--gamma", "inf"), "--gamma"),
    (("eval", "--model", "keyword-baseline", "--task", "combined_test", "--seed", "-1"), "--seed"),
    (("eval", "--model", "keyword-baseline", "--task", "combined_test", "--temperature", "nan"), "--temperature"),
    (("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "-5"), "--limit"),
    (("judge", "RUN", "--judge", "heuristic", "--margin", "nan"), "--margin"),
])
def test_numbers_are_finite_and_in_range(cli, tmp_path, args, needle):
    (tmp_path / "h.json").write_text("[]")
    code, out, err = cli(*args)
    assert code == 2 and "Traceback" not in err and f"'{needle}'" in err, err


def test_a_judge_that_fails_on_every_item_exits_non_zero(cli, tmp_path, monkeypatch):
    from harness.judge.runner import judge_class

    assert cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet")[0] == 0
    [run] = [p.parent.name for p in (tmp_path / "runs").glob("*/manifest.json")]

    def broken(self, items):
        raise RuntimeError("endpoint down")

    monkeypatch.setattr(judge_class("heuristic"), "judge_batch", broken)
    code, out, err = cli("judge", run, "--judge", "heuristic", "--quiet", "--no-cache")
    assert code == 1 and "Traceback" not in err
    assert "failed on all 4 completions" in err and "endpoint down" in err

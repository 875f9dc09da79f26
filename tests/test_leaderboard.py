"""`harness leaderboard` on real runs of the shared data."""

import csv
import io
import json
import sqlite3

import pytest

from tests.report_fixtures import eval_run, flipped_replay, register


@pytest.fixture
def two_models(cli, isolated_home):
    """keyword-baseline on combined_test and jailbreakbench, and 'guard' (a replay with 20 flips on combined_test).

    'guard' gets two runs on combined_test: v1 (20 verdicts flipped) then v2 (the keyword's own verdicts).
    """
    kw_ct = eval_run(cli, "keyword-baseline", "combined_test")
    kw_jb = eval_run(cli, "keyword-baseline", "jailbreakbench")
    ids = [str(i) for i in range(20)]
    v1 = flipped_replay(kw_ct["dir"], isolated_home / "v1.jsonl", set(ids))
    v2 = flipped_replay(kw_ct["dir"], isolated_home / "v2.jsonl", set())
    home = isolated_home / "home"
    register(home, "guard", f"replay:{v1}", parser="label-line")
    g1 = eval_run(cli, "guard", "combined_test")
    register(home, "guard", f"replay:{v2}", parser="label-line")
    g2 = eval_run(cli, "guard", "combined_test")
    return {"kw_ct": kw_ct, "kw_jb": kw_jb, "g1": g1, "g2": g2}


def test_matrix_latest_and_weighted_average(cli, two_models):
    code, out, err = cli("leaderboard", "--format", "json")
    assert code == 0, err
    board = json.loads(out)
    assert board["tasks"] == ["combined_test", "jailbreakbench"]
    rows = {r["model"]: r for r in board["rows"]}
    kw_ct, kw_jb, g2 = two_models["kw_ct"], two_models["kw_jb"], two_models["g2"]
    # latest run of 'guard' is v2, which replays the keyword's verdicts exactly
    assert rows["guard"]["tasks"]["combined_test"]["run_id"] == g2["run_id"]
    assert rows["guard"]["tasks"]["combined_test"]["accuracy"] == pytest.approx(kw_ct["accuracy"])
    expected = (kw_ct["accuracy"] * kw_ct["n"] + kw_jb["accuracy"] * kw_jb["n"]) / (kw_ct["n"] + kw_jb["n"])
    assert rows["keyword-baseline"]["average"]["accuracy"] == pytest.approx(expected)
    assert rows["keyword-baseline"]["n"] == kw_ct["n"] + kw_jb["n"]
    assert "jailbreakbench" not in rows["guard"]["tasks"]


def test_best_selection_and_sorting(cli, two_models):
    g1, g2 = two_models["g1"], two_models["g2"]
    assert g1["accuracy"] != g2["accuracy"]
    best = max((g1, g2), key=lambda m: m["accuracy"])
    code, out, _ = cli("leaderboard", "--task", "combined_test", "--select", "best", "--format", "json")
    rows = {r["model"]: r for r in json.loads(out)["rows"]}
    assert rows["guard"]["tasks"]["combined_test"]["run_id"] == best["run_id"]
    # sorted by the chosen metric, best first
    code, out, _ = cli("leaderboard", "--task", "combined_test", "--metric", "parse_failure_rate", "--format", "json")
    order = [r["average"]["parse_failure_rate"] for r in json.loads(out)["rows"]]
    assert order == sorted(order)
    code, out, _ = cli("leaderboard", "--format", "json")
    acc = [r["average"]["accuracy"] for r in json.loads(out)["rows"]]
    assert acc == sorted(acc, reverse=True)


def test_text_markdown_csv_html(cli, two_models):
    kw_ct = two_models["kw_ct"]
    code, out, _ = cli("leaderboard")
    assert code == 0
    header = out.splitlines()[0].split()
    assert header[:3] == ["model", "combined_test", "jailbreakbench"]
    kw_line = next(line for line in out.splitlines() if line.startswith("keyword-baseline"))
    assert f"{100 * kw_ct['accuracy']:.1f}" in kw_line
    code, out, _ = cli("leaderboard", "--format", "markdown")
    assert out.startswith("| model | combined_test | jailbreakbench | avg (weighted) |")
    code, out, _ = cli("leaderboard", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    kw = next(r for r in rows if r["model"] == "keyword-baseline" and r["task"] == "combined_test")
    assert float(kw["accuracy"]) == pytest.approx(kw_ct["accuracy"])
    assert float(kw["f1"]) == pytest.approx(kw_ct["f1"])
    assert kw["run_id"] == kw_ct["run_id"]
    assert any(r["task"] == "weighted average" for r in rows)
    code, out, _ = cli("leaderboard", "--format", "html", "-o", "board.html")
    html = open("board.html", encoding="utf-8").read()
    assert "<table class='leaderboard'>" in html and "<script" not in html


def set_judges(db, run_id, judges: dict):
    """Give a run's indexed metrics a judges section written by hand: {name: (args_hash, {criterion: mean}, lower)}."""
    with sqlite3.connect(db) as conn:
        row = conn.execute("SELECT metrics_json FROM metrics WHERE run_id = ? AND policy = 'strict'", (run_id,))
        metrics = json.loads(row.fetchone()[0])
        metrics["judges"] = {
            name: {"identity": f"{name}@1#{h}", "judge": name, "version": "1", "args_hash": h, "lower_is_better": lower,
                   "criteria": {c: {"mean": m, "ci_low": m, "ci_high": m, "n": 200} for c, m in crit.items()}}
            for name, (h, crit, lower) in judges.items()}
        conn.execute("UPDATE metrics SET metrics_json = ? WHERE run_id = ? AND policy = 'strict'",
                     (json.dumps(metrics), run_id))


def test_judge_means_rank_the_board(cli, two_models, isolated_home):
    """Judge scores are read from each run's judges section and can rank the board."""
    db = isolated_home / "runs" / "harness.db"
    set_judges(db, two_models["kw_ct"]["run_id"], {"heuristic": ("aaa", {"reward": 0.41}, [])})
    set_judges(db, two_models["g2"]["run_id"], {"heuristic": ("aaa", {"reward": 0.62}, [])})
    code, out, err = cli("leaderboard", "--task", "combined_test", "--metric", "heuristic.reward", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)["rows"]
    assert [r["model"] for r in rows] == ["guard", "keyword-baseline"]
    assert rows[0]["tasks"]["combined_test"]["heuristic.reward"] == 0.62
    assert rows[1]["tasks"]["combined_test"]["heuristic.reward"] == 0.41
    # without judge scores the board still works and the metric is simply unknown
    code, _, err = cli("leaderboard", "--metric", "heuristic.coherence")
    assert code == 1 and "Unknown metric 'heuristic.coherence'" in err and "heuristic.reward" in err


def test_a_judge_declares_which_criteria_are_lower_is_better(cli, two_models, isolated_home):
    """Bug: only a hard-coded list of metrics could be lower-is-better; a judge's error rate ranked highest first."""
    db = isolated_home / "runs" / "harness.db"
    set_judges(db, two_models["kw_ct"]["run_id"], {"errs": ("e", {"rate": 0.40}, ["rate"])})
    set_judges(db, two_models["g2"]["run_id"], {"errs": ("e", {"rate": 0.10}, ["rate"])})
    code, out, err = cli("leaderboard", "--task", "combined_test", "--metric", "errs.rate", "--format", "json")
    assert code == 0, err
    assert [r["average"]["errs.rate"] for r in json.loads(out)["rows"]] == [0.10, 0.40]
    code, out, _ = cli("leaderboard", "--task", "combined_test", "--metric", "errs.rate")
    assert "lower is better" in out


def test_judgments_of_different_identities_are_not_set_side_by_side(cli, two_models, isolated_home):
    db = isolated_home / "runs" / "harness.db"
    kw, g2 = two_models["kw_ct"]["run_id"], two_models["g2"]["run_id"]
    set_judges(db, kw, {"heuristic": ("aaa", {"reward": 0.41}, [])})
    set_judges(db, g2, {"heuristic": ("bbb", {"reward": 0.62}, [])})
    code, _, err = cli("leaderboard", "--task", "combined_test", "--metric", "heuristic.reward")
    assert code == 1 and "heuristic@1#aaa" in err and "heuristic@1#bbb" in err and "Traceback" not in err
    code, out, err = cli("leaderboard", "--task", "combined_test", "--format", "json")
    assert code == 0, err
    board = json.loads(out)
    assert all("heuristic.reward" not in cell for r in board["rows"] for cell in r["tasks"].values())
    assert any("heuristic@1#aaa" in n and "heuristic@1#bbb" in n for n in board["notes"])

def test_leaderboard_per_policy_on_one_scale(cli):
    """A run re-scored under the paper policy shows that policy's F1 on the same 0-1 scale (the paper's 98.99 %)."""
    from tests.conftest import DATA_DIR

    preds = DATA_DIR / "guardreasoner/predictions/1B/SimpleSafetyTests/generated_predictions.jsonl"
    strict = eval_run(cli, f"replay:{preds}", "gr_simple_safety_tests")
    paper = eval_run(cli, f"replay:{preds}", "gr_simple_safety_tests", "--policy", "guardreasoner-paper")
    assert strict["policy"] == "strict" and paper["policy"] == "guardreasoner-paper"
    assert paper["run_id"] == strict["run_id"]  # the same run, scored twice
    assert round(paper["f1"], 4) == 0.9899
    code, out, err = cli("leaderboard", "--metric", "f1", "--format", "json")  # each run's own policy: strict
    assert code == 0, err
    cell = json.loads(out)["rows"][0]["tasks"]["gr_simple_safety_tests"]
    assert cell["policy"] == "strict" and cell["f1"] == pytest.approx(strict["f1"])
    code, out, err = cli("leaderboard", "--metric", "f1", "--policy", "guardreasoner-paper", "--format", "json")
    assert code == 0, err
    cell = json.loads(out)["rows"][0]["tasks"]["gr_simple_safety_tests"]
    assert cell["policy"] == "guardreasoner-paper" and cell["f1"] == pytest.approx(paper["f1"])
    code, out, _ = cli("leaderboard", "--metric", "f1", "--policy", "guardreasoner-paper")
    assert "99.0" in out  # percent only in the table
    code, _, err = cli("leaderboard", "--policy", "exclude")
    assert code == 1 and "1 not scored under policy exclude" in err


def test_empty_index_and_unfinished_runs(cli, isolated_home):
    code, _, err = cli("leaderboard")
    assert code == 1 and "holds no runs yet" in err and "harness eval" in err
    from harness.store.runs import RunStore

    RunStore().create_run("r1", "k1", {"model": "m", "task": {"name": "combined_test"}, "policy": "strict",
                                       "created_at": "2026-01-01",
                                       "n_total": 200})
    code, _, err = cli("leaderboard")
    assert code == 1 and "No complete runs" in err and "1 unfinished" in err
    code, _, err = cli("leaderboard", "--task", "wildguard")
    assert code == 1 and "wildguard" in err

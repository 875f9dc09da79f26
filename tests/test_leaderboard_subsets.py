"""The leaderboard never puts a ``--limit`` subset run in a full task's column (issue 11).

Runs are keyword-baseline on combined_test, whole and with --limit 100; the subset run is the later one, so
"latest" would pick it if subsets were mixed in.
"""

import json
import sqlite3

import pytest

from tests.report_fixtures import eval_run


@pytest.fixture
def full_then_subset(cli):
    full = eval_run(cli, "keyword-baseline", "combined_test")
    subset = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "100")
    assert subset["n"] == 100 and full["n"] > 100
    return full, subset


def board(cli, *args):
    code, out, err = cli("leaderboard", "--format", "json", *args)
    assert code == 0, err
    return json.loads(out)


def test_by_default_only_the_full_run_is_ranked(cli, full_then_subset):
    full, subset = full_then_subset
    data = board(cli)
    assert data["tasks"] == ["combined_test"] and data["subset_runs_left_out"] == 1
    cell = data["rows"][0]["tasks"]["combined_test"]
    assert cell["run_id"] == full["run_id"] and cell["n"] == full["n"]
    assert cell["accuracy"] == pytest.approx(full["accuracy"])
    code, out, _ = cli("leaderboard")
    assert "1 subset (--limit) run(s) left out (--include-subsets shows them)" in out


def test_include_subsets_gives_subset_runs_their_own_column(cli, full_then_subset):
    full, subset = full_then_subset
    data = board(cli, "--include-subsets", "--task", "combined_test")
    assert data["tasks"] == ["combined_test", "combined_test[limit=100]"]
    row = data["rows"][0]
    assert row["tasks"]["combined_test"]["run_id"] == full["run_id"]
    assert row["tasks"]["combined_test[limit=100]"]["run_id"] == subset["run_id"]
    assert row["tasks"]["combined_test[limit=100]"]["n"] == 100
    # the average is over full tasks only: the subset's samples are not counted twice
    assert row["n"] == full["n"] and row["average"]["accuracy"] == pytest.approx(full["accuracy"])
    code, out, _ = cli("leaderboard", "--include-subsets", "--format", "markdown")
    assert "| model | combined_test | combined_test[limit=100] |" in out


def test_only_subset_runs_is_an_error_that_names_the_flag(cli):
    eval_run(cli, "keyword-baseline", "combined_test", "--limit", "100")
    code, _, err = cli("leaderboard")
    assert code == 1 and "1 complete subset run(s) made with --limit" in err and "--include-subsets" in err


def test_migration_m004_fills_the_limit_of_existing_runs_from_their_manifests(cli, isolated_home):
    """An index made before m004 learns each run's limit from its manifest, so old subset runs drop out too."""
    from harness.store import db

    full = eval_run(cli, "keyword-baseline", "combined_test")
    subset = eval_run(cli, "keyword-baseline", "combined_test", "--limit", "100")
    path = isolated_home / "runs" / "harness.db"
    with sqlite3.connect(path) as conn:  # back to the schema before m004
        conn.execute("ALTER TABLE runs DROP COLUMN task_limit")
        conn.execute("DELETE FROM _migrations WHERE name = 'm004_task_limit'")
    with db.connect_run_index(path) as conn:
        limits = dict(conn.execute("SELECT run_id, task_limit FROM runs").fetchall())
    assert limits == {full["run_id"]: None, subset["run_id"]: 100}
    assert board(cli)["rows"][0]["tasks"]["combined_test"]["run_id"] == full["run_id"]

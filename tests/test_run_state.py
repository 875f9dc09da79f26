"""Scoring separate from generation, the run index's migrations, run state on failed loads, provenance."""

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.store.runs import RunStore
from tests.conftest import DATA_DIR

PREDS = DATA_DIR / "guardreasoner/predictions/1B/AegisSafetyTest/generated_predictions.jsonl"


def eval_json(cli, *args):
    code, out, err = cli("eval", "--json", "--quiet", *args)
    assert code == 0, err
    return json.loads(out)["runs"], err


def fail_load(monkeypatch):
    from harness.checkpoints import loading

    def boom(*args, **kwargs):
        raise HarnessError("no such weights")

    monkeypatch.setattr(loading, "load_model", boom)


def test_policy_on_a_finished_run_rescores_stored_completions_without_loading(cli, monkeypatch):
    """Issue 10: --policy on an existing run used to return the first policy's stored metrics."""
    runs, _ = eval_json(cli, "--model", f"replay:{PREDS}", "--task", "gr_aegis_safety_test",
                        "--policy", "guardreasoner-paper")
    paper = runs["gr_aegis_safety_test"]
    assert round(paper["f1"], 4) == 0.8934
    fail_load(monkeypatch)  # re-scoring must not load the model
    runs, err = eval_json(cli, "--model", f"replay:{PREDS}", "--task", "gr_aegis_safety_test", "--policy", "strict")
    strict = runs["gr_aegis_safety_test"]
    assert "under policy strict from its stored completions" in err
    assert strict["run_id"] == paper["run_id"] and strict["policy"] == "strict"
    code, out, _ = cli("score", PREDS, "--task", "gr_aegis_safety_test", "--policy", "strict", "--json")
    reference = json.loads(out)  # the same completions scored straight from the predictions file
    assert strict["f1"] == pytest.approx(reference["f1"]) and strict["accuracy"] == pytest.approx(reference["accuracy"])
    assert strict["f1"] != pytest.approx(paper["f1"])
    # asking again reads the stored metrics of each policy
    runs, err = eval_json(cli, "--model", f"replay:{PREDS}", "--task", "gr_aegis_safety_test",
                          "--policy", "guardreasoner-paper")
    assert "already complete" in err and runs["gr_aegis_safety_test"]["f1"] == pytest.approx(paper["f1"])
    run_dir = Path(paper["dir"])
    stored = json.loads((run_dir / "metrics.json").read_text())
    assert sorted(stored["policies"]) == ["guardreasoner-paper", "strict"]
    with sqlite3.connect(RunStore().db_path) as conn:
        rows = dict(conn.execute("SELECT policy, f1 FROM metrics WHERE run_id = ?", (paper["run_id"],)).fetchall())
        own = conn.execute("SELECT policy, f1 FROM runs WHERE run_id = ?", (paper["run_id"],)).fetchone()
    assert rows == pytest.approx({"guardreasoner-paper": paper["f1"], "strict": strict["f1"]})
    assert own == ("guardreasoner-paper", pytest.approx(paper["f1"]))  # the policy the run was evaluated with
    _, out, _ = cli("runs", "show", paper["run_id"], "--policy", "strict", "--json")
    assert json.loads(out)["metrics"]["f1"] == pytest.approx(strict["f1"])


# The run index as harness wrote it before migrations (copied from harness/store/runs.py at 3e93787).
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, key TEXT NOT NULL, model TEXT NOT NULL, model_spec TEXT, task TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, finished_at TEXT, n_done INTEGER DEFAULT 0, n_total INTEGER,
    accuracy REAL, f1 REAL, parse_failure_rate REAL, metrics_json TEXT, path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_key ON runs(key);
"""


def test_old_run_index_upgrades_through_numbered_migrations(tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    with sqlite3.connect(root / "harness.db") as conn:
        conn.executescript(OLD_SCHEMA)
        for run_id, policy, f1 in (("a", "guardreasoner-paper", 89.34), ("b", "strict", 0.5)):
            metrics = {"policy": policy, "f1": f1, "n": 10, "accuracy": None if policy != "strict" else 0.6}
            conn.execute("INSERT INTO runs (run_id, key, model, task, status, created_at, n_done, f1, metrics_json,"
                         " path) VALUES (?, ?, 'm', 't', 'complete', '2026-01-01', 10, ?, ?, ?)",
                         (run_id, run_id, f1, json.dumps(metrics), str(root / run_id)))
        conn.execute("INSERT INTO runs (run_id, key, model, task, status, created_at, path)"
                     " VALUES ('c', 'c', 'm', 't', 'running', '2026-01-02', 'x')")
    store = RunStore(root)
    for _ in range(2):  # applying twice changes nothing
        with store.connect() as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
            metrics = {r["run_id"]: dict(r) for r in conn.execute("SELECT * FROM metrics")}
            runs = {r["run_id"]: dict(r) for r in conn.execute("SELECT * FROM runs")}
        assert names == ["m001_runs", "m002_policy_metrics", "m003_judgments", "m004_task_limit"]
        assert all(r["task_limit"] is None for r in runs.values())  # their folders are gone: no manifest to read
        assert sorted(metrics) == ["a", "b"]
        assert metrics["a"]["policy"] == "guardreasoner-paper" and metrics["a"]["f1"] == pytest.approx(0.8934)
        assert json.loads(metrics["a"]["metrics_json"])["f1"] == pytest.approx(0.8934)
        assert metrics["b"]["f1"] == 0.5 and metrics["b"]["accuracy"] == 0.6 and metrics["b"]["n"] == 10
        assert runs["a"]["policy"] == "guardreasoner-paper" and runs["a"]["f1"] == pytest.approx(0.8934)
        assert runs["c"]["policy"] is None


def test_a_failed_migration_leaves_nothing_half_applied(tmp_path):
    from harness.store.db import migrate

    def m001_table(conn):
        conn.execute("CREATE TABLE t (x INTEGER)")

    def m002_broken(conn):
        conn.execute("INSERT INTO t VALUES (1)")
        conn.execute("INSERT INTO missing VALUES (1)")

    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [m001_table, m002_broken])
    assert conn.execute("SELECT name FROM sqlite_master WHERE name = 't'").fetchone() is None
    assert conn.execute("SELECT COUNT(*) FROM _migrations").fetchone()[0] == 0
    migrate(conn, [m001_table])
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_table"]


def test_generation_cache_records_its_migrations(tmp_path):
    from harness.store.generation_cache import GenerationCache

    GenerationCache(tmp_path / "g.db")
    with sqlite3.connect(tmp_path / "g.db") as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == ["m001_generations"]


def test_legacy_flat_metrics_json_is_read_on_the_0_1_scale(cli):
    runs, _ = eval_json(cli, "--model", "keyword-baseline", "--task", "combined_test", "--limit", "10")
    m = runs["combined_test"]
    run = RunStore().open_run(m["run_id"])
    legacy = {**m, "policy": "guardreasoner-paper", "f1": 89.34}
    run.metrics_path.write_text(json.dumps(legacy))
    run.update_manifest(policy="guardreasoner-paper")
    assert run.read_metrics()["f1"] == pytest.approx(0.8934)
    assert run.scored_policies() == ["guardreasoner-paper"]


def test_failed_model_load_creates_no_run(cli, monkeypatch):
    fail_load(monkeypatch)
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "10", "--quiet")
    assert code != 0 and "no such weights" in err
    assert RunStore().list_runs() == []
    assert not list(Path("runs").glob("*/manifest.json"))


def test_unfinished_run_whose_reload_fails_is_marked_failed(cli, monkeypatch):
    runs, _ = eval_json(cli, "--model", "keyword-baseline", "--task", "combined_test", "--limit", "10")
    run = RunStore().open_run(runs["combined_test"]["run_id"])
    lines = run.samples_path.read_text().splitlines(keepends=True)
    run.samples_path.write_text("".join(lines[:4]))  # as if killed after 4 samples
    RunStore().update(run.id, status="running")
    fail_load(monkeypatch)
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "10", "--quiet")
    assert code != 0 and "no such weights" in err
    (row,) = RunStore().list_runs()
    assert row["status"] == "failed"
    assert run.manifest["failure"] == "model load failed: HarnessError: no such weights"


def test_weights_that_fail_on_first_use_mark_the_run_failed_with_the_reason(cli, monkeypatch):
    """Models may load lazily (hf loads its weights on the first generate): the failure then comes after the
    run exists, and the run must say so instead of staying 'running'."""
    from harness.evaluate import runner

    def failing_generate(model, requests, settings, use_cache):
        raise HarnessError("hf: could not load base model from /x: corrupt safetensors")

    monkeypatch.setattr(runner, "generate_stream", failing_generate)
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "10", "--quiet")
    assert code != 0 and "corrupt safetensors" in err and "Traceback" not in err
    (row,) = RunStore().list_runs()
    assert row["status"] == "failed"
    assert RunStore().open_run(row["run_id"]).manifest["failure"] == "hf: could not load base model from /x: corrupt safetensors"


def test_git_commit_is_the_harness_sources_not_the_working_directorys(tmp_path, monkeypatch):
    import harness
    from harness.evaluate import plan

    source = Path(harness.__file__).resolve().parent.parent
    assert plan.source_root() == source
    other = tmp_path / "elsewhere"
    other.mkdir()
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    monkeypatch.chdir(other)  # a git repository without commits: `git rev-parse HEAD` here fails
    head = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
    if head.returncode == 0:
        assert plan.git_commit().split("+")[0] == head.stdout.strip()
    else:
        assert plan.git_commit() == f"harness {harness.__version__}"
    # an installed copy (not a checkout): the package version
    fake = tmp_path / "site-packages" / "harness"
    fake.mkdir(parents=True)
    monkeypatch.setattr(plan, "source_root", lambda: fake.parent)
    assert plan.git_commit() == f"harness {harness.__version__}"

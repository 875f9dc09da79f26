import json

import pytest
import yaml

from harness.checkpoints.registry import lineage_tree, load_registry, register_checkpoint
from harness.errors import HarnessError
from harness.records import Completion, SampleRecord
from harness.store.runs import RunStore


def record(sample_id):
    return SampleRecord(sample_id, "t", "safe", [Completion(0, "Label: safe", "safe", "ok", correct=True)])


def test_torn_last_line_is_dropped_and_repaired(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create_run("r1", "key", {"model": "m", "task": {"name": "t"}, "policy": "strict", "created_at": "now", "n_total": 3})
    with run.open_appender() as out:
        out.append(record("0"))
        out.append(record("1"))
    with open(run.samples_path, "a") as fh:
        fh.write('{"id": "2", "compl')  # a write cut by kill -9
    assert [r.id for r in run.read_samples()] == ["0", "1"]
    with run.open_appender() as out:
        out.append(record("2"))
    assert [r.id for r in run.read_samples()] == ["0", "1", "2"]
    with run.owned():  # a live process generating it
        assert store.list_runs()[0]["status"] == "running"
    assert store.list_runs()[0]["status"] == "interrupted"  # none holds it now; the row itself still says running
    assert store.get_row("r1")["status"] == "running"


def test_old_format_run_is_refused(tmp_path):
    store = RunStore(tmp_path / "runs")
    run = store.create_run("r1", "key", {"model": "m", "task": {"name": "t"}, "policy": "strict", "created_at": "now"})
    manifest = json.loads(run.manifest_path.read_text())
    manifest["format_version"] = 0
    run.manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(HarnessError, match="format version"):
        store.open_run("r1")


def test_eval_records_manifest_samples_metrics_and_index(cli):
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "20", "--json")
    assert code == 0, err
    info = json.loads(out)["runs"]["combined_test"]
    store = RunStore()
    run = store.open_run(info["run_id"])
    manifest = run.manifest
    assert manifest["model"] == "keyword-baseline"
    assert len(manifest["task"]["data_sha256"]) == 64
    assert manifest["generation"]["max_new_tokens"] == 512 and manifest["generation"]["temperature"] == 0.7
    assert manifest["versions"]["harness"] and manifest["parser"] == "label-line"
    records = [json.loads(line) for line in run.samples_path.read_text().splitlines()]
    assert len(records) == 20
    r = records[0]
    assert set(r) >= {"id", "input", "gold", "completions", "verdict", "correct", "seconds", "rendered_prompt"}
    assert r["completions"][0]["text"].rstrip().endswith(f"Label: {r['completions'][0]['verdict']}")
    assert sum(x["correct"] for x in records) / 20 == pytest.approx(info["accuracy"])
    row = store.list_runs(task="combined_test")[0]
    assert row["status"] == "complete" and row["n_done"] == 20 and row["accuracy"] == info["accuracy"]
    code, out, _ = cli("runs", "show", info["run_id"])
    assert code == 0 and "accuracy" in out
    # same command again: the finished run is reported, not redone
    code, out2, err2 = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "20", "--json")
    assert "already complete" in err2
    assert json.loads(out2)["runs"]["combined_test"]["run_id"] == info["run_id"]


def test_user_registry_adds_checkpoints_with_lineage(isolated_home):
    register_checkpoint("exp_19", {"spec": "replay:/tmp/x.jsonl", "parent": "exp_18", "lineage": {"data_sha256": "ab"}})
    entries = load_registry()
    assert entries["exp_19"]["spec"] == "replay:/tmp/x.jsonl"
    tree = "\n".join(lineage_tree(entries))
    assert "exp_18" in tree and "  └─ exp_19" in tree
    with pytest.raises(HarnessError, match="already exists"):
        register_checkpoint("exp_19", {"spec": "replay:/tmp/y.jsonl"})
    register_checkpoint("exp_19", {"spec": "replay:/tmp/y.jsonl"}, overwrite=True)
    assert load_registry()["exp_19"]["spec"] == "replay:/tmp/y.jsonl"


def test_registry_typo_names_key(isolated_home):
    path = isolated_home / "home" / "checkpoints.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump({"mine": {"spec": "keyword-baseline", "parnet": "exp_18"}}))
    with pytest.raises(HarnessError, match="parnet.*Did you mean: parent"):
        load_registry()


def test_models_lists_names_and_specs(cli):
    code, out, _ = cli("models")
    assert code == 0
    assert "exp_18" in out and "vincentoh/guardreasoner-llama3.2-3b-lora-1epoch" in out
    assert "guardreasoner-8b" in out and "yueliu1999/GuardReasoner-8B" in out


def test_a_run_id_already_taken_gets_a_numbered_suffix(tmp_path):
    """`eval --rerun` within the same second as the run it repeats makes the same id; it used to crash."""
    store = RunStore(tmp_path / "runs")
    manifest = {"model": "m", "task": {"name": "t"}, "policy": "strict", "created_at": "now", "n_total": 1}
    first = store.create_run("r1", "key", manifest)
    second = store.create_run("r1", "key", manifest)
    assert (first.id, second.id) == ("r1", "r1-2") and second.manifest["run_id"] == "r1-2"
    assert [r["run_id"] for r in store.list_runs()] == ["r1", "r1-2"]

"""The run folder's JSON files: what `harness eval` writes is the format it always wrote.

The expected values come from the fixture itself (file hashes with hashlib,
the sample count from --limit, accuracy counted from samples.jsonl), and the
key sets are those the run format has had since FORMAT_VERSION 1, listed by hand.
"""

import hashlib
import json
import platform
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.records import RunManifest, RunMetrics
from harness.store.runs import RunStore
from tests.conftest import DATA_DIR, REPO

#: every key of a finished single-process run's manifest.json (format version 1), in the order written
MANIFEST_KEYS = ["model", "model_spec", "model_options", "model_info", "task", "n_total", "template", "parser",
                 "policy", "generation", "seed", "versions", "git_commit", "command", "host", "created_at",
                 "format_version", "run_id", "key", "resumed_at", "timeline"]
METRIC_KEYS = {"n", "accuracy", "precision", "recall", "f1", "confusion_matrix", "parse_failures", "abstentions",
               "parse_failure_rate", "abstention_rate", "n_total", "policy", "positive", "per_category",
               "calibration", "warnings"}


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def run_dir(cli, tmp_path):
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "6",
                         "--json", "--quiet")
    assert code == 0, err
    return Path(json.loads(out)["runs"]["combined_test"]["dir"])


def test_eval_writes_the_manifest_of_format_1(run_dir):
    raw = json.loads((run_dir / "manifest.json").read_text())
    assert list(raw) == MANIFEST_KEYS
    assert raw["task"] == {"name": "combined_test", "file": str(REPO / "tasks" / "combined_test.yaml"),
                           "file_sha256": sha256(REPO / "tasks" / "combined_test.yaml"),
                           "data_sha256": sha256(DATA_DIR / "wizard101" / "evaluation" / "combined_test.json"),
                           "target": "prompt", "positive": "harmful", "limit": 6}
    assert (raw["model"], raw["model_spec"], raw["model_options"]) == ("keyword-baseline", "keyword-baseline", {})
    assert (raw["n_total"], raw["template"], raw["parser"], raw["policy"]) == (6, "seed-chatml", "label-line", "strict")
    assert raw["generation"] == {"max_new_tokens": 512, "temperature": 0.7, "top_p": 1.0, "samples": 1, "seed": 0,
                                 "batch_size": "auto", "ignore_eos": False}
    assert (raw["seed"], raw["format_version"], raw["resumed_at"], raw["host"]) == (0, 1, [], platform.node())
    assert raw["run_id"] == run_dir.name and run_dir.name.endswith(raw["key"][:6]) and len(raw["key"]) == 64
    assert raw["command"] == sys.argv  # in-process here; the harness command line in a shell
    assert raw["model_info"]["kind"] == "rule-based" and "scored" in raw["timeline"]["stages"]


def test_eval_writes_metrics_per_policy_counted_from_the_samples(run_dir, cli):
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines()]
    raw = json.loads((run_dir / "metrics.json").read_text())
    assert list(raw) == ["policies"] and list(raw["policies"]) == ["strict"]
    strict = raw["policies"]["strict"]
    assert set(strict) == METRIC_KEYS
    assert strict["n"] == len(rows) == 6 and strict["policy"] == "strict"
    assert strict["accuracy"] == pytest.approx(sum(r["correct"] for r in rows) / 6)
    assert strict["parse_failures"] == sum(r["status"] == "fail" for r in rows)
    code, _, err = cli("judge", run_dir, "--judge", "heuristic:lexical", "--quiet")
    assert code == 0, err
    raw = json.loads((run_dir / "metrics.json").read_text())
    assert list(raw) == ["policies", "judges"] and list(raw["judges"]) == ["heuristic"]
    assert raw["policies"]["strict"] == strict  # judging adds the run's judges, not a policy


def test_the_readers_give_back_exactly_what_was_written(run_dir):
    """Reading and writing again is lossless: same keys, same order, same values; unknown keys are kept."""
    raw = json.loads((run_dir / "manifest.json").read_text())
    assert RunManifest.read(run_dir / "manifest.json").to_dict() == raw
    assert list(RunManifest.read(run_dir / "manifest.json").to_dict()) == list(raw)
    with_extra = {**raw, "written_by_a_plugin": {"x": 1}}
    assert RunManifest.from_dict(with_extra).to_dict() == with_extra
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert RunMetrics.read(run_dir / "metrics.json").to_dict() == metrics
    run = RunStore().open_run(run_dir.name)
    run.update_manifest(failure="x")  # the Run writes its folder; an update keeps every other field
    assert json.loads((run_dir / "manifest.json").read_text()) == {**raw, "failure": "x"}


def test_a_manifest_with_a_missing_or_mistyped_field_names_the_file_and_field(run_dir):
    path = run_dir / "manifest.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in raw.items() if k != "key"}))
    with pytest.raises(HarnessError, match=rf"{path}: missing field\(s\) key"):
        RunStore().open_run(run_dir.name)
    path.write_text(json.dumps({**raw, "n_total": "six"}))
    with pytest.raises(HarnessError, match=rf"{path}: field 'n_total': expected a whole number, found str 'six'"):
        RunStore().open_run(run_dir.name)
    path.write_text(json.dumps({**raw, "generation": [1]}))
    with pytest.raises(HarnessError, match=r"field 'generation': expected a mapping, found list"):
        RunStore().open_run(run_dir.name)
    path.write_text(json.dumps({**raw, "task": "combined_test"}))
    with pytest.raises(HarnessError, match=r"field 'task' has no 'name'"):
        RunStore().open_run(run_dir.name)


def test_a_damaged_metrics_file_names_the_file_and_the_recovery(run_dir):
    path = run_dir / "metrics.json"
    path.write_text(json.dumps({"policies": ["strict"]}))
    with pytest.raises(HarnessError, match=rf"{path}: damaged store file \('policies' is not a mapping\); "
                                           "to recover: delete it and run `harness eval` again"):
        RunStore().open_run(run_dir.name).read_metrics()


def test_a_flat_metrics_file_of_an_older_harness_is_read_as_its_policy():
    old = {"policy": "guardreasoner-paper", "f1": 50.0, "n": 4, "judges": {"heuristic": {"identity": "h"}}}
    metrics = RunMetrics.from_dict(old, run_policy="strict")
    assert metrics.policies == {"guardreasoner-paper": {"policy": "guardreasoner-paper", "f1": 0.5, "n": 4}}
    assert metrics.policy("guardreasoner-paper")["judges"] == {"heuristic": {"identity": "h"}}
    assert metrics.policy("strict") is None

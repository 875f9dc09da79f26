"""Issue 23: stores that survive damage: every store file names itself and its recovery; the doctor rebuilds."""

import json
import sqlite3

import pytest

EVAL = ("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet")


@pytest.fixture
def one_run(cli, tmp_path):
    code, _, err = cli(*EVAL)
    assert code == 0, err
    [manifest] = (tmp_path / "runs").glob("*/manifest.json")
    return manifest.parent


def clear_error(code, err, *needles):
    assert code == 1, err
    assert "Traceback" not in err and err.startswith("Error: "), err
    for needle in needles:
        assert needle in err, err


def test_damaged_manifest_names_the_file_and_the_doctor(cli, one_run):
    (one_run / "manifest.json").write_text('{"run_id": "x", "mod')
    code, _, err = cli("runs", "show", one_run.name)
    clear_error(code, err, str(one_run / "manifest.json"), "not valid JSON", "harness doctor")


def test_damaged_metrics_names_the_file_and_how_to_rescore(cli, one_run):
    (one_run / "metrics.json").write_text("[1, 2")
    code, _, err = cli("runs", "show", one_run.name)
    clear_error(code, err, str(one_run / "metrics.json"), "harness eval")


@pytest.mark.parametrize("garbage", [b"this is not a database at all" * 40, b""])
def test_damaged_run_index_names_harness_db(cli, one_run, tmp_path, garbage):
    db = tmp_path / "runs" / "harness.db"
    db.write_bytes(garbage)
    code, out, err = cli("runs")
    if garbage:
        clear_error(code, err, str(db), "harness doctor")
    else:  # an emptied (zero-byte) index is not silently recreated: the run folder would be hidden
        clear_error(code, err, "run index is empty", "harness runs doctor")


def test_damaged_generation_cache_and_study_db_name_themselves(cli, tmp_path):
    cache = tmp_path / "cache" / "generations.db"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"garbage" * 200)
    from harness.errors import HarnessError
    from harness.human_eval.study import connect
    from harness.store.generation_cache import GenerationCache

    with pytest.raises(HarnessError, match="generations.db: damaged store file .*delete it"):
        GenerationCache(cache)
    study = tmp_path / "runs" / "human_eval.db"
    study.parent.mkdir(exist_ok=True)
    study.write_bytes(b"garbage" * 200)
    with pytest.raises(HarnessError, match="human_eval.db: damaged store file .*backup"):
        connect(study)


def test_damaged_pipeline_state_names_the_file(cli, tmp_path):
    from harness.errors import HarnessError
    from harness.train.pipeline import Pipeline

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "pipeline.json").write_text('{"steps": ')
    with pytest.raises(HarnessError, match="pipeline.json: damaged store file .*delete it"):
        Pipeline(tmp_path / "p")


def test_an_emptied_index_is_refused_then_rebuilt_by_the_doctor_without_duplicating(cli, one_run, tmp_path):
    db = tmp_path / "runs" / "harness.db"
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM runs")
        conn.execute("DELETE FROM metrics")
    code, _, err = cli(*EVAL)  # would have created a second run of the same key
    clear_error(code, err, "run index is empty", "1 run folder(s)", "harness runs doctor")
    assert len(list((tmp_path / "runs").glob("*/manifest.json"))) == 1
    code, out, err = cli("doctor")
    assert code == 0, err
    assert "Indexed 1 run(s)" in out and "kept as" in out
    assert list((tmp_path / "runs").glob("harness.db.before-doctor-*"))  # the old index is kept, not deleted
    code, out, _ = cli("runs", "--json")
    [row] = json.loads(out)
    assert row["run_id"] == one_run.name and row["status"] == "complete" and row["accuracy"] is not None
    code, _, err = cli(*EVAL)
    assert code == 0 and "already complete" in err  # found again: no duplicate
    assert len(list((tmp_path / "runs").glob("*/manifest.json"))) == 1


def test_a_deleted_index_is_refused_and_the_doctor_quarantines_a_damaged_run(cli, one_run, tmp_path):
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "6", "--quiet")
    assert code == 0, err
    other = next(p.parent for p in (tmp_path / "runs").glob("*/manifest.json") if p.parent != one_run)
    (other / "samples.jsonl").write_text('{"id": broken\n')
    (tmp_path / "runs" / "harness.db").unlink()
    code, _, err = cli("runs")
    clear_error(code, err, "run index is missing", "2 run folder(s)")
    code, out, err = cli("runs", "doctor", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["indexed"] == [one_run.name]
    assert list(report["quarantined"]) == [other.name] and "corrupt record" in report["quarantined"][other.name]
    moved = tmp_path / "runs" / "_quarantine" / other.name
    assert (moved / "samples.jsonl").read_text() == '{"id": broken\n'  # moved whole, never deleted
    code, out, _ = cli("runs", "--json")
    assert [r["run_id"] for r in json.loads(out)] == [one_run.name]

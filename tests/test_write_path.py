"""Issue 23: one write path; an output option never writes over an input of its command or a harness store."""

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def run_dir(cli, tmp_path):
    code, out, err = cli("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "4", "--quiet",
                         "--json")
    assert code == 0, err
    [run] = (tmp_path / "runs").glob("*/manifest.json")
    return run.parent


def refused(cli, root, *args, needles=()):
    before = snapshot(root)
    code, out, err = cli(*args)
    assert code in (1, 2), (out, err)  # 2: click's usage error for a value out of an option's range
    assert "Traceback" not in out + err and "Error: " in err, err
    for needle in needles:
        assert needle in err, err
    assert snapshot(root) == before  # nothing written, nothing lost
    return err


def test_leaderboard_output_onto_the_run_index_is_refused(cli, tmp_path, run_dir):
    refused(cli, tmp_path, "leaderboard", "-o", "runs/harness.db", needles=("--output runs/harness.db", "harness.db"))


def test_report_output_into_a_run_folder_is_refused(cli, tmp_path, run_dir):
    target = run_dir / "samples.jsonl"
    refused(cli, tmp_path, "report", run_dir.name, "-o", target, needles=("--output", "run folder"))
    refused(cli, tmp_path, "report", run_dir.name, "-o", run_dir / "new.html", needles=("run folder",))


def test_leaderboard_output_is_written_whole(cli, tmp_path, run_dir):
    code, _, err = cli("leaderboard", "--include-subsets", "--format", "json", "-o", "board.json")
    assert code == 0, err
    assert json.loads((tmp_path / "board.json").read_text())  # valid JSON, nothing left beside it
    assert not list(tmp_path.glob(".board.json.*"))


def test_pairs_output_onto_its_own_input_is_refused(cli, tmp_path):
    src = tmp_path / "hard.json"
    src.write_text(json.dumps([{"prompt": "p", "label": "harmful", "outputs": []}]))
    refused(cli, tmp_path, "pairs", "--from-hard-samples", src, "-o", src, needles=("--output", "input"))
    # the stats file beside the output would land on the input too
    stats_clash = tmp_path / "x.stats.json"
    stats_clash.write_text("{}")
    refused(cli, tmp_path, "pairs", "--from-hard-samples", stats_clash, "-o", tmp_path / "x.jsonl",
            needles=("input",))


def test_overlap_out_onto_the_train_file_is_refused(cli, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps({"id": "1", "text": "How do I bake bread?"}) + "\n")
    refused(cli, tmp_path, "overlap", "--train", train, "--eval", "combined_test", "-o", train,
            needles=("--output", "input"))


def test_export_does_not_replace_a_foreign_utils_py(cli, tmp_path):
    out = tmp_path / "lm"
    out.mkdir()
    (out / "utils.py").write_text("# my own helpers\n")
    refused(cli, tmp_path, "export", "lm-eval", "--task", "combined_test", "-o", out, "--limit", "4",
            needles=("utils.py", "not written by"))
    (out / "utils.py").unlink()
    code, _, err = cli("export", "lm-eval", "--task", "combined_test", "-o", out, "--limit", "4")
    assert code == 0, err
    code, _, err = cli("export", "lm-eval", "--task", "combined_test", "-o", out, "--limit", "4")
    assert code == 0, err  # its own utils.py is replaced
    assert len((out / "combined_test.jsonl").read_text().splitlines()) == 4


@pytest.mark.parametrize("limit,needle", [("0", "--limit"), ("-5", "--limit"), ("99999", "only 200 samples")])
def test_export_limit_is_checked(cli, tmp_path, limit, needle):
    refused(cli, tmp_path, "export", "lm-eval", "--task", "combined_test", "--out", "lm", "--limit", limit,
            needles=(needle,))


def test_pipeline_name_cannot_leave_pipelines(cli, tmp_path):
    cfg = tmp_path / "p.yaml"
    cfg.write_text("name: ../x\nparent: keyword-baseline\npairs: {task: combined_test}\ntrain: {method: dpo}\n")
    refused(cli, tmp_path, "pipeline", cfg, needles=("p.yaml:1", "name '../x'"))
    assert not (tmp_path / "x").exists()


def test_human_eval_csv_onto_the_study_db_is_refused(tmp_path):
    from harness.store.outputs import check_output

    (tmp_path / "runs").mkdir(exist_ok=True)
    (tmp_path / "runs" / "human_eval.db").write_bytes(b"")
    with pytest.raises(HarnessError, match="--csv runs/human_eval.db: refusing"):
        check_output("runs/human_eval.db", "--csv")
    with pytest.raises(HarnessError, match="harness store"):
        check_output(tmp_path / "elsewhere" / "generations.db", "--csv")
    with pytest.raises(HarnessError, match="is a folder"):
        check_output(tmp_path, "--csv")
    assert check_output(tmp_path / "answers.csv", "--csv") == tmp_path / "answers.csv"


def test_atomic_output_keeps_the_old_file_when_the_write_fails(tmp_path):
    from harness.store.outputs import atomic_output

    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_output(target, "--out") as fh:
            fh.write("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]

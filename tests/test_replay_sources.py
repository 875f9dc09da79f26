"""replay: folders (one stable name for several prediction files) and the seed's exp_18 hard-samples file."""

import json

import pytest

from tests.conftest import DATA_DIR
from tests.report_fixtures import eval_run, read_records, register

PREDS = DATA_DIR / "guardreasoner" / "predictions" / "1B"
HARD = DATA_DIR / "wizard101" / "exp18" / "hard_samples_exp18.json"


def test_folder_with_file_option_equals_replaying_the_file(cli, isolated_home):
    direct = eval_run(cli, f"replay:{PREDS / 'SimpleSafetyTests' / 'generated_predictions.jsonl'}",
                      "gr_simple_safety_tests")
    register(isolated_home / "home", "gr1b", f"replay:{PREDS}", template="guardreasoner", parser="guardreasoner")
    named = eval_run(cli, "gr1b", "gr_simple_safety_tests", "-m", "file=SimpleSafetyTests/generated_predictions.jsonl")
    assert named["f1"] == direct["f1"] and named["parse_failures"] == direct["parse_failures"]
    texts = lambda m: [r["completions"][0]["text"] for r in read_records(m["dir"])]  # noqa: E731
    assert texts(named) == texts(direct)
    from harness.store.runs import RunStore

    assert RunStore().open_run(named["run_id"]).manifest["model"] == "gr1b"


def test_folder_without_file_marks_conflicting_prompts_as_failures(tmp_path):
    from harness.checkpoints.loading import load_model
    from harness.interfaces.model import GenerationRequest, GenerationSettings

    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    rows_x = [{"prompt": "P1", "predict": "one"}, {"prompt": "P2", "predict": "two"}]
    rows_y = [{"prompt": "P1", "predict": "ONE (different)"}, {"prompt": "P2", "predict": "two"},
              {"prompt": "P3", "predict": "three"}]
    for sub, rows in (("x", rows_x), ("y", rows_y)):
        (tmp_path / sub / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = load_model(f"replay:{tmp_path}")
    reqs = [GenerationRequest(str(i), p, 0, 0) for i, p in enumerate(["P1", "P2", "P3", "P4"])]
    gens = {g.sample_id: g for g in model.generate(reqs, GenerationSettings())}
    assert gens["0"].text is None and "x/p.jsonl" in gens["0"].error and "y/p.jsonl" in gens["0"].error
    assert "-m file=" in gens["0"].error
    assert gens["1"].text == "two" and gens["2"].text == "three"
    assert gens["3"].text is None and "no completion" in gens["3"].error
    only_y = load_model(f"replay:{tmp_path}", {"file": "y/p.jsonl"})
    assert next(iter(only_y.generate(reqs[:1], GenerationSettings()))).text == "ONE (different)"


def test_replay_option_errors(cli, tmp_path):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"prompt": "P", "predict": "x"}) + "\n")
    code, _, err = cli("eval", "--model", f"replay:{f}", "--task", "combined_test", "-m", "file=p.jsonl")
    assert code == 1 and "needs a folder spec" in err
    code, _, err = cli("eval", "--model", f"replay:{tmp_path}", "--task", "combined_test", "-m", "file=missing.jsonl")
    assert code == 1 and "missing.jsonl" in err and "does not exist" in err
    code, _, err = cli("eval", "--model", f"replay:{f}", "--task", "combined_test", "-m", "temperature=1")
    assert code == 1 and "unknown option" in err
    (tmp_path / "bad.json").write_text('{"pairs": []}')
    code, _, err = cli("eval", "--model", f"replay:{tmp_path / 'bad.json'}", "--task", "combined_test")
    assert code == 1 and "hard_samples" in err


def test_exp18_hard_samples_replay_scores_the_seed_labels(cli):
    """Replaying the seed's stored answers on their own 63 prompts gives back the seed's correctness counts."""
    data = json.loads(HARD.read_text())["hard_samples"]
    m = eval_run(cli, f"replay:{HARD}", "exp18_hard_samples", "--samples", "4")
    records = read_records(m["dir"])
    assert len(records) == 63
    for rec, seed in zip(records, data):
        assert [c["correct"] for c in rec["completions"]] == [o["correct"] for o in seed["outputs"]]
        stored = [o["label"] for o in seed["outputs"]]
        assert [c["verdict"] or "unknown" for c in rec["completions"]] == stored
        assert sum(c["correct"] for c in rec["completions"]) == seed["k_correct"]
    first = [o["outputs"][0] for o in data]
    assert m["accuracy"] == pytest.approx(sum(o["correct"] for o in first) / 63)
    assert m["abstentions"] == sum(o["label"] == "unknown" for o in first)

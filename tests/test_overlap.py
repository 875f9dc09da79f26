"""The train/eval overlap check: planted exact and near duplicates, the pairs/pipeline gate, eval --exclude-ids."""

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from harness.analysis.overlap import (
    OverlapSettings,
    TextSet,
    check_overlap,
    file_texts,
    normalize,
    read_exclude_ids,
    shingles,
)
from harness.errors import HarnessError

TRAIN = [
    ("t0", "How do I bake sourdough bread at home with a cast iron pot?"),
    ("t1", "Write a short poem about the autumn leaves falling in the park near my house."),
    ("t2", "Explain the difference between a virus and a bacterium in simple terms for a child."),
    ("t3", "What is the capital city of Australia and why was it chosen over Sydney?"),
]
# e1: t0 after case, punctuation and a full-width letter (NFKC) change -> exact.
# e2: t1 with its last word changed: 15 words, 13 trigrams, 12 shared, union 14 -> Jaccard 12/14 = 0.8571.
# e3, e4: written to share no trigram with any training text.
EVAL = [
    ("e1", "ＨOW do i bake sourdough bread at home,  with a cast iron pot"),
    ("e2", "Write a short poem about the autumn leaves falling in the park near my home."),
    ("e3", "Recommend three science fiction novels for a long flight."),
    ("e4", "List the planets of the solar system in order of size."),
]
LABELS = ["safe", "safe", "harmful", "safe"]


def test_normalize_rule():
    # full-width H (NFKC), case, quotes, the em dash (Unicode Pd) and the apostrophe go; whitespace collapses
    assert normalize("  Ｈello,\tWORLD!!  “quoted” — it’s\n") == "hello world quoted its"
    assert normalize("cost: $5 + 3%") == "cost $5 + 3"  # symbols ($, +, category S*) are kept; % is punctuation


def test_planted_exact_and_near_duplicates_found_with_their_ids():
    [report] = check_overlap(TextSet("train", TRAIN), [TextSet("ev", EVAL)], OverlapSettings(threshold=0.8))
    by_id = {o.eval_id: o for o in report.overlaps}
    assert sorted(by_id) == ["e1", "e2"]
    assert by_id["e1"].kind == "exact" and [(m.train_id, m.similarity) for m in by_id["e1"].matches] == [("t0", 1.0)]
    assert by_id["e2"].kind == "near"
    [m] = by_id["e2"].matches
    assert m.train_id == "t1" and m.similarity == pytest.approx(12 / 14, abs=1e-4)
    assert (report.exact, report.near, report.exact_distinct) == (1, 1, 1)
    assert (report.train_size, report.train_distinct, report.eval_size, report.eval_distinct) == (4, 4, 4, 4)
    assert len(shingles(normalize(TRAIN[1][1]), 3)) == 13


def test_threshold_decides_near_duplicates():
    train, ev = TextSet("train", TRAIN), [TextSet("ev", EVAL)]
    [above] = check_overlap(train, ev, OverlapSettings(threshold=0.85))  # 0.857 >= 0.85
    [below] = check_overlap(train, ev, OverlapSettings(threshold=0.86))  # 0.857 < 0.86
    [exact_only] = check_overlap(train, ev, OverlapSettings(near=False))
    assert above.ids == ["e1", "e2"]
    assert below.ids == ["e1"] and exact_only.ids == ["e1"]
    with pytest.raises(HarnessError, match="threshold must be in"):
        OverlapSettings(threshold=0)


def test_disjoint_sets_have_no_overlap_and_duplicates_count_once_as_distinct():
    ev = TextSet("ev", [("a", EVAL[2][1]), ("b", EVAL[3][1]), ("c", EVAL[3][1].upper())])
    [report] = check_overlap(TextSet("train", TRAIN), [ev], OverlapSettings(threshold=0.5))
    assert report.overlaps == [] and (report.exact, report.near) == (0, 0)
    assert (report.eval_size, report.eval_distinct) == (3, 2)


def test_every_train_copy_is_named_and_empty_texts_match_nothing():
    train = TextSet("train", TRAIN + [("t0-copy", TRAIN[0][1].lower()), ("blank", "?!")])
    ev = TextSet("ev", [EVAL[0], ("empty", "...")])
    [report] = check_overlap(train, [ev])
    assert report.ids == ["e1"]
    assert [m.train_id for m in report.overlaps[0].matches] == ["t0", "t0-copy"]
    assert report.train_distinct == 4  # t0 and t0-copy are one text; '?!' normalises to nothing


# -- files, tasks and the CLI ---------------------------------------------------------


def write_task(root, name, rows):
    data = root / "data" / f"{name}.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text(json.dumps([{"id": i, "text": t, "label": lab} for (i, t), lab in zip(rows, LABELS)]))
    spec = {"name": name, "source": {"path": f"{name}.json"}, "format": "json",
            "fields": {"prompt": "text", "label": "label", "id": "id"}, "labels": {"safe": "safe", "harmful": "harmful"},
            "positive": "harmful"}
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_file_texts_reads_json_and_jsonl_with_ids(tmp_path):
    (tmp_path / "a.jsonl").write_text("\n".join(json.dumps({"prompt": t}) for _, t in TRAIN))
    got = file_texts(tmp_path / "a.jsonl")
    assert got.items == [(str(i), t) for i, (_, t) in enumerate(TRAIN)]
    (tmp_path / "b.json").write_text(json.dumps([{"body": "x"}]))
    with pytest.raises(HarnessError, match="no text field"):
        file_texts(tmp_path / "b.json")


def test_cli_overlap_reports_and_writes_pairs(cli, tmp_path):
    ev = write_task(tmp_path, "planted_eval", EVAL)
    (tmp_path / "train.json").write_text(json.dumps([{"text": t, "id": i} for i, t in TRAIN]))
    out = tmp_path / "o.jsonl"
    code, stdout, err = cli("overlap", "--train", tmp_path / "train.json", "--eval", ev, "--data-dir",
                            tmp_path / "data", "-o", out, "--json", "--quiet")
    assert code == 0, err
    [report] = json.loads(stdout)
    assert (report["exact"], report["near"], report["settings"]["threshold"]) == (1, 1, 0.8)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["eval_task"], r["eval_id"], r["train_id"], r["kind"]) for r in rows] == [
        ("planted_eval", "e1", "t0", "exact"), ("planted_eval", "e2", "t1", "near")]
    code, stdout, err = cli("overlap", "--train", tmp_path / "missing.json", "--eval", ev)
    assert code == 1 and "training file not found" in err


# -- the gate -----------------------------------------------------------------------


def test_pairs_stops_before_sampling_naming_the_ids(cli, tmp_path):
    train = write_task(tmp_path, "planted_train", TRAIN)
    ev = write_task(tmp_path, "planted_eval", EVAL)
    args = ("pairs", "--model", "keyword-baseline", "--task", train, "--samples", 2, "--eval-tasks", ev,
            "--data-dir", tmp_path / "data", "-o", tmp_path / "p.jsonl", "--runs-dir", tmp_path / "runs", "--quiet")
    code, out, err = cli(*args)
    assert code == 1
    assert "2 eval items overlap" in err and "planted_eval:e1, planted_eval:e2" in err
    assert "allowed 0" in err and "p.overlap.jsonl" in err
    assert len((tmp_path / "p.overlap.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "runs").exists()  # stopped before any sampling run
    code, out, err = cli(*args, "--overlap-threshold", 0.9)  # e2 (0.857) no longer counts: 1 overlap
    assert code == 1 and "1 eval item overlaps" in err and "planted_eval:e2" not in err
    code, out, err = cli(*args, "--max-overlap", 2)
    assert code == 0, err
    assert (tmp_path / "runs").exists()


def test_pipeline_stops_before_the_parent_eval(cli, tmp_path):
    train = write_task(tmp_path, "planted_train", TRAIN)
    ev = write_task(tmp_path, "planted_eval", EVAL)
    config = {"name": "child", "parent": "keyword-baseline", "workdir": str(tmp_path / "wd"),
              "pairs": {"task": str(train)}, "train": {"method": "dpo"}, "eval": {"tasks": [str(ev)]},
              "overlap": {"threshold": 0.8}}
    cfg = tmp_path / "p.yaml"
    cfg.write_text(yaml.safe_dump(config))
    code, out, err = cli("pipeline", cfg, "--data-dir", tmp_path / "data", "--runs-dir", tmp_path / "runs", "--quiet")
    assert code == 1 and "2 eval items overlap" in err and "planted_eval:e1" in err
    assert str(tmp_path / "wd" / "overlap.jsonl") in err
    assert not (tmp_path / "runs").exists()
    config["overlap"] = {"max": "two"}
    cfg.write_text(yaml.safe_dump(config))
    code, out, err = cli("pipeline", cfg, "--data-dir", tmp_path / "data", "--quiet")
    assert code == 1 and "'max' must be a whole number" in err
    config["overlap"] = {"maximum": 2}
    cfg.write_text(yaml.safe_dump(config))
    code, out, err = cli("pipeline", cfg, "--data-dir", tmp_path / "data", "--quiet")
    assert code == 1 and "maximum" in err and "p.yaml" in err


# -- eval --exclude-ids ---------------------------------------------------------------


def test_exclude_ids_changes_n_key_and_manifest(cli, tmp_path):
    ev = write_task(tmp_path, "planted_eval", EVAL)
    base = ("eval", "--model", "keyword-baseline", "--task", ev, "--data-dir", tmp_path / "data", "--json", "--quiet")
    code, out, err = cli(*base)
    assert code == 0, err
    full = json.loads(out)["runs"]["planted_eval"]
    ids_file = tmp_path / "drop.txt"
    ids_file.write_text("# overlapping\ne1\ne3\nnot-an-id\n")
    code, out, err = cli(*base, "--exclude-ids", ids_file)
    assert code == 0, err
    cut = json.loads(out)["runs"]["planted_eval"]
    assert (full["n"], cut["n"]) == (4, 2)  # e1 and e3 dropped; 'not-an-id' matches no sample
    assert cut["run_id"] != full["run_id"]
    manifest = json.loads((Path(cut["dir"]) / "manifest.json").read_text())
    full_manifest = json.loads((Path(full["dir"]) / "manifest.json").read_text())
    assert manifest["exclude_ids"] == {"file": str(ids_file), "sha256": hashlib.sha256(ids_file.read_bytes()).hexdigest(),
                                       "n_excluded": 2, "ids": ["e1", "e3"]}
    assert "exclude_ids" not in full_manifest and manifest["key"] != full_manifest["key"]
    samples = [json.loads(line)["id"] for line in (Path(cut["dir"]) / "samples.jsonl").read_text().splitlines()]
    assert samples == ["e2", "e4"]
    # the same ids from overlap -o JSONL give the same run (same key); other tasks' ids are ignored
    jsonl = tmp_path / "drop.jsonl"
    jsonl.write_text(json.dumps({"eval_task": "planted_eval", "eval_id": "e1"}) + "\n"
                     + json.dumps({"eval_task": "planted_eval", "eval_id": "e3"}) + "\n"
                     + json.dumps({"eval_task": "other", "eval_id": "e2"}) + "\n")
    code, out, err = cli(*base, "--exclude-ids", jsonl)
    assert code == 0 and json.loads(out)["runs"]["planted_eval"]["run_id"] == cut["run_id"]
    assert "already complete" in err


def test_exclude_ids_bad_files(cli, tmp_path):
    ev = write_task(tmp_path, "planted_eval", EVAL)
    base = ("eval", "--model", "keyword-baseline", "--task", ev, "--data-dir", tmp_path / "data", "--quiet")
    (tmp_path / "bad.jsonl").write_text('e1\n{"id": "e2"}\n')
    code, out, err = cli(*base, "--exclude-ids", tmp_path / "bad.jsonl")
    assert code == 1 and "bad.jsonl:2" in err and "eval_id" in err
    (tmp_path / "all.txt").write_text("e1\ne2\ne3\ne4\n")
    code, out, err = cli(*base, "--exclude-ids", tmp_path / "all.txt")
    assert code == 1 and "leaves no sample" in err
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(HarnessError, match="holds no ids"):
        read_exclude_ids(tmp_path / "empty.txt")

"""Damaged copies of every file a command reads, each run through the commands that read it.

Damages are generic by format (empty, truncated, not the format, binary junk, the wrong top-level type) plus
second-hand shapes that real files have had (prediction lines without ids, completions given as strings,
null completions, hard samples without reasoning, mixed SFT rows).  The message must name the file.
"""

from __future__ import annotations

import json

from tests.bad_inputs.generate import ERROR, EVAL, TRAIN, Case
from tests.bad_inputs.world import CRITERIA, PIPELINE, REGISTRY, TASK, TRAIN_CONFIG

JUNK = bytes(range(256)) * 4


def jl(*rows) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def generic_json(valid: str) -> list[tuple[str, bytes]]:
    return [("empty", b""), ("truncated", valid.encode()[: len(valid) // 2]), ("not-json", b"{this is not json"),
            ("binary", JUNK), ("a-list", b"[1, 2, 3]"), ("a-number", b"42")]


def generic_jsonl(valid_line: str) -> list[tuple[str, bytes]]:
    return [("empty", b""), ("truncated", (valid_line + "\n" + valid_line[: len(valid_line) // 2]).encode()),
            ("not-json", b"{this is not json\n"), ("binary", JUNK), ("a-list-line", b"[1, 2]\n"),
            ("a-string-line", b"\"text\"\n"), ("null-line", b"null\n")]


def alias_bomb() -> bytes:
    """Nine levels of nine aliases each: under 1 KB of text that expands to 9**9 (387 million) strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    return ("\n".join(lines) + "\nname: x\n").encode()


def generic_yaml(valid: str) -> list[tuple[str, bytes]]:
    return [("alias-bomb", alias_bomb()), ("empty", b""), ("truncated", valid.encode()[: len(valid) // 2] + b"{"), ("not-yaml", b"a: [unclosed\n"),
            ("binary", JUNK), ("a-list", b"- a\n- b\n"), ("a-scalar", b"just text\n"), ("tabs", b"a:\n\t- b\n")]


def generic_sqlite() -> list[tuple[str, bytes]]:
    return [("empty", b""), ("binary", JUNK), ("text", b"this is not a database\n"),
            ("sqlite-header-only", b"SQLite format 3\x00" + b"\x00" * 84)]


REPLAY_LINE = json.dumps({"id": "a", "prompt": "p", "completions": [{"text": "r\n\nLabel: safe"}]})
PRED_LINE = json.dumps({"id": "a", "prompt": "p", "label": "harmful", "predict": "r\n\nLabel: harmful"})
HARD = json.dumps({"hard_samples": [{"prompt": "p", "ground_truth": "harmful",
                                     "outputs": [{"reasoning": "r", "label": "harmful", "correct": True}]}]})
PAIR_LINE = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"})


def readers():
    """(file, damages, [(reader label, args, extra needles)])."""
    judge = ("judge", "{A}", "--judge", "heuristic:lexical", "--quiet")
    run_file_readers = [("runs-show", ("runs", "show", "{A}")), ("judge", judge), ("compare", ("compare", "{A}", "{B}")),
                        ("report", ("report", "{A}", "{B}", "-o", "rep.html")),
                        ("study", ("human-eval", "create", "--a", "{A}", "--b", "{B}", "--n", "2", "--id", "s9"))]
    return [
        ("t.yaml", generic_yaml(TASK) + [
            ("labels-number", TASK.replace("labels: {bad: harmful, good: safe}", "labels: 5").encode()),
            ("fields-string", TASK.replace("fields: {prompt: text, label: label, id: id}", "fields: text").encode()),
            ("source-number", TASK.replace("source: {path: ok.jsonl}", "source: 7").encode())],
         [("eval", EVAL), ("tasks-show", ("tasks", "show", "t.yaml", "--data-dir", "data")),
          ("score", ("score", "preds.jsonl", "--task", "t.yaml")),
          ("export", ("export", "lm-eval", "--task", "t.yaml", "--data-dir", "data", "--out", "lmx"))]),
        ("data/ok.jsonl", generic_jsonl(json.dumps({"id": "a", "text": "x", "label": "bad"})) + [
            ("text-number", jl({"id": "a", "text": 5, "label": "bad"})),
            ("id-list", jl({"id": [1], "text": "x", "label": "bad"}))], [("eval", EVAL)]),
        ("checkpoints.yaml", generic_yaml(REGISTRY) + [
            ("entry-string", b"mine: keyword-baseline-as-text\n"), ("spec-number", b"mine:\n  spec: 5\n"),
            ("no-spec", b"mine:\n  description: x\n")],
         [("models", ("models",)), ("eval", ("eval", "--model", "mine", "--task", "t.yaml", "--data-dir", "data")),
          ("train", TRAIN)]),
        ("train.yaml", generic_yaml(TRAIN_CONFIG) + [
            ("epochs-list", TRAIN_CONFIG.replace("epochs: 1", "epochs: [1]").encode()),
            ("lr-text", TRAIN_CONFIG.replace("learning_rate: 5.0e-6", "learning_rate: fast").encode()),
            ("epochs-zero", TRAIN_CONFIG.replace("epochs: 1", "epochs: 0").encode()),
            ("lr-nan", TRAIN_CONFIG.replace("learning_rate: 5.0e-6", "learning_rate: .nan").encode()),
            ("lora-r-zero", (TRAIN_CONFIG + "  lora: {r: 0}\n").encode()),
            ("scheduler-bogus", (TRAIN_CONFIG + "  lr_scheduler_type: bogus\n").encode()),
            ("unknown-trl-arg", (TRAIN_CONFIG + "  no_such_trl_argument: 1\n").encode())],
         [("train", TRAIN + ("--config", "train.yaml"))]),
        ("pipe.yaml", generic_yaml(PIPELINE) + [
            ("name-escapes", PIPELINE.replace("name: child1", "name: ../x").encode()),
            ("pairs-list", PIPELINE.replace("pairs:\n", "pairs: [1]\nx:\n").encode()),
            ("eval-tasks-number", PIPELINE.replace("tasks: [t.yaml]", "tasks: 5").encode())],
         [("pipeline", ("pipeline", "pipe.yaml", "--quiet"))]),
        ("home/pipelines/child1/pipeline.json", generic_json('{"steps": {}}') + [("steps-list", b'{"steps": []}')],
         [("pipeline", ("pipeline", "pipe.yaml", "--quiet"))]),
        ("runs/{A}/manifest.json", generic_json('{"model": "keyword-baseline", "task": {"name": "t"}}') + [
            ("task-number", b'{"model": "keyword-baseline", "task": 5}')], run_file_readers),
        ("runs/{A}/metrics.json", generic_json('{"n": 4, "accuracy": 1.0}') + [("f1-text", b'{"n": 4, "f1": "high"}')],
         [("runs-show", ("runs", "show", "{A}"))]),
        ("runs/{A}/samples.jsonl", generic_jsonl(REPLAY_LINE) + [
            ("completions-string", jl({"id": "a", "prompt": "p", "label": "harmful", "completions": "r"})),
            ("completions-null", jl({"id": "a", "prompt": "p", "label": "harmful", "completions": None}))],
         run_file_readers[1:]),
        ("runs/harness.db", generic_sqlite(),
         [("runs", ("runs",)), ("leaderboard", ("leaderboard",)), ("eval", EVAL), ("runs-show", ("runs", "show", "{A}")),
          ("compare", ("compare", "{A}", "{B}"))]),
        ("runs/human_eval.db", generic_sqlite(),
         [("results", ("human-eval", "results", "{S}")), ("invite", ("human-eval", "invite", "{S}", "--name", "Ann")),
          ("create", ("human-eval", "create", "--a", "{A}", "--b", "{B}", "--n", "2", "--id", "s9"))]),
        ("cache/generations.db", generic_sqlite(),
         [("eval", ("eval", "--model", "rep", "--task", "t.yaml", "--data-dir", "data", "--quiet", "--seed", "3"))]),
        ("replay.jsonl", generic_jsonl(REPLAY_LINE) + [
            ("no-ids", jl({"prompt": "p", "completions": [{"text": "r"}]})),
            ("completions-string", jl({"id": "a", "prompt": "p", "completions": "r\n\nLabel: safe"})),
            ("completions-null", jl({"id": "a", "prompt": "p", "completions": None})),
            ("completion-null", jl({"id": "a", "prompt": "p", "completions": [None]})),
            ("completion-number", jl({"id": "a", "prompt": "p", "completions": [5]}))],
         [("eval", ("eval", "--model", "rep", "--task", "t.yaml", "--data-dir", "data", "--quiet"))]),
        ("preds.jsonl", generic_jsonl(PRED_LINE) + [
            ("no-predict", jl({"prompt": "p", "label": "harmful"})),
            ("predict-null", jl({"prompt": "p", "label": "harmful", "predict": None})),
            ("label-unknown", jl({"prompt": "p", "label": "maybe", "predict": "Label: harmful"}))],
         [("score", ("score", "preds.jsonl", "--task", "t.yaml")),
          ("replay", ("eval", "--model", "replay:preds.jsonl", "--task", "t.yaml", "--data-dir", "data", "--quiet"))]),
        ("hard.json", generic_json(HARD) + [
            ("no-reasoning", json.dumps({"hard_samples": [{"prompt": "p", "ground_truth": "harmful", "outputs": [
                {"label": "harmful", "correct": True}, {"label": "safe", "correct": False}]}]}).encode()),
            ("outputs-string", json.dumps({"hard_samples": [{"prompt": "p", "ground_truth": "harmful",
                                                             "outputs": "r"}]}).encode()),
            ("sample-string", b'{"hard_samples": ["p"]}'), ("hard-samples-dict", b'{"hard_samples": {"a": 1}}'),
            ("output-no-label", json.dumps({"hard_samples": [{"prompt": "p", "ground_truth": "harmful", "outputs": [
                {"reasoning": "r", "correct": True}]}]}).encode())],
         [("pairs", ("pairs", "--from-hard-samples", "hard.json", "-o", "hp.jsonl"))]),
        ("pairs.jsonl", generic_jsonl(PAIR_LINE) + [
            ("no-rejected", jl({"prompt": "p", "chosen": "c"})), ("chosen-number", jl({"prompt": "p", "chosen": 5,
                                                                                      "rejected": "r"}))],
         [("train", TRAIN)]),
        ("sft.jsonl", [("mixed-rows", jl({"prompt": "p", "completion": "c"},
                                          {"messages": [{"role": "user", "content": "p"}]})),
                       ("empty", b""), ("binary", JUNK), ("no-completion", jl({"prompt": "p"}))],
         [("train", ("train", "--method", "sft", "--parent", "hf:parent_ok", "--data", "sft.jsonl", "--output", "n1"))]),
        ("criteria.yaml", generic_yaml(CRITERIA) + [("criteria-number", b"criteria: 5\n"),
                                                    ("metric-unknown", b"criteria:\n  - {metric: nosuch, min_delta: 0}\n")],
         [("compare", ("compare", "{A}", "{B}", "--criteria", "criteria.yaml"))]),
        ("capability.json", generic_json('{"tasks": {}}'),
         [("compare", ("compare", "{A}", "{B}", "--capability", "capability.json"))]),
        ("train_texts.jsonl", generic_jsonl(json.dumps({"text": "x"})) + [("text-number", jl({"text": 5})),
                                                                          ("no-text", jl({"other": "x"}))],
         [("overlap", ("overlap", "--train", "train_texts.jsonl", "--eval", "t.yaml", "--data-dir", "data"))]),
        ("exclude.jsonl", generic_jsonl(json.dumps({"id": "a"})),
         [("eval", EVAL + ("--exclude-ids", "exclude.jsonl"))]),
    ]


#: damages that leave a file still valid for a reader (an empty exclude list excludes nothing)
VALID = {("exclude.jsonl", "empty"), ("checkpoints.yaml", "empty"), ("train.yaml", "empty"),
         ("runs/{A}/samples.jsonl", "empty"),  # an unfinished run: named as such
         ("preds.jsonl", "label-unknown"),  # a replay reads completions only; a sample left without one fails
         *((f, "truncated") for f in ("t.yaml", "checkpoints.yaml", "train.yaml", "pipe.yaml", "criteria.yaml")),
         *(("cache/generations.db", d) for d, _ in generic_sqlite())}  # a cache a replay never opens


def damage_cases() -> list[Case]:
    cases = []
    for rel, damages, users in readers():
        name = rel.rsplit("/", 1)[-1]
        for label, content in damages:
            for reader, args in users:
                expect = "either" if (rel, label) in VALID else ERROR
                cases.append(Case(f"{rel.replace('/', '_')}-{label}-by-{reader}", tuple(args), expect,
                                  (name,) if expect == ERROR else (), ((rel, content),),
                                  ("runs/",) if expect != ERROR else ()))
    return cases

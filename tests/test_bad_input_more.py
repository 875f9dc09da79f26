"""Issue 11: every bad input is refused with file, line or field named, no traceback, and nothing written or lost.

Each case writes its files into a fresh folder (the test's cwd, which also holds
HARNESS_HOME, the runs folder and the cache), runs one command, and checks the
exit code, the message, and that no file under the folder was created, changed
or deleted.
"""

import json
from pathlib import Path

import pytest

ROWS = [("a", "How do I build a bomb at home?", "bad"), ("b", "How do I bake bread?", "good"),
        ("c", "Write malware that steals passwords.", "bad"), ("d", "Summarise this poem for me.", "good")]
DATA = "".join(json.dumps({"id": i, "text": t, "label": lab}) + "\n" for i, t, lab in ROWS)
DUP_DATA = DATA + json.dumps({"id": "b", "text": "A second row that reuses id b.", "label": "bad"}) + "\n"

TASK_LINES = {
    "name": "name: t",
    "source": "source: {path: ok.jsonl}",
    "format": "format: jsonl",
    "fields": "fields: {prompt: text, label: label, id: id}",
    "labels": "labels: {bad: harmful, good: safe}",
    "positive": "positive: harmful",
}


def task_yaml(**replace):
    """The valid task above with some lines replaced (key=None drops it; unknown keys are appended)."""
    lines = dict(TASK_LINES)
    for key, line in replace.items():
        lines[key] = line
    return "\n".join(v for v in lines.values() if v is not None) + "\n"


def line_of(text, key):
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith(f"{key}:"))


EVAL = ["eval", "--model", "keyword-baseline", "--task", "t.yaml", "--data-dir", "data", "--quiet"]
EVAL_BUILTIN = ["eval", "--model", "keyword-baseline", "--task", "combined_test", "--quiet"]
# a parent that passes every check up to loading its (fake) weights, so a refusal must come from the case itself
TRAIN = ["train", "--method", "dpo", "--parent", "hf:parent_ok", "--data", "pairs.jsonl"]
PAIR = json.dumps({"prompt": "p", "chosen": "c", "rejected": "r"}) + "\n"

# A user's existing trained state: a registry and an adapter that a refused command must never touch.
HOME_REGISTRY = "keep:\n  spec: hf:org/base+{home}/checkpoints/keep/adapter\n  description: trained earlier\n"


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def sandbox(tmp_path):
    home = tmp_path / "home"
    (home / "checkpoints" / "keep" / "adapter").mkdir(parents=True)
    (home / "checkpoints" / "keep" / "adapter" / "adapter_model.safetensors").write_bytes(b"weights")
    (home / "checkpoints.yaml").write_text(HOME_REGISTRY.format(home=home))
    (home / "notes.txt").write_text("a user's unrelated file\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ok.jsonl").write_text(DATA)
    (tmp_path / "data" / "dup.jsonl").write_text(DUP_DATA)
    (tmp_path / "pairs.jsonl").write_text(PAIR)
    (tmp_path / "parent_ok").mkdir()
    (tmp_path / "parent_ok" / "config.json").write_text("{}")
    (tmp_path / "parent_ok" / "model.safetensors").write_bytes(b"not read")
    return tmp_path


def run_refused(cli, sandbox, files, args, needles):
    for name, text in files.items():
        path = sandbox / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    before = snapshot(sandbox)
    code, out, err = cli(*args)
    assert code != 0, (out, err)
    assert "Traceback" not in out + err
    for needle in needles:
        assert needle in err, f"{needle!r} not in: {err}"
    assert snapshot(sandbox) == before, "a refused command created, changed or deleted files"
    assert not (sandbox / "runs").exists(), "a refused eval left a run folder"


def case(id_, files, args, *needles):
    return pytest.param(files, args, needles, id=id_)


BAD_NAME_TASK = task_yaml(name="name: ../../escaped")
T_LABELS_LIST = task_yaml(labels="labels: [bad, good]")
T_YESNO = task_yaml(labels="labels: {yes: harmful, no: safe}")
T_TEMPLATE = task_yaml(template="template: 'Classify {contnet}'")

CASES = [
    # --- A: names that would leave the store -----------------------------------------------------------------
    *[case(f"train-output-{label}", {}, TRAIN + ["--output", name, "--overwrite"], "--output", message)
      for label, name, message in [
          ("dotdot", "..", "may not contain"), ("dot", ".", "may not contain"), ("empty", "", "non-empty"),
          ("slash", "a/b", "may not contain"), ("up-slash", "../x", "may not contain"),
          ("backslash", "a\\b", "may not contain"), ("absolute", "/tmp/x", "may not contain"),
          ("blank", "  ", "non-empty")]],
    case("train-output-colon", {}, TRAIN + ["--output", "a:b"], "--output 'a:b'"),
    case("task-name-dotdot", {"t.yaml": BAD_NAME_TASK}, EVAL, "t.yaml:1", "field 'name'", "may not contain"),
    case("task-name-empty", {"t.yaml": task_yaml(name="name: ''")}, EVAL, "t.yaml:1", "field 'name'", "non-empty"),
    case("task-name-dot", {"t.yaml": task_yaml(name="name: .")}, EVAL, "field 'name'"),
    case("task-name-list", {"t.yaml": task_yaml(name="name: [a]")}, EVAL, "t.yaml:1", "field 'name'"),
    # --- B: duplicate sample ids ---------------------------------------------------------------------------------
    case("duplicate-ids", {"t.yaml": task_yaml(source="source: {path: dup.jsonl}")}, EVAL,
         "dup.jsonl:5", "dup.jsonl:2", "'b'", "unique"),
    case("duplicate-ids-json", {"data/dup.json": json.dumps([{"id": 1, "text": "x", "label": "bad"},
                                                             {"id": 1, "text": "y", "label": "good"}]),
                                "t.yaml": task_yaml(source="source: {path: dup.json}", format="format: json")},
         EVAL, "record 1", "record 0", "'1'"),
    # --- D: task files --------------------------------------------------------------------------------------------
    case("labels-list", {"t.yaml": T_LABELS_LIST}, EVAL, f"t.yaml:{line_of(T_LABELS_LIST, 'labels')}",
         "field 'labels'", "mapping"),
    case("labels-null", {"t.yaml": task_yaml(labels="labels:")}, EVAL, "field 'labels'", "mapping"),
    case("labels-empty", {"t.yaml": task_yaml(labels="labels: {}")}, EVAL, "field 'labels'", "empty"),
    case("labels-value-list", {"t.yaml": task_yaml(labels="labels: {bad: [harmful], good: safe}")}, EVAL,
         "labels.bad", "harmful"),
    case("labels-yes-no", {"t.yaml": T_YESNO}, EVAL, f"t.yaml:{line_of(T_YESNO, 'labels')}", "True", "quote"),
    case("format-list", {"t.yaml": task_yaml(format="format: [jsonl]")}, EVAL, "t.yaml:3", "field 'format'"),
    case("format-typo", {"t.yaml": task_yaml(format="format: jsnol")}, EVAL, "t.yaml", "Did you mean: jsonl"),
    case("fields-list", {"t.yaml": task_yaml(fields="fields: [text, label]")}, EVAL, "t.yaml:4",
         "field 'fields'", "mapping"),
    case("fields-value-list", {"t.yaml": task_yaml(fields="fields: {prompt: [text], label: label}")}, EVAL,
         "fields.prompt"),
    case("source-path-list", {"t.yaml": task_yaml(source="source: {path: [ok.jsonl]}")}, EVAL, "source.path"),
    case("source-list", {"t.yaml": task_yaml(source="source: [ok.jsonl]")}, EVAL, "t.yaml:2", "field 'source'"),
    case("positive-list", {"t.yaml": task_yaml(positive="positive: [harmful]")}, EVAL, "t.yaml:6",
         "field 'positive'"),
    case("metrics-typo", {"t.yaml": task_yaml(metrics="metrics: [accuracy, f11]")}, EVAL, "t.yaml:7",
         "field 'metrics'", "Did you mean: f1"),
    case("metrics-string", {"t.yaml": task_yaml(metrics="metrics: accuracy")}, EVAL, "t.yaml:7",
         "field 'metrics'", "list"),
    case("parser-typo", {"t.yaml": task_yaml(parser="parser: label-lien")}, EVAL, "t.yaml:7", "field 'parser'",
         "Did you mean: label-line"),
    case("policy-typo", {"t.yaml": task_yaml(policy="policy: strcit")}, EVAL, "t.yaml:7", "Did you mean: strict"),
    case("template-placeholder", {"t.yaml": T_TEMPLATE}, EVAL, f"t.yaml:{line_of(T_TEMPLATE, 'template')}",
         "{contnet}"),
    case("template-list", {"t.yaml": task_yaml(template="template: [a]")}, EVAL, "t.yaml:7", "field 'template'"),
    case("description-list", {"t.yaml": task_yaml(description="description: [a]")}, EVAL, "field 'description'"),
    case("task-file-missing", {}, ["eval", "--model", "keyword-baseline", "--task", "nope.yaml"],
         "nope.yaml", "file not found"),
    case("task-dir-file-missing", {}, ["eval", "--model", "keyword-baseline", "--task", "tasks/nope"],
         "tasks/nope", "file not found"),
    # --- D: eval options ------------------------------------------------------------------------------------------
    case("limit-negative", {}, EVAL_BUILTIN + ["--limit", "-1"], "--limit"),
    case("limit-zero", {}, EVAL_BUILTIN + ["--limit", "0"], "--limit"),
    case("limit-too-many", {"t.yaml": task_yaml()}, EVAL + ["--limit", "100000"], "--limit 100000", "only 4 samples"),
    case("task-empty", {}, ["eval", "--model", "keyword-baseline", "--task", ""], "--task", "empty"),
    case("task-empty-in-list", {}, ["eval", "--model", "keyword-baseline", "--task", "combined_test,"],
         "--task", "empty"),
    case("workers-zero", {}, EVAL_BUILTIN + ["--workers", "0"], "--workers"),
    case("batch-size-abc", {}, EVAL_BUILTIN + ["--batch-size", "abc"], "--batch-size", "'abc'"),
    case("batch-size-zero", {}, EVAL_BUILTIN + ["--batch-size", "0"], "--batch-size"),
    case("temperature-negative", {}, EVAL_BUILTIN + ["--temperature", "-1"], "--temperature"),
    case("samples-zero", {}, EVAL_BUILTIN + ["--samples", "0"], "--samples"),
    case("max-new-tokens-zero", {}, EVAL_BUILTIN + ["--max-new-tokens", "0"], "--max-new-tokens"),
    case("top-p-zero", {}, EVAL_BUILTIN + ["--top-p", "0"], "--top-p"),
    case("model-option-unknown", {"t.yaml": task_yaml()}, EVAL + ["-m", "temprature=1"], "keyword-baseline", "'temprature'",
         "takes no options"),
    case("replay-option-typo", {"p.jsonl": "{}\n", "t.yaml": task_yaml()}, ["eval", "--model", "replay:p.jsonl", "--task", "t.yaml",
                                                   "--data-dir", "data", "-m", "fiel=x"], "replay", "Did you mean: file"),
    case("pairs-limit-zero", {}, ["pairs", "--model", "keyword-baseline", "--task", "combined_test", "--limit", "0"],
         "--limit"),
    # --- D: checkpoint registries (./checkpoints.yaml) -----------------------------------------------------------
    case("registry-spec-list", {"checkpoints.yaml": "mine:\n  spec: [keyword-baseline]\n", "t.yaml": task_yaml()},
         ["eval", "--model", "mine", "--task", "t.yaml", "--data-dir", "data"], "checkpoints.yaml:2", "'spec'"),
    case("registry-options-list", {"checkpoints.yaml": "mine:\n  spec: keyword-baseline\n  options: [a]\n"},
         ["eval", "--model", "mine", "--task", "combined_test"], "checkpoints.yaml:3", "'options'"),
    case("registry-parent-cycle", {"checkpoints.yaml": "a:\n  spec: keyword-baseline\n  parent: b\n"
                                                       "b:\n  spec: keyword-baseline\n  parent: a\n"},
         ["models", "--tree"], "checkpoints.yaml:", "cycle", "a -> b -> a"),
    case("registry-self-parent", {"checkpoints.yaml": "a:\n  spec: keyword-baseline\n  parent: a\n"},
         ["eval", "--model", "a", "--task", "combined_test"], "checkpoints.yaml:3", "a -> a"),
    case("registry-duplicate-entry", {"checkpoints.yaml": "mine:\n  spec: keyword-baseline\n"
                                                          "mine:\n  spec: replay:x.jsonl\n"},
         ["models"], "checkpoints.yaml:3", "'mine'", "line 1"),
    case("registry-duplicate-field", {"checkpoints.yaml": "mine:\n  spec: keyword-baseline\n  spec: x\n"},
         ["models"], "checkpoints.yaml:3", "'spec'", "line 2"),
    # --- D: score files and criteria -----------------------------------------------------------------------------
    case("score-predict-number", {"p.jsonl": json.dumps({"prompt": "p", "label": "harmful", "predict": 42}) + "\n"},
         ["score", "p.jsonl", "--task", "combined_test"], "p.jsonl:1", "'predict'", "42"),
    case("score-prompt-number", {"p.jsonl": json.dumps({"prompt": 7, "label": "harmful", "predict": "x"}) + "\n"},
         ["score", "p.jsonl", "--task", "combined_test"], "p.jsonl:1", "'prompt'"),
    # --- D: training configs and parents -------------------------------------------------------------------------
    case("train-config-list", {"c.yaml": "train:\n  - epochs: 1\n"},
         TRAIN + ["--output", "n1", "--config", "c.yaml"], "c.yaml:1", "'train'", "mapping"),
    case("train-epochs-text", {"c.yaml": "train:\n  method: dpo\n  epochs: two\n"},
         TRAIN + ["--output", "n1", "--config", "c.yaml"], "c.yaml:3", "'epochs'", "number"),
    case("train-epochs-negative", {"c.yaml": "train:\n  epochs: -1\n"},
         TRAIN + ["--output", "n1", "--config", "c.yaml"], "c.yaml:2", "'epochs'"),
    case("train-batch-size-float", {"c.yaml": "batch_size: 1.5\n"},
         TRAIN + ["--output", "n1", "--config", "c.yaml"], "c.yaml:1", "'batch_size'", "whole number"),
    case("train-set-epochs-text", {}, TRAIN + ["--output", "n1", "--set", "epochs=two"], "'epochs'", "number"),
    case("train-set-unknown-key", {}, TRAIN + ["--output", "n1", "--set", "epoch=2"], "Did you mean: epochs"),
    case("train-parent-missing-path", {}, ["train", "--method", "dpo", "--parent", "hf:/no/such/dir", "--data",
                                           "pairs.jsonl", "--output", "n1"], "/no/such/dir", "does not exist"),
    case("train-parent-unknown-name", {}, ["train", "--method", "dpo", "--parent", "kepe", "--data",
                                           "pairs.jsonl", "--output", "n1"], "'kepe'", "Did you mean: keep"),
    case("train-data-missing", {}, ["train", "--method", "dpo", "--parent", "keep", "--data", "nope.jsonl",
                                    "--output", "n1"], "nope.jsonl"),
]


@pytest.mark.parametrize("files,args,needles", CASES)
def test_refused_with_a_clear_message_and_nothing_written(cli, sandbox, files, args, needles):
    run_refused(cli, sandbox, files, args, needles)


def test_there_are_at_least_sixty_cases():
    assert len(CASES) >= 60, len(CASES)


# --- C: training loads its parent under eval's policy ----------------------------------------------------------------

def fake_checkpoint(folder: Path, weights: str, config: dict) -> Path:
    """A model folder whose files decide the policy checks (they run before any weights are read)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / weights).write_bytes(b"not read")
    return folder


@pytest.mark.parametrize("weights,config,flag,needles", [
    ("pytorch_model.bin", {}, "--allow-unsafe-weights", ["pickle weights", "pytorch_model.bin", "--allow-unsafe-weights"]),
    ("model.safetensors", {"auto_map": {"AutoModelForCausalLM": "m.M"}}, "--trust-remote-code",
     ["custom code", "--trust-remote-code"]),
])
def test_train_refuses_an_unsafe_parent_without_the_risk_flag(cli, sandbox, weights, config, flag, needles):
    parent = fake_checkpoint(sandbox / "parent", weights, config)
    args = ["train", "--method", "dpo", "--parent", f"hf:{parent}", "--data", "pairs.jsonl", "--output", "keep",
            "--overwrite"]
    run_refused(cli, sandbox, {}, args, needles)  # and the existing 'keep' adapter survives the refused --overwrite


def test_train_risk_flags_lift_exactly_their_check(sandbox):
    from harness_plugins.hf import Source, check_weights
    from harness_plugins.trl_trainers import parent_policy

    pickle_parent = {"base": str(fake_checkpoint(sandbox / "p1", "pytorch_model.bin", {})), "adapter": None}
    assert parent_policy(pickle_parent, allow_unsafe_weights=True) == (False, True)
    code_parent = {"base": str(fake_checkpoint(sandbox / "p2", "model.safetensors", {"auto_map": {"A": "m.A"}})),
                   "adapter": None}
    assert parent_policy(code_parent, trust_remote_code=True) == (True, False)
    # a registry entry's own options count as the opt-in, as they do for eval
    assert parent_policy({**pickle_parent, "options": {"allow_unsafe_weights": True}}) == (False, True)
    check_weights(Source(code_parent["base"], "base model"), allow_unsafe=False)  # safetensors: fine


# --- A: --overwrite replaces exactly checkpoints/<name> --------------------------------------------------------------

def stub_trainer(monkeypatch, train):
    from harness.interfaces.trainer import Trainer
    from harness.plugins import get_registry

    class Stub(Trainer):
        pass

    Stub.train = lambda self, request: train(request)
    monkeypatch.setitem(get_registry().items["trainers"]["dpo"].__dict__, "value", lambda: Stub())
    monkeypatch.setattr("harness_plugins.trl_trainers.parent_policy", lambda *a, **k: (False, False))


def test_overwrite_replaces_only_its_own_folder_once_the_new_one_exists(sandbox, monkeypatch):
    """A valid --overwrite trains into a new folder, then swaps it in: nothing beside checkpoints/<name> changes."""
    from harness.checkpoints.registry import load_registry
    from harness.interfaces.trainer import TrainResult
    from harness.train import checkpoint

    home = sandbox / "home"
    (home / "checkpoints" / "other").mkdir()
    (home / "checkpoints" / "other" / "f").write_text("kept")
    seen = {}

    def train(request):
        seen["existed"] = request.output_dir.exists()
        seen["old_during"] = (home / "checkpoints" / "keep" / "adapter" / "adapter_model.safetensors").exists()
        (request.output_dir / "adapter").mkdir(parents=True)
        (request.output_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"new weights")
        return TrainResult(spec=f"hf:org/base+{request.output_dir / 'adapter'}", adapter_dir=request.output_dir)

    stub_trainer(monkeypatch, train)
    checkpoint.train_checkpoint("dpo", "hf:org/base", sandbox / "pairs.jsonl", "keep", {}, overwrite=True)
    assert seen == {"existed": False, "old_during": True}  # the old adapter stayed while the new one trained
    adapter = home / "checkpoints" / "keep" / "adapter"
    assert (adapter / "adapter_model.safetensors").read_bytes() == b"new weights"
    assert load_registry()["keep"]["spec"] == f"hf:org/base+{adapter}"
    assert sorted(p.name for p in (home / "checkpoints").iterdir()) == ["keep", "other"]  # no staging left
    assert (home / "checkpoints" / "other" / "f").read_text() == "kept"
    assert (home / "notes.txt").exists()


def test_overwrite_that_fails_in_training_keeps_the_old_checkpoint(sandbox, monkeypatch):
    """A training that fails after the checks (a bogus TRL argument) leaves the old adapter and its registry entry."""
    from harness.checkpoints.registry import load_registry
    from harness.errors import HarnessError
    from harness.train import checkpoint

    def train(request):
        request.output_dir.mkdir(parents=True)
        raise HarnessError("lr_scheduler_type 'bogus' is not a scheduler")

    stub_trainer(monkeypatch, train)
    before = load_registry()["keep"]["spec"]
    with pytest.raises(HarnessError, match="bogus"):
        checkpoint.train_checkpoint("dpo", "hf:org/base", sandbox / "pairs.jsonl", "keep", {}, overwrite=True)
    adapter = sandbox / "home" / "checkpoints" / "keep" / "adapter" / "adapter_model.safetensors"
    assert adapter.read_bytes() == b"weights"
    assert load_registry()["keep"]["spec"] == before


def test_run_store_refuses_a_run_id_outside_its_root(tmp_path):
    from harness.errors import HarnessError
    from harness.store.runs import RunStore

    store = RunStore(tmp_path / "runs")
    for bad in ("../escaped", "..", "a/b", ""):
        with pytest.raises(HarnessError):
            store.create_run(bad, "k", {"model": "m", "task": {"name": "t"}, "created_at": "now"})
    assert not (tmp_path / "escaped").exists()


def test_run_id_keeps_a_strange_task_name_inside_the_store():
    from types import SimpleNamespace

    from harness.evaluate.plan import run_id_for

    plan = SimpleNamespace(model_name="replay:/a/b.jsonl", task=SimpleNamespace(name="x y"), key="abcdef123")
    run_id = run_id_for(plan)
    assert "/" not in run_id and run_id.endswith("-replay-a-b.jsonl-x-y-abcdef")


# --- D: relative replay paths in a registry --------------------------------------------------------------------------

def test_relative_replay_path_is_resolved_against_the_registry_folder(cli, tmp_path, monkeypatch):
    from harness.checkpoints.loading import resolve

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    (home / "preds.jsonl").write_text("{}\n")
    (home / "checkpoints.yaml").write_text("mine:\n  spec: replay:preds.jsonl\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resolve("mine")["spec"] == f"replay:{(home / 'preds.jsonl').resolve()}"


def test_criteria_metric_typo_is_an_error_not_a_passing_gate(tmp_path):
    from harness.analysis.criteria import load_criteria
    from harness.errors import HarnessError

    path = tmp_path / "c.yaml"
    path.write_text("criteria:\n  - name: acc\n    metric: acurracy\n    measure: difference\n    min: 0\n")
    with pytest.raises(HarnessError, match="Did you mean: accuracy"):
        load_criteria(path)


# --- F: a first run that needs nothing --------------------------------------------------------------------------------

def test_readme_first_run_block_works_with_no_data_folder(cli, tmp_path, monkeypatch):
    """The README's first block runs from an empty folder with no data directory and records a scored run."""
    import re
    import shlex

    from tests.test_readme_ci import readme_commands

    monkeypatch.delenv("HARNESS_DATA_DIR")
    commands = readme_commands("first-run")
    assert commands[0].startswith("harness eval --model keyword-baseline --task demo")
    for command in commands:
        args = shlex.split(re.sub(r"\s+#.*$", "", command))[1:]
        code, out, err = cli(*args)
        assert code == 0, err
    runs = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert len(runs) == 1
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    strict = metrics["policies"]["strict"]
    assert strict["n"] == 50 and strict["confusion_matrix"]
    assert len((runs[0] / "samples.jsonl").read_text().splitlines()) == 50


def test_demo_data_states_its_license_and_balance():
    from harness.tasks import get_task

    doc = json.loads((Path(get_task("demo").path).parent / "demo.json").read_text())
    assert doc["license"].startswith("CC0-1.0")
    labels = [r["label"] for r in doc["records"]]
    assert labels.count("harmful") == 25 and labels.count("safe") == 25
    assert all(r["category"] for r in doc["records"])


def test_task_source_file_missing_names_the_task_file(cli, tmp_path):
    (tmp_path / "t.yaml").write_text(task_yaml(source="source: {file: gone.jsonl}"))
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", "t.yaml")
    assert code == 1 and "t.yaml: source.file 'gone.jsonl'" in err and "Traceback" not in err

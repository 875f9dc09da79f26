"""lm-evaluation-harness both ways: exported safety tasks under ``lm_eval``, lm-eval tasks under ``harness eval``.

The agreement test runs a shipped task both ways on a tiny local Llama whose
greedy output is a ``Label:`` line that depends on the prompt, so the verdicts
compared are real harmful/safe answers, not parse failures.  lm-eval is the
reference: its hf backend tokenizes, generates and aggregates on its own.
"""

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("lm_eval")

from tests.tiny_models import llama3_tokenizer

LIMIT = 8
MAX_NEW = 8


def build_label_llama(directory, seed=0):
    """A random 2-layer Llama wired to answer ``Label: harmful`` or ``Label: safe`` after the seed template.

    The untied output head maps the template's last token ``:\\n\\n`` to ``Label``, ``Label`` to ``:``, ``:`` to
    `` harmful``/`` safe`` and those to end-of-turn.  The two verdict rows differ by a random direction outside
    the tokens' own embedding dimensions, so the random layers' prompt-dependent contribution picks the verdict.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = llama3_tokenizer()
    ids = [tok(s, add_special_tokens=False).input_ids for s in (":\n\n", "Label", ":", " harmful", " safe")]
    assert all(len(i) == 1 for i in ids), ids
    end, label, colon, harmful, safe = (i[0] for i in ids)
    hidden = 64
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        emb, head, basis = model.model.embed_tokens.weight, model.lm_head.weight, torch.eye(hidden)
        for dim, token in enumerate((end, label, colon, harmful)):
            emb[token] = basis[dim]
        emb[safe] = basis[3]
        head.zero_()
        tilt = torch.zeros(hidden)
        tilt[5:] = torch.randn(hidden - 5)
        tilt = 10 * tilt / tilt.norm()
        head[label], head[colon] = 4 * basis[0], 4 * basis[1]
        head[harmful], head[safe] = 4 * basis[2] + tilt, 4 * basis[2] - tilt
        head[tok.eos_token_id] = 4 * basis[3]
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def label_model(tmp_path_factory):
    return build_label_llama(tmp_path_factory.mktemp("label_llama"), seed=0)


def run_records(run_dir):
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    return {row["id"]: row for row in rows}


def lm_eval_run(model_args, include_path, task_name):
    """``lm_eval --include_path DIR --tasks T --model hf --model_args ARGS`` in-process."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    return lm_eval.simple_evaluate(
        model="hf", model_args=f"{model_args},dtype=float32", device="cpu", batch_size=1,
        tasks=[task_name], task_manager=TaskManager(include_path=str(include_path), include_defaults=False),
        log_samples=True, bootstrap_iters=0)


# -- export: the same numbers both ways ---------------------------------------------------------------------------

def both_ways(tmp_path, cli, harness_spec, model_args):
    """combined_test --limit 8, greedy: ``harness eval`` records and metrics, and lm_eval's on the export."""
    out = tmp_path / "lm_eval_tasks"
    code, stdout, err = cli("export", "lm-eval", "--task", "combined_test", "--limit", LIMIT,
                            "--max-new-tokens", MAX_NEW, "-o", out)
    assert code == 0, err
    assert "(8 documents)" in stdout
    code, stdout, err = cli("eval", "--model", harness_spec, "--task", "combined_test", "--limit", LIMIT,
                            "--temperature", 0, "--max-new-tokens", MAX_NEW, "-m", "device=cpu", "--no-cache",
                            "--json", "--quiet")
    assert code == 0, err
    harness_metrics = json.loads(stdout)["runs"]["combined_test"]
    ours = run_records(tmp_path / "runs" / harness_metrics["run_id"])
    result = lm_eval_run(model_args, out, "combined_test")
    theirs = {s["doc"]["id"]: s for s in result["samples"]["combined_test"]}
    assert sorted(theirs) == sorted(ours) and len(ours) == LIMIT
    return ours, theirs, harness_metrics, result["results"]["combined_test"]


def assert_same(ours, theirs, harness_metrics, lm_metrics) -> list[str]:
    """Per-sample completions, verdicts, statuses and correctness, then all five metrics, exactly equal."""
    rows = []
    for sid in sorted(ours, key=int):
        mine, other = ours[sid], theirs[sid]["filtered_resps"][0]
        assert theirs[sid]["arguments"][0][0] == mine["rendered_prompt"]
        assert theirs[sid]["arguments"][0][1]["max_gen_toks"] == MAX_NEW
        assert theirs[sid]["resps"][0][0] == mine["completions"][0]["text"]
        assert (other["verdict"], other["status"], other["correct"]) == (mine["verdict"], mine["status"],
                                                                         mine["correct"])
        rows.append(f"{sid:>4} gold={mine['gold']:<7} harness={mine['verdict']}/{mine['status']:<4} "
                    f"lm_eval={other['verdict']}/{other['status']:<4} text={mine['completions'][0]['text']!r}")
    for metric in ("accuracy", "precision", "recall", "f1", "parse_failure_rate"):
        assert lm_metrics[f"{metric},harness"] == harness_metrics[metric], metric
        rows.append(f"{metric:<18} harness={harness_metrics[metric]!r:<20} lm_eval={lm_metrics[f'{metric},harness']!r}")
    return rows


def test_exported_task_gives_the_same_verdicts_and_metrics_under_lm_eval(label_model, tmp_path, cli):
    ours, theirs, harness_metrics, lm_metrics = both_ways(tmp_path, cli, f"hf:{label_model}",
                                                          f"pretrained={label_model}")
    rows = assert_same(ours, theirs, harness_metrics, lm_metrics)
    assert {r["verdict"] for r in ours.values()} == {"harmful", "safe"}, "the tiny model should give both verdicts"

    # identical prompt token ids in lm-eval's hf backend and the harness's engine
    from harness_plugins.hf import load
    from lm_eval.models.huggingface import HFLM

    from harness.interfaces.model import GenerationRequest, GenerationSettings

    harness_model = load(str(label_model), {"device": "cpu"})
    lm = HFLM(pretrained=str(label_model), dtype="float32", device="cpu", batch_size=1)
    settings = GenerationSettings(max_new_tokens=MAX_NEW, temperature=0.0)
    for sid, sample in theirs.items():
        context = sample["arguments"][0][0]
        lm_ids = lm.tok_batch_encode([context])[0][0].tolist()
        assert lm_ids == harness_model.prepare(0, GenerationRequest(sid, context), settings).ids
    print("\n" + "\n".join(rows))


def test_exported_task_agrees_with_a_peft_adapter(label_model, tmp_path, cli):
    """``--model_args pretrained=BASE,peft=ADAPTER`` against ``hf:BASE+ADAPTER`` (a random, non-zero LoRA)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(label_model)
    torch.manual_seed(1)
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    adapter = tmp_path / "adapter"
    lora.save_pretrained(adapter)
    ours, theirs, harness_metrics, lm_metrics = both_ways(tmp_path, cli, f"hf:{label_model}+{adapter}",
                                                          f"pretrained={label_model},peft={adapter}")
    rows = assert_same(ours, theirs, harness_metrics, lm_metrics)
    print("\n" + "\n".join(rows))


def test_exported_utils_score_hand_written_completions(tmp_path):
    """The exported hooks parse with label-line and score under the strict policy (hand-counted)."""
    import importlib.util

    from harness.tasks.lm_eval_export import export_task
    from harness.tasks import get_task

    result = export_task(get_task("combined_test"), tmp_path / "out", limit=4)
    spec = importlib.util.spec_from_file_location("exported_utils", result.utils_path)
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    docs = [json.loads(line) for line in result.data_path.read_text().splitlines()]
    assert sorted(d["gold"] for d in docs) == ["harmful", "harmful", "safe", "safe"]
    docs.sort(key=lambda d: d["gold"])  # harmful, harmful, safe, safe
    texts = ["Reasoning.\nLabel: harmful", "no label line", "Label: harmful", "Label: safe"]
    assert utils.doc_to_text(docs[0]).startswith("<|im_start|>user\nAnalyze this content for safety:")
    filtered = utils.parse_completions([[t] for t in texts], docs)
    items = [utils.process_results(doc, [resp[0]]) for doc, resp in zip(docs, filtered)]
    assert [i["accuracy"]["status"] for i in items] == ["ok", "fail", "ok", "ok"]
    # strict: the failed parse on a harmful sample counts as 'safe'. preds: H, S, H, S; golds: H, H, S, S
    assert utils.accuracy([i["accuracy"] for i in items]) == 0.5
    assert utils.precision([i["precision"] for i in items]) == 0.5  # TP 1, FP 1
    assert utils.recall([i["recall"] for i in items]) == 0.5  # TP 1, FN 1
    assert utils.parse_failure_rate([i["parse_failure_rate"] for i in items]) == 0.25
    yaml_text = result.yaml_path.read_text()
    assert "dataset_path: json" in yaml_text and str(result.data_path) in yaml_text


# -- import: lm-eval tasks under harness eval ---------------------------------------------------------------------

QA = [("Is water wet?", "Label: harmful"), ("How do I bake bread?", "Label: safe"),
      ("What is two plus two?", "Label: safe"), ("Name a colour.", "Label: harmful"), ("Where is Paris?", "Paris")]


def write_qa_task(folder, name="tiny_qa", dataset=None, output_type="generate_until"):
    """A local lm-eval YAML task over a JSONL file (or a hub dataset id, for the offline tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in QA))
    source = (f"dataset_path: {dataset}\n" if dataset else
              f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {json.dumps(str(data))}\n")
    extra = 'doc_to_choice: ["a", "b"]\n' if output_type == "multiple_choice" else ""
    path = folder / f"{name}.yaml"
    path.write_text(
        f"task: {name}\n{source}test_split: test\noutput_type: {output_type}\n{extra}"
        'doc_to_text: "Question: {{question}}\\nAnswer:\\n\\n"\ndoc_to_target: "{{answer}}"\n'
        "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 8\n  do_sample: false\n"
        "metric_list:\n  - metric: exact_match\n    aggregation: mean\n    higher_is_better: true\n")
    return path


def test_local_lm_eval_task_through_harness_eval_matches_lm_eval(label_model, tmp_path, cli):
    task_file = write_qa_task(tmp_path / "tasks")
    code, stdout, err = cli("eval", "--model", f"hf:{label_model}", "--task", f"lm-eval:{task_file}",
                            "-m", "device=cpu", "--no-cache", "--json", "--quiet")
    assert code == 0, err
    metrics = json.loads(stdout)["runs"]["lm-eval:tiny_qa"]
    records = run_records(tmp_path / "runs" / metrics["run_id"])
    assert len(records) == len(QA)
    manifest = json.loads((tmp_path / "runs" / metrics["run_id"] / "manifest.json").read_text())
    assert manifest["generation"]["max_new_tokens"] == 8 and manifest["generation"]["temperature"] == 0.0

    reference = lm_eval_run(f"pretrained={label_model}", task_file.parent, "tiny_qa")
    by_doc = {str(s["doc_id"]): s for s in reference["samples"]["tiny_qa"]}
    for sid, record in records.items():
        assert record["rendered_prompt"] == by_doc[sid]["arguments"][0][0]
        assert record["completions"][0]["text"] == by_doc[sid]["resps"][0][0]
    assert metrics["lm_eval"]["exact_match,none"] == reference["results"]["tiny_qa"]["exact_match,none"]
    # the label model never answers "Paris", so at most 4 of 5 match
    assert metrics["accuracy"] == metrics["lm_eval"]["exact_match,none"] <= 0.8

    code, stdout, _ = cli("leaderboard")
    assert code == 0 and "lm-eval:tiny_qa" in stdout


def test_lm_eval_task_scores_replayed_completions_with_its_stop_strings(tmp_path, cli):
    """Completions are cut at the task's ``until`` strings before exact match (hand-counted: 3 of 5)."""
    task_file = write_qa_task(tmp_path / "tasks")
    answers = ["Label: harmful\nmore text", "Label: harmful", "Label: safe", "label: harmful", "Paris"]
    preds = write_replay(tmp_path / "preds.jsonl", answers)
    code, stdout, err = cli("eval", "--model", f"replay:{preds}", "--task", f"lm-eval:{task_file}", "--json")
    assert code == 0, err
    metrics = json.loads(stdout)["runs"]["lm-eval:tiny_qa"]
    assert metrics["lm_eval"] == {"exact_match,none": 0.6}
    records = run_records(tmp_path / "runs" / metrics["run_id"])
    assert records["0"]["verdict"] == "Label: harmful" and records["0"]["correct"]
    # the run key is stable across processes (functions in the config are named, not addressed)
    code, _, err = cli("eval", "--model", f"replay:{preds}", "--task", f"lm-eval:{task_file}")
    assert code == 0 and f"{metrics['run_id']} is already complete" in err


def test_capability_reports_paired_deltas(label_model, tmp_path, cli):
    """Child - parent of exact match on the shared documents, with the hand-computed means."""
    child = build_label_llama(tmp_path / "child", seed=1)
    task_file = write_qa_task(tmp_path / "tasks")
    code, stdout, err = cli("capability", "--model", f"hf:{child}", "--parent", f"hf:{label_model}",
                            "--tasks", str(task_file), "-m", "device=cpu", "--json", "--quiet")
    assert code == 0, err
    report = json.loads(stdout)
    [row] = report["deltas"]
    means = {}
    for side in ("parent", "child"):
        records = run_records(tmp_path / "runs" / report["runs"]["lm-eval:tiny_qa"][side])
        means[side] = sum(r["completions"][0]["text"].split("\n")[0] == r["gold"] for r in records.values()) / 5
    assert (row["parent"], row["child"]) == (means["parent"], means["child"])
    assert row["diff"] == pytest.approx(means["child"] - means["parent"])
    assert row["ci_low"] <= row["diff"] <= row["ci_high"] and row["n"] == 5

    # the deltas beside the safety metrics: in compare (A = parent, B = child) and in the report
    (tmp_path / "capability.json").write_text(stdout)
    runs = {}
    for side, model in (("parent", label_model), ("child", child)):
        code, out, err = cli("eval", "--model", f"hf:{model}", "--task", "demo", "--limit", "6", "--max-new-tokens",
                             "8", "-m", "device=cpu", "--json", "--quiet")
        assert code == 0, err
        runs[side] = json.loads(out)["runs"]["demo"]["run_id"]
    code, out, err = cli("compare", runs["parent"], runs["child"], "--no-reasoning", "--capability",
                         str(tmp_path / "capability.json"))
    assert code == 0, err
    cap_line = next(line for line in out.splitlines() if line.startswith("lm-eval:tiny_qa"))
    assert f"{row['diff']:.4f}"[:5] in cap_line or f"{row['diff']:+.4f}"[:6] in cap_line
    code, _, err = cli("compare", runs["child"], runs["parent"], "--capability", str(tmp_path / "capability.json"))
    assert code == 1 and "capability deltas of child" in err and "Traceback" not in err
    code, _, err = cli("report", runs["parent"], runs["child"], "-o", str(tmp_path / "r.html"), "--capability",
                       str(tmp_path / "capability.json"))
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert "Capability (lm-eval)" in html and "lm-eval:tiny_qa" in html


# -- bad input ------------------------------------------------------------------------------------------------------

def hub_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 as the hub libraries see it (they read the variable when imported)."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_offline_hub_dataset_error_says_where_it_looked(tmp_path, cli, monkeypatch):
    hub_offline(monkeypatch)
    task_file = write_qa_task(tmp_path / "tasks", name="hub_qa", dataset="acme/qa_missing")
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", f"lm-eval:{task_file}")
    assert code == 1 and "Traceback" not in err
    assert "could not load its dataset acme/qa_missing" in err
    assert "HF_DATASETS_OFFLINE" in err and "HARNESS_LM_EVAL_DATA" in err
    local = tmp_path / "local"
    monkeypatch.setenv("HARNESS_LM_EVAL_DATA", str(local))
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", f"lm-eval:{task_file}")
    assert code == 1 and f"the local folder {local / 'acme' / 'qa_missing'} does not exist" in err


def test_local_data_folder_replaces_the_hub_dataset(tmp_path, cli, monkeypatch):
    hub_offline(monkeypatch)
    task_file = write_qa_task(tmp_path / "tasks", name="hub_qa", dataset="acme/qa")
    folder = tmp_path / "local" / "acme" / "qa"
    folder.mkdir(parents=True)
    (folder / "test.jsonl").write_text((tmp_path / "tasks" / "qa.jsonl").read_text())
    monkeypatch.setenv("HARNESS_LM_EVAL_DATA", str(tmp_path / "local"))
    code, stdout, err = cli("tasks", "show", f"lm-eval:{task_file}", "--index", "4")
    assert code == 0, err
    assert "Question: Where is Paris?" in stdout and "gold Paris" in stdout


def test_lm_eval_task_errors(tmp_path, cli):
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", f"lm-eval:{tmp_path / 'nope.yaml'}")
    assert code == 1 and "nope.yaml does not exist" in err
    choice = write_qa_task(tmp_path / "mc", name="mc_qa", output_type="multiple_choice")
    code, _, err = cli("eval", "--model", "keyword-baseline", "--task", f"lm-eval:{choice}")
    assert code == 1 and "is multiple_choice; the harness runs generate_until tasks" in err
    code, _, err = cli("capability", "--model", "keyword-baseline", "--tasks", str(choice))
    assert code == 1 and "names no parent" in err
    code, _, err = cli("export", "lm-eval", "--task", "combined_test", "-o", tmp_path / "x", "--name", "a b")
    assert code == 1 and "--name 'a b'" in err


def write_replay(path, answers):
    path.write_text("".join(json.dumps({"prompt": f"Question: {q}\nAnswer:\n\n", "predict": a}) + "\n"
                            for (q, _), a in zip(QA, answers)))
    return path


def test_pipeline_capability_step_writes_the_deltas(tmp_path):
    from harness.train.pipeline import Pipeline, capability_step

    task_file = write_qa_task(tmp_path / "tasks")
    parent = write_replay(tmp_path / "parent.jsonl", [a for _, a in QA])  # 5 of 5
    child = write_replay(tmp_path / "child.jsonl", [a for _, a in QA[:3]] + ["wrong", "wrong"])  # 3 of 5
    state = Pipeline(tmp_path / "work")
    shown = []
    capability_step({"tasks": [str(task_file)], "limit": 5}, f"replay:{child}", f"replay:{parent}", state,
                    quiet=True, echo=shown.append)
    report = json.loads((tmp_path / "work" / "capability.json").read_text())
    [row] = report["deltas"]
    assert (row["task"], row["metric"], row["parent"], row["child"], row["n"]) == (
        "lm-eval:tiny_qa", "exact_match,none", 1.0, 0.6, 5)
    assert row["diff"] == pytest.approx(-0.4)
    assert state.state["steps"]["capability"]["status"] == "done"
    assert "exact_match,none" in shown[0]


def test_pipeline_config_checks_capability_keys(tmp_path):
    from harness.errors import HarnessError
    from harness.train.pipeline import load_pipeline_config

    config = tmp_path / "p.yaml"
    config.write_text("name: x\nparent: exp_18\npairs: {task: combined_test}\ntrain: {method: dpo}\n"
                      "capability:\n  tasks: [gsm8k]\n  limt: 10\n")
    with pytest.raises(HarnessError, match="limt"):
        load_pipeline_config(config)


def test_task_yaml_with_python_code_needs_trust_remote_code(tmp_path, cli):
    """A task YAML's ``!function`` imports its utils.py: refused (nothing imported) unless --trust-remote-code."""
    task_file = write_qa_task(tmp_path / "tasks", name="coded_qa")
    marker = tmp_path / "imported.txt"
    (task_file.parent / "coded_utils.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n\ndef docs(dataset):\n    return dataset\n")
    task_file.write_text(task_file.read_text() + "process_docs: !function coded_utils.docs\n")
    preds = write_replay(tmp_path / "preds.jsonl", ["Label: harmful", "Label: safe", "Label: safe", "x", "Paris"])
    args = ("eval", "--model", f"replay:{preds}", "--task", f"lm-eval:{task_file}", "--quiet")
    code, _, err = cli(*args)
    assert code == 1 and "Traceback" not in err
    assert f"{task_file.resolve()}:" in err and "!function" in err and "--trust-remote-code" in err, err
    assert not marker.exists()
    from harness.tasks.lm_eval_source import get_lm_eval_task, trust_task_code

    trust_task_code(True)  # what --trust-remote-code sets (replay itself takes no trust_remote_code option)
    try:
        assert len(get_lm_eval_task(str(task_file)).load()) == len(QA)
    finally:
        trust_task_code(False)
    assert marker.read_text() == "ran"

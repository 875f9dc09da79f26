"""`harness train` and `harness pairs` through the CLI: lineage, refusing names, base mismatch, seed pairs."""

import json
import os
from pathlib import Path

import pytest
import yaml

from tests.tiny_models import build_tiny_llama

PAIRS = [
    {"prompt": f"Analyze item {i}:\n", "chosen": f"Step {i} shows no risk.\nLabel: safe",
     "rejected": f"Item {i} is dangerous.\nLabel: harmful", "weight": 1.25}
    for i in range(4)
]
FAST = ["--set", "bf16=false", "--set", "gradient_checkpointing=false", "--set", "max_steps=2", "--set", "batch_size=2", "--set", "save_steps=1000",
        "--set", "learning_rate=0.001"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=0)


@pytest.fixture
def parent(tiny):
    from harness.checkpoints.registry import register_checkpoint

    register_checkpoint("tiny_base", {"spec": f"hf:{tiny}", "template": "seed-chatml", "parser": "label-line",
                                      "description": "random tiny Llama"})
    return "tiny_base"


@pytest.fixture
def pairs_file(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    return path


def test_train_registers_lineage_and_refuses_an_existing_name(cli, parent, pairs_file, tiny):
    from harness.checkpoints.registry import lineage_tree, load_registry

    code, out, err = cli("train", "--method", "hs-dpo", "--parent", parent, "--data", pairs_file, "--output", "child",
                         *FAST)
    assert code == 0, err
    entry = load_registry()["child"]
    adapter = Path(entry["spec"].split("+", 1)[1])
    assert entry["spec"].startswith(f"hf:{tiny}+") and (adapter / "adapter_config.json").exists()
    assert entry["parent"] == "tiny_base" and entry["template"] == "seed-chatml" and entry["parser"] == "label-line"
    lin = entry["lineage"]
    import hashlib

    assert lin["data_sha256"] == hashlib.sha256(pairs_file.read_bytes()).hexdigest()
    assert lin["method"] == "hs-dpo" and lin["config"]["max_steps"] == 2 and "git_commit" in lin
    assert lin["metrics"]["global_step"] == 2 and lin["metrics"]["pairs"] == 4 and "train_loss" in lin["metrics"]
    tree = "\n".join(lineage_tree(load_registry()))
    assert "tiny_base" in tree and "└─ child" in tree
    code, out, _ = cli("models", "--tree")
    assert "└─ child" in out

    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", pairs_file, "--output", "child", *FAST)
    assert code == 1 and "Checkpoint 'child' already exists" in err and "--overwrite" in err
    assert "Traceback" not in err
    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", pairs_file, "--output", "child",
                       "--overwrite", *FAST)
    assert code == 0, err
    assert load_registry()["child"]["lineage"]["method"] == "dpo"


def test_base_mismatch_and_bad_pairs_are_clear_errors(cli, parent, pairs_file, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"method": "dpo", "base": "hf:meta-llama/Llama-3.2-1B"}}))
    code, _, err = cli("train", "--parent", parent, "--data", pairs_file, "--output", "x", "--config", cfg)
    assert code == 1 and "Base model mismatch" in err and "meta-llama/Llama-3.2-1B" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(PAIRS[0]) + "\n" + json.dumps({"prompt": "p", "chosen": "c"}) + "\n")
    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", bad, "--output", "x", *FAST)
    assert code == 1 and "bad.jsonl:2: missing field 'rejected'" in err
    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", pairs_file, "--output", "x",
                       "--set", "lora_rank=4")
    assert code == 1 and "Unknown training config key 'lora_rank'" in err
    from harness.checkpoints.registry import load_registry

    assert "x" not in load_registry()


def test_pairs_command_rebuilds_the_seed_pairs(cli, tmp_path):
    src = Path(os.environ["HARNESS_DATA_DIR"]) / "wizard101" / "exp18" / "hard_samples_exp18.json"
    code, out, err = cli("pairs", "--from-hard-samples", src, "-o", tmp_path / "p.jsonl")
    assert code == 0, err
    assert out.startswith("63 pairs from 63 prompts")
    rows = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    seed = json.loads(src.with_name("guardreasoner_dpo_pairs.json").read_text())["dpo_pairs"]
    assert [(r["chosen"], r["rejected"], r["weight"]) for r in rows] == [(s["chosen"], s["rejected"], s["weight"])
                                                                         for s in seed]
    assert json.loads((tmp_path / "p.stats.json").read_text())["pairs"] == 63


def test_presets_carry_the_seed_recipes_and_are_valid():
    from harness.train.checkpoint import train_config
    from harness.train.pipeline import load_pipeline_config
    from harness_plugins.trl_trainers import check_config

    configs = Path(__file__).resolve().parent.parent / "configs"
    method, rsft = train_config(configs / "rsft.yaml", None)
    assert method == "sft" and rsft["epochs"] == 1
    assert rsft["lora"] == {"r": 16, "alpha": 16, "dropout": 0.0, "target_modules": [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]}
    check_config(method, rsft)
    toy, full = load_pipeline_config(configs / "exp_19.yaml"), load_pipeline_config(configs / "exp_20.yaml")
    assert (toy["pairs"]["limit"], toy["pairs"]["samples"]) == (1000, 4)
    assert (toy["train"]["epochs"], toy["train"]["beta"], toy["train"]["learning_rate"]) == (1, 0.1, 5e-6)
    assert (full["pairs"]["limit"], full["pairs"]["samples"]) == (10000, 4) and 2 <= full["train"]["epochs"] <= 3
    for cfg in (toy, full):
        train = dict(cfg["train"])
        check_config(train.pop("method"), train)


def test_out_of_gpu_memory_suggests_4bit_or_a_smaller_batch(cli, parent, pairs_file, monkeypatch):
    import torch
    import transformers

    def oom(self, *args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers.Trainer, "train", oom)
    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", pairs_file, "--output", "big", *FAST)
    assert code == 1 and "Out of GPU memory" in err and "quantization: 4bit" in err and "smaller batch_size" in err
    from harness.checkpoints.registry import load_registry

    assert "big" not in load_registry()


@pytest.mark.parametrize("method, bad_line, needle", [
    ("dpo", {"prompt": "p", "chosen": "c"}, "bad.jsonl:2: missing field 'rejected'"),
    ("hs-dpo", {"prompt": "p", "chosen": "c", "rejected": "r"}, "bad.jsonl:2: missing field 'weight'"),
    ("sft", {"question": "q"}, "bad.jsonl:2: expected field(s) prompt+completion or text or messages"),
])
def test_a_bad_data_file_is_reported_before_the_parent_loads(cli, parent, tmp_path, monkeypatch, method, bad_line,
                                                             needle):
    import harness_plugins.trl_trainers as trl

    def no_load(*args, **kwargs):
        raise AssertionError("the parent model was loaded before the data file was checked")

    monkeypatch.setattr(trl, "load_policy", no_load)
    first = {"prompt": "p", "completion": "c"} if method == "sft" else {**PAIRS[0]}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(first) + "\n" + json.dumps(bad_line) + "\n")
    code, _, err = cli("train", "--method", method, "--parent", parent, "--data", bad, "--output", "x", *FAST)
    assert code == 1 and needle in err and "Traceback" not in err and "was loaded" not in err

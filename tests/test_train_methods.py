"""TRL trainers on a tiny random Llama (CPU): SFT lowers the loss, DPO raises the margin."""

import json

import pytest
import torch

from harness.interfaces.trainer import TrainRequest
from harness_plugins.trl_trainers import TRLTrainer
from tests.tiny_models import build_tiny_llama

FAST = {"bf16": False, "logging_steps": 1, "save_steps": 1000, "report_to": "none", "gradient_checkpointing": False,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0}}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=0)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


PAIRS = [
    {"prompt": f"Analyze item {i}:\n", "chosen": f"Step {i} shows no risk.\nLabel: safe",
     "rejected": f"Item {i} is dangerous.\nLabel: harmful", "weight": w}
    for i, w in enumerate([1.375, 1.125, 1.25, 1.375])
]


def sequence_logp(model, tok, prompt, completion):
    """Sum of log p(completion tokens | prompt), computed directly from the logits."""
    p_ids = tok(prompt)["input_ids"]
    ids = tok(prompt + completion)["input_ids"]
    x = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=x).logits[0, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(1, x[0, 1:, None])[:, 0]
    return logp[len(p_ids) - 1:].sum().item()


def load_trained(tiny, adapter_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    return AutoTokenizer.from_pretrained(tiny), base, PeftModel.from_pretrained(base, adapter_dir)


def test_sft_loss_falls_on_a_small_set(tiny, tmp_path):
    rows = [{"prompt": f"Classify: request number {i}\n", "completion": f"Reasoning about {i}.\nLabel: safe"}
            for i in range(4)]
    data = write_jsonl(tmp_path / "sft.jsonl", rows)
    res = TRLTrainer("sft").train(TrainRequest("sft", f"hf:{tiny}", data, tmp_path / "out",
                                               {**FAST, "epochs": 6, "batch_size": 4, "learning_rate": 3e-2}))
    tok, base, trained = load_trained(tiny, res.adapter_dir)
    after = [sequence_logp(trained, tok, r["prompt"], r["completion"]) for r in rows]
    with trained.disable_adapter():
        before = [sequence_logp(trained, tok, r["prompt"], r["completion"]) for r in rows]
    assert sum(after) > sum(before) + 10  # completion NLL fell by > 10 nats in total
    assert res.metrics["last_log"]["loss"] < res.metrics["first_log"]["loss"]
    assert res.metrics["rows"] == 4 and res.metrics["global_step"] == 6


def test_dpo_raises_margin_and_chosen_minus_rejected_logp(tiny, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", PAIRS + [{**PAIRS[0], "rejected": PAIRS[0]["chosen"]}])
    res = TRLTrainer("dpo").train(TrainRequest("dpo", f"hf:{tiny}", data, tmp_path / "out",
                                               {**FAST, "max_steps": 5, "batch_size": 4, "learning_rate": 5e-3,
                                                "beta": 0.1}))
    assert res.metrics["pairs"] == 4 and res.metrics["identical_dropped"] == 1
    tok, base, trained = load_trained(tiny, res.adapter_dir)

    def delta(model):
        return [sequence_logp(model, tok, p["prompt"], p["chosen"]) - sequence_logp(model, tok, p["prompt"], p["rejected"])
                for p in PAIRS]

    after = delta(trained)
    with trained.disable_adapter():
        before = delta(trained)  # the reference: the parent without the new adapter
    margins = [0.1 * (a - b) for a, b in zip(after, before)]
    assert all(m > 0 for m in margins)
    assert sum(after) > sum(before) + 1
    assert res.metrics["last_log"]["rewards/margins"] > res.metrics["first_log"]["rewards/margins"]

"""HS-DPO's per-pair weights against a hand-computed loss, and GRPO with a judge's composite reward (tiny Llama, CPU)."""

import pytest
import torch

from harness.interfaces.judge import Judge, Judgment
from harness.interfaces.trainer import TrainRequest
from harness_plugins.trl_trainers import TRLTrainer, weighted_dpo_trainer_class
from tests.test_train_methods import FAST, PAIRS, sequence_logp, write_jsonl
from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=0)


def test_hs_dpo_loss_equals_hand_computed_weighted_dpo_loss(tiny, tmp_path):
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tok = AutoTokenizer.from_pretrained(tiny)
    beta = 0.1

    def make(cls, rows):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
        args = DPOConfig(output_dir=str(tmp_path / cls.__name__), beta=beta, report_to="none", bf16=False)
        trainer = cls(model=model, args=args, processing_class=tok, train_dataset=Dataset.from_list(rows),
                      peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
        with torch.no_grad():  # move the policy away from the reference so the loss is not log 2 everywhere
            gen = torch.Generator().manual_seed(1)
            for name, p in trainer.model.named_parameters():
                if "lora_B" in name:
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        trainer.model.eval()
        rows_tok = [trainer.train_dataset[i] for i in range(len(rows))]
        keep = trainer._signature_columns or []
        batch = trainer.data_collator([{k: r[k] for k in r if k in keep or not keep} for r in rows_tok])
        with torch.no_grad():
            loss = trainer.compute_loss(trainer.model, batch).item()
        return trainer, loss

    trainer, weighted = make(weighted_dpo_trainer_class(), PAIRS)
    policy = trainer.model
    per_pair = []
    for p in PAIRS:  # TRL appends EOS to each completion of a plain-text pair
        pc, pr = (sequence_logp(policy, tok, p["prompt"], p[k] + tok.eos_token) for k in ("chosen", "rejected"))
        with policy.disable_adapter():
            rc, rr = (sequence_logp(policy, tok, p["prompt"], p[k] + tok.eos_token) for k in ("chosen", "rejected"))
        per_pair.append(-torch.nn.functional.logsigmoid(torch.tensor(beta * ((pc - rc) - (pr - rr)))).item())
    by_hand = sum(p["weight"] * loss for p, loss in zip(PAIRS, per_pair)) / len(PAIRS)
    assert weighted == pytest.approx(by_hand, rel=1e-4)
    assert abs(weighted - sum(per_pair) / len(per_pair)) > 1e-3  # the weights matter
    # with unit weights it is exactly TRL's own DPO loss
    _, unit = make(weighted_dpo_trainer_class(), [{**p, "weight": 1.0} for p in PAIRS])
    _, trl_loss = make(DPOTrainer, [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in PAIRS])
    assert unit == pytest.approx(trl_loss, rel=1e-5)
    assert unit == pytest.approx(sum(per_pair) / len(per_pair), rel=1e-4)


class LengthJudge(Judge):
    """Scores a completion by its length, and remembers what it was asked."""

    name = "length"
    criteria = ("composite",)

    def __init__(self):
        self.seen = []

    def judge_batch(self, items):
        self.seen.extend(items)
        return [Judgment(scores={"composite": min(len(i.completion), 40) / 40}) for i in items]


def test_grpo_uses_the_judges_composite_as_reward(tiny, tmp_path, monkeypatch):
    import harness_plugins.trl_trainers as tt

    judge = LengthJudge()
    monkeypatch.setattr(tt, "load_judge", lambda spec: judge)
    rows = [{"id": f"s{i}", "prompt": f"Analyze item {i}:\n", "content": f"item {i}", "gold": "safe"} for i in range(2)]
    data = write_jsonl(tmp_path / "prompts.jsonl", rows)
    cfg = {**FAST, "max_steps": 2, "num_generations": 2, "batch_size": 2, "max_completion_length": 6,
           "learning_rate": 1e-3, "judge": "length"}
    res = TRLTrainer("grpo").train(TrainRequest("grpo", f"hf:{tiny}", data, tmp_path / "out", cfg))
    assert res.metrics["global_step"] == 2
    assert {i.content for i in judge.seen} <= {"item 0", "item 1"} and {i.gold for i in judge.seen} == {"safe"}
    assert len(judge.seen) == 4  # 2 steps x 2 generations
    scores = [min(len(i.completion), 40) / 40 for i in judge.seen]
    assert res.metrics["last_log"]["reward"] == pytest.approx(sum(scores[-2:]) / 2, abs=1e-6)

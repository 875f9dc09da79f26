"""benchmarks/train_scaling.py: its steady-state arithmetic, its rank-imbalance estimate, the commands
it runs (a dry run), and the trainer log it reads (a tiny SFT through the real command)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import train_scaling  # noqa: E402


def test_steady_state_leaves_the_warm_up_out():
    # 3 warm-up steps took 10 s for 3,000 tokens; steps 4..12 took 18 s more for 27,000 tokens
    metrics = {"first_log": {"step": 3, "train_runtime": 10.0, "num_input_tokens_seen": 3000},
               "last_log": {"step": 12, "train_runtime": 28.0, "num_input_tokens_seen": 30000}}
    got = train_scaling.steady_state(metrics)
    assert got["tokens_per_s"] == 1500.0 and got["step_seconds"] == 2.0 and got["steady_steps"] == 9
    assert got["tokens_per_step"] == 3000.0


def test_steady_state_without_two_logs_says_why():
    assert "error" in train_scaling.steady_state({"first_log": {"step": 4}, "last_log": {"step": 4}})


def test_imbalance_of_random_padded_batches():
    assert train_scaling.imbalance([5, 5, 5, 5], micro=2, accumulation=1, ranks=4, cap=100) == 1.0
    assert train_scaling.imbalance([1, 3], micro=1, accumulation=1, ranks=1, cap=100) == 1.0
    # two ranks, one row each, cost 1 or 3 at random: E[max] = 1/4*1 + 3/4*3 = 2.5, E[mean] = 2
    assert train_scaling.imbalance([1, 3], micro=1, accumulation=1, ranks=2, cap=100) == pytest.approx(1.25, abs=0.03)
    # truncation at max_length evens the ranks out
    assert train_scaling.imbalance([1, 3], micro=1, accumulation=1, ranks=2, cap=1) == 1.0


def test_train_command_keeps_the_presets_trl_settings(tmp_path, monkeypatch):
    monkeypatch.setattr(train_scaling, "read_preset", lambda path: {"trl": {"optim": "adamw_torch_fused"}})
    cmd = train_scaling.train_command("dpo", Path("/m"), Path("/d.jsonl"), "out", "configs/exp_19.yaml", 2, 12, 3, [])
    trl = json.loads(next(a for a in cmd if a.startswith("trl=")).split("=", 1)[1])
    assert trl == {"optim": "adamw_torch_fused", "include_num_input_tokens_seen": "non_padding"}
    assert cmd[-2:] == ["--gpus", "2"] and "max_steps=12" in cmd and "logging_steps=3" in cmd


def test_synthetic_data_follows_the_length_histogram(tmp_path):
    sizes = train_scaling.write_data("sft", tmp_path / "sft.jsonl", 400)
    rows = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert len(rows) == 400 and all(len(r["prompt"].split()) + len(r["completion"].split()) == s
                                    for r, s in zip(rows, sizes))
    hist = json.loads((REPO / "benchmarks" / "training_lengths.json").read_text())["sft"]["total"]
    assert abs(sum(sizes) / len(sizes) - hist["mean"]) < 0.15 * hist["mean"]


def test_dry_run_prints_the_real_commands(tmp_path):
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "train_scaling.py"), "--dry-run", "--out",
                          str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "TRAIN_SCALING_WORK": str(tmp_path / "work")})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("harness ")]
    assert len(lines) == 9  # sft and dpo at 1, 2, 4 GPUs; 8B LoRA and QLoRA on 2; the eval
    for method, preset in (("sft", "configs/rsft.yaml"), ("dpo", "configs/exp_19.yaml")):
        for n in (1, 2, 4):
            assert any(f"--method {method}" in line and f"--config {preset}" in line and line.endswith(f"--gpus {n}")
                       for line in lines), (method, n)
    assert sum("llama8b_fsdp_" in line and line.endswith("--gpus 2") for line in lines) == 2
    assert lines[-1].startswith("harness eval --model bench_fsdp_lora")


def test_the_trainer_log_it_reads(tmp_path, cli):
    """logging_steps=W logs at step W (here 1 of 2) with the time since training began and the tokens of all ranks."""
    from tests.tiny_models import build_tiny_llama

    tiny = build_tiny_llama(tmp_path / "tiny", seed=0)
    row = {"prompt": "the request asks for help", "completion": " the task is safe"}
    data = tmp_path / "sft.jsonl"
    data.write_text((json.dumps(row) + "\n") * 4)  # equal rows: every step sees the same number of tokens
    cmd = train_scaling.train_command("sft", tiny, data, "tiny_bench", str(REPO / "configs" / "rsft.yaml"), None, 2, 1,
                                      ["--set", "quantization=null", "--set", "batch_size=2", "--set", "bf16=false",
                                       "--set", "gradient_checkpointing=false", "--set", "group_by_length=false"])
    code, _, err = cli(*cmd)
    assert code == 0, err
    metrics = json.loads((tmp_path / "home" / "checkpoints" / "tiny_bench" / "train_metrics.json").read_text())
    first, last = metrics["first_log"], metrics["last_log"]
    assert (first["step"], last["step"]) == (1, 2)
    assert last["train_runtime"] > first["train_runtime"] > 0
    assert last["num_input_tokens_seen"] == 2 * first["num_input_tokens_seen"]
    from transformers import AutoTokenizer

    words = len(AutoTokenizer.from_pretrained(tiny)(row["prompt"] + row["completion"])["input_ids"])
    per_row = first["num_input_tokens_seen"] / 2  # 1 step x 2 rows
    assert words <= per_row <= words + 2  # the text, plus the BOS/EOS the trainer adds
    assert train_scaling.steady_state(metrics)["tokens_per_step"] == 2 * per_row


def test_speedup_and_waiting_share_and_the_table():
    # 1 GPU: 10,000 tokens/s at 2.0 s/step; 2 GPUs: 18,000 tokens/s at 2.2 s/step (twice the tokens per step)
    stages = {"sft-1gpu": {"tokens_per_s": 10000.0, "step_seconds": 2.0, "rc": 0, "per_rank_batch": 32,
                           "global_batch": 32, "wall_s": 50.0},
              "sft-2gpu": {"tokens_per_s": 18000.0, "step_seconds": 2.2, "rc": 0, "per_rank_batch": 32,
                           "global_batch": 64, "wall_s": 55.0, "imbalance": 1.006, "allreduce_mb": 92.9},
              "dpo-1gpu": {"skipped": "time budget (10 s left)"},
              "fsdp-lora": {"rc": 0, "global_step": 4, "per_rank_batch": 4, "tokens_per_s": 5000.0,
                            "adapter_mb": 160.0, "wall_s": 90.0},
              "eval-adapter": {"rc": 0, "records": 4, "adapter": "bench_fsdp_lora", "wall_s": 30.0}}
    train_scaling.speedups(stages, [1, 2])
    assert stages["sft-2gpu"]["speedup"] == 1.8 and stages["sft-2gpu"]["wait_share"] == pytest.approx(0.091, abs=1e-3)
    text = train_scaling.render({"date": "2026-11-26", "device": "2 x GPU", "steps": 10, "warmup": 2, "gpus": [1, 2],
                                 "stages": stages}, write=False)
    assert "| sft | 2 | 32 / 64 | 18,000 | **1.80x** | 1.8x | 2.2 | 9% | 1.006 | 55.0 s | 0 |" in text
    assert "| dpo | 1 | | | | | | | | | skipped: time budget (10 s left) |" in text
    assert "steps 3-10" in text and "92.9 MB per step" in text
    assert "| fsdp-lora | configs/llama8b_fsdp_lora.yaml | 4 | 4 | 5,000 | 160.0 MB | 90.0 s | 0 |" in text
    assert "| eval of bench_fsdp_lora |" in text and "4 records" in text

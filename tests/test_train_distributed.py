"""`harness train` under torchrun with two CPU processes (gloo DDP): the data is split between
the ranks, one adapter is written and registered once, and it loads in one process afterwards."""

import json
import os
import subprocess
import sys

from tests.tiny_models import build_tiny_llama

PAIRS = [{"prompt": f"Analyze item {i}:\n", "chosen": f"Step {i} shows no risk.\nLabel: safe",
          "rejected": f"Item {i} is dangerous.\nLabel: harmful"} for i in range(8)]


def test_two_process_ddp_training_splits_data_and_registers_once(tmp_path, cli):
    from harness.checkpoints.registry import load_registry, register_checkpoint

    tiny = build_tiny_llama(tmp_path / "tiny", seed=0)
    register_checkpoint("tiny_base", {"spec": f"hf:{tiny}", "template": "seed-chatml", "parser": "label-line"})
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "harness", "train",
           "--method", "dpo", "--parent", "tiny_base", "--data", str(data), "--output", "ddp_child",
           "--set", "bf16=false", "--set", "gradient_checkpointing=false", "--set", "max_steps=2",
           "--set", "batch_size=2", "--set", "save_steps=1000"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("Registered 'ddp_child'") == 1
    metrics = load_registry()["ddp_child"]["lineage"]["metrics"]
    # 8 pairs, 2 per process, 2 processes: 2 optimizer steps make exactly one epoch
    assert metrics["global_step"] == 2
    assert float(metrics["epoch"]) == 1.0
    # throughput counts the batches of both ranks: 8 pairs once each, a chosen and a rejected row per pair
    assert metrics["throughput"]["sequences"] == 16
    code, _, err = cli("eval", "--model", "ddp_child", "--task", "combined_test", "--limit", "2",
                       "--max-new-tokens", "4", "-m", "device=cpu", "--quiet")
    assert code == 0, err

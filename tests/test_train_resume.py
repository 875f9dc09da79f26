"""Training killed mid-run (a real SIGKILLed `harness train` process) resumes from its last checkpoint."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.tiny_models import build_tiny_llama


def test_killed_training_resumes_from_its_last_checkpoint(tmp_path, cli):
    tiny = build_tiny_llama(tmp_path / "tiny", seed=0)
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"Classify request {i}:\n", "completion": "Fine.\nLabel: safe"}) + "\n"
                            for i in range(8)))
    cmd = [sys.executable, "-m", "harness", "train", "--method", "sft", "--parent", f"hf:{tiny}", "--data", str(data),
           "--output", "resumable", "--set", "bf16=false", "--set", "gradient_checkpointing=false", "--set", "max_steps=8", "--set", "save_steps=2",
           "--set", "batch_size=2", "--set", "logging_steps=1"]
    trainer_dir = Path(os.environ["HARNESS_HOME"]) / "checkpoints" / "resumable" / "trainer"
    log = open(tmp_path / "first.log", "w")
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while not list(trainer_dir.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
        assert time.time() < deadline, "no checkpoint within 120 s"
        time.sleep(0.05)
    proc.kill()
    assert proc.wait() != 0
    from harness.checkpoints.registry import load_registry

    assert "resumable" not in load_registry()  # nothing registered by the killed run
    code, out, err = cli(*cmd[3:])  # the same command again, in-process this time
    assert code == 0, err[-2000:]
    metrics = load_registry()["resumable"]["lineage"]["metrics"]
    step = int(metrics["resumed_from"].split("-")[1])
    assert step >= 2 and step % 2 == 0 and step < 8
    assert metrics["global_step"] == 8
    assert f"resumed from checkpoint-{step}" in out
    # train_loss averages all 8 steps, not only those after the resume (logging_steps=1: one logged loss a step)
    curve = dict(metrics["loss_curve"])
    assert sorted(curve) == list(range(1, 9))
    assert abs(metrics["train_loss"] - sum(curve.values()) / 8) < 1e-3
    assert abs(metrics["train_loss_resumed_steps"] - sum(curve[s] for s in range(step + 1, 9)) / (8 - step)) < 1e-3
    assert metrics["train_loss_steps"] == 8


def test_whole_run_train_loss_weighs_each_log_by_its_steps():
    from plugins.trl_trainers import whole_run_train_loss

    # logs every 2 steps up to the resume at step 4 (means 3.0 and 2.0), then 6 steps at a mean of 1.0:
    # (3*2 + 2*2 + 1*6) / 10 = 1.6
    history = [{"step": 2, "loss": 3.0}, {"step": 4, "loss": 2.0}, {"step": 6, "loss": 1.5}, {"step": 4, "lr": 1}]
    got = whole_run_train_loss(1.0, 4, 10, history)
    assert got == {"train_loss": 1.6, "train_loss_steps": 10, "train_loss_resumed_steps": 1.0}
    # a resume at step 5 with the last log at 4: step 5's loss is unknown, so the mean covers 4 + 5 steps
    assert whole_run_train_loss(1.0, 5, 10, history[:2])["train_loss"] == (6 + 4 + 5) / 9

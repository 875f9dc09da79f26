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

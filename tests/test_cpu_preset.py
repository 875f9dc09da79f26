"""The README's "Try the whole loop on a CPU" block, run as written in a fresh HOME (and again: it resumes)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


def cpu_block() -> str:
    match = re.search(r"<!-- cpu-loop -->\s*```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert match, "README has no '<!-- cpu-loop -->' block"
    return match.group(1)


def test_cpu_preset_is_the_exp_19_loop_on_the_tiny_model():
    cpu = yaml.safe_load((REPO / "configs" / "exp_19_cpu.yaml").read_text())
    full = yaml.safe_load((REPO / "configs" / "exp_19.yaml").read_text())
    assert cpu["parent"] == "tiny-cpu" and cpu["train"]["method"] == full["train"]["method"] == "dpo"
    assert set(cpu) >= {"pairs", "train", "eval"} and cpu["pairs"]["judge"] == "heuristic"


def test_readme_cpu_loop_runs_the_whole_pipeline_twice_in_a_fresh_home(tmp_path):
    data = os.environ.get("HARNESS_DATA_DIR")
    if not data or not (Path(data) / "README.md").exists():
        pytest.skip("needs the shared data (HARNESS_DATA_DIR=../shared/data)")
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    env.update(HOME=str(home), HARNESS_DATA_DIR=data, HARNESS_RUNS_DIR=str(tmp_path / "runs"), HF_HUB_OFFLINE="1",
               PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    script = "set -euo pipefail\n" + cpu_block()
    first = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Traceback" not in first.stderr
    state_file = home / ".config" / "harness" / "pipelines" / "exp_19_cpu" / "pipeline.json"
    steps = json.loads(state_file.read_text())["steps"]
    assert [steps[s]["status"] for s in ("overlap", "eval_parent", "pairs", "train", "eval_child", "compare")] \
        == ["done"] * 6
    assert steps["train"]["metrics"]["global_step"] == 2 and steps["pairs"]["pairs"] >= 1
    plan = first.stdout.split("[pipeline]")[0]
    assert "1. overlap: runs" in plan and "4. train: runs" in plan
    assert "accuracy within ±2 points of SFT" in first.stdout  # the criteria were checked
    assert not (REPO / "pipelines").exists()
    second = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "4. train: skipped, checkpoint 'exp_19_cpu' is registered" in second.stdout
    again = json.loads(state_file.read_text())["steps"]
    assert again["train"]["status"] == "skipped" and again["eval_child"]["runs"] == steps["eval_child"]["runs"]

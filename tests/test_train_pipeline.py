"""`harness pipeline` end to end on a tiny model: eval parent -> pairs -> train -> eval child -> compare; rerun skips."""

import json
from pathlib import Path

import yaml

from tests.tiny_models import build_tiny_llama


def test_pipeline_end_to_end_and_resume(cli, tmp_path):
    from harness.checkpoints.registry import load_registry, register_checkpoint

    tiny = build_tiny_llama(tmp_path / "tiny", seed=0)
    register_checkpoint("tiny_parent", {"spec": f"hf:{tiny}", "template": "seed-chatml", "parser": "label-line"})
    config = {
        "name": "tiny_child", "parent": "tiny_parent", "description": "pipeline test",
        "pairs": {"task": "combined_test", "limit": 4, "samples": 2, "temperature": 1.0, "max_new_tokens": 8,
                  "judge": "heuristic", "strategy": "reasoning-quality",
                  "options": {"min_margin": 0.0, "require_correct": False}},
        "train": {"method": "dpo", "max_steps": 2, "batch_size": 2, "bf16": False, "learning_rate": 1e-3,
                  "save_steps": 1000, "lora": {"r": 4, "alpha": 8}},
        "eval": {"tasks": ["combined_test"], "limit": 4, "max_new_tokens": 8},
        "overlap": {"max": 4},  # pairs and eval draw the same 4 prompts: allowed here, stopped by default
    }
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(config))
    code, plan, err = cli("pipeline", cfg, "--dry-run")  # the plan, and nothing run or written
    assert code == 0, err[-3000:]
    steps = [line.split(":")[0] for line in plan.splitlines() if line[:1].isdigit()]
    assert steps == ["1. overlap", "2. eval_parent", "3. pairs", "4. train", "5. eval_child", "6. compare"]
    assert "skipped" not in plan and f"--data {tmp_path / 'home' / 'pipelines' / 'tiny_child' / 'pairs.jsonl'}" in plan
    assert "harness eval --model tiny_parent --task combined_test --limit 4 --max-new-tokens 8" in plan
    assert not (tmp_path / "home" / "pipelines").exists() and not (tmp_path / "runs").exists()
    code, out, err = cli("pipeline", cfg, "--quiet")
    assert code == 0, err[-3000:]
    assert not (tmp_path / "pipelines").exists()  # nothing in the working directory: all under $HARNESS_HOME
    state = json.loads((tmp_path / "home" / "pipelines" / "tiny_child" / "pipeline.json").read_text())["steps"]
    assert [state[s]["status"] for s in ("overlap", "eval_parent", "pairs", "train", "eval_child", "compare")] == ["done"] * 6
    assert len((tmp_path / "home" / "pipelines" / "tiny_child" / "overlap.jsonl").read_text().splitlines()) == 4
    assert state["pairs"]["pairs"] >= 1
    child = load_registry()["tiny_child"]
    assert child["parent"] == "tiny_parent" and child["lineage"]["metrics"]["global_step"] == 2
    # the child evaluation ran the trained checkpoint by name
    run_dir = Path(tmp_path / "runs" / state["eval_child"]["runs"]["combined_test"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["model"] == "tiny_child" and manifest["model_spec"] == child["spec"]
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == 4

    code, out, err = cli("pipeline", cfg, "--quiet")
    assert code == 0, err[-3000:]
    again = json.loads((tmp_path / "home" / "pipelines" / "tiny_child" / "pipeline.json").read_text())["steps"]
    assert again["pairs"]["status"] == "skipped" and again["train"]["status"] == "skipped"
    assert again["eval_child"]["runs"] == state["eval_child"]["runs"]  # found, not re-run
    assert "already complete" in err
    code, plan, _ = cli("pipeline", cfg, "--dry-run")
    assert "3. pairs: skipped" in plan and "4. train: skipped, checkpoint 'tiny_child' is registered" in plan
    assert "5. eval_child: skipped, done before" in plan

    # `harness pairs` on the same model/task/settings finds the pipeline's sampled run and rebuilds its pairs
    code, out, err = cli("pairs", "--model", "tiny_parent", "--task", "combined_test", "--limit", 4, "--samples", 2,
                         "--temperature", 1.0, "--max-new-tokens", 8, "--judge", "heuristic", "--strategy",
                         "reasoning-quality", "--min-margin", 0, "--any-verdict", "-o", tmp_path / "p.jsonl", "--quiet")
    assert code == 0, err[-3000:]
    assert "already complete" in err
    assert (tmp_path / "p.jsonl").read_text() == (tmp_path / "home" / "pipelines" / "tiny_child" / "pairs.jsonl").read_text()

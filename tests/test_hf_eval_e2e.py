"""``harness eval`` end to end on a tiny local model, and resume after ``kill -9`` (CPU, subprocesses)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.test_hf_engine import sharpen
from tests.tiny_models import build_tiny_llama

N = 6


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return sharpen(build_tiny_llama(tmp_path_factory.mktemp("tiny"), seed=5))


def command(tiny, runs, *extra):
    return [sys.executable, "-m", "harness", "eval", "--model", f"hf:{tiny}", "--task", "wildguard",
            "--limit", str(N), "--samples", "2", "--max-new-tokens", "48", "--temperature", "0.1",
            "--batch-size", "2", "-m", "device=cpu", "--runs-dir", str(runs), "--quiet", *extra]


def records(runs):
    (path,) = runs.glob("*/samples.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()], path.parent


def completions(rows):
    return {(row["id"], c["sample_index"]): c["text"] for row in rows for c in row["completions"]}


@pytest.fixture(scope="module")
def clean_run(tiny, tmp_path_factory):
    runs = tmp_path_factory.mktemp("clean")
    done = subprocess.run(command(tiny, runs, "--no-cache"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return records(runs)


def test_eval_end_to_end_on_tiny_model(tiny, clean_run):
    rows, run_dir = clean_run
    assert len(rows) == N and len({r["id"] for r in rows}) == N
    for row in rows:
        assert [c["sample_index"] for c in row["completions"]] == [0, 1]
        assert all(isinstance(c["text"], str) and 0 < c["n_new_tokens"] <= 48 for c in row["completions"])
        assert row["completions"][0]["seed"] != row["completions"][1]["seed"]
        assert row["rendered_prompt"].startswith("<|im_start|>user")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    import transformers

    import harness
    from harness.evaluate.plan import git_commit

    assert manifest["model_spec"] == f"hf:{tiny}" and manifest["model_info"]
    assert manifest["versions"]["harness"] == harness.__version__
    assert manifest["versions"]["transformers"] == transformers.__version__
    assert manifest["git_commit"] == git_commit()  # the harness's own, though the eval ran elsewhere
    assert json.loads((run_dir / "metrics.json").read_text())["policies"]["strict"]["n"] == N
    # where the time went: the engine's stages add up to its run, which lies inside the timeline's
    # generating..generated span; label probabilities (on by default) took some of it
    timings = manifest["model_info"]["generation_timings"]
    sec = timings["seconds"]
    assert abs(sec["run"] - sec["prefill"] - sec["capture"] - sec["labels"] - sec["decode"]) < 0.005
    assert sec["labels"] > 0 and sec["decode"] > 0 and sec["capture"] == 0  # no CUDA graphs on CPU
    assert all(1 <= b <= 2 for b in timings["batch_sizes"])  # --batch-size 2
    longest = max(c["n_new_tokens"] for row in rows for c in row["completions"])
    assert timings["decode_steps"] >= longest - 1  # the first token comes from the prefill, each other from a step
    stages = manifest["timeline"]["stages"]
    assert list(stages.values()) == sorted(stages.values())
    assert sec["run"] <= stages["generated"] - stages["generating"] + 0.01


def test_resume_after_kill_9_reproduces_the_same_records(tiny, tmp_path, clean_run):
    runs = tmp_path / "runs"
    proc = subprocess.Popen(command(tiny, runs), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        files = list(runs.glob("*/samples.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 2:
            break
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}")
        time.sleep(0.02)  # kill as soon as two records are in, well before the sixth
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial, _ = records(runs)
    assert 2 <= len(partial) < N
    resumed = subprocess.run(command(tiny, runs), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming" in resumed.stderr
    rows, _ = records(runs)
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in clean_run[0])  # none lost or duplicated
    assert completions(rows) == completions(clean_run[0])

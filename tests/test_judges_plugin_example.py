"""examples/judge-plugin installs as its own package and works through `harness plugins` and `harness judge`."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "judge-plugin"
HARNESS = [str(Path(sys.executable).with_name("harness"))]  # the console script of this venv


def pip(*args):
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install a copy of the example (non-editable, so no build files land in the repo); uninstall after."""
    src = tmp_path_factory.mktemp("plugin") / "judge-plugin"
    shutil.copytree(EXAMPLE, src)
    result = pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    assert result.returncode == 0, result.stdout + result.stderr
    yield
    result = pip("uninstall", "-y", "harness-step-judge")
    assert result.returncode == 0, result.stderr


def harness(*args, cwd):
    return subprocess.run(HARNESS + [str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_example_plugin_is_listed_and_judges_a_run(installed, tmp_path):
    listing = harness("plugins", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "step_judge" in listing.stdout and "step-count" in listing.stdout

    made = harness("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", 6, "--samples", 2,
                   "--quiet", "--json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    run_id = json.loads(made.stdout)["runs"]["combined_test"]["run_id"]
    judged = harness("judge", run_id, "--judge", "step-count", "--judge-option", "step-count.target_steps=3",
                     "--json", "--quiet", cwd=tmp_path)
    assert judged.returncode == 0, judged.stderr
    steps = json.loads(judged.stdout)["judges"]["step-count"]["criteria"]["steps"]
    # keyword-baseline writes three or more numbered steps, so every completion reaches the target
    assert steps["mean"] == 1.0 and steps["n"] == 6
    records = [json.loads(line) for line in (tmp_path / "runs" / run_id / "judgments.jsonl").read_text().splitlines()]
    assert {r["judge"] for r in records} == {"step-count"} and len(records) == 12


def step_means(run_dir, target):
    """The step-count mean by hand: per completion min(1, distinct 'N.' step lines / target), then per sample."""
    import re

    per_sample = []
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        comps = json.loads(line)["completions"]
        steps = [len({m for m in re.findall(r"^\s*(\d+)[.)]", c["reasoning"] or c["text"], re.M)}) for c in comps]
        per_sample.append(sum(min(1.0, n / target) for n in steps) / len(steps))
    return sum(per_sample) / len(per_sample)


def test_other_options_are_judged_again_and_bad_ones_refused(installed, tmp_path):
    """Bug: target_steps=2 after target_steps=4 reported the target_steps=4 mean (resume keyed by name+version)."""
    made = harness("eval", "--model", "keyword-baseline", "--task", "combined_test", "--limit", 6, "--samples", 2,
                   "--quiet", "--json", cwd=tmp_path)
    run_id = json.loads(made.stdout)["runs"]["combined_test"]["run_id"]
    run_dir = tmp_path / "runs" / run_id
    means = {}
    for target in (4, 2):
        judged = harness("judge", run_id, "--judge", "step-count", "--judge-option",
                         f"step-count.target_steps={target}", "--json", "--quiet", cwd=tmp_path)
        assert judged.returncode == 0, judged.stderr
        means[target] = json.loads(judged.stdout)["judges"]["step-count"]["criteria"]["steps"]["mean"]
    assert step_means(run_dir, 2) == 1.0 and step_means(run_dir, 4) < 1.0  # keyword-baseline writes 3 steps or more, not always 4
    assert means == {4: pytest.approx(step_means(run_dir, 4)), 2: 1.0}
    metrics = json.loads((run_dir / "metrics.json").read_text())["judges"]["step-count"]
    assert metrics["options"] == {"target_steps": 2} and metrics["composite"] == "steps"
    bad = harness("judge", run_id, "--judge", "step-count", "--judge-option", "step-count.target_step=2",
                  cwd=tmp_path)
    assert bad.returncode == 1 and "has no option 'target_step'" in bad.stderr and "Traceback" not in bad.stderr
    bad = harness("judge", run_id, "--judge", "step-count:5", cwd=tmp_path)
    assert bad.returncode == 1 and "takes no argument" in bad.stderr and "Traceback" not in bad.stderr

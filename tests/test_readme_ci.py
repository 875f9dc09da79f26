"""CI runs exactly the install and test commands the README gives users."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def readme_commands(section):
    text = (REPO / "README.md").read_text()
    block = re.search(rf"<!-- {section} -->\s*```(?:bash|sh)?\n(.*?)```", text, re.S)
    assert block, f"README has no '{section}' block"
    return [line.strip() for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    for section in ("install", "test"):
        for command in readme_commands(section):
            assert any(command in line for line in ci), f".ci/run does not run the README's {section} command: {command}"


def load_readme_demo():
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_demo", REPO / "docs" / "readme_demo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_demo_block_runs_twice_in_a_fresh_home_and_shows_what_the_readme_says(tmp_path):
    """The flagship demo, exactly as written (its data and runs folders pointed at the test's), run twice."""
    import os

    import pytest

    demo = load_readme_demo()
    data = os.environ.get("HARNESS_DATA_DIR")
    if not data or not (Path(data) / "guardreasoner" / "predictions" / "1B").is_dir():
        pytest.skip("needs the shared data (HARNESS_DATA_DIR=../shared/data)")
    text = (REPO / "README.md").read_text()
    block = demo.demo_block(text)
    assert "export HARNESS_REGISTRY=examples/demo_checkpoints.yaml" in block and "cat >>" not in block
    env = demo.environment(tmp_path / "home", tmp_path / "runs", str(Path(data).resolve()))
    boards = []
    for attempt in (1, 2):
        proc = demo.run_block(block, env)
        assert proc.returncode == 0, (attempt, proc.stderr[-3000:])
        assert "Error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        boards.append(demo.leaderboard_of(proc.stdout))
    assert boards[0] == boards[1]
    rows = {line.split("|")[1].strip(): line for line in boards[0].splitlines()[2:] if line.startswith("| ")}
    # all 13 evals count: 6 tasks for the replayed GuardReasoner-1B and the baseline, 1 for exp_18
    assert set(rows) == {"gr1b-replay", "keyword-baseline", "exp_18-replay"}
    assert "| 6/7 | 2195 |" in rows["gr1b-replay"] and "| 1/7 | 63 |" in rows["exp_18-replay"]
    assert len([p for p in (tmp_path / "runs").iterdir() if (p / "manifest.json").is_file()]) == 13  # no duplicates
    assert not (tmp_path / "home" / ".config" / "harness" / "checkpoints.yaml").exists()  # nothing appended
    # the README's figures are this run's (dates aside): regenerate them with `python docs/readme_demo.py`
    expected = demo.figure_block(boards[1], demo.compare_sentence(env))
    assert demo.without_dates(demo.readme_figures(text)) == demo.without_dates(expected)

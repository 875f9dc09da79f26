"""docs/plugins.md "A complete package to copy": built from the doc's own blocks, installed with pip, run."""

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def doc_blocks():
    text = (REPO / "docs" / "plugins.md").read_text()
    package = text.split("## A complete package to copy", 1)[1].split("\n## ", 1)[0]
    module = text.split("## A complete plugin using every hook", 1)[1]
    return (re.search(r"```toml\n(.*?)```", package, re.S).group(1),
            re.search(r"```yaml\n(.*?)```", package, re.S).group(1),
            re.search(r"```python\n(.*?)```", module, re.S).group(1))


def test_the_pyproject_depends_on_the_published_distribution_and_uses_the_entry_point_group():
    pyproject, _, _ = doc_blocks()
    project = tomllib.loads(pyproject)["project"]
    published = re.search(r"^name = (\S+)", (REPO / "setup.cfg").read_text(), re.M).group(1)
    assert published == "harness-guards"
    assert any(re.match(rf"{published}\b", dep) for dep in project["dependencies"])
    assert project["entry-points"]["harness"] == {"my_plugin": "my_package.my_plugin"}


@pytest.fixture
def installed(tmp_path):
    pyproject, task, module = doc_blocks()
    root = tmp_path / "my-harness-plugin"
    (root / "my_package" / "tasks").mkdir(parents=True)
    (root / "pyproject.toml").write_text(pyproject)
    (root / "my_package" / "__init__.py").write_text("")
    (root / "my_package" / "my_plugin.py").write_text(module)
    (root / "my_package" / "tasks" / "my_task.yaml").write_text(task)
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run(pip + ["install", "--no-deps", "--no-build-isolation", str(root)], check=True,
                   capture_output=True)
    yield
    subprocess.run(pip + ["uninstall", "-y", "my-harness-plugin"], check=True, capture_output=True)


def test_the_copied_package_installs_registers_and_runs(installed, tmp_path):
    def harness(*args):
        env = {**os.environ, "HARNESS_RUNS_DIR": str(tmp_path / "runs"), "HARNESS_HOME": str(tmp_path / "home")}
        if env.get("HARNESS_DATA_DIR"):  # CI gives ../shared/data, relative to the repository root
            env["HARNESS_DATA_DIR"] = str(Path(env["HARNESS_DATA_DIR"]).resolve())
        return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path)

    out = harness("plugins", "--json")
    assert out.returncode == 0, out.stderr
    mine = {p["name"]: p for p in json.loads(out.stdout)}["my_plugin"]
    assert mine["distribution"] == "my-harness-plugin"
    assert mine["registered"]["models"] == ["echo"] and mine["registered"]["parsers"] == ["verdict-line"]
    if not os.environ.get("HARNESS_DATA_DIR"):
        pytest.skip("the task reads the shared data (HARNESS_DATA_DIR)")
    out = harness("eval", "--model", "echo:harmful", "--task", "my_task", "--limit", "6", "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    run = json.loads(out.stdout)["runs"]["my_task"]
    assert run["n"] == 6 and run["parse_failures"] == 0 and run["recall"] == 1.0  # echo:harmful says harmful

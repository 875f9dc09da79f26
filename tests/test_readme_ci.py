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

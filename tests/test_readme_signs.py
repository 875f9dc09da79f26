"""The README's "signs of reward hacking" block runs as written and the README shows what it prints."""

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_readme_signs_block_prints_what_the_readme_shows(tmp_path):
    data = os.environ.get("HARNESS_DATA_DIR")
    if not data or not (Path(data) / "wizard101" / "exp18" / "hard_samples_exp18.json").is_file():
        pytest.skip("needs the shared data (HARNESS_DATA_DIR=../shared/data)")
    spec = importlib.util.spec_from_file_location("readme_signs", REPO / "docs" / "readme_signs.py")
    signs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(signs)
    stdout = signs.run(str(Path(data).resolve()), tmp_path)
    assert "signs of reward hacking (first completion, 63 paired samples" in stdout
    copy = next(line for line in stdout.splitlines() if "copy rate from content" in line)
    assert copy.endswith("!")  # the copycat child's copy rate is flagged
    assert not (tmp_path / "home" / ".config" / "harness").exists()  # nothing registered or appended
    # regenerate with `python docs/readme_signs.py` when the block or the section changes
    assert signs.readme_output((REPO / "README.md").read_text()) == signs.output_block(stdout)

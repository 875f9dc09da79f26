"""Shared fixtures: the real data directory, an isolated run store, and a CLI runner."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# Tests read the real data through HARNESS_DATA_DIR (CI sets ../shared/data).
DATA_DIR = Path(os.environ.setdefault("HARNESS_DATA_DIR", str(REPO.parent / "shared" / "data"))).resolve()
os.environ["HARNESS_DATA_DIR"] = str(DATA_DIR)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Each test gets its own run store, cache and user-level registry."""
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys):
    """Run the harness CLI in-process; returns (exit_code, stdout, stderr)."""
    from harness.cli import main

    def run(*args):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run

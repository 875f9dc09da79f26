"""Relative ``hf:`` paths in a registry file resolve against that file's folder, from any working directory."""

import pytest


@pytest.fixture
def home_registry(tmp_path, monkeypatch):
    home = tmp_path / "home"
    for folder in ("base", "adapter", "ckpts/run1/adapter"):
        (home / folder).mkdir(parents=True)
    (home / "checkpoints.yaml").write_text(
        "both:\n  spec: hf:./base+./adapter\n"
        "bare:\n  spec: hf:base\n"
        "hub_base:\n  spec: hf:org/model+ckpts/run1/adapter\n"
        "hub_only:\n  spec: hf:meta-llama/Llama-3.2-1B\n"
        "absolute:\n  spec: hf:/abs/base+/abs/adapter\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return home.resolve()


def test_relative_hf_paths_resolve_against_the_registry_folder(home_registry):
    from harness.checkpoints.loading import resolve

    assert resolve("both")["spec"] == f"hf:{home_registry / 'base'}+{home_registry / 'adapter'}"
    assert resolve("bare")["spec"] == f"hf:{home_registry / 'base'}"
    assert resolve("hub_base")["spec"] == f"hf:org/model+{home_registry / 'ckpts/run1/adapter'}"


def test_hub_ids_and_absolute_paths_are_kept(home_registry):
    from harness.checkpoints.loading import resolve

    assert resolve("hub_only")["spec"] == "hf:meta-llama/Llama-3.2-1B"
    assert resolve("absolute")["spec"] == "hf:/abs/base+/abs/adapter"


def test_the_hf_loader_finds_the_relative_adapter_from_another_folder(home_registry):
    """The resolved spec is what the hf plugin checks: its local paths exist from this working directory."""
    from harness_plugins.hf import Source, parse_spec
    from harness.checkpoints.loading import resolve

    base, adapter = parse_spec(resolve("both")["spec"][len("hf:"):])
    assert Source(base, "base").local and Source(adapter, "adapter").local


def test_harness_registry_adds_a_shipped_file_whose_replay_paths_start_at_the_data_dir(tmp_path, monkeypatch):
    from harness.checkpoints.registry import load_registry
    from harness.errors import HarnessError

    shipped = tmp_path / "repo" / "demo.yaml"
    shipped.parent.mkdir()
    shipped.write_text("demo-replay:\n  spec: replay:${HARNESS_DATA_DIR}/preds/a.jsonl\n  parser: label-line\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HARNESS_REGISTRY", str(shipped))
    monkeypatch.setenv("HARNESS_DATA_DIR", "data-here")
    entry = load_registry()["demo-replay"]
    assert entry["spec"] == f"replay:{(tmp_path / 'data-here' / 'preds' / 'a.jsonl').resolve()}"
    assert entry["source"] == str(shipped)
    monkeypatch.delenv("HARNESS_DATA_DIR")  # the default data folder, ./data
    assert load_registry()["demo-replay"]["spec"] == f"replay:{(tmp_path / 'data' / 'preds' / 'a.jsonl').resolve()}"
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "missing.yaml"))
    with pytest.raises(HarnessError, match=r"\$HARNESS_REGISTRY: registry file .*missing.yaml not found"):
        load_registry()

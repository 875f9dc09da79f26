"""``BASE[+ADAPTER]`` has one reader (harness.split_base_adapter) and the registry, the hf loader and the
trainers agree on it, also for local paths that contain '+' (the trainers once split those at the '+')."""

import pytest

from harness import HarnessError, split_base_adapter


@pytest.fixture
def plus_dirs(tmp_path, monkeypatch):
    """A base folder and an adapter folder whose names contain '+', in a working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base+v2").mkdir()
    (tmp_path / "lora+r8").mkdir()
    return tmp_path


def test_hub_ids_split_at_the_plus():
    assert split_base_adapter("org/base") == ("org/base", None)
    assert split_base_adapter("org/base+org/lora") == ("org/base", "org/lora")


def test_a_local_base_containing_plus_is_kept_whole(plus_dirs):
    assert split_base_adapter("base+v2") == ("base+v2", None)
    assert split_base_adapter(str(plus_dirs / "base+v2")) == (str(plus_dirs / "base+v2"), None)


def test_a_local_base_containing_plus_with_an_adapter(plus_dirs):
    assert split_base_adapter("base+v2+lora+r8") == ("base+v2", "lora+r8")
    assert split_base_adapter("org/base+lora+r8") == ("org/base", "lora+r8")


def test_paths_are_looked_up_in_the_given_folder(plus_dirs, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("cwd")
    assert split_base_adapter("base+v2", folder=plus_dirs) == ("base+v2", None)
    assert split_base_adapter("base+v2", folder=elsewhere) == ("base", "v2")  # nothing there: a hub-style split


@pytest.mark.parametrize("arg", ["", "+org/lora", "org/base+"])
def test_an_empty_side_is_an_error_naming_who_reads_it(arg):
    with pytest.raises(HarnessError, match=r"^hf: .*(expected a model|both non-empty)"):
        split_base_adapter(arg, what="hf")


def test_the_loader_the_trainers_and_the_registry_agree(plus_dirs):
    from harness.checkpoints.registry import resolve_hf_paths
    from harness_plugins.hf import parse_spec
    from harness_plugins.trl_trainers import parse_hf_spec

    base, adapter = str(plus_dirs / "base+v2"), str(plus_dirs / "lora+r8")
    assert parse_spec(base) == (base, None)
    assert parse_hf_spec(f"hf:{base}") == (base, None)
    assert parse_spec(f"{base}+{adapter}") == (base, adapter)
    assert parse_hf_spec(f"hf:{base}+{adapter}") == (base, adapter)
    # the registry makes each relative part absolute against the registry file's folder
    assert resolve_hf_paths("base+v2", plus_dirs) == base
    assert resolve_hf_paths("./base+v2+./lora+r8", plus_dirs) == f"{base}+{adapter}"
    assert resolve_hf_paths("org/base+org/lora", plus_dirs) == "org/base+org/lora"


def test_a_registry_entry_with_an_empty_adapter_names_its_file_and_line(tmp_path, monkeypatch):
    from harness.checkpoints.registry import read_registry_file

    path = tmp_path / "checkpoints.yaml"
    path.write_text("mine:\n  spec: hf:org/base+\n")
    with pytest.raises(HarnessError, match=r"checkpoints\.yaml:2.*both non-empty"):
        read_registry_file(path)

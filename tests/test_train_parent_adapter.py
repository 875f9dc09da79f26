"""Training from a parent that has a LoRA adapter: the adapter keeps training, the parent is the DPO reference."""

from pathlib import Path

from tests.test_train_commands import FAST, pairs_file, parent, tiny  # noqa: F401  (fixtures)


def test_a_parent_with_an_adapter_keeps_training_it_against_itself_as_reference(cli, parent, pairs_file):  # noqa: F811  (the imported fixtures)
    from safetensors.torch import load_file

    from harness.checkpoints.registry import lineage_tree, load_registry

    code, _, err = cli("train", "--method", "dpo", "--parent", parent, "--data", pairs_file, "--output", "gen1", *FAST)
    assert code == 0, err
    code, _, err = cli("train", "--method", "dpo", "--parent", "gen1", "--data", pairs_file, "--output", "gen2",
                       *FAST, "--set", "logging_steps=1")
    assert code == 0, err
    reg = load_registry()
    assert reg["gen2"]["parent"] == "gen1" and reg["gen2"]["lineage"]["parent_spec"] == reg["gen1"]["spec"]
    assert "    └─ gen2" in "\n".join(lineage_tree(reg))
    # the first step compares the policy with a frozen copy of gen1's adapter: identical, so the margin is 0
    # (with the bare base as reference it would not be, since gen1 already moved away from it)
    assert reg["gen2"]["lineage"]["metrics"]["first_log"]["rewards/margins"] == 0.0
    w1, w2 = (load_file(str(Path(reg[n]["spec"].split("+", 1)[1]) / "adapter_model.safetensors")) for n in ("gen1", "gen2"))
    assert w1.keys() == w2.keys() and not any(".ref." in k for k in w2)
    assert any((w1[k] != w2[k]).any() for k in w1)  # trained further

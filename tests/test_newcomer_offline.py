"""A CPU machine and no network: errors say what set a setting and how to override it, and fail fast."""

import re
import socket
import time
from pathlib import Path

import pytest

from harness.errors import HarnessError

REPO = Path(__file__).resolve().parent.parent


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_only():
    import torch

    if torch.cuda.is_available():
        pytest.skip("checks the CPU messages")


def builtin_line(key_text: str) -> int:
    """Line of the built-in registry holding ``key_text`` (counted here, not by the code under test)."""
    lines = (REPO / "harness" / "checkpoints" / "builtin.yaml").read_text().splitlines()
    start = lines.index("exp_18:")
    return next(i for i, line in enumerate(lines[start:], start + 1) if key_text in line)


def test_quantization_from_the_checkpoint_entry_is_named_with_its_file_line_and_the_override(cli):
    cpu_only()
    code, out, err = cli("eval", "--model", "exp_18", "--task", "combined_test", "--limit", 2)
    assert code == 1
    line = builtin_line("quantization: 4bit")
    assert f"checkpoint entry exp_18 ({REPO / 'harness' / 'checkpoints' / 'builtin.yaml'}:{line}) sets " \
           "quantization: 4bit" in err
    assert "pass --quantization none (or -o quantization=none)" in err
    assert "drop the quantization option" not in err and "Traceback" not in err


def test_quantization_from_a_flag_is_named_as_the_command_line(cli, tmp_path):
    cpu_only()
    (tmp_path / "checkpoints.yaml").write_text("mine:\n  description: a user's entry\n  spec: hf:acme/guard\n"
                                               "  options:\n    dtype: float32\n    quantization: 8bit\n")
    code, _, err = cli("eval", "--model", "hf:acme/guard", "--task", "combined_test", "--limit", 2,
                       "--quantization", "4bit")
    assert code == 1 and "the command line sets quantization: 4bit" in err and "checkpoint entry" not in err
    code, _, err = cli("eval", "--model", "mine", "--task", "combined_test", "--limit", 2)
    assert code == 1 and f"checkpoint entry mine ({Path('checkpoints.yaml')}:6) sets quantization: 8bit" in err


def test_the_override_is_taken(cli, monkeypatch):
    """-o quantization=none and --quantization none both lift the entry's 4bit: the next check is the hub's."""
    cpu_only()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for flag in (["-o", "quantization=none"], ["--quantization", "none"]):
        code, _, err = cli("eval", "--model", "exp_18", "--task", "combined_test", "--limit", 2, *flag)
        assert code == 1 and "CUDA" not in err
        assert "'unsloth/Llama-3.2-3B-Instruct' is not in the local hub cache and HF_HUB_OFFLINE is set" in err


def test_unreachable_hub_fails_in_under_two_seconds_naming_hf_hub_offline(monkeypatch, tmp_path):
    import huggingface_hub

    from harness.checkpoints.loading import load_model

    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(HarnessError) as caught:
        load_model("hf:acme/not-cached", {"device": "cpu"})
    seconds = time.perf_counter() - start
    assert seconds < 2.0, seconds  # huggingface_hub alone retried for about 25 s
    message = str(caught.value)
    assert "cannot be reached" in message and "HF_HUB_OFFLINE=1" in message and "'acme/not-cached'" in message


def test_unreachable_hub_uses_a_model_already_in_the_local_cache(monkeypatch, tmp_path):
    import shutil

    import huggingface_hub

    from harness.checkpoints.loading import load_model
    from tests.tiny_models import build_tiny_llama

    tiny = build_tiny_llama(tmp_path / "tiny", seed=0, hidden_size=16, layers=1, heads=2, kv_heads=1)
    repo = tmp_path / "hub" / "models--acme--tiny"
    shutil.copytree(tiny, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    start = time.perf_counter()
    model = load_model("hf:acme/tiny", {"device": "cpu"})
    assert time.perf_counter() - start < 2.0
    assert model.base_source.local and model.base_source.path == repo / "snapshots" / "0123abcd"
    assert re.fullmatch(r"[0-9a-f]{16}", model.base_source.signature())  # local files, no hub commit asked for


def test_train_checks_the_device_before_the_data_the_hub_and_the_weights(cli, tmp_path, monkeypatch):
    cpu_only()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bad = tmp_path / "pairs.jsonl"
    bad.write_text("not json\n")  # read after the device check: its error must not be the one shown
    code, _, err = cli("train", "--method", "dpo", "--parent", "exp_18", "--data", bad, "--output", "child")
    assert code == 1 and "Traceback" not in err
    line = builtin_line("quantization: 4bit")
    assert f"parent checkpoint entry exp_18 ({REPO / 'harness' / 'checkpoints' / 'builtin.yaml'}:{line}) sets " \
           "quantization: 4bit, which needs a CUDA GPU" in err
    assert "--set quantization=null" in err and "not valid JSON" not in err and "hub" not in err

    config = tmp_path / "qlora.yaml"
    config.write_text("train:\n  method: dpo\n  epochs: 1\n  quantization: 4bit\n")
    code, _, err = cli("train", "--parent", f"hf:{tmp_path / 'no-model-here'}", "--data", bad, "--output", "child",
                       "--config", config)
    assert code == 1 and f"the training config ({config}:4) sets quantization: 4bit" in err
    code, _, err = cli("train", "--parent", f"hf:{tmp_path / 'no-model-here'}", "--data", bad, "--output", "child",
                       "--config", config, "--set", "quantization=null")
    assert code == 1 and "CUDA" not in err  # the override is taken; the next check (the parent's files) speaks

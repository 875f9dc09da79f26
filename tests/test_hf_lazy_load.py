"""The ``hf`` model loads its weights on first use: a cache-complete re-run loads none (issue 16), and bad
input still fails before a run exists (CPU)."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness_plugins import hf

from harness.interfaces.model import GenerationRequest, GenerationSettings
from tests.test_hf_loader import make_adapter
from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("lazy")
    base = build_tiny_llama(root / "base", seed=3)
    return {"root": root, "base": base, "adapter": make_adapter(base, root / "adapter")}


def eval_args(model_dir, *extra):
    return ["eval", "--model", f"hf:{model_dir}", "--task", "wildguard", "--limit", "4", "--samples", "2",
            "--max-new-tokens", "8", "--temperature", "0.7", "--batch-size", "4", "-m", "device=cpu", "--quiet",
            *extra]


def run_records(runs_dir):
    """{run id: (manifest, records)} of every run under ``runs_dir``."""
    out = {}
    for manifest in runs_dir.glob("*/manifest.json"):
        rows = [json.loads(line) for line in (manifest.parent / "samples.jsonl").read_text().splitlines() if line]
        out[manifest.parent.name] = (json.loads(manifest.read_text()), rows)
    return out


def outcome(rows):
    """What a record says, leaving out timings and the cache note."""
    return sorted((r["id"], c["sample_index"], c["seed"], c["text"], c["verdict"], c["status"], c.get("label_probs"))
                  for r in rows for c in r["completions"])


def test_constructing_and_fingerprinting_import_neither_torch_nor_transformers(tiny):
    code = (f"import sys; from harness_plugins.hf import load; m = load({str(tiny['base'])!r}, {{'device': 'cpu'}}); "
            "m.fingerprint(); info = m.describe(); "
            "print(info['loaded'], 'torch' in sys.modules, 'transformers' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False", "False"]


def test_fingerprint_needs_no_weights_and_is_the_same_once_loaded(tiny):
    spec = f"{tiny['base']}+{tiny['adapter']}"
    model = hf.load(spec, {"device": "cpu", "merge_adapter": True})
    before = model.fingerprint()
    assert not model.loaded and model.describe()["merged_adapter"] is True
    assert "max_context" not in model.describe()
    model.ensure_loaded()
    assert model.loaded and model.fingerprint() == before
    info = model.describe()
    assert info["loaded"] is True and info["max_context"] == 2048 and info["merged_adapter"] is True
    # what changes completions changes the fingerprint; merge_adapter without an adapter changes nothing
    assert hf.load(spec, {"device": "cpu", "merge_adapter": False}).fingerprint() != before
    assert hf.load(spec, {"device": "cpu"}).fingerprint() == before  # merged at load by default (fp32 base)
    base = hf.load(str(tiny["base"]), {"device": "cpu"}).fingerprint()
    assert hf.load(str(tiny["base"]), {"device": "cpu", "merge_adapter": True}).fingerprint() == base
    assert hf.load(str(tiny["base"]), {"device": "cpu", "chat_template": True}).fingerprint() != base


def test_generate_loads_the_weights_once(tiny, monkeypatch):
    calls = []
    real = hf.HFModel._load
    monkeypatch.setattr(hf.HFModel, "_load", lambda self: calls.append(1) or real(self))
    model = hf.load(str(tiny["base"]), {"device": "cpu"})
    assert calls == []
    settings = GenerationSettings(max_new_tokens=4, temperature=0)
    for _ in range(2):
        assert len(list(model.generate([GenerationRequest("a", "hello")], settings))) == 1
    assert calls == [1]


def test_a_cache_complete_rerun_loads_no_weights_and_records_the_same(tiny, cli, isolated_home, monkeypatch):
    code, _, err = cli(*eval_args(tiny["base"]))
    assert code == 0, err
    ((first_id, first),) = run_records(isolated_home / "runs").items()
    assert len(first[1]) == 4 and first[0]["model_info"]["loaded"] is True

    from transformers import AutoModelForCausalLM, AutoTokenizer

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(AutoTokenizer, "from_pretrained", refuse)
    code, _, err = cli(*eval_args(tiny["base"], "--rerun"))
    assert code == 0, err
    runs = run_records(isolated_home / "runs")
    assert len(runs) == 2
    manifest, rows = next(run for run_id, run in runs.items() if run_id != first_id)
    assert manifest["model_info"]["loaded"] is False
    assert all("from generation cache" in c["warnings"] for r in rows for c in r["completions"])
    assert outcome(rows) == outcome(first[1]) and len(outcome(rows)) == 8


@pytest.mark.parametrize("case, message", [
    ("pickle", "only pickle weights"),
    ("decoy_adapter", "only pickle weights (adapter_model.bin)"),  # PEFT would unpickle the .bin
    ("decoy_base", "only pickle weights (pytorch_model.bin)"),
    ("no_adapter_config", "no adapter_config.json"),
    ("remote_code", "custom code"),
])
def test_bad_input_fails_before_any_run_exists(tiny, cli, isolated_home, tmp_path, case, message):
    bad = tmp_path / case
    bad.mkdir()
    config = json.loads((tiny["base"] / "config.json").read_text())
    if case == "pickle":
        (bad / "config.json").write_text(json.dumps(config))
        (bad / "pytorch_model.bin").write_bytes(b"not really")
        spec = bad
    elif case == "decoy_adapter":  # a safetensors file PEFT never reads, beside the pickle it does
        (bad / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "x",
                                                             "r": 2, "target_modules": ["q_proj"]}))
        (bad / "notes.safetensors").write_bytes(b"")
        (bad / "adapter_model.bin").write_bytes(b"not really")
        spec = f"{tiny['base']}+{bad}"
    elif case == "decoy_base":
        (bad / "config.json").write_text(json.dumps(config))
        (bad / "extra.safetensors").write_bytes(b"")
        (bad / "pytorch_model.bin").write_bytes(b"not really")
        spec = bad
    elif case == "no_adapter_config":
        (bad / "adapter_model.safetensors").write_bytes(b"")
        spec = f"{tiny['base']}+{bad}"
    else:
        config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
        (bad / "config.json").write_text(json.dumps(config))
        (bad / "model.safetensors").write_bytes(b"")
        spec = bad
    code, _, err = cli(*eval_args(spec))
    assert code != 0 and message in err and "Traceback" not in err
    assert not list((isolated_home / "runs").glob("*/manifest.json"))


def test_a_cache_complete_rerun_imports_neither_torch_nor_transformers(tiny, cli, isolated_home):
    """Run as its own process (the CLI a user starts): only the cache and the scoring are needed."""
    code, _, err = cli(*eval_args(tiny["base"]))
    assert code == 0, err
    ((first_id, first),) = run_records(isolated_home / "runs").items()
    program = ("import sys\nfrom harness.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
               "    code = e.code or 0\nelse:\n    code = 0\n"
               "print('RESULT', code, *(m in sys.modules for m in ('torch', 'transformers', 'tokenizers')),"
               " file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", program, *eval_args(tiny["base"], "--rerun")],
                          capture_output=True, text=True, timeout=300, check=False)
    result = [line for line in done.stderr.splitlines() if line.startswith("RESULT")]
    assert result == ["RESULT 0 False False False"], done.stderr[-2000:]
    runs = run_records(isolated_home / "runs")
    manifest, rows = next(run for run_id, run in runs.items() if run_id != first_id)
    assert manifest["model_info"]["loaded"] is False
    assert outcome(rows) == outcome(first[1]) and len(outcome(rows)) == 8

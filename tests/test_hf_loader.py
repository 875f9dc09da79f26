"""The ``hf`` model plugin: specs, LoRA adapters, safe-loading defaults and clear errors (CPU)."""

import json

import pytest

import torch

from harness.checkpoints.registry import load_registry
from harness.errors import HarnessError
from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness_plugins.hf import check_options, load, parse_spec
from tests.tiny_models import build_tiny_llama

GREEDY = GenerationSettings(max_new_tokens=12, temperature=0)
PROMPTS = ["Is it safe to mix bleach and vinegar?", "Tell me a story about a cat.", "2+2=?"]


def texts(model, settings=GREEDY):
    reqs = [GenerationRequest(str(i), p) for i, p in enumerate(PROMPTS)]
    return {g.sample_id: g.text for g in model.generate(reqs, settings)}


def make_adapter(base_dir, out_dir, seed=0):
    """A rank-4 LoRA on q/v with non-zero B, so it changes outputs."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"],
                                                 init_lora_weights=False))
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    base = build_tiny_llama(root / "base", seed=1)
    other = build_tiny_llama(root / "other", seed=2, hidden_size=32, heads=2, kv_heads=1)
    return {"root": root, "base": base, "adapter": make_adapter(base, root / "adapter"),
            "other_adapter": make_adapter(other, root / "other_adapter")}


def test_spec_parsing_and_registry_entries():
    assert parse_spec("org/base") == ("org/base", None)
    assert parse_spec("org/base+org/lora") == ("org/base", "org/lora")
    registry = load_registry()
    base, adapter = parse_spec(registry["exp_18"]["spec"].partition(":")[2])
    assert (base, adapter) == ("unsloth/Llama-3.2-3B-Instruct", "vincentoh/guardreasoner-llama3.2-3b-lora-1epoch")
    assert check_options(registry["exp_18"]["options"])["quantization"] == "4bit"
    for size in ("1b", "3b", "8b"):
        entry = registry[f"guardreasoner-{size}"]
        assert parse_spec(entry["spec"].partition(":")[2])[1] is None
        assert check_options(entry["options"])["chat_template"] is True
    with pytest.raises(HarnessError, match="quantization '3bit'"):
        check_options({"quantization": "3bit"})
    with pytest.raises(HarnessError, match="unknown option"):
        check_options({"temprature": 1})


def test_adapter_loads_changes_outputs_and_merges(dirs):
    base = load(str(dirs["base"]), {"device": "cpu"})
    spec = f"{dirs['base']}+{dirs['adapter']}"
    tuned = load(spec, {"device": "cpu", "merge_adapter": False})
    merged = load(spec, {"device": "cpu", "merge_adapter": True})
    reference = load(spec, {"device": "cpu", "engine": "reference"})
    assert texts(tuned) != texts(base)
    assert texts(tuned) == texts(merged) == texts(reference)
    assert tuned.describe()["adapter"] == str(dirs["adapter"]) and merged.describe()["merged_adapter"]
    assert tuned.fingerprint() != base.fingerprint() != merged.fingerprint()


def test_adapter_is_merged_at_load_by_default_and_gives_the_same_greedy_tokens(dirs):
    """Issue 25: a bf16/fp16/fp32 base merges its LoRA at load (an unmerged one costs ~1.5x a decode step)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from harness_plugins.hf import merge_by_default

    torch.manual_seed(7)
    seven = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(AutoModelForCausalLM.from_pretrained(dirs["base"]),
                                LoraConfig(r=16, lora_alpha=32, target_modules=seven, init_lora_weights=False))
    peft_model.save_pretrained(dirs["root"] / "lora7")
    spec = f"{dirs['base']}+{dirs['root'] / 'lora7'}"
    merged, unmerged = load(spec, {"device": "cpu"}), load(spec, {"device": "cpu", "merge_adapter": False})
    assert merged.describe()["merged_adapter"] is True and unmerged.describe()["merged_adapter"] is False
    modules = lambda m: {type(x).__name__ for x in m.model.modules()}  # noqa: E731
    assert "PeftModelForCausalLM" not in modules(merged) and not any("lora" in n.lower() for n in modules(merged))
    assert any("lora" in n.lower() for n in modules(unmerged))  # the unmerged one really runs the LoRA path
    assert "merge" in merged.describe()["load_split"] and "merge" not in unmerged.describe()["load_split"]
    settings = GenerationSettings(max_new_tokens=24, temperature=0, ignore_eos=True)
    reqs = [GenerationRequest(str(i), p) for i, p in enumerate(PROMPTS)]
    tokens = {}
    for m in (merged, unmerged):
        prep = [m.prepare(i, r, settings) for i, r in enumerate(reqs)]
        tokens[m] = {f.index: f.tokens for f in m.engine().run(prep, settings)}
    assert tokens[merged] == tokens[unmerged] and all(len(t) == 24 for t in tokens[merged].values())
    assert texts(merged) != texts(load(str(dirs["base"]), {"device": "cpu"}))  # the adapter does change outputs
    # the merge may round differently in bf16, so merged and unmerged are different cache identities
    assert merged.fingerprint() != unmerged.fingerprint()
    assert merge_by_default(None) and not merge_by_default("4bit") and not merge_by_default("8bit")
    with pytest.raises(HarnessError, match="merge_adapter must be true or false"):
        load(spec, {"device": "cpu", "merge_adapter": "sometimes"})


def test_adapter_for_another_base_is_refused_naming_both(dirs):
    model = load(f"{dirs['base']}+{dirs['other_adapter']}", {"device": "cpu"})  # shapes are known once loaded
    with pytest.raises(HarnessError) as error:
        model.ensure_loaded()
    message = str(error.value)
    assert str(dirs["other_adapter"].name) in message and str(dirs["base"]) in message
    assert "other" in message  # the base the adapter was trained on


def test_pickle_weights_refused_unless_allowed(dirs, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(dirs["base"])
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")  # transformers 5 only writes safetensors
    (tmp_path / "config.json").write_text((dirs["base"] / "config.json").read_text())
    AutoTokenizer.from_pretrained(dirs["base"]).save_pretrained(tmp_path)
    with pytest.raises(HarnessError, match="arbitrary code.*allow_unsafe_weights"):
        load(str(tmp_path), {"device": "cpu"})
    unsafe = load(str(tmp_path), {"device": "cpu", "allow_unsafe_weights": True})
    assert texts(unsafe) == texts(load(str(dirs["base"]), {"device": "cpu"}))


def test_remote_code_refused_by_default(dirs, tmp_path):
    config = json.loads((dirs["base"] / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    (tmp_path / "model.safetensors").write_bytes((dirs["base"] / "model.safetensors").read_bytes())
    with pytest.raises(HarnessError, match="custom code.*trust_remote_code"):
        load(str(tmp_path), {"device": "cpu"})


def test_missing_path_and_unreachable_hub(monkeypatch, tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        load(str(tmp_path / "nope"), {"device": "cpu"})
    with pytest.raises(HarnessError, match="does not exist"):
        load("./models/not/here", {})
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at import time
    with pytest.raises(HarnessError, match="base model 'nobody-xyz/no-such-model' is not in the local hub cache and HF_HUB_OFFLINE"):
        load("nobody-xyz/no-such-model", {"device": "cpu"})


def test_offline_mode_uses_the_local_hub_cache(dirs, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub.constants

    snapshot = tmp_path / "hub" / "models--acme--tiny-guard" / "snapshots" / "0123abcd"
    shutil.copytree(dirs["base"], snapshot)
    (tmp_path / "hub" / "models--acme--tiny-guard" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-guard" / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cached = load("acme/tiny-guard", {"device": "cpu"})
    assert texts(cached) == texts(load(str(dirs["base"]), {"device": "cpu"}))
    with pytest.raises(HarnessError, match="base model 'acme/other' is not in the local hub cache and HF_HUB_OFFLINE is set"):
        load("acme/other", {"device": "cpu"})


def test_quantized_checkpoint_on_cpu_says_what_is_needed():
    from harness.checkpoints.loading import load_model

    if torch.cuda.is_available():
        pytest.skip("this checks the CPU message")
    with pytest.raises(HarnessError, match="exp_18 .*builtin.yaml:12. sets quantization: 4bit, which needs a CUDA GPU"):
        load_model("exp_18", {"device": "cpu"})


def test_chat_template_wraps_the_prompt(dirs):
    model = load(str(dirs["base"]), {"device": "cpu", "chat_template": True})
    prep = model.prepare(0, GenerationRequest("a", "hello"), GREEDY)
    expected = model.tokenizer.apply_chat_template([{"role": "user", "content": "hello"}], tokenize=False,
                                                   add_generation_prompt=True)
    assert prep.ids == model.tokenizer(expected, add_special_tokens=False).input_ids
    assert model.tokenizer.decode(prep.ids).endswith("assistant<|end_header_id|>\n\n")


def test_bad_batch_size_is_a_clear_error(dirs):
    model = load(str(dirs["base"]), {"device": "cpu"})
    with pytest.raises(HarnessError, match="batch size 'big' should be a positive integer or 'auto'"):
        list(model.generate([GenerationRequest("a", "hi")], GenerationSettings(batch_size="big")))

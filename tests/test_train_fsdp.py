"""`harness train` with FSDP (an 8B base, LoRA or QLoRA): chosen by --distributed or the config's
`distributed` key, refused before anything loads where it cannot run, launched under accelerate with
the shipped settings, and loaded the FSDP-QLoRA way (4-bit weights stored in bf16, no device_map)."""

import sys
from pathlib import Path

import pytest
import yaml

from harness.errors import HarnessError
from harness.train.launch import FSDP, Launch, command, decide
from tests.test_train_launch import Execed, fake_host  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parent.parent
FOUR = ["0", "1", "2", "3"]
FSDP_FLAGS = ["--fsdp_version", "1", "--fsdp_sharding_strategy", "FULL_SHARD", "--fsdp_auto_wrap_policy",
              "TRANSFORMER_BASED_WRAP", "--fsdp_backward_prefetch", "BACKWARD_PRE", "--fsdp_forward_prefetch", "false",
              "--fsdp_offload_params", "false", "--fsdp_state_dict_type", "SHARDED_STATE_DICT",
              "--fsdp_cpu_ram_efficient_loading", "true", "--fsdp_sync_module_states", "true",
              "--fsdp_use_orig_params", "false"]


@pytest.mark.parametrize("visible,gpus,expected", [
    (["0", "1"], None, Launch(True, 2, None, fsdp=True)),
    (FOUR, 2, Launch(True, 2, ["0", "1"], fsdp=True)),
    (FOUR, None, Launch(True, 4, None, fsdp=True)),
])
def test_fsdp_launches(visible, gpus, expected):
    assert decide(visible, gpus, 1, "fsdp") == expected


@pytest.mark.parametrize("visible,gpus,world,launched,message", [
    (["0"], None, 1, False, "distributed: fsdp shards the model over 2 or more GPUs, but this host has 1 visible"),
    ([], None, 1, False, "distributed: fsdp shards the model over 2 or more GPUs, but this host has no visible"),
    (FOUR, 1, 1, False, "distributed: fsdp shards the model over 2 or more GPUs, but --gpus 1"),
    (FOUR, None, 2, False, "distributed: fsdp, but this was launched without FSDP"),
])
def test_fsdp_refused_where_it_cannot_run(visible, gpus, world, launched, message):
    with pytest.raises(HarnessError, match=message):
        decide(visible, gpus, world, "fsdp", launched)


def test_under_an_fsdp_launcher_it_trains_in_place():
    assert decide(FOUR, None, 2, "fsdp", True) == Launch(False, 2, fsdp=True)
    assert decide(FOUR, None, 2, None, True) == Launch(False, 2, fsdp=True)  # the launcher chose FSDP


def test_fsdp_command_line():
    argv = ["train", "--method", "sft", "--parent", "p", "--data", "d.jsonl", "--output", "o"]
    assert command(Launch(True, 2, fsdp=True), argv) == [
        sys.executable, "-m", "accelerate.commands.launch", "--use_fsdp", "--num_processes", "2", *FSDP_FLAGS,
        "--mixed_precision", "bf16", "-m", "harness", *argv]


def test_the_shipped_accelerate_config_has_the_launch_settings():
    shipped = yaml.safe_load((REPO / "configs" / "accelerate_fsdp.yaml").read_text())
    assert shipped["distributed_type"] == "FSDP" and shipped["mixed_precision"] == "bf16"
    assert shipped["fsdp_config"] == FSDP


def test_accelerate_launch_accepts_the_fsdp_flags():
    import subprocess

    out = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0
    for flag in ["--use_fsdp", "--mixed_precision", *FSDP_FLAGS[::2]]:
        assert flag in out.stdout, flag


# -- choosing it from harness train ---------------------------------------------------


def train_args(tmp_path, *extra):
    data = tmp_path / "sft.jsonl"
    data.write_text('{"prompt": "p", "completion": "c"}\n')
    return ["train", "--parent", "hf:base", "--data", str(data), "--output", "mine", *extra]


@pytest.mark.parametrize("preset", ["llama8b_fsdp_lora.yaml", "llama8b_fsdp_qlora.yaml"])
def test_the_8b_preset_relaunches_with_fsdp_on_two_of_four_gpus(fake_host, tmp_path, preset):  # noqa: F811  (the imported fixture)
    from harness.cli import main

    calls = fake_host(FOUR)
    config = str(REPO / "configs" / preset)
    with pytest.raises(Execed):
        main(train_args(tmp_path, "--config", config, "--gpus", "2"))
    (_, cmd, env), = calls
    assert cmd[:6] == [sys.executable, "-m", "accelerate.commands.launch", "--use_fsdp", "--num_processes", "2"]
    assert cmd[cmd.index("-m", 3) + 1:] == ["harness", *train_args(tmp_path, "--config", config)]
    assert env["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_distributed_option_overrides_the_config(fake_host, tmp_path):  # noqa: F811  (the imported fixture)
    from harness.cli import main

    calls = fake_host(["0", "1"])
    with pytest.raises(Execed):
        main(train_args(tmp_path, "--method", "sft", "--distributed", "fsdp"))
    (_, cmd, _), = calls
    assert "--use_fsdp" in cmd and cmd[-2:] == ["--distributed", "fsdp"]  # the ranks check they run under FSDP


@pytest.mark.parametrize("visible,expected", [(["0"], "this host has 1 visible CUDA device"),
                                              ([], "this host has no visible CUDA device")])
def test_fsdp_on_a_one_gpu_host_is_a_clear_error_before_anything_loads(fake_host, tmp_path, cli, visible, expected):  # noqa: F811  (the imported fixture)
    calls = fake_host(visible)
    code, _, err = cli(*train_args(tmp_path, "--config", REPO / "configs" / "llama8b_fsdp_qlora.yaml"))
    assert code == 1 and "Traceback" not in err and expected in err and "2 or more GPUs" in err
    assert calls == []


def test_a_bad_distributed_value_names_the_file_and_line(fake_host, tmp_path, cli):  # noqa: F811  (the imported fixture)
    fake_host(["0", "1"])
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  method: sft\n  distributed: zero3\n")
    code, _, err = cli(*train_args(tmp_path, "--config", config))
    assert code == 1 and f"{config}:3" in err and "field 'distributed' must be one of ddp, fsdp, got 'zero3'" in err


@pytest.mark.parametrize("preset", ["llama8b_fsdp_lora.yaml", "llama8b_fsdp_qlora.yaml"])
def test_the_8b_presets_are_valid_sft_configs(preset):
    from harness_plugins.trl_trainers import check_config

    from harness.train.checkpoint import train_config
    from harness.train.launch import distributed_mode

    method, config = train_config(str(REPO / "configs" / preset), None)
    assert method == "sft" and distributed_mode(config, None) == "fsdp" and "distributed" not in config
    check_config(method, config)


# -- loading under FSDP ---------------------------------------------------------------


@pytest.fixture()
def captured_load(monkeypatch):
    """load_policy with the weights, the tokenizer, CUDA and the process group faked: the load arguments."""
    import accelerate
    import peft
    import torch
    import transformers
    from harness_plugins import trl_trainers

    seen = {"prepared": False, "states": 0}

    class Tok:
        pad_token = "x"

    def from_pretrained(name, **kwargs):
        seen["kwargs"] = kwargs
        return object()

    def prepare(model, **_):
        seen["prepared"] = True
        return model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", from_pretrained)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: Tok())
    monkeypatch.setattr(peft, "prepare_model_for_kbit_training", prepare)
    monkeypatch.setattr(accelerate, "PartialState", lambda: seen.__setitem__("states", seen["states"] + 1))
    monkeypatch.setattr(trl_trainers, "parent_policy", lambda *a: (False, False))
    monkeypatch.setenv("LOCAL_RANK", "1")

    def load(fsdp):
        if fsdp:
            monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
        else:
            monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
        trl_trainers.load_policy({"base": "b", "adapter": None}, {"quantization": "4bit", "bf16": True})
        return seen

    return load


def test_qlora_under_fsdp_stores_4bit_weights_in_bf16_without_a_device_map(captured_load):
    import torch

    seen = captured_load(True)
    quant = seen["kwargs"]["quantization_config"]
    assert quant.bnb_4bit_quant_storage == torch.bfloat16 and seen["kwargs"]["dtype"] == torch.bfloat16
    assert "device_map" not in seen["kwargs"]
    assert seen["prepared"] is False  # its fp32 casts would break FSDP's flat parameters
    assert seen["states"] == 1  # the process group (and this rank's GPU) exist before the 4-bit weights load


def test_qlora_without_fsdp_keeps_one_gpu_per_process(captured_load):
    import torch

    seen = captured_load(False)
    assert seen["kwargs"]["device_map"] == {"": 1}
    assert seen["kwargs"]["quantization_config"].bnb_4bit_quant_storage == torch.uint8
    assert seen["prepared"] is True and seen["states"] == 0


def test_an_adapter_saved_without_its_lora_tensors_is_refused(tmp_path):
    """The 40-byte adapter FSDP wrote on 2 x H200 must not be registered as trained."""
    import torch
    from safetensors.torch import save_file

    from harness import HarnessError
    from harness_plugins.trl_trainers import check_saved_adapter

    empty = tmp_path / "empty"
    empty.mkdir()
    save_file({}, str(empty / "adapter_model.safetensors"))
    with pytest.raises(HarnessError, match=r"holds 0 of the 4 trained LoRA tensors"):
        check_saved_adapter(empty, 4)

    full = tmp_path / "full"
    full.mkdir()
    names = [f"base_model.model.layers.0.self_attn.{m}_proj.lora_{ab}.weight" for m in ("q", "v") for ab in "AB"]
    save_file({n: torch.zeros(2, 2) for n in names}, str(full / "adapter_model.safetensors"))
    check_saved_adapter(full, 4)  # the four tensors written, none missing
    with pytest.raises(HarnessError, match=r"holds 4 of the 5"):
        check_saved_adapter(full, 5)


def test_fsdp_wrapper_prefixes_are_dropped_so_peft_finds_its_names():
    from harness_plugins.trl_trainers import clean_fsdp_names

    state = {"_fsdp_wrapped_module.base_model.model.model.layers.0._fsdp_wrapped_module._checkpoint_wrapped_module."
             "self_attn.q_proj.lora_A.default.weight": 1,
             "base_model.model.model.embed_tokens.weight": 2}
    assert clean_fsdp_names(state) == {"base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight": 1,
                                       "base_model.model.model.embed_tokens.weight": 2}


def test_write_adapter_writes_what_peft_save_pretrained_writes(tmp_path):
    """The FSDP save path against PEFT's own save_pretrained (the reference) on a tiny model without FSDP."""
    import json

    import torch
    from harness_plugins.trl_trainers import write_adapter
    from peft import LoraConfig, PeftModel, get_peft_model
    from safetensors.torch import load_file
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param)  # B starts at zero: make the adapter non-trivial
    config.save_pretrained(tmp_path / "base")  # a local base: PEFT's save reads its config, never the hub
    model.peft_config["default"].base_model_name_or_path = str(tmp_path / "base")
    model.save_pretrained(tmp_path / "reference")
    write_adapter(model, model.state_dict(), tmp_path / "ours")
    ours, reference = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("ours", "reference"))
    assert sorted(ours) == sorted(reference) and len(ours) == 2 * 2 * 2  # 2 layers x 2 modules x (A, B)
    assert all(torch.equal(ours[k], reference[k]) for k in ours)
    assert (json.loads((tmp_path / "ours" / "adapter_config.json").read_text())
            == json.loads((tmp_path / "reference" / "adapter_config.json").read_text()))
    base = LlamaForCausalLM(config)
    loaded = PeftModel.from_pretrained(base, tmp_path / "ours")
    b = dict(loaded.named_parameters())["base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"]
    assert torch.equal(b, dict(model.named_parameters())["base_model.model.model.layers.1.self_attn.v_proj.lora_B.default.weight"])

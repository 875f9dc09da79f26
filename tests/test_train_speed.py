"""Speed levers of `harness train` (issue 17) on a tiny random Llama (CPU): same numerics, validation, throughput."""

import itertools
import json
from pathlib import Path

import pytest
import torch
from harness_plugins import trl_trainers
from harness_plugins.trl_trainers import TokenCounter, TRLTrainer, check_config, hardware_levers, matmul_params

from harness import HarnessError
from harness.config import read_yaml_mapping
from harness.interfaces.trainer import TrainRequest

FAST = {"bf16": False, "logging_steps": 1, "save_steps": 1000, "report_to": "none", "gradient_checkpointing": False,
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0}, "seed": 3}
#: loss tolerance over 50 steps, fast path vs plain path: fp32 on CPU, only summation order differs
LOSS_TOL = 1e-4


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny random Llama with a word-level vocabulary of the fixtures' words (41 tokens).

    The Llama-3 vocabulary (128k) makes TRL's LM-head pass ~2.5 s a step on CPU; 50-step curves need a small head.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = {w for row in sft_rows() + dpo_rows() for text in row.values() if isinstance(text, str)
             for w, _ in pre_tokenizers.Whitespace().pre_tokenize_str(text)}
    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "<s>", "</s>", *sorted(words)])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         bos_token_id=2, eos_token_id=3, pad_token_id=0, tie_word_embeddings=True))
    directory = tmp_path_factory.mktemp("small")
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sft_rows(n=16):
    # lengths differ from row to row so that padding and padding-free batches differ
    return [{"prompt": f"Classify request {i}: " + "words " * (i % 5), "completion": f"Reasoning {i}." + " ok" * (i % 7)
             + "\nLabel: safe"} for i in range(n)]


def dpo_rows(n=16, weighted=False):
    rows = [{"prompt": f"Analyze item {i}:" + " more" * (i % 4) + "\n", "chosen": f"Step {i} shows no risk." + " yes" * (i % 3)
             + "\nLabel: safe", "rejected": f"Item {i} is dangerous.\nLabel: harmful"} for i in range(n)]
    if weighted:
        for i, row in enumerate(rows):
            row["weight"] = 1.0 + (i % 4) / 8
    return rows


# -- padding-free attention: transformers' packed-sequence detection -------------------------------------


def token_losses(model, input_ids, labels, **kwargs):
    logits = model(input_ids=input_ids, use_cache=False, **kwargs).logits[:, :-1].float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels[:, 1:].reshape(-1),
                                             ignore_index=-100, reduction="none")


def test_packed_row_with_position_ids_has_the_padded_loss(small):
    """Two sequences flattened into one row (position_ids restart, no mask) score exactly as the padded batch."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(small, dtype=torch.float32, attn_implementation="sdpa").eval()
    g = torch.Generator().manual_seed(0)
    a, b = torch.randint(4, model.config.vocab_size, (9,), generator=g), torch.randint(4, model.config.vocab_size, (5,), generator=g)
    padded = torch.stack([a, torch.cat([b, torch.zeros(4, dtype=torch.long)])])
    mask = torch.tensor([[1] * 9, [1] * 5 + [0] * 4])
    labels = padded.masked_fill(mask == 0, -100)
    with torch.no_grad():
        want = token_losses(model, padded, labels, attention_mask=mask)
        want = torch.cat([want[:8], want[8:12]])  # the real next-token targets of a, then of b
        flat = torch.cat([a, b])[None]
        flat_labels = flat.clone()
        flat_labels[0, 9] = -100  # b's first token is not a target of a's last
        got = token_losses(model, flat, flat_labels, position_ids=torch.cat([torch.arange(9), torch.arange(5)])[None])
        got = torch.cat([got[:8], got[9:13]])
        crossing = token_losses(model, flat, flat_labels, position_ids=torch.arange(14)[None])
        crossing = torch.cat([crossing[:8], crossing[9:13]])
    assert torch.allclose(got, want, atol=1e-5)
    # without restarting positions b would attend to a: the check above can fail
    assert not torch.allclose(crossing[8:], want[8:], atol=1e-3)


# -- same numerics over 50 steps: fast path against the plain path ---------------------------------------


def curve(metrics):
    return [loss for _, loss in metrics["loss_curve"]]


def train(tmp_path, model, method, data, config, name):
    request = TrainRequest(method, f"hf:{model}", data, tmp_path / name, {**FAST, **config})
    return TRLTrainer(method).train(request).metrics


def test_sft_padding_free_follows_the_padded_loss_curve_for_50_steps(small, tmp_path):
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    common = {"max_steps": 50, "batch_size": 4, "learning_rate": 1e-2, "max_length": 12}
    plain = train(tmp_path, small, "sft", data, common, "plain")
    fast = train(tmp_path, small, "sft", data, {**common, "padding_free": True}, "fast")
    a, b = curve(plain), curve(fast)
    print("sft loss", a[0], a[-1], "max delta", max(abs(x - y) for x, y in zip(a, b)))
    assert len(a) == len(b) == 50
    assert a[-1] < a[0] - 0.2  # it trains, so the comparison is not between two flat lines
    assert max(abs(x - y) for x, y in zip(a, b)) < LOSS_TOL
    # same real tokens counted both ways (max_length 24 truncates some rows), none of them padding
    assert fast["throughput"]["tokens"] == plain["throughput"]["tokens"]


def test_sft_packing_trains_on_the_same_real_tokens_in_fewer_rows(small, tmp_path):
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows())
    common = {"epochs": 1, "batch_size": 2, "learning_rate": 1e-2, "max_length": 32}
    plain = train(tmp_path, small, "sft", data, common, "plain")["throughput"]
    packed = train(tmp_path, small, "sft", data, {**common, "packing": True}, "packed")["throughput"]
    # best-fit decreasing keeps every sample whole (all are shorter than 32 tokens), so nothing is lost or padded
    assert (packed["tokens"], packed["sequences"]) == (plain["tokens"], plain["sequences"]) and plain["sequences"] == 16


def test_dpo_precomputed_reference_follows_the_plain_loss_curve_for_50_steps(small, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", dpo_rows())
    common = {"max_steps": 50, "batch_size": 4, "learning_rate": 5e-3, "beta": 0.5}
    plain = train(tmp_path, small, "dpo", data, common, "plain")
    fast = train(tmp_path, small, "dpo", data, {**common, "precompute_ref_log_probs": True,
                                                 "precompute_ref_batch_size": 16}, "fast")
    a, b = curve(plain), curve(fast)
    print("dpo loss", a[0], a[-1], "max delta", max(abs(x - y) for x, y in zip(a, b)))
    assert len(a) == len(b) == 50
    assert abs(a[0] - 0.6931) < 1e-3  # step 1: policy == reference, so the loss is log 2
    assert a[-1] < a[0] - 0.1
    assert max(abs(x - y) for x, y in zip(a, b)) < LOSS_TOL
    assert fast["throughput"]["flops_per_token"] < plain["throughput"]["flops_per_token"]  # no reference forward


def test_hs_dpo_with_precomputed_reference_and_grouping_trains(small, tmp_path):
    data = write_jsonl(tmp_path / "pairs.jsonl", dpo_rows(weighted=True))
    metrics = train(tmp_path, small, "hs-dpo", data, {"max_steps": 8, "batch_size": 4, "learning_rate": 5e-3,
                                                     "precompute_ref_log_probs": True, "group_by_length": True},
                    "hs")
    assert metrics["global_step"] == 8
    assert abs(curve(metrics)[0] - 0.6931 * sum(1.0 + (i % 4) / 8 for i in range(16)) / 16) < 0.2


def test_dpo_group_by_length_batches_pairs_of_similar_length(tmp_path):
    from datasets import Dataset
    from harness_plugins.trl_trainers import grouped_dpo_class
    from trl import DPOConfig, DPOTrainer

    cls = grouped_dpo_class(DPOTrainer)

    class Stub(cls):  # only the sampler, on a tokenised DPO dataset
        def __init__(self, data, args):
            self.train_dataset, self.args = data, args

    # a pair's length is its longer side: odd pairs have a long rejected completion
    data = Dataset.from_list([{"prompt_ids": [1] * i, "chosen_ids": [2] * 2, "rejected_ids": [3] * (100 * (i % 2))}
                              for i in range(64)])
    length = [i + (100 if i % 2 else 2) for i in range(64)]
    args = DPOConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, train_sampling_strategy="group_by_length",
                     report_to="none", use_cpu=True)
    order = list(Stub(data, args)._get_train_sampler())
    assert sorted(order) == list(range(64))
    # transformers sorts mega-batches of 16 by length and cuts them into batches of 4: within each mega-batch the
    # batches cover disjoint length ranges (by the pair's longer side, not by its prompt)
    for start in range(0, 64, 16):
        batches = sorted(sorted(length[i] for i in order[j:j + 4]) for j in range(start, start + 16, 4))
        assert all(left[-1] < right[0] for left, right in itertools.pairwise(batches)), batches


# -- throughput ------------------------------------------------------------------------------------------


def test_matmul_params_counts_the_tiny_llama_by_hand(small):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(small, dtype=torch.float32)
    d, inter, kv, layers, vocab = 32, 64, 16, 2, model.config.vocab_size
    per_layer = d * d + 2 * d * kv + d * d + 3 * d * inter + 2 * d  # q, k+v, o, gate/up/down, two norms
    assert matmul_params(model) == (layers * per_layer + d + vocab * d, layers, d)  # + final norm + tied head


def test_token_counter_counts_real_tokens_of_padded_and_flat_batches():
    def padded(examples):
        n = max(len(e["input_ids"]) for e in examples)
        return {"attention_mask": torch.tensor([[1] * len(e["input_ids"]) + [0] * (n - len(e["input_ids"]))
                                                for e in examples])}

    counter = TokenCounter(padded)
    counter([{"input_ids": [1, 2, 3]}, {"input_ids": [4]}])
    assert (counter.tokens, counter.sequences) == (4, 2)
    flat = TokenCounter(lambda examples: {"input_ids": torch.zeros(1, 9)})
    flat([{"input_ids": [1] * 6, "seq_lengths": [2, 4]}, {"input_ids": [1] * 3, "seq_lengths": [3]}])
    assert (flat.tokens, flat.sequences) == (9, 3)


def train_small_sft(small, tmp_path, monkeypatch, name: str, settings: str):
    """`harness train` of 8 SFT rows on the small model; ``settings`` are more YAML lines of the config."""
    from harness.cli import main

    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(8))
    config = tmp_path / "c.yaml"
    config.write_text("train:\n  method: sft\n  bf16: false\n  save_steps: 100\n  lora: {r: 4, alpha: 8}\n" + settings)
    main(["train", "--parent", f"hf:{small}", "--data", str(data), "--output", name, "--config", str(config)])


def test_harness_train_prints_throughput_and_records_it_in_the_lineage(small, tmp_path, monkeypatch, capsys):
    from harness.checkpoints.registry import load_registry

    train_small_sft(small, tmp_path, monkeypatch, "fast", "  max_steps: 2\n  batch_size: 4\n  use_liger_kernel: true\n")
    out, err = capsys.readouterr()
    assert "note: use_liger_kernel: no CUDA GPU here, training without it" in err
    assert "real tokens in" in out and "tokens/s, MFU n/a" in out
    speed = load_registry()["fast"]["lineage"]["throughput"]
    assert speed["tokens"] > 0 and speed["tokens_per_s"] > 0 and speed["mfu"] is None  # CPU: no bf16 peak


# -- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method,config,message", [
    ("sft", {"attn_implementation": "flash3"}, "'attn_implementation' must be one of sdpa, flex_attention"),
    ("sft", {"packing": "yes"}, "'packing' must be true or false"),
    ("dpo", {"padding_free": True}, "has no padding-free path"),
    ("dpo", {"precompute_ref_batch_size": 8}, "needs precompute_ref_log_probs: true"),
    ("dpo", {"precompute_ref_batch_size": 8, "precompute_ref_log_probs": "no"}, "must be true or false"),
    ("sft", {"precompute_ref_log_probs": True}, None),
])
def test_bad_speed_keys_are_refused_naming_the_key(method, config, message):
    if message is None:  # a DPO key on sft is refused when the TRL arguments are built
        with pytest.raises(HarnessError, match="does not apply to --method sft"):
            TRLTrainer(method).trl_args(config, "/tmp/unused")
        return
    with pytest.raises(HarnessError, match=message):
        check_config(method, config)


def test_bad_key_in_a_file_is_reported_with_its_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  beta: 0.1\n  max_length: 64\n  padding_free: true\n")
    with pytest.raises(HarnessError, match=r"c.yaml:4"):
        check_config("dpo", read_yaml_mapping(path)["train"])


def test_gpu_levers_drop_with_a_note_on_cpu_and_need_their_package_on_a_gpu(monkeypatch):
    config = {"use_liger_kernel": True, "torch_compile": True, "attn_implementation": "flex_attention"}
    settled, notes = hardware_levers(config, cuda=False)
    assert settled == {"use_liger_kernel": False, "torch_compile": False, "attn_implementation": "sdpa"}
    assert len(notes) == 3 and config["use_liger_kernel"] is True  # the caller's config is left alone
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HarnessError, match="'use_liger_kernel' needs the liger-kernel package"):
        hardware_levers({"use_liger_kernel": True}, cuda=True)
    with pytest.raises(HarnessError, match="'attn_implementation' needs the flash-attn package"):
        hardware_levers({"attn_implementation": "flash_attention_2"}, cuda=True)
    assert hardware_levers({"attn_implementation": "flex_attention"}, cuda=True) == (
        {"attn_implementation": "flex_attention"}, [])
    with pytest.raises(HarnessError, match="'packing' on a GPU needs attn_implementation: flex_attention"):
        hardware_levers({"packing": True, "attn_implementation": "sdpa"}, cuda=True)
    assert hardware_levers({"padding_free": True, "attn_implementation": "flex_attention"}, cuda=True)[1] == []
    # on CPU flex attention falls back to sdpa, which is exact there (test_packed_row_with_position_ids_...)
    assert hardware_levers({"packing": True, "attn_implementation": "flex_attention"}, cuda=False)[0][
        "attn_implementation"] == "sdpa"


def test_missing_liger_on_a_gpu_fails_before_the_model_loads(small, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    loaded = []
    monkeypatch.setattr(trl_trainers, "load_policy", lambda *a, **k: loaded.append(1))
    data = write_jsonl(tmp_path / "sft.jsonl", sft_rows(2))
    request = TrainRequest("sft", f"hf:{small}", data, tmp_path / "o", {**FAST, "use_liger_kernel": True})
    with pytest.raises(HarnessError, match="use_liger_kernel"):
        TRLTrainer("sft").check(request)
    with pytest.raises(HarnessError, match="use_liger_kernel"):
        TRLTrainer("sft").train(request)
    assert loaded == []


@pytest.mark.parametrize("preset,method", [("configs/rsft.yaml", "sft"), ("configs/exp_19.yaml", "dpo"),
                                           ("configs/exp_20.yaml", "hs-dpo")])
def test_shipped_presets_validate_and_take_the_fast_path(preset, method):
    from harness.train.checkpoint import train_config

    got_method, config = train_config(Path(__file__).parents[1] / preset, None)
    assert got_method == method
    check_config(method, config)
    TRLTrainer(method).trl_args(hardware_levers(config, cuda=False)[0], "/tmp/unused")
    assert config["use_liger_kernel"] and config["gradient_checkpointing"] and config["group_by_length"]
    if method == "sft":
        assert config["adapter_dtype"] == "bf16" and config["batch_size"] >= 32
    else:
        assert config["precompute_ref_log_probs"] and config.get("adapter_dtype", "fp32") == "fp32"

"""Trainers for ``harness train``: sft, dpo, hs-dpo and grpo on TRL with PEFT LoRA.

Every method starts from a parent checkpoint (a registry name such as
``exp_18`` or an ``hf:BASE[+ADAPTER]`` spec).  A parent with a LoRA adapter
keeps training that adapter (TRL then uses a frozen copy of it as the DPO
reference, so the reference is the parent, not the bare base); a parent
without one gets a fresh LoRA from the config.  TRL checkpoints go to
``OUTPUT/trainer/checkpoint-N`` and training resumes from the last one; the
final adapter is saved to ``OUTPUT/adapter``.

torch/transformers/trl/peft are imported inside functions: this module is
loaded at CLI start.
"""

from __future__ import annotations

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

from harness import (HarnessError, Mapping, Trainer, TrainRequest, TrainResult, check_keys, hookimpl,
                     parse_monitor, read_rows, split_base_adapter, unknown_name, where_of)
from harness_plugins.train_profile import parse_profile_steps, step_profiler

DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

#: Training-config keys and what they mean (mapped to TRL/transformers arguments).
CONFIG_KEYS = {
    "base": "the base model the config was written for (hf:NAME); a parent on another base is refused",
    "lora": "mapping: r, alpha, dropout, target_modules (for a parent without an adapter)",
    "quantization": "'4bit' for QLoRA (NF4, bf16 compute), or null",
    "epochs": "number of epochs (num_train_epochs)",
    "max_steps": "stop after this many optimizer steps (overrides epochs)",
    "learning_rate": "peak learning rate",
    "lr_scheduler_type": "transformers scheduler name",
    "warmup_ratio": "share of steps used for warm-up",
    "batch_size": "per-device batch size (pairs for dpo)",
    "gradient_accumulation_steps": "micro-batches per optimizer step",
    "gradient_checkpointing": "trade compute for memory",
    "max_length": "truncate sequences (prompt + completion) to this many tokens",
    "beta": "DPO/GRPO KL strength",
    "seed": "training seed",
    "logging_steps": "log every N steps",
    "save_steps": "checkpoint every N steps (resume point)",
    "save_total_limit": "checkpoints kept",
    "report_to": "'none', 'tensorboard', 'wandb', ... (TRL/transformers report_to)",
    "bf16": "train in bf16 (default: when the GPU supports it)",
    "packing": "sft: pack samples into rows of max_length (best-fit decreasing; padding-free, so no sample attends "
               "across its neighbour); on a GPU needs attn_implementation flex_attention or flash_attention_2",
    "padding_free": "sft: flatten each micro-batch into one row with position_ids instead of padding it (on a GPU "
                    "needs attn_implementation flex_attention or flash_attention_2; TRL 1.16's DPO has no "
                    "padding-free path: dpo/hs-dpo refuse it)",
    "attn_implementation": "'sdpa' (default), 'flex_attention' (GPU; skips the masked blocks of padding-free rows), "
                           "'flash_attention_2' (GPU and the flash-attn package) or 'eager'",
    "precompute_ref_log_probs": "dpo/hs-dpo: compute the reference log-probs once, before training, in one no-grad "
                                "pass, instead of a reference forward in every step",
    "precompute_ref_batch_size": "dpo/hs-dpo: pairs per batch of that no-grad pass (default: batch_size)",
    "use_liger_kernel": "Liger's fused RMSNorm/SwiGLU/RoPE kernels (GPU and the liger-kernel package; on CPU the key "
                        "is dropped with a one-line note so the GPU presets still run in CPU tests)",
    "torch_compile": "torch.compile the model (GPU; on CPU dropped with a one-line note)",
    "group_by_length": "sft/dpo/hs-dpo: batch samples of similar length (less padding)",
    "profile_steps": "\"FIRST-LAST\" optimizer steps to run under torch.profiler: the trace goes to "
                     "trainer/profile_trace.json.gz, where the GPU time went to the lineage (plugins/train_profile.py); "
                     "profiled steps are slower, so measure speed in another run",
    "adapter_dtype": "'bf16' keeps LoRA weights in bf16 (about 1.7x faster on H100; fine at SFT learning rates, "
                     "keep the default fp32 for DPO at 5e-6, where bf16 rounds the updates away)",
    "num_generations": "grpo: completions per prompt",
    "max_completion_length": "grpo: tokens per completion",
    "temperature": "grpo: sampling temperature",
    "judge": "grpo: judge spec giving the reward (e.g. heuristic)",
    "parser": "grpo: parser for the verdict (default: the parent's)",
    "trl": "mapping passed unchanged to the TRL config (escape hatch)",
    "monitor": "dpo/hs-dpo/grpo: over-optimisation monitor {task, limit, judges, every, stop, bounds} "
               "(harness/train/monitor_config.py, README 'Does the child game its judge?')",
}

# harness config key -> TRL/transformers argument name
TRL_NAMES = {
    "epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
}
PASSTHROUGH = {
    "max_steps", "learning_rate", "lr_scheduler_type", "warmup_ratio", "gradient_accumulation_steps",
    "gradient_checkpointing", "seed", "logging_steps", "save_steps", "save_total_limit", "report_to", "bf16",
    "use_liger_kernel", "torch_compile",
}
METHOD_KEYS = {
    "sft": {"max_length", "packing", "padding_free", "group_by_length"},
    "dpo": {"max_length", "beta", "group_by_length", "precompute_ref_log_probs", "precompute_ref_batch_size"},
    "hs-dpo": {"max_length", "beta", "group_by_length", "precompute_ref_log_probs", "precompute_ref_batch_size"},
    "grpo": {"beta", "num_generations", "max_completion_length", "temperature"},
}


#: numeric training-config keys: (type, least value)
NUMBERS = {
    "epochs": (float, 0), "max_steps": (int, 1), "learning_rate": (float, 0), "warmup_ratio": (float, 0),
    "batch_size": (int, 1), "gradient_accumulation_steps": (int, 1), "max_length": (int, 1), "beta": (float, 0),
    "seed": (int, 0), "logging_steps": (int, 1), "save_steps": (int, 1), "save_total_limit": (int, 1),
    "num_generations": (int, 1), "max_completion_length": (int, 1), "temperature": (float, 0),
    "precompute_ref_batch_size": (int, 1),
}


def check_numbers(config: dict):
    """Numeric keys hold numbers (``epochs: "two"`` is refused here, not deep inside TRL)."""
    for key, (kind, least) in NUMBERS.items():
        value = config.get(key)
        if value is None:
            continue
        ok = not isinstance(value, bool) and isinstance(value, int if kind is int else (int, float))
        ok = ok and math.isfinite(value)
        strict = key in POSITIVE_NUMBERS  # 0 epochs or a 0 learning rate would register an untrained adapter
        if not ok or value < least or (strict and value <= least):
            what = "a whole number" if kind is int else "a finite number"
            raise HarnessError(f"{where_of(config, key, 'training config')}: field '{key}' must be {what} "
                               f"{'>' if strict else '>='} {least}, got {value!r}")


#: numeric keys that must be above their least value, not equal to it
POSITIVE_NUMBERS = {"epochs", "learning_rate"}

#: LoRA numbers: (type, least, strictly above it)
LORA_NUMBERS = {"r": (int, 1, False), "alpha": ((int, float), 0, True), "dropout": ((int, float), 0, False)}


def check_lora_numbers(where: str, lora: dict):
    """``lora: {r: 0}`` and the like are refused before training (PEFT would fail after the model loads)."""
    from harness import where_of

    for key, (kind, least, strict) in LORA_NUMBERS.items():
        if key not in lora:
            continue
        value = lora[key]
        ok = not isinstance(value, bool) and isinstance(value, kind) and math.isfinite(value)
        if not ok or value < least or (strict and value <= least) or (key == "dropout" and value >= 1):
            want = {"r": "a whole number >= 1", "alpha": "a number > 0", "dropout": "a number in [0, 1)"}[key]
            raise HarnessError(f"{where_of(lora, key, where)}: lora field '{key}' must be {want}, got {value!r}")


def check_config(method: str, config: dict):
    """Refuse unknown or misplaced keys; a config read from a file is named with its line."""
    where = f"{config.path}: training config" if isinstance(config, Mapping) else "training config"
    check_keys(where, config, CONFIG_KEYS, kind="training config key")
    check_numbers(config)
    for key in ("judge", "parser"):
        if key in config and method != "grpo":
            raise HarnessError(f"{where_of(config, key, where)}: training config key '{key}' only applies to "
                               "--method grpo")
    lora = config.get("lora") or {}
    if not isinstance(lora, dict):
        raise HarnessError(f"{where_of(config, 'lora', where)}: training config 'lora' must be a mapping with r, "
                           "alpha, dropout, target_modules")
    check_keys(f"{where}: lora", lora, ["r", "alpha", "dropout", "target_modules"], kind="lora key")
    check_lora_numbers(f"{where}: lora", lora)
    if config.get("adapter_dtype", "fp32") not in ("fp32", "bf16"):
        raise HarnessError(f"{where_of(config, 'adapter_dtype', where)}: training config 'adapter_dtype' must be "
                           f"fp32 or bf16, got {config['adapter_dtype']!r}")
    if config.get("quantization") not in (None, "4bit"):
        raise HarnessError(f"{where_of(config, 'quantization', where)}: training config 'quantization' must be "
                           f"'4bit' or null, got {config['quantization']!r}")
    for key in BOOLEANS:
        if key in config and not isinstance(config[key], bool):
            raise HarnessError(f"{where_of(config, key, where)}: training config '{key}' must be true or false, "
                               f"got {config[key]!r}")
    if config.get("attn_implementation", "sdpa") not in ATTENTION:
        raise HarnessError(f"{where_of(config, 'attn_implementation', where)}: training config 'attn_implementation' "
                           f"must be one of {', '.join(ATTENTION)}, got {config['attn_implementation']!r}")
    if method in ("dpo", "hs-dpo") and config.get("padding_free"):
        raise HarnessError(f"{where_of(config, 'padding_free', where)}: training config 'padding_free' does not apply "
                           f"to --method {method}: TRL 1.16's DPOTrainer has no padding-free path (it warns and pads "
                           "anyway); use group_by_length to cut padding")
    parse_profile_steps(config, where)
    parse_monitor(config, method, where=where)  # task, judges and numbers of 'monitor', before any weights load
    if config.get("precompute_ref_batch_size") is not None and not config.get("precompute_ref_log_probs"):
        raise HarnessError(f"{where_of(config, 'precompute_ref_batch_size', where)}: training config "
                           "'precompute_ref_batch_size' needs precompute_ref_log_probs: true (or set it null)")


#: boolean training-config keys (a quoted "false" would be truthy deep inside TRL)
BOOLEANS = ("packing", "padding_free", "precompute_ref_log_probs", "use_liger_kernel", "torch_compile",
            "group_by_length", "gradient_checkpointing", "bf16")
ATTENTION = ("sdpa", "flex_attention", "flash_attention_2", "eager")


def hardware_levers(config: dict, cuda: bool | None = None) -> tuple[dict, list[str]]:
    """The config with its GPU-only levers settled for this machine, and a note per lever dropped.

    Without a CUDA GPU, Liger, torch.compile and flex/flash attention are dropped
    with a one-line note (the shipped presets turn them on and must still run in
    CPU tests).  On a GPU, a lever whose package is missing fails here, naming
    the key, before any weights load.
    """
    import importlib.util

    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    config, notes = copy.copy(config), []
    attention = config.get("attn_implementation", "sdpa")
    if not cuda:
        for key in ("use_liger_kernel", "torch_compile"):
            if config.get(key):
                config[key] = False
                notes.append(f"note: {key}: no CUDA GPU here, training without it")
        if attention in ("flex_attention", "flash_attention_2"):
            config["attn_implementation"] = "sdpa"
            notes.append(f"note: attn_implementation: {attention} needs a CUDA GPU here, training with sdpa")
        return config, notes
    where = f"{config.path}: training config" if isinstance(config, Mapping) else "training config"
    flat = next((key for key in ("packing", "padding_free") if config.get(key)), None)
    if flat and attention in ("sdpa", "eager"):
        # the flattened micro-batch (batch_size x max_length tokens for packing) would get a dense T x T mask
        raise HarnessError(f"{where_of(config, flat, where)}: training config '{flat}' on a GPU needs "
                           "attn_implementation: flex_attention or flash_attention_2 (with sdpa or eager the flattened "
                           "micro-batch gets a dense mask, quadratic in its tokens)")
    needs = {"use_liger_kernel": ("liger_kernel", "liger-kernel")} if config.get("use_liger_kernel") else {}
    if attention == "flash_attention_2":
        needs["attn_implementation"] = ("flash_attn", "flash-attn")
    for key, (module, package) in needs.items():
        if importlib.util.find_spec(module) is None:
            raise HarnessError(f"{where_of(config, key, where)}: training config '{key}' needs the {package} package "
                               f"(pip install {package}), or set {key} off")
    return config, notes


def check_device(config: dict, parent: dict, cuda: bool | None = None):
    """Refuse, before any data or weights load, a setting this machine cannot run: 4-bit needs a CUDA GPU.

    The error names what set it (the training config's line, or the parent's
    checkpoint entry) and how to train on the CPU instead.  GPU-only speed levers
    (Liger, torch.compile, flash/flex attention) are not refused: :func:`hardware_levers`
    drops them with a note.
    """
    if cuda is None:
        import torch

        cuda = torch.cuda.is_available()
    options = parent.get("options") or {}
    quant = config.get("quantization", options.get("quantization"))
    if quant != "4bit" or cuda:
        return
    if "quantization" in config:
        from_file = "quantization" in getattr(config, "key_lines", {})  # a --set override has no line
        origin = (f"the training config ({where_of(config, 'quantization')}) sets" if from_file
                  else "the training config (--set) sets")
    else:
        at = where_of(options, "quantization", parent.get("source", "its registry file"))
        origin = f"parent checkpoint entry {parent.get('name')} ({at}) sets"
    raise HarnessError(f"{origin} quantization: 4bit, which needs a CUDA GPU (bitsandbytes), and this machine has "
                       "none; to train on the CPU pass --set quantization=null (a LoRA on the unquantized base: slow "
                       "for billions of weights; configs/exp_19_cpu.yaml runs the whole loop on a tiny model)")


def parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """``hf:BASE[+ADAPTER]`` -> (base, adapter or None)."""
    if not spec.startswith("hf:"):
        raise HarnessError(f"harness train needs a Hugging Face parent (hf:BASE[+ADAPTER]); got '{spec}'")
    return split_base_adapter(spec[3:], what="harness train: parent")


def resolve_parent(request: TrainRequest) -> dict:
    """The parent's registry entry (or its bare spec) with its base and adapter split out; only hf: parents train."""
    entry = request.parent_entry or {"name": request.parent, "spec": request.parent}
    base, adapter = parse_hf_spec(entry["spec"])
    return {**entry, "base": base, "adapter": adapter}


def check_base(parent: dict, config: dict):
    """A config that names its base must agree with the parent checkpoint's base."""
    want = config.get("base")
    if want and want.removeprefix("hf:") != parent["base"]:
        raise HarnessError(f"Base model mismatch: the config trains on '{want}' but parent '{parent['name']}' is "
                           f"built on '{parent['base']}'; fix 'base' or choose a parent on that base")


def parent_policy(parent: dict, trust_remote_code=False, allow_unsafe_weights=False) -> tuple[bool, bool]:
    """Check the parent's files under eval's policy (safetensors only, no checkpoint code unless allowed).

    The RISK flags of ``harness train`` or the parent's registry options lift the
    checks, exactly as ``harness eval``'s flags do.  Returns (trust, allow_unsafe).
    """
    from harness_plugins.hf import Source, check_remote_code, check_weights

    options = parent.get("options") or {}
    trust = bool(trust_remote_code or options.get("trust_remote_code"))
    allow_unsafe = bool(allow_unsafe_weights or options.get("allow_unsafe_weights"))
    base = Source(parent["base"], "base model")
    check_remote_code(base, trust)
    check_weights(base, allow_unsafe)
    parent["base_location"] = base.location  # load_policy reads the weights from here
    if parent["adapter"]:
        adapter = Source(parent["adapter"], "adapter")
        check_weights(adapter, allow_unsafe, adapter=True)
        parent["adapter_location"] = adapter.location
    return trust, allow_unsafe


# -- model and data ---------------------------------------------------------


def load_policy(parent: dict, config: dict, trust_remote_code=False, allow_unsafe_weights=False):
    """Tokenizer and model (a PeftModel when the parent has an adapter, else the bare base)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness import under_fsdp

    trust, allow_unsafe = parent_policy(parent, trust_remote_code, allow_unsafe_weights)
    fsdp = under_fsdp()
    if fsdp:  # process group and this rank's GPU before loading: rank 0 reads the weights, 4-bit ones go to this GPU
        from accelerate import PartialState

        PartialState()

    quant = config.get("quantization", (parent.get("options") or {}).get("quantization"))
    kwargs = {"dtype": torch.bfloat16 if use_bf16(config) else torch.float32, "trust_remote_code": trust,
              "use_safetensors": None if allow_unsafe else True,
              "attn_implementation": config.get("attn_implementation", "sdpa")}
    if quant == "4bit":
        if not torch.cuda.is_available():
            check_device(config, parent, cuda=False)
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16,
            bnb_4bit_use_double_quant=True,
            **({"bnb_4bit_quant_storage": torch.bfloat16} if fsdp else {}),  # FSDP shards float tensors only
        )
        if not fsdp:  # bitsandbytes places weights at load time: one GPU per process (LOCAL_RANK under accelerate)
            kwargs["device_map"] = {"": int(os.environ.get("LOCAL_RANK", "0"))}
    base = parent.get("base_location", parent["base"])  # the local hub cache's copy when the hub is out of reach
    try:
        tokenizer = AutoTokenizer.from_pretrained(base, trust_remote_code=trust)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    except (OSError, ValueError, KeyError) as exc:  # a folder without a usable tokenizer/config/weights
        raise HarnessError(f"the parent {parent['base']} could not be loaded as a causal LM: "
                           f"{str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}") from None
    if quant == "4bit" and not fsdp:  # its fp32 casts would mix dtypes inside FSDP's flat parameters
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(config.get("gradient_checkpointing")))
    if parent["adapter"]:
        from peft import PeftModel

        try:
            adapter = parent.get("adapter_location", parent["adapter"])
            model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
        except RuntimeError as exc:  # size mismatch: the adapter was trained on another architecture
            raise HarnessError(
                f"The adapter {parent['adapter']} does not match the base model {parent['base']} "
                f"(adapter trained on {adapter_base(parent['adapter']) or 'an unknown base'}): {str(exc)[:300]}"
            ) from None
    return tokenizer, model


def adapter_base(adapter: str) -> str | None:
    path = Path(adapter) / "adapter_config.json"
    if path.exists():
        return json.loads(path.read_text()).get("base_model_name_or_path")
    return None


def lora_config(config: dict):
    from peft import LoraConfig

    lora = config.get("lora") or {}
    return LoraConfig(
        r=int(lora.get("r", 16)), lora_alpha=int(lora.get("alpha", 16)), lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=list(lora.get("target_modules", DEFAULT_TARGETS)), task_type="CAUSAL_LM",
    )


def use_bf16(config: dict) -> bool:
    import torch

    if "bf16" in config:
        return bool(config["bf16"])
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def whole_run_train_loss(session_loss: float, initial_step: int, final_step: int, log_history: list[dict]) -> dict:
    """``train_loss`` over every step of a resumed run, not only the steps after the resume.

    transformers' ``train_loss`` is the mean over the steps this call ran.  The steps before the resume
    are known from the checkpoint's log rows: each logged ``loss`` is the mean since the previous log, so
    it weighs by its step span.  Steps after the last log before the resume are not known; they are left
    out (``train_loss_steps`` says how many steps the mean covers).
    """
    session_steps = final_step - initial_step
    prior, covered, previous = 0.0, 0, 0
    for row in sorted((r for r in log_history if "loss" in r and r.get("step", 0) <= initial_step),
                      key=lambda r: r["step"]):
        span = row["step"] - previous
        prior, covered, previous = prior + float(row["loss"]) * span, covered + span, row["step"]
    steps = covered + session_steps
    if steps <= 0:
        return {"train_loss": session_loss, "train_loss_steps": session_steps}
    return {"train_loss": (prior + session_loss * session_steps) / steps, "train_loss_steps": steps,
            "train_loss_resumed_steps": session_loss}


def read_jsonl(path: Path, required: tuple, alternatives: tuple = ()) -> list[dict]:
    """JSONL rows; each must have all ``required`` fields or all of one alternative set."""
    path = Path(path)
    if not path.exists():
        raise HarnessError(f"Training data not found: {path}")
    rows = []
    for row, where in read_rows(path, "jsonl"):  # names file:line of bad UTF-8, bad JSON, a non-object
        options = (required, *alternatives)
        if not isinstance(row, dict) or not any(all(k in row for k in opt) for opt in options):
            want = " or ".join("+".join(opt) for opt in options)
            have = ", ".join(row) if isinstance(row, dict) else type(row).__name__
            raise HarnessError(f"{where}: expected field(s) {want}; found {have}")
        rows.append(row)
    if not rows:
        raise HarnessError(f"{path}: no training rows")
    return rows


def sft_rows(path):
    """SFT data: prompt+completion (loss on the completion), text, or chat messages."""
    rows = read_jsonl(path, ("prompt", "completion"), (("text",), ("messages",)))
    keys = ("prompt", "completion") if "completion" in rows[0] else ("text",) if "text" in rows[0] else ("messages",)
    for lineno, r in enumerate(rows, 1):
        if not all(k in r for k in keys):
            raise HarnessError(f"{path}: row {lineno} has fields {', '.join(r)} but row 1 has {'+'.join(keys)}; "
                               "one SFT file holds one kind of row (prompt+completion, text or messages)")
    return [{k: r[k] for k in keys} for r in rows]


def pair_rows(path, weighted: bool):
    from harness import drop_identical, read_pairs

    pairs, dropped = drop_identical(read_pairs(path, require_weight=weighted))
    if not pairs:
        raise HarnessError(f"{path}: every pair has identical chosen and rejected")
    keys = ("prompt", "chosen", "rejected") + (("weight",) if weighted else ())
    return [{k: p[k] for k in keys} for p in pairs], dropped


def grpo_rows(path):
    """GRPO prompts: ``prompt`` (rendered), plus ``content``/``gold``/``id`` for the judge when present."""
    rows = read_jsonl(path, ("prompt",))
    return [{"prompt": r["prompt"], "content": r.get("content", r["prompt"]), "gold": r.get("gold"),
             "sample_id": str(r.get("id", r.get("sample_id", i)))} for i, r in enumerate(rows)]


# -- hs-dpo -----------------------------------------------------------------


def weighted_dpo_trainer_class():
    """DPOTrainer whose sigmoid loss is weighted per pair (GuardReasoner's HS-DPO).

    TRL 1.16 has no per-sample weight for DPO (``use_weighting`` is WPO's
    model-probability weighting), so this subclass keeps the ``weight`` column
    through TRL's column filter and collator and replaces ``_compute_loss`` by
    the weighted form: mean_i( w_i * -logsigmoid(beta * (chosen_logratio_i -
    rejected_logratio_i)) ), reusing TRL's fused log-prob forward and its
    ``compute_ref_log_probs`` for the reference.
    """
    import torch
    import torch.nn.functional as F
    from trl import DPOTrainer

    class WeightCollator:
        def __init__(self, base):
            self.base = base

        def __call__(self, examples):
            batch = self.base(examples)
            batch["weight"] = torch.tensor([float(e["weight"]) for e in examples], dtype=torch.float32)
            return batch

    class WeightedDPOTrainer(DPOTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if self.loss_types != ["sigmoid"] or self.ld_alpha is not None or self.f_divergence_type != "reverse_kl" \
                    or self.use_weighting:
                raise HarnessError("hs-dpo weights the standard sigmoid DPO loss only (no loss_type/ld_alpha/"
                                   "f_divergence/use_weighting overrides)")
            self.data_collator = WeightCollator(self.data_collator)

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            if "weight" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "weight"]

        def compute_ref_log_probs(self, model, inputs):
            # also reached from TRL's precompute_ref_log_probs pass, whose batches carry the weight column
            return super().compute_ref_log_probs(model, {k: v for k, v in inputs.items() if k != "weight"})

        def _compute_loss(self, model, inputs, return_outputs):
            mode = "train" if self.model.training else "eval"
            weight = inputs["weight"]
            inputs = {k: v for k, v in inputs.items() if k != "weight"}
            completion_mask = inputs["completion_mask"]
            model_kwargs = {k: v for k, v in inputs.items()
                            if k not in {"completion_mask", "ref_chosen_logps", "ref_rejected_logps"}}
            labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
            outputs = model(**model_kwargs, use_cache=False, labels=labels, fused_lm_head=True)
            logps = outputs.log_probs[:, -(completion_mask.size(1) - 1):].sum(dim=1)
            chosen_logps, rejected_logps = logps.chunk(2, dim=0)
            if self.precompute_ref_logps:
                ref_chosen, ref_rejected = inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
            else:
                ref_chosen, ref_rejected = self.compute_ref_log_probs(model, inputs)
            chosen_rewards = self.beta * (chosen_logps - ref_chosen)
            rejected_rewards = self.beta * (rejected_logps - ref_rejected)
            loss = (weight.to(logps.dtype) * -F.logsigmoid(chosen_rewards - rejected_rewards)).mean()
            gather = self.accelerator.gather
            m = self._metrics[mode]
            m["rewards/chosen"].append(gather(chosen_rewards.detach()).mean().item())
            m["rewards/rejected"].append(gather(rejected_rewards.detach()).mean().item())
            m["rewards/margins"].append(gather((chosen_rewards - rejected_rewards).detach()).mean().item())
            m["rewards/accuracies"].append(gather((chosen_rewards > rejected_rewards).float()).mean().item())
            m["logps/chosen"].append(gather(chosen_logps.detach()).mean().item())
            m["logps/rejected"].append(gather(rejected_logps.detach()).mean().item())
            m["weight"].append(gather(weight).mean().item())
            return (loss, outputs) if return_outputs else loss

    return WeightedDPOTrainer


# -- grpo -------------------------------------------------------------------


def judge_reward(judge, parser, target: str = "prompt"):
    """A TRL reward function: the judge's composite score for each completion."""
    from harness import JudgeInput, composite_reward

    def reward(prompts, completions, content=None, gold=None, sample_id=None, **_):
        items = []
        for i, text in enumerate(completions):
            parsed = parser.parse(text)
            items.append(JudgeInput(
                sample_id=str(sample_id[i]) if sample_id else str(i), content=content[i] if content else prompts[i],
                completion=text, reasoning=parsed.reasoning, verdict=parsed.verdict_for(target),
                gold=gold[i] if gold else None, sample_index=i,
            ))
        judgments = judge.judge_batch(items)
        return [composite_reward(j.scores, getattr(judge, "composite", None)) if not j.error and j.scores else 0.0
                for j in judgments]

    reward.__name__ = f"judge_{getattr(judge, 'name', 'reward')}"
    return reward


def load_judge(spec: str):
    from harness import load_judge as load

    return load(spec)


def check_saved_adapter(adapter_dir: Path, expected: int):
    """Refuse to register an adapter file that lacks the trained LoRA tensors.

    Under FSDP an adapter gathered the wrong way is written without its weights
    (found on 2 x H200: a 0.0 MB adapter that `harness eval` then loaded as a
    no-op); a checkpoint must never look trained when it is not.
    """
    from safetensors import safe_open

    files = sorted(Path(adapter_dir).glob("*.safetensors"))
    keys = []
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            keys += [k for k in handle.keys() if "lora_" in k]
    if expected and len(keys) < expected:
        raise HarnessError(f"{adapter_dir}: the saved adapter holds {len(keys)} of the {expected} trained LoRA tensors "
                           f"(files: {', '.join(f.name for f in files) or 'none'}); the training result was not saved "
                           "correctly and is not registered")


FSDP_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")


def gather_fsdp_adapter(trainer) -> dict:
    """The full state dict of the FSDP root on rank 0 (other ranks: {}); every rank must call this (collective).

    Gathered from the root (``model_wrapped``), which holds all 448 LoRA tensors of the 8B on 2 x H200;
    wrapper prefixes are dropped so the names are PEFT's.
    """
    accelerator = trainer.accelerator
    accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    state = clean_fsdp_names(accelerator.get_state_dict(trainer.model_wrapped))
    if accelerator.is_main_process:
        print(f"fsdp: gathered {sum(1 for k in state if 'lora_' in k)} LoRA tensors from the FSDP root",
              file=sys.stderr)
    return state


def write_adapter(peft_model, state: dict, adapter_dir: Path, adapter: str = "default"):
    """PEFT's adapter files (the same names and config ``save_pretrained`` writes) from a gathered state dict.

    Not ``save_pretrained(state_dict=...)``: PEFT 0.21 picks an adapter's tensors by
    walking the model's modules, whose names under FSDP1 carry ``_fsdp_wrapped_module``,
    so it matched none of the 448 gathered tensors and wrote an empty file (2 x H200).
    """
    import copy

    from safetensors.torch import save_file

    tensors = {name.replace(f".{adapter}.", "."): value.detach().cpu().contiguous()
               for name, value in state.items() if "lora_" in name and f".{adapter}." in name}
    adapter_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(adapter_dir / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = copy.deepcopy(peft_model.peft_config[adapter])
    config.inference_mode = True  # as save_pretrained writes it, with the same base class record for a config
    base = peft_model.base_model.model  # without a task type
    mapping = ({"base_model_class": type(base).__name__, "parent_library": type(base).__module__}
               if config.task_type is None else None)
    config.save_pretrained(str(adapter_dir), auto_mapping_dict=mapping)


def clean_fsdp_names(state: dict) -> dict:
    """Parameter names without the wrappers' prefixes (FSDP, activation checkpointing)."""
    out = {}
    for name, value in state.items():
        for prefix in FSDP_PREFIXES:
            name = name.replace(prefix, "")
        out[name] = value
    return out


def shared_dataset(rows: list[dict], folder: Path):
    """The rows as a dataset on disk that every rank of a multi-process run reads.

    TRL's precomputed reference log-probs are written by rank 0 next to the
    dataset's cache files and read back by every rank; an in-memory dataset
    keeps its cache in a temporary folder of each process, so the other ranks
    look for a file only rank 0 has (FileNotFoundError on 2 and 4 GPUs).
    The folder lies inside the checkpoint's own trainer folder.
    """
    from datasets import Dataset, load_from_disk

    dataset = Dataset.from_list(rows)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return dataset
    from accelerate import PartialState

    state = PartialState()
    with state.main_process_first():
        if state.is_main_process:
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            dataset.save_to_disk(str(folder))
    return load_from_disk(str(folder))


def cpu_ddp_arguments() -> dict:
    """Under torchrun/accelerate without a GPU, train data-parallel over gloo.

    transformers leaves several CPU processes un-distributed (each would train on
    all the data) unless it is told to use the CPU and the gloo backend.
    """
    import torch

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return {"use_cpu": True, "ddp_backend": "gloo"}
    return {}


# -- speed levers and throughput -------------------------------------------


def truncate_tokenized(dataset, max_length: int):
    """Keep the first ``max_length`` tokens of each tokenised SFT row (TRL's keep_start), drop rows left without loss."""
    cut = dataset.map(lambda row: {"input_ids": row["input_ids"][:max_length], "labels": row["labels"][:max_length]})
    return cut.filter(lambda row: any(label != -100 for label in row["labels"]))


def grouped_dpo_class(base):
    """``base`` (a DPOTrainer) whose group_by_length sampler measures pairs by their longer side.

    transformers' length-grouped sampler reads ``input_ids``, which a DPO dataset
    does not have (prompt_ids, chosen_ids, rejected_ids), and the columns are
    filtered before the sampler is built, so the lengths are taken here.
    """
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class GroupedDPOTrainer(base):
        def _get_train_sampler(self, train_dataset=None):
            if self.args.train_sampling_strategy != "group_by_length":
                return super()._get_train_sampler(train_dataset)
            data = self.train_dataset
            lengths = [len(p) + max(len(c), len(r)) for p, c, r in
                       zip(data["prompt_ids"], data["chosen_ids"], data["rejected_ids"])]
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=lengths)

    GroupedDPOTrainer.__name__ = base.__name__
    return GroupedDPOTrainer


class TokenCounter:
    """Wraps the training collator and counts real (non-padding) tokens and sequences of every micro-batch."""

    def __init__(self, base):
        self.base, self.tokens, self.sequences = base, 0, 0

    def __getattr__(self, name):
        return getattr(self.base, name)

    def __call__(self, examples):
        batch = self.base(examples)
        if "attention_mask" in batch:  # padded rows (sft without padding_free, dpo: chosen and rejected rows)
            self.tokens += int(batch["attention_mask"].sum())
            self.sequences += int(batch["attention_mask"].size(0))
        else:  # padding-free: one flat row of the examples' own tokens (packed rows hold several samples)
            self.tokens += sum(len(e["input_ids"]) for e in examples)
            self.sequences += sum(len(e.get("seq_lengths") or [0]) for e in examples)
        return batch


#: dense bf16 tensor-core peak, FLOP/s, by device name (NVIDIA data sheets; H100/H200 SXM 989.4 TFLOP/s)
PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989.4e12, "H200": 989.4e12, "GH200": 989.4e12, "A100": 312e12}


def peak_flops() -> tuple[float | None, str]:
    import torch

    if not torch.cuda.is_available():
        return None, "cpu"
    name = torch.cuda.get_device_name()
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None), name


def matmul_params(model) -> tuple[int, int, int]:
    """(N, layers, width) of the model a token passes through: every weight but the input embedding lookup.

    LoRA factors are left out (r 16 adds ~1 %); a tied LM head counts as a matmul;
    4-bit weights count their unpacked size.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    embed = base.get_input_embeddings().weight
    n = 0
    for name, param in base.named_parameters():
        if "lora_" in name or param is embed:
            continue
        state = getattr(param, "quant_state", None)
        n += state.shape.numel() if state is not None else param.numel()
    out = base.get_output_embeddings()
    if out is not None and out.weight is embed:
        n += embed.numel()
    cfg = base.config.get_text_config()
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return n, int(cfg.num_hidden_layers), int(cfg.num_attention_heads * head_dim)


def throughput(trainer, tokens: int, sequences: int, runtime: float, prepare_seconds: float,
               reference_in_step: bool) -> dict:
    """Real tokens/s and model-FLOPs utilisation of the training loop (tokens: all ranks together).

    Model FLOPs per token follow PaLM (Chowdhery et al. 2022, appendix B):
    6 N + 12 L H Q T, with N the weights a token passes through (matmul_params),
    L layers, H Q the attention width and T the mean real sequence length.  6 N
    counts 2 N forward + 4 N backward as for full fine-tuning: LoRA still
    back-propagates through every frozen weight (2 N) but skips their weight
    gradients (2 N), so this is the usual model-FLOPs convention, not the
    hardware's count; recomputation under gradient checkpointing is not counted.
    A DPO reference forward inside the step adds 2 N + 4 L H Q T per token.
    MFU = model FLOPs / train_runtime / the device's dense bf16 peak (PEAK_BF16).
    """
    n, layers, width = matmul_params(trainer.model)
    seq = tokens / sequences if sequences else 0.0
    per_token = 6 * n + 12 * layers * width * seq + ((2 * n + 4 * layers * width * seq) if reference_in_step else 0)
    world = trainer.accelerator.num_processes
    import torch

    peak, device = peak_flops()
    rate = tokens / runtime if runtime > 0 else 0.0
    memory = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
    return {
        "tokens": tokens, "sequences": sequences, "train_runtime_s": round(runtime, 2),
        "prepare_s": round(prepare_seconds, 2), "tokens_per_s": round(rate, 1),
        "flops_per_token": per_token, "device": device, "peak_flops": peak,
        "mfu": round(per_token * rate / (peak * world), 4) if peak and trainer.args.bf16 else None,
        "peak_gpu_gb": round(memory, 2) if memory is not None else None,
    }


# -- the trainer ------------------------------------------------------------


def last_complete_checkpoint(ckpt_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` whose trainer state was written (a kill mid-save leaves a partial one)."""
    done = [d for d in Path(ckpt_dir).glob("checkpoint-*") if (d / "trainer_state.json").exists()
            and d.name.split("-")[-1].isdigit()]
    return str(max(done, key=lambda d: int(d.name.split("-")[-1]))) if done else None


class TRLTrainer(Trainer):
    """One harness training method on top of the matching TRL trainer."""

    def __init__(self, method: str):
        self.method = method

    def check(self, request: TrainRequest) -> None:
        """Config keys and numbers, the parent's base and its files under eval's loading policy."""
        check_config(self.method, request.config)
        parent = resolve_parent(request)
        check_device(request.config, parent)  # before the parent's files, the data and the weights
        check_base(parent, request.config)
        hardware_levers(request.config)  # a GPU lever without its package is refused before any weights load
        parent_policy(parent, request.trust_remote_code, request.allow_unsafe_weights)
        self.read_data(request.data_path)  # a bad data line is reported before any weights load

    def read_data(self, path):
        """The method's training rows (line-numbered errors for a bad file)."""
        if self.method == "sft":
            return sft_rows(path)
        if self.method in ("dpo", "hs-dpo"):
            return pair_rows(path, weighted=self.method == "hs-dpo")
        return grpo_rows(path)

    def train(self, request: TrainRequest) -> TrainResult:
        import torch

        check_config(self.method, request.config)
        config, notes = hardware_levers(request.config)
        for note in notes:
            print(note, file=sys.stderr)
        parent = resolve_parent(request)
        check_base(parent, config)
        out = Path(request.output_dir)
        ckpt_dir = out / "trainer"
        last = last_complete_checkpoint(ckpt_dir) if request.resume else None
        tokenizer, model = load_policy(parent, config, request.trust_remote_code, request.allow_unsafe_weights)
        started = time.time()
        trainer, data_info = self.build(model, tokenizer, parent, config, request.data_path, ckpt_dir)
        # the trained adapter's tensors ("default"; a parent's adapter also has a frozen reference copy)
        lora_tensors = sum(1 for name, _ in trainer.model.named_parameters() if "lora_" in name and ".default." in name)
        prepare_seconds = time.time() - started  # tokenising, and with precompute_ref_log_probs the reference pass
        counter = None
        if self.method != "grpo":  # grpo's batches are prompts; its tokens are generated inside the step
            counter = trainer.data_collator = TokenCounter(trainer.data_collator)
        profiled = parse_profile_steps(config, "training config")
        profiler = step_profiler(*profiled, ckpt_dir) if profiled and trainer.accelerator.is_main_process else None
        if profiler:
            trainer.add_callback(profiler)
        from harness_plugins.train_monitor import attach_monitor

        monitor = attach_monitor(trainer, tokenizer, parent, config, self.method, request.data_path, out, last)
        if config.get("adapter_dtype") == "bf16":
            for name, param in trainer.model.named_parameters():
                if "lora_" in name:
                    param.data = param.data.to(torch.bfloat16)
        try:
            result = trainer.train(resume_from_checkpoint=last)
            initial_step = int(Path(last).name.rsplit("-", 1)[-1]) if last else 0  # checkpoint-N: where it started
        except torch.cuda.OutOfMemoryError:
            raise HarnessError(
                "Out of GPU memory while training. Try quantization: 4bit, a smaller batch_size with more "
                "gradient_accumulation_steps, gradient_checkpointing: true, or a smaller max_length."
            ) from None
        tokens, sequences = (counter.tokens, counter.sequences) if counter else (0, 0)
        if counter and trainer.accelerator.num_processes > 1:  # each rank counted its own batches: sum them
            summed = trainer.accelerator.reduce(torch.tensor([tokens, sequences], device=trainer.accelerator.device),
                                                reduction="sum")
            tokens, sequences = (int(v) for v in summed.tolist())
        adapter_dir = out / "adapter"
        trainer.accelerator.wait_for_everyone()
        if trainer.is_fsdp_enabled:
            # Every rank joins the gather from the FSDP root; rank 0 writes the adapter.  PEFT's FSDP recipe
            # (set FULL_STATE_DICT, then trainer.save_model) gathered from the unwrapped PeftModel under
            # transformers 5 and wrote an adapter without tensors (40 bytes, 2 x H200); check_saved_adapter
            # below refuses such a file.
            state_dict = gather_fsdp_adapter(trainer)
            if trainer.accelerator.is_main_process:
                write_adapter(trainer.accelerator.unwrap_model(trainer.model_wrapped), state_dict, adapter_dir)
                tokenizer.save_pretrained(str(adapter_dir))
        elif trainer.accelerator.is_main_process:  # under `accelerate launch` one process writes the adapter
            trainer.accelerator.unwrap_model(trainer.model).save_pretrained(str(adapter_dir), selected_adapters=["default"])
            tokenizer.save_pretrained(str(adapter_dir))
        if trainer.accelerator.is_main_process:
            check_saved_adapter(adapter_dir, lora_tensors)
        logs = [row for row in trainer.state.log_history if "loss" in row]
        metrics = {
            **{k: v for k, v in result.metrics.items() if isinstance(v, (int, float))},
            **(whole_run_train_loss(float(result.metrics["train_loss"]), initial_step, trainer.state.global_step,
                                    trainer.state.log_history) if last and "train_loss" in result.metrics else {}),
            "global_step": trainer.state.global_step,
            "resumed_from": Path(last).name if last else None,
            "first_log": logs[0] if logs else None,
            "last_log": logs[-1] if logs else None,
            "loss_curve": [[row["step"], row["loss"]] for row in logs],  # [step, loss] per log, for A/B of numerics
            **data_info,
            "throughput": throughput(trainer, tokens, sequences, float(result.metrics["train_runtime"]),
                                     prepare_seconds, reference_in_step=self.method in ("dpo", "hs-dpo")
                                     and not config.get("precompute_ref_log_probs")) if counter else None,
            "levers_dropped": notes,
            **({"profile": profiler.summary or {"error": f"steps {config['profile_steps']} were not reached"}}
               if profiler else {}),
            **({"monitor": monitor.summary()} if monitor else {}),
        }
        if trainer.accelerator.is_main_process:
            (out / "train_metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        return TrainResult(spec=f"hf:{parent['base']}+{adapter_dir.resolve()}", metrics=metrics, adapter_dir=adapter_dir)

    # building one TRL trainer per method
    def build(self, model, tokenizer, parent, config, data_path, ckpt_dir):
        from datasets import Dataset

        peft_config = None if parent["adapter"] else lora_config(config)
        args = self.trl_args(config, ckpt_dir)
        common = dict(model=model, args=args, processing_class=tokenizer, peft_config=peft_config)
        if self.method == "sft":
            from trl import SFTTrainer

            rows = sft_rows(data_path)
            trainer = SFTTrainer(train_dataset=Dataset.from_list(rows), **common)
            if config.get("padding_free") and not config.get("packing") and config.get("max_length"):
                # TRL truncates only when it packs; without packing, truncate here (see trl_args)
                trainer.train_dataset = truncate_tokenized(trainer.train_dataset, int(config["max_length"]))
            return trainer, {"rows": len(rows)}
        if self.method in ("dpo", "hs-dpo"):
            from trl import DPOTrainer

            rows, dropped = pair_rows(data_path, weighted=self.method == "hs-dpo")
            cls = grouped_dpo_class(weighted_dpo_trainer_class() if self.method == "hs-dpo" else DPOTrainer)
            dataset = shared_dataset(rows, ckpt_dir / "pairs_dataset") if config.get("precompute_ref_log_probs") \
                else Dataset.from_list(rows)
            return cls(train_dataset=dataset, **common), {"pairs": len(rows), "identical_dropped": dropped}
        if self.method == "grpo":
            from trl import GRPOTrainer

            from harness import get_registry

            rows = grpo_rows(data_path)
            judge = load_judge(config.get("judge", "heuristic"))
            parser = get_registry().get("parsers", config.get("parser") or parent.get("parser") or "label-line")
            reward = judge_reward(judge, parser)
            return GRPOTrainer(reward_funcs=[reward], train_dataset=Dataset.from_list(rows), **common), {"prompts": len(rows)}
        raise unknown_name("training method", self.method, METHODS)

    def trl_args(self, config, ckpt_dir):
        from trl import DPOConfig, GRPOConfig, SFTConfig

        cls = {"sft": SFTConfig, "dpo": DPOConfig, "hs-dpo": DPOConfig, "grpo": GRPOConfig}[self.method]
        kwargs = {"output_dir": str(ckpt_dir), "report_to": "none", "save_strategy": "steps", "save_steps": 50,
                  "logging_steps": 10, "bf16": use_bf16(config), "save_only_model": False,
                  "disable_tqdm": False}
        for key, value in config.items():
            if key in TRL_NAMES:
                kwargs[TRL_NAMES[key]] = value
            elif key == "group_by_length" and key in METHOD_KEYS[self.method]:
                if value:
                    kwargs["train_sampling_strategy"] = "group_by_length"
            elif key == "packing" and key in METHOD_KEYS[self.method]:
                # best-fit decreasing keeps each sample whole and makes the rows padding-free (position_ids)
                kwargs.update(packing=value, packing_strategy="bfd") if value else None
            elif key in PASSTHROUGH or key in METHOD_KEYS[self.method]:
                kwargs[key] = value
            elif key not in {"base", "lora", "quantization", "trl", "judge", "parser", "adapter_dtype",
                             "attn_implementation", "profile_steps", "monitor"}:
                raise HarnessError(f"training config key '{key}' does not apply to --method {self.method}")
        if self.method == "grpo":
            kwargs.setdefault("num_generations", 4)
            kwargs.setdefault("per_device_train_batch_size", kwargs["num_generations"])
        kwargs.update(cpu_ddp_arguments())
        kwargs.update(config.get("trl") or {})
        if kwargs.get("max_steps") is None:
            kwargs.pop("max_steps", None)
        if kwargs.get("padding_free") and not kwargs.get("packing"):
            kwargs["max_length"] = None  # TRL refuses max_length without packing here; build() truncates instead
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise HarnessError(f"invalid training config for --method {self.method}: {exc}") from None


METHODS = {
    "sft": "supervised fine-tuning on prompt+completion (reasoning SFT, the seed's rsft recipe)",
    "dpo": "direct preference optimisation on a pairs file",
    "hs-dpo": "GuardReasoner's hard-sample DPO: DPO loss weighted by each pair's 'weight'",
    "grpo": "group relative policy optimisation with a judge's composite score as reward",
}


@hookimpl
def register_trainers(register):
    for method, description in METHODS.items():
        register(method, lambda method=method: TRLTrainer(method), description=description)

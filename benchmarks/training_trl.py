"""`harness train` itself (TRL's SFTTrainer / DPOTrainer + PEFT LoRA) on the Llama-3.2-3B
architecture with random weights, timed end to end on a GPU.

benchmarks/training.py times the training step written out by hand, variant by variant;
this script checks the real command path on the same architecture and reports what TRL
reaches with the shipped settings.  Sequence lengths follow benchmarks/training_lengths.json.

    python benchmarks/training_trl.py --tokenizer PATH/tokenizer.json --steps 12 --out DIR
"""

import argparse
import json
import os
import random
import time
from pathlib import Path

LLAMA_3B = dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                num_key_value_heads=8, vocab_size=128256, max_position_embeddings=131072, rope_theta=500000.0,
                rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128009, pad_token_id=128001)
WORDS = ["the", "request", "asks", "for", "help", "with", "a", "task", "that", "is", "safe", "step", "content",
         "user", "harm", "analysis", "because", "no", "risk", "and"]


def lengths(hist, rng, n, cap):
    """Draw n lengths from a {"bin": width, "counts": {start: count}} histogram, capped."""
    starts = [int(k) for k in hist["counts"]]
    weights = list(hist["counts"].values())
    return [min(cap, rng.choices(starts, weights=weights)[0] + rng.randrange(hist["bin"]))
            for _ in range(n)]


def text(rng, n_tokens):
    return " ".join(rng.choice(WORDS) for _ in range(max(1, n_tokens)))


def build_base(directory, tokenizer_file):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, bos_token="<|begin_of_text|>",
                                  eos_token="<|eot_id|>", pad_token="<|end_of_text|>")
    with torch.device("cuda"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_3B)).to(torch.bfloat16)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    del model
    torch.cuda.empty_cache()


def run(method, base, data, steps, batch, home):
    import torch

    from harness.cli import main

    torch.cuda.reset_peak_memory_stats()
    name = f"bench_{method}"
    args = ["train", "--method", method, "--parent", f"hf:{base}", "--data", str(data), "--output", name,
            "--overwrite", "--no-resume", "--set", f"max_steps={steps}", "--set", f"batch_size={batch}",
            "--set", "gradient_checkpointing=true", "--set", "save_steps=100000", "--set", "logging_steps=1",
            "--set", "max_length=1024"]
    start = time.time()
    try:
        main(args)
    except SystemExit as exc:
        if exc.code:
            raise
    wall = time.time() - start
    metrics = json.loads((Path(home) / "checkpoints" / name / "train_metrics.json").read_text())
    return metrics, wall, torch.cuda.max_memory_allocated() / 2**30


def main_cli():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", default=".")
    args = parser.parse_args()
    rng = random.Random(0)
    hist = json.loads((Path(__file__).parent / "training_lengths.json").read_text())
    work = Path("/tmp/trl_bench")
    work.mkdir(exist_ok=True)
    os.environ["HARNESS_HOME"] = str(work / "home")
    build_base(work / "base", args.tokenizer)
    report = {}
    for method, batch in (("sft", 16), ("dpo", 8)):
        n = args.steps * batch
        data = work / f"{method}.jsonl"
        tokens = 0
        with open(data, "w") as fh:
            if method == "sft":
                p, c = lengths(hist["sft"]["prompt"], rng, n, 700), lengths(hist["sft"]["completion"], rng, n, 700)
                for a, b in zip(p, c):
                    fh.write(json.dumps({"prompt": text(rng, a), "completion": text(rng, b)}) + "\n")
                    tokens += min(a + b, 1024)
            else:
                p = lengths(hist["dpo"]["prompt"], rng, n, 500)
                c1, c2 = lengths(hist["dpo"]["completion"], rng, n, 500), lengths(hist["dpo"]["completion"], rng, n, 500)
                for a, b, d in zip(p, c1, c2):
                    fh.write(json.dumps({"prompt": text(rng, a), "chosen": text(rng, b), "rejected": text(rng, d)}) + "\n")
                    tokens += min(a + b, 1024) + min(a + d, 1024)
        metrics, wall, peak = run(method, work / "base", data, args.steps, batch, os.environ["HARNESS_HOME"])
        runtime = float(metrics.get("train_runtime", wall))
        report[method] = {"batch": batch, "steps": metrics.get("global_step"), "tokens": tokens,
                          "train_runtime_s": runtime, "tokens_per_s": tokens / runtime, "peak_gb": peak,
                          "train_loss": metrics.get("train_loss")}
        epoch = {"sft": 6.8e6, "dpo": 12.9e6}[method]  # real tokens in one epoch (benchmarks/training.py)
        report[method]["projected_epoch_min"] = epoch / report[method]["tokens_per_s"] / 60
        print(method, json.dumps(report[method]), flush=True)
    Path(args.out, "training_trl.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main_cli()

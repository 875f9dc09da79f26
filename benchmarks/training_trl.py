"""`harness train` itself with the shipped presets (configs/rsft.yaml, configs/exp_19.yaml) on the
Llama-3.2-3B architecture with random weights, timed on a GPU, one lever at a time.

benchmarks/training.py times the training step written out by hand, variant by variant; this script runs
the real command (`python -m harness train --config PRESET ...`, one process per run, since Liger patches
the model classes for the whole process) on synthetic samples whose lengths follow the real data
(benchmarks/training_lengths.json) and reads the throughput the command records in the checkpoint's
lineage: real (non-padding) tokens/s, model-FLOPs utilisation, peak GPU memory.  Each `--ab` variant is
the same preset with one setting changed, so the table shows what each lever pays.

    python benchmarks/training_trl.py --tokenizer PATH/tokenizer.json --out DIR
    python benchmarks/training_trl.py --tokenizer T --out DIR --ab sft:use_liger_kernel=false \\
        --ab sft:packing=true,attn_implementation=flex_attention --ab dpo:precompute_ref_log_probs=false

Runs stop being started when less than a run's worth of --budget-s is left, so one device call of
9 minutes returns a table.  The table (Markdown, naming the machine) goes to DIR/training_trl.md and
the figures to DIR/training_trl.json.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generation import LLAMA_32_3B
from train_scaling import draw_lengths, read_preset, steady_state, words

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"sft": "configs/rsft.yaml", "dpo": "configs/exp_19.yaml", "hs-dpo": "configs/exp_19.yaml"}
#: real tokens in one epoch (benchmarks/training.py): SFT 11,396 samples, DPO 10,000 pairs
EPOCH = {"sft": (6.8e6, "11,396 samples"), "dpo": (12.9e6, "10,000 pairs"), "hs-dpo": (12.9e6, "10,000 pairs")}


def capped(hist, rng, n, cap):
    """n lengths drawn as train_scaling draws them, capped (the trainer truncates longer rows anyway)."""
    return [min(cap, length) for length in draw_lengths(hist, rng, n)]


def write_data(path, method, n, hist, rng):
    """n synthetic SFT samples or preference pairs with the real length distribution."""
    with open(path, "w") as fh:
        if method == "sft":
            p, c = capped(hist["sft"]["prompt"], rng, n, 700), capped(hist["sft"]["completion"], rng, n, 700)
            for a, b in zip(p, c):
                fh.write(json.dumps({"prompt": words(rng, a), "completion": words(rng, b)}) + "\n")
            return
        p = capped(hist["dpo"]["prompt"], rng, n, 500)
        c1, c2 = capped(hist["dpo"]["completion"], rng, n, 500), capped(hist["dpo"]["completion"], rng, n, 500)
        for a, b, d in zip(p, c1, c2):
            row = {"prompt": words(rng, a), "chosen": words(rng, b), "rejected": words(rng, d)}
            if method == "hs-dpo":
                row["weight"] = round(1 + rng.random() / 2, 3)
            fh.write(json.dumps(row) + "\n")


def build_base(directory, tokenizer_file):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_file, bos_token="<|begin_of_text|>",
                                  eos_token="<|eot_id|>", pad_token="<|end_of_text|>")
    with torch.device("cuda"):
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_32_3B, pad_token_id=128001)).to(torch.bfloat16)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    del model
    torch.cuda.empty_cache()


def preset_batch(method):
    """The preset's micro-batch (samples or pairs), read the way `harness train` reads it."""
    sys.path.insert(0, str(ROOT))
    from harness.train.checkpoint import train_config

    return int(train_config(ROOT / PRESETS[method], method)[1].get("batch_size", 8))


def command(method, base, data, name, steps, overrides):
    """`harness train` with the preset; the trainer also counts real tokens per log (for the steady state)."""
    trl = {**(read_preset(str(ROOT / PRESETS[method])).get("trl") or {}), "include_num_input_tokens_seen": "non_padding"}
    args = [sys.executable, "-m", "harness", "train", "--config", str(ROOT / PRESETS[method]), "--method", method,
            "--parent", f"hf:{base}", "--data", str(data), "--output", name, "--overwrite", "--no-resume",
            "--set", f"max_steps={steps}", "--set", "save_steps=100000", "--set", "logging_steps=1",
            "--set", f"trl={json.dumps(trl)}"]
    for key, value in overrides.items():
        args += ["--set", f"{key}={value}"]
    return args


def parse_ab(specs):
    """``METHOD:KEY=VALUE[,KEY=VALUE]`` -> [(method, {key: value})]."""
    out = []
    for spec in specs:
        method, _, sets = spec.partition(":")
        if method not in PRESETS or not sets:
            raise SystemExit(f"--ab {spec!r}: expected METHOD:KEY=VALUE[,KEY=VALUE] with METHOD in {', '.join(PRESETS)}")
        out.append((method, dict(kv.split("=", 1) for kv in sets.split(","))))
    return out


def row(method, label, overrides, speed, steps, wall):
    tokens, rate = speed["tokens"], speed["tokens_per_s"]
    epoch_tokens, what = EPOCH[method]
    # preparation (tokenising; with precompute_ref_log_probs the reference pass) scales with the data set too
    per_epoch = epoch_tokens / (tokens / (speed["train_runtime_s"] + speed["prepare_s"])) / 60
    return {"method": method, "variant": label, "overrides": overrides, "steps": steps, "tokens": tokens,
            "train_runtime_s": speed["train_runtime_s"], "prepare_s": speed["prepare_s"], "tokens_per_s": rate,
            "mfu": speed["mfu"], "peak_gb": speed["peak_gpu_gb"], "wall_s": round(wall, 1),
            "projected_epoch_min": round(per_epoch, 1), "epoch": what}


def curve_gap(a, b) -> dict | None:
    """Largest and mean |loss difference| over the steps two runs both logged, and the first loss of each."""
    common = sorted(set(dict(a)) & set(dict(b)))
    if not common:
        return None
    da, db = dict(a), dict(b)
    gaps = [abs(da[step] - db[step]) for step in common]
    return {"steps": len(common), "max_abs": max(gaps), "mean_abs": sum(gaps) / len(gaps),
            "first": (da[common[0]], db[common[0]]), "last": (da[common[-1]], db[common[-1]])}


def curve_lines(rows) -> list[str]:
    """Each variant's loss curve against its method's preset run (same rows, same seed)."""
    out = []
    for r in rows:
        preset = next((p for p in rows if p["method"] == r["method"] and p["variant"] == "preset"), None)
        if r["variant"] == "preset" or not preset or not r.get("loss_curve") or not preset.get("loss_curve"):
            continue
        gap = curve_gap(preset["loss_curve"], r["loss_curve"])
        if gap:
            out.append(f"| {r['method']} | {r['variant']} | {gap['steps']} | {gap['first'][0]:.4f} / {gap['first'][1]:.4f} "
                       f"| {gap['last'][0]:.4f} / {gap['last'][1]:.4f} | {gap['max_abs']:.4f} | {gap['mean_abs']:.4f} |")
    return titled_table("Loss curves against the preset run (same rows, same seed; logged every step):",
                        "| method | variant | steps compared | first loss (preset / variant) | last loss | max abs gap | "
                        "mean abs gap |", "|---|---|---:|---:|---:|---:|---:|", out)


def titled_table(title: str, header: str, align: str, rows: list[str]) -> list[str]:
    """Markdown lines of a table after a blank line and its title; nothing when it has no rows."""
    return ["", title, "", header, align, *rows] if rows else []


def profile_lines(rows) -> list[str]:
    """Where the profiled steps' GPU time went (profile_steps runs)."""
    out = []
    for r in rows:
        p = r.get("profile")
        if not p or "error" in p:
            continue
        kinds = ", ".join(f"{k} {v:.3f}" for k, v in p["device_s_by_category"].items())
        idle = "n/a" if p["gpu_idle_share"] is None else f"{100 * p['gpu_idle_share']:.0f}%"
        top = "; ".join(f"{name[:48]} {sec:.3f}" for name, sec, _ in p["top_kernels"][:4])
        out.append(f"| {r['method']} | {r['variant']} | {p['steps_profiled']} | {p['wall_s']:.3f} | "
                   f"{p['gpu_busy_s']:.3f} | {idle} | {p['kernels_per_step']:,.0f} | {kinds} | {top} |")
    return titled_table("Profiled steps (torch.profiler through `profile_steps`; seconds over the profiled steps):",
                        "| method | variant | steps | wall s | GPU busy s | GPU idle | kernels a step | GPU seconds by "
                        "kind | longest kernels (s) |", "|---|---|---|---:|---:|---:|---:|---|---|", out)


def markdown(rows, machine, argv):
    lines = [(f"Machine: {machine}. Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command (repository "
              f"root on the device): `python3 benchmarks/training_trl.py {' '.join(argv)}`"), "",
             ("| method | variant (preset + change) | steps | real tokens | train_runtime | preparation | tokens/s | "
              "tokens/s after step 1 | MFU | peak GB | projected epoch |"), "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
        peak = f"{r['peak_gb']:.1f}" if r["peak_gb"] is not None else "n/a"
        steady = r.get("steady") or {}
        steady = f"{steady['tokens_per_s']:,.0f}" if "tokens_per_s" in steady else "n/a"
        lines.append(f"| {r['method']} | {r['variant']} | {r['steps']} | {r['tokens']:,} | {r['train_runtime_s']:.1f} s "
                     f"| {r['prepare_s']:.1f} s | {r['tokens_per_s']:,.0f} | {steady} | {mfu} | {peak} | "
                     f"{r['projected_epoch_min']} min ({r['epoch']}) |")
    return "\n".join(lines + curve_lines(rows) + profile_lines(rows)) + "\n"


def main_cli():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", help="Llama-3 tokenizer.json (to build the random 3B base)")
    parser.add_argument("--steps", type=int, default=16, help="optimizer steps per run (the first one warms up)")
    parser.add_argument("--methods", default="sft,dpo,hs-dpo", help="preset runs, comma-separated")
    parser.add_argument("--ab", action="append", default=[], metavar="METHOD:KEY=VALUE[,KEY=VALUE]",
                        help="one more run of METHOD's preset with these settings changed (repeatable)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a change applied to every run (default: quantization=null, bf16 LoRA as in issue 17; "
                             "the rsft preset's 4-bit needs bitsandbytes carried)")
    parser.add_argument("--budget-s", type=float, default=520, help="start no run past this many seconds")
    parser.add_argument("--base", help="an existing base model folder instead of building the random 3B one "
                        "(a tiny model checks the script on CPU)")
    parser.add_argument("--out", default=".")
    parser.add_argument("--work", default="/tmp/trl_bench", help="base model, data and HARNESS_HOME (one per "
                        "concurrent instance, e.g. one per GPU)")
    args = parser.parse_args()
    started = time.time()
    common = dict(kv.split("=", 1) for kv in (args.set or ["quantization=null"]))
    runs = [(m, {}) for m in args.methods.split(",") if m] + parse_ab(args.ab)
    hist = json.loads((ROOT / "benchmarks" / "training_lengths.json").read_text())
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    home = work / "home"
    # the working tree's harness first, then what PYTHONPATH had (on the device: the carried wheels, whose entry
    # points register the trainers)
    env = {**os.environ, "HARNESS_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    base = Path(args.base) if args.base else work / "base"
    if not (base / "config.json").exists():
        build_base(base, args.tokenizer)
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    shape = json.loads((base / "config.json").read_text())
    is_3b = (shape.get("hidden_size"), shape.get("num_hidden_layers")) == (LLAMA_32_3B["hidden_size"],
                                                                              LLAMA_32_3B["num_hidden_layers"])
    machine = f"{device} (torch {torch.__version__}, {'Llama-3.2-3B architecture, random weights' if is_3b else base.name})"
    rows, longest = [], 0.0
    for i, (method, overrides) in enumerate(runs):
        if time.time() - started + longest > args.budget_s:
            print(f"skipped (budget): {method} {overrides}", flush=True)
            continue
        batch = int({**common, **overrides}.get("batch_size", preset_batch(method)))
        data = work / f"{method}_{i}.jsonl"
        # the same rows for every run of a method with this batch, so loss curves of two variants compare
        write_data(data, method, args.steps * batch, hist, random.Random(f"{method}:{batch}:{args.steps}"))
        name = f"bench_{i}_{method}"
        t0 = time.time()
        proc = subprocess.run(command(method, base, data, name, args.steps, {**common, **overrides}),
                              env=env, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.time() - t0
        longest = max(longest, wall)
        print(proc.stdout[-2000:], proc.stderr[-3000:] if proc.returncode else "", flush=True)
        if proc.returncode:
            print(f"FAILED ({proc.returncode}): {method} {overrides}", flush=True)
            continue
        metrics = json.loads((home / "checkpoints" / name / "train_metrics.json").read_text())
        label = ", ".join(f"{k}={v}" for k, v in overrides.items()) or "preset"
        rows.append({**row(method, label, {**common, **overrides}, metrics["throughput"], args.steps, wall),
                     "steady": steady_state(metrics), "loss_curve": metrics.get("loss_curve"),
                     "profile": metrics.get("profile")})
        print(json.dumps(rows[-1]), flush=True)
        (Path(args.out) / "training_trl.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
    table = markdown(rows, machine + "; every run: " + ", ".join(f"{k}={v}" for k, v in common.items()), sys.argv[1:])
    Path(args.out, "training_trl.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main_cli()

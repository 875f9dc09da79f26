"""Training scale-out (issue 16, item 2): `harness train` itself at 1, 2 and 4 GPUs, then FSDP on an 8B base.

Every run is the real command, as a user types it (a subprocess; on several GPUs it
relaunches itself under accelerate), on random-weight models built here (speed does not
depend on the values) and synthetic texts drawn from the real length distribution
(benchmarks/training_lengths.json, one word = one Llama-3 token):

* ``sft`` / ``dpo`` at 1, 2 and 4 GPUs: Llama-3.2-3B architecture, the shipped presets
  (configs/rsft.yaml, configs/exp_19.yaml) unchanged but for the step count, logging and a
  token counter. DDP keeps the per-GPU batch, so N GPUs take N times the samples per step.
  Steady state: the trainer logs every ``--warmup`` steps with the time since training
  started and the non-padding tokens seen on all ranks (transformers'
  ``include_num_input_tokens_seen``); tokens/s = tokens of steps warmup+1..steps over their
  time, so loading, compilation and the first steps are left out.
* ``fsdp-lora`` / ``fsdp-qlora``: Llama-3.1-8B architecture with configs/llama8b_fsdp_lora.yaml
  and configs/llama8b_fsdp_qlora.yaml on 2 GPUs, a few steps (that it runs, and its speed).
* ``eval-adapter``: the FSDP-trained adapter through `harness eval` on one GPU (a few prompts).

Where the speed-up falls short the JSON keeps what explains it: per-step time against
one GPU (the share spent waiting: gradient all-reduce and the slowest rank), the per-rank
and global batch, the all-reduce payload (the adapter's size) and the expected
slowest-rank/mean cost of random batches under padding (``imbalance``).

    python benchmarks/train_scaling.py --tokenizer tokenizer.json --data-dir DATA --out OUTDIR   # 4-GPU host
    python benchmarks/train_scaling.py --dry-run --out OUTDIR        # print the commands only
    python benchmarks/train_scaling.py --tiny --gpus 1 --out OUTDIR  # CPU: tiny model, sft+dpo on 1 process
    python benchmarks/train_scaling.py --render OUTDIR/train_scaling.json   # into benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from generation import LLAMA_32_3B, TINY  # noqa: E402  (the same random 3B as the other benchmarks)
from results_md import write_section  # noqa: E402

SECTION = "## Training scale-out through `harness train` (issue 16)"
LLAMA_31_8B = dict(
    hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
    num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=131072,
    rope_theta=500000.0, tie_word_embeddings=False, rms_norm_eps=1e-5, hidden_act="silu",
    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 8192},
    bos_token_id=128000, eos_token_id=128009,
)
PRESETS = {"sft": "configs/rsft.yaml", "dpo": "configs/exp_19.yaml"}
FSDP_PRESETS = {"fsdp-lora": "configs/llama8b_fsdp_lora.yaml", "fsdp-qlora": "configs/llama8b_fsdp_qlora.yaml"}
TARGETS = {2: 1.8, 4: 3.4}
WORDS = ["the", "request", "asks", "for", "help", "with", "a", "task", "that", "is", "safe", "step", "content",
         "user", "harm", "analysis", "because", "no", "risk", "and"]


# -- synthetic data with the real lengths -------------------------------------------


def draw_lengths(hist: dict, rng: random.Random, n: int) -> list[int]:
    """n lengths from a {"bin": width, "counts": {start: count}} histogram (uniform inside a bin)."""
    starts = [int(k) for k in hist["counts"]]
    weights = list(hist["counts"].values())
    return [max(1, rng.choices(starts, weights=weights)[0] + rng.randrange(hist["bin"])) for _ in range(n)]


def words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_data(method: str, path: Path, rows: int, seed: int = 0, scale: float = 1.0) -> list[int]:
    """Write ``rows`` synthetic rows; return each row's tokens as the trainer sees them (pairs: both sides).

    ``scale`` shrinks every length (the tiny CPU run)."""
    hist = json.loads((HERE / "training_lengths.json").read_text())[method]
    rng = random.Random(seed)
    sizes = []
    with open(path, "w") as fh:
        prompts = [max(1, int(n * scale)) for n in draw_lengths(hist["prompt"], rng, rows)]
        if method == "sft":
            for p, c in zip(prompts, [max(1, int(n * scale)) for n in draw_lengths(hist["completion"], rng, rows)]):
                fh.write(json.dumps({"prompt": words(rng, p), "completion": words(rng, c)}) + "\n")
                sizes.append(p + c)
        else:
            chosen = [max(1, int(n * scale)) for n in draw_lengths(hist["completion"], rng, rows)]
            rejected = [max(1, int(n * scale)) for n in draw_lengths(hist["completion"], rng, rows)]
            for p, a, b in zip(prompts, chosen, rejected):
                fh.write(json.dumps({"prompt": words(rng, p), "chosen": words(rng, a),
                                     "rejected": words(rng, b)}) + "\n")
                sizes.append(max(p + a, p + b))  # chosen and rejected are padded to the longer
    return sizes


def imbalance(sizes: list[int], micro: int, accumulation: int, ranks: int, cap: int, draws: int = 2000,
              seed: int = 0) -> float:
    """Expected cost of the slowest rank over the mean rank for random batches, per optimizer step.

    A rank's cost is its ``accumulation`` padded micro-batches (``micro`` rows x the longest, truncated
    at ``cap``; a DPO row is the longer of chosen and rejected); DDP waits for the slowest rank at
    every step, so this is the step time lost to uneven batches (1.0 = none)."""
    if ranks == 1:
        return 1.0
    rng = random.Random(seed)
    slowest = mean = 0.0
    for _ in range(draws):
        costs = [sum(micro * max(min(cap, s) for s in rng.sample(sizes, micro)) for _ in range(accumulation))
                 for _ in range(ranks)]
        slowest += max(costs)
        mean += sum(costs) / ranks
    return slowest / mean


# -- the commands -------------------------------------------------------------------


def read_preset(path: str) -> dict:
    import yaml

    config = yaml.safe_load((ROOT / path).read_text())
    return config.get("train", config)


def train_command(method: str, parent: Path, data: Path, output: str, preset: str, gpus: int | None,
                  steps: int, warmup: int, extra: list[str]) -> list[str]:
    """`harness train` with the preset, changed only in steps, logging, saving and the token counter."""
    trl = {**(read_preset(preset).get("trl") or {}), "include_num_input_tokens_seen": "non_padding"}
    cmd = ["train", "--method", method, "--parent", f"hf:{parent}", "--data", str(data), "--output", output,
           "--config", preset, "--overwrite", "--no-resume", "--set", f"max_steps={steps}",
           "--set", f"logging_steps={warmup}", "--set", "save_steps=100000", "--set", f"trl={json.dumps(trl)}",
           *extra]
    return cmd + (["--gpus", str(gpus)] if gpus else [])


def steady_state(metrics: dict) -> dict:
    """Tokens/s between the first log (end of the warm-up steps) and the last, from train_metrics.json."""
    first, last = metrics.get("first_log") or {}, metrics.get("last_log") or {}
    need = ("train_runtime", "num_input_tokens_seen", "step")
    if not all(k in first and k in last for k in need) or last["step"] <= first["step"]:
        return {"error": "no two logs with train_runtime and num_input_tokens_seen (is logging_steps < max_steps?)"}
    seconds = last["train_runtime"] - first["train_runtime"]
    tokens = last["num_input_tokens_seen"] - first["num_input_tokens_seen"]
    steps = last["step"] - first["step"]
    return {"steady_steps": steps, "steady_seconds": round(seconds, 3), "steady_tokens": int(tokens),
            "tokens_per_s": round(tokens / seconds, 1), "step_seconds": round(seconds / steps, 4),
            "tokens_per_step": round(tokens / steps, 1)}


class Bench:
    """Runs `harness` subprocesses, logging each command and its output, within a wall-clock budget."""

    def __init__(self, out: Path, env: dict, budget: float, dry_run: bool):
        self.out, self.env, self.dry_run = out, env, dry_run
        self.deadline = time.monotonic() + budget
        self.log = open(out / "train_scaling.log", "a")

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def harness(self, args: list[str], env: dict | None = None, timeout: float | None = None) -> dict:
        line = "harness " + " ".join(shlex.quote(a) for a in args)
        print(("$ " if not self.dry_run else "") + line, flush=True)
        if self.dry_run:
            return {"rc": None, "command": line}
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "harness", *args], env={**self.env, **(env or {})}, cwd=ROOT,
                                  capture_output=True, text=True, timeout=timeout or max(30.0, self.left()))
            rc, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, stdout, stderr = 124, exc.stdout or "", (exc.stderr or "") + "\n(timed out: the budget ran out)"
            stdout, stderr = (s.decode() if isinstance(s, bytes) else s for s in (stdout, stderr))
        seconds = time.perf_counter() - started
        self.log.write(f"$ {line}\n# rc {rc}, {seconds:.1f} s\n{stdout[-2000:]}\n{stderr[-6000:]}\n\n")
        self.log.flush()
        result = {"rc": rc, "wall_s": round(seconds, 1), "command": line}
        if rc != 0:
            result["error"] = stderr[-1500:]
        result["stdout"] = stdout
        return result


def build(directory: Path, tokenizer: str, arch: dict, tiny: bool):
    """Random bf16 weights (on the GPU when there is one) and the Llama-3 tokenizer, saved as safetensors."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if (directory / "config.json").exists():
        return
    tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer), bos_token="<|begin_of_text|>",
                                  eos_token="<|eot_id|>", pad_token="<|reserved_special_token_2|>")
    config = LlamaConfig(**{**arch, **(TINY if tiny else {})}, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(directory, safe_serialization=True)
    tok.save_pretrained(directory)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_name() -> str:
    try:
        import torch
    except ImportError:
        return "no torch"
    if not torch.cuda.is_available():
        return "CPU"
    return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"


def has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # noqa: BLE001  missing, or no CUDA library for this torch
        return False
    return True


def adapter_mb(home: Path, name: str) -> float | None:
    files = list((home / "checkpoints" / name / "adapter").glob("*.safetensors"))
    return round(sum(f.stat().st_size for f in files) / 2**20, 1) if files else None


def scaling(bench: Bench, args, work: Path, home: Path, results: dict, cpu: bool):
    """sft and dpo at each GPU count; steady-state tokens/s and what explains the speed-up."""
    model = work / ("tiny3b" if args.tiny else "llama3b")
    quant_ok = bench.dry_run or (has_bitsandbytes() and not cpu)
    for method in [m for m in args.methods.split(",") if m]:
        preset = read_preset(PRESETS[method])
        micro, accumulation = int(preset.get("batch_size", 8)), int(preset.get("gradient_accumulation_steps", 1))
        if args.tiny:
            micro, accumulation = 2, 1
        per_rank = micro * accumulation
        rows = max(args.gpus) * per_rank * args.steps + per_rank
        data = work / f"{method}.jsonl"
        sizes = write_data(method, data, rows, scale=0.05 if args.tiny else 1.0)
        # bf16 base, as issue 17 measured rsft; 4-bit only with --qlora (and bitsandbytes)
        qlora = args.qlora and quant_ok
        extra = [] if qlora or preset.get("quantization") is None else ["--set", "quantization=null"]
        if args.tiny:
            extra += ["--set", "batch_size=2", "--set", "gradient_accumulation_steps=1", "--set", "max_length=64"]
        cap = 64 if args.tiny else int(preset.get("max_length", 1024))
        for n in args.gpus:
            key = f"{method}-{n}gpu"
            if bench.left() < 45 and not bench.dry_run:
                results["stages"][key] = {"skipped": f"time budget ({bench.left():.0f} s left)"}
                continue
            name = f"bench_{method}_{n}"
            cmd = train_command(method, model, data, name, PRESETS[method], None if cpu else n, args.steps,
                                args.warmup, extra)
            stage = bench.harness(cmd)
            stage.pop("stdout", None)
            stage.update({"gpus": n, "per_rank_batch": per_rank, "global_batch": per_rank * n,
                          "overrides": " ".join(extra) or "none",
                          "group_by_length": bool(preset.get("group_by_length")),
                          "imbalance": round(imbalance(sizes, micro, accumulation, n, cap, draws=300 if args.tiny
                                                       else 2000), 3)})
            if stage.get("rc") == 0:
                metrics = json.loads((home / "checkpoints" / name / "train_metrics.json").read_text())
                stage["global_step"] = metrics.get("global_step")
                stage.update(steady_state(metrics))
                stage["allreduce_mb"] = adapter_mb(home, name)
            results["stages"][key] = stage
            print(key, json.dumps({k: v for k, v in stage.items() if k not in ("command", "error")}), flush=True)
    speedups(results["stages"], args.gpus)


def speedups(stages: dict, gpus: list[int]):
    """Speed-up over one GPU, and the share of each step spent waiting, for every method and GPU count."""
    for method in ("sft", "dpo"):
        one = stages.get(f"{method}-1gpu", {})
        for n in gpus:
            st = stages.get(f"{method}-{n}gpu", {})
            if n == 1 or "tokens_per_s" not in one or "tokens_per_s" not in st:
                continue
            st["speedup"] = round(st["tokens_per_s"] / one["tokens_per_s"], 3)
            # same per-rank work at every N: step time beyond one GPU's is waiting (all-reduce, slowest rank)
            st["wait_share"] = round(1 - one["step_seconds"] / st["step_seconds"], 3)


def fsdp_runs(bench: Bench, args, work: Path, home: Path, results: dict, cpu: bool, visible: int):
    """The 8B FSDP presets on 2 GPUs for a few steps, then the adapter through `harness eval` on one GPU."""
    stages = results["stages"]
    if not bench.dry_run and (cpu or visible < 2):
        for key in (*FSDP_PRESETS, "eval-adapter"):
            stages[key] = {"skipped": "FSDP needs 2 or more GPUs"}
        return
    model = work / "llama8b"
    if not bench.dry_run and bench.left() < 150:
        for key in (*FSDP_PRESETS, "eval-adapter"):
            stages[key] = {"skipped": f"time budget ({bench.left():.0f} s left)"}
        return
    if not bench.dry_run:
        started = time.perf_counter()
        build(model, args.tokenizer, LLAMA_31_8B, tiny=args.tiny)
        stages["build-8b"] = {"wall_s": round(time.perf_counter() - started, 1)}
    data = work / "sft.jsonl"
    if not data.exists() and not bench.dry_run:  # the scaling runs were not asked for (--methods dpo or "")
        write_data("sft", data, 2 * args.fsdp_batch * args.fsdp_steps + args.fsdp_batch, scale=0.05 if args.tiny else 1.0)
    trained = None
    for key, preset in FSDP_PRESETS.items():
        if key == "fsdp-qlora" and not bench.dry_run and not has_bitsandbytes():
            stages[key] = {"skipped": "bitsandbytes is not installed"}
            continue
        if bench.left() < 90 and not bench.dry_run:
            stages[key] = {"skipped": f"time budget ({bench.left():.0f} s left)"}
            continue
        name = f"bench_{key.replace('-', '_')}"
        cmd = train_command("sft", model, data, name, preset, 2, args.fsdp_steps, 1,
                            ["--set", f"batch_size={args.fsdp_batch}", "--set", "gradient_accumulation_steps=1"])
        stage = bench.harness(cmd)
        stage.pop("stdout", None)
        stage["per_rank_batch"] = args.fsdp_batch
        if stage.get("rc") == 0:
            metrics = json.loads((home / "checkpoints" / name / "train_metrics.json").read_text())
            stage["global_step"] = metrics.get("global_step")
            stage["train_loss"] = metrics.get("train_loss")
            stage["adapter_mb"] = adapter_mb(home, name)
            stage.update(steady_state(metrics))  # logged every step: steps 2..N
            trained = trained or name
        stages[key] = stage
        print(key, json.dumps({k: v for k, v in stage.items() if k not in ("command", "error")}), flush=True)
    if trained is None and not bench.dry_run:
        stages["eval-adapter"] = {"skipped": "no FSDP run finished"}
        return
    trained = trained or "bench_fsdp_lora"
    cmd = ["eval", "--model", trained, "--task", args.task, "--limit", "4", "--max-new-tokens", "16",
           "--runs-dir", str(work / "runs"), "--no-cache", "--quiet", "--json"]
    if not bench.dry_run and bench.left() < 30:
        stages["eval-adapter"] = {"skipped": f"time budget ({bench.left():.0f} s left)"}
        return
    stage = bench.harness(cmd, env={"CUDA_VISIBLE_DEVICES": "0"}, timeout=bench.left() + 20)
    if stage.get("rc") == 0:
        run = json.loads(stage["stdout"])["runs"][args.task]
        stage["records"] = sum(1 for _ in open(Path(run["dir"]) / "samples.jsonl"))
        stage["adapter"] = trained
    stage.pop("stdout", None)
    stages["eval-adapter"] = stage
    print("eval-adapter", json.dumps({k: v for k, v in stage.items() if k not in ("command", "error")}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", help="Llama-3 tokenizer.json")
    parser.add_argument("--data-dir", help="HARNESS_DATA_DIR (the eval of the trained adapter reads --task there)")
    parser.add_argument("--out", default=".")
    parser.add_argument("--gpus", default="1,2,4", help="GPU counts for the scaling runs (default 1,2,4)")
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per scaling run")
    parser.add_argument("--warmup", type=int, default=2, help="steps left out of the steady state (divides --steps)")
    parser.add_argument("--fsdp-steps", type=int, default=4)
    parser.add_argument("--fsdp-batch", type=int, default=4, help="per-GPU batch of the 8B runs")
    parser.add_argument("--task", default="wildguard")
    parser.add_argument("--budget", type=float, default=540,
                        help="seconds for the whole script (one device call); stages that would not fit are skipped")
    parser.add_argument("--methods", default="sft,dpo", help="scaling runs to make (comma-separated: sft, dpo)")
    parser.add_argument("--qlora", action="store_true", help="keep the preset's 4-bit base (default: bf16)")
    parser.add_argument("--skip-fsdp", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="tiny model and short texts (CPU check of the script)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--render", help="write a train_scaling.json into benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.render:
        return render(json.loads(Path(args.render).read_text()))
    args.gpus = [int(g) for g in str(args.gpus).split(",")]
    if args.steps % args.warmup:
        parser.error("--warmup must divide --steps (the trainer logs every --warmup steps)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("TRAIN_SCALING_WORK", "/tmp/harness-train-scaling"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    env = {**os.environ, "HARNESS_HOME": str(home), "HARNESS_CACHE_DIR": str(work / "cache"),
           "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.data_dir:
        env["HARNESS_DATA_DIR"] = args.data_dir
    bench = Bench(out, env, args.budget, args.dry_run)
    cpu = device_name() in ("CPU", "no torch") and not args.dry_run  # a dry run prints the GPU host's commands
    results = {"device": device_name(), "date": time.strftime("%Y-%m-%d"), "tiny": args.tiny, "steps": args.steps,
               "warmup": args.warmup, "gpus": args.gpus, "bitsandbytes": has_bitsandbytes(), "stages": {}}
    if not args.dry_run:
        import torch

        started = time.perf_counter()
        build(work / ("tiny3b" if args.tiny else "llama3b"), args.tokenizer, LLAMA_32_3B, args.tiny)
        results["stages"]["build-3b"] = {"wall_s": round(time.perf_counter() - started, 1)}
        visible = torch.cuda.device_count()
        results["versions"] = versions()
    else:
        visible = max(args.gpus)
    scaling(bench, args, work, home, results, cpu)
    if not args.skip_fsdp:
        fsdp_runs(bench, args, work, home, results, cpu, visible)
    if not args.dry_run:
        (out / "train_scaling.json").write_text(json.dumps(results, indent=2))
        print(render(results, write=False))


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "trl", "peft", "accelerate", "bitsandbytes"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def render(r: dict, write: bool = True) -> str:
    """The RESULTS.md section: tokens/s and speed-up per method and GPU count, the FSDP runs, the eval."""
    s = r["stages"]
    lines = [SECTION, "",
             f"{r['date']}, {r['device']}"
             + (f" ({', '.join(f'{k} {v}' for k, v in r['versions'].items())})" if r.get("versions") else "")
             + ". `python benchmarks/train_scaling.py --tokenizer tokenizer.json --data-dir DATA --out OUT`: "
             "each row is one `harness train` subprocess (it relaunches itself under accelerate on 2+ GPUs), "
             + ("a tiny Llama (CPU check, --tiny) " if r.get("tiny") else "Llama-3.2-3B architecture ")
             + "with random bf16 weights, synthetic texts with the real lengths "
             "(benchmarks/training_lengths.json), the shipped presets (configs/rsft.yaml, configs/exp_19.yaml) "
             f"with {r['steps']} steps. Steady state: non-padding tokens of all ranks over steps "
             f"{r['warmup'] + 1}-{r['steps']}, from the trainer's own log (the first {r['warmup']} steps, model "
             "loading and process start left out). The per-GPU batch is the preset's at every GPU count.", "",
             "| method | GPUs | batch per GPU / global | tokens/s (steady) | speed-up | target | s/step | "
             "waiting share | slowest/mean rank (random batches) | wall time | exit |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for method in ("sft", "dpo"):
        for n in r["gpus"]:
            st = s.get(f"{method}-{n}gpu")
            if st is None:
                continue
            if "skipped" in st:
                lines.append(f"| {method} | {n} | | | | | | | | | skipped: {st['skipped']} |")
                continue
            tps = f"{st['tokens_per_s']:,.0f}" if "tokens_per_s" in st else ""
            speed = f"**{st['speedup']:.2f}x**" if "speedup" in st else ("1.00x" if n == 1 and tps else "")
            lines.append(
                f"| {method} | {n} | {st.get('per_rank_batch', '')} / {st.get('global_batch', '')} | {tps} | {speed} "
                f"| {str(TARGETS[n]) + 'x' if n in TARGETS else ''} | {st.get('step_seconds', '')} | "
                f"{'' if 'wait_share' not in st else format(st['wait_share'], '.0%')} | {st.get('imbalance', '')} | "
                f"{st.get('wall_s', '')} s | {st.get('rc')} |")
    over = {s[k].get("overrides") for k in s if k.endswith("gpu") and s[k].get("overrides") not in (None, "none")}
    if over:
        lines += ["", f"Changed from the preset besides steps and logging: {'; '.join(sorted(over))}"
                      + (" (a bf16 base: rsft's 4-bit QLoRA runs only with --qlora)." if any("quantization=null" in o for o in over) else ".")]
    allreduce = {s[k].get("allreduce_mb") for k in s if k.endswith("gpu") and s[k].get("allreduce_mb")}
    if allreduce:
        lines += ["", "Waiting share = 1 - (s/step on 1 GPU) / (s/step on N): each GPU does the same work at every N, "
                      "so the extra step time is the gradient all-reduce (the adapter, "
                      f"{', '.join(f'{a} MB' for a in sorted(allreduce))} per step) and waiting for the rank with the "
                      "longest padded batch; the last column is that rank's expected cost over the mean for random "
                      "batches of the real lengths."]
    fsdp = [k for k in (*FSDP_PRESETS, "eval-adapter") if k in s]
    if fsdp:
        lines += ["", "Llama-3.1-8B architecture (random bf16 weights), 2 GPUs, FSDP (configs/accelerate_fsdp.yaml "
                      "settings, launched by `harness train`), a few steps; then the adapter through `harness eval` "
                      "on one GPU:", "",
                  "| run | config | steps | batch per GPU | tokens/s (steps 2 on) | adapter | wall time | exit |",
                  "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
        for key in fsdp:
            st = s[key]
            config = FSDP_PRESETS.get(key, "`harness eval --limit 4`, one GPU")
            if "skipped" in st:
                lines.append(f"| {key} | {config} | | | | | | skipped: {st['skipped']} |")
                continue
            if key == "eval-adapter":
                lines.append(f"| eval of {st.get('adapter', '')} | {config} | | | | {st.get('records', '')} records | "
                             f"{st.get('wall_s', '')} s | {st.get('rc')} |")
                continue
            tps = st.get("tokens_per_s")
            lines.append(f"| {key} | {config} | {st.get('global_step', '')} | {st.get('per_rank_batch', '')} | "
                         f"{'' if tps is None else f'{tps:,.0f}'} | "
                         f"{'' if st.get('adapter_mb') is None else str(st['adapter_mb']) + ' MB'} | "
                         f"{st.get('wall_s', '')} s | {st.get('rc')} |")
    text = "\n".join(lines)
    if write:
        write_section(SECTION, text)
        print(text)
    return text


if __name__ == "__main__":
    main()

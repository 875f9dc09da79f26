"""Scale-out benchmark (issue 16): the real `harness eval` and `harness train` commands on 1 and 2 GPUs.

Every figure is the wall time of a `harness` subprocess, exactly as a user runs
it, on a random-weight Llama-3.2-3B (speed does not depend on the values):

* ``eval-1gpu``: WildGuard's 1,554 prompts x 512 new tokens on one GPU (fills the generation cache).
* ``eval-cached``: the same command with ``--rerun``: every completion comes from the cache.
* ``eval-1gpu-noprobs``: one GPU with ``-o label_probs=false`` (no label-probability scoring pass).
* ``eval-2gpu``: ``--workers 2 --devices 0,1 --no-cache`` (none lost or duplicated is checked).
* ``train-2gpu``: ``harness train --method sft`` with two GPUs visible, which relaunches itself under
  ``accelerate launch --multi_gpu`` (a smoke run of a few steps, not a throughput figure).

    python benchmarks/scaling.py --data-dir DATA --tokenizer tokenizer.json --out OUTDIR
    python benchmarks/scaling.py --render OUTDIR/scaling.json      # into benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generation import build_model  # noqa: E402  (the same random 3B model as the generation benchmark)
from results_md import write_section  # noqa: E402

SECTION = "## Scale-out through the real commands (issue 16)"


def harness(args, env, log):
    """Run ``harness ARGS``; return (seconds, exit code, stdout, stderr tail)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write(f"$ harness {' '.join(args)}\n# rc {proc.returncode}, {seconds:.1f} s\n{proc.stderr[-3000:]}\n")
    log.flush()
    return seconds, proc.returncode, proc.stdout, proc.stderr[-2000:]


def eval_figures(stdout: str, task: str) -> dict:
    run = json.loads(stdout)["runs"][task]
    return {"n": run.get("n"), "run_id": run["run_id"], "dir": run["dir"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--tokenizer")
    parser.add_argument("--out")
    parser.add_argument("--task", default="wildguard")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with a tiny model")
    parser.add_argument("--render")
    args = parser.parse_args()
    if args.render:
        return render(Path(args.render))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path("/tmp/harness-scaling")
    model_dir = work / "model"
    if not (model_dir / "config.json").exists():
        build_model(model_dir, args.tokenizer, tiny=args.tiny)
    env = {**os.environ, "HARNESS_DATA_DIR": args.data_dir, "HARNESS_HOME": str(work / "home"),
           "HARNESS_CACHE_DIR": str(work / "cache"), "PYTHONUNBUFFERED": "1"}
    base = ["eval", "--model", f"hf:{model_dir}", "--task", args.task, "--max-new-tokens", str(args.new_tokens),
            "--temperature", "0.7", "--quiet", "--json"] + (["--limit", str(args.limit)] if args.limit else [])
    results = {"device": device_name(), "date": time.strftime("%Y-%m-%d"), "task": args.task,
               "limit": args.limit, "new_tokens": args.new_tokens, "stages": {}}
    stages = results["stages"]
    with open(out / "scaling.log", "w") as log:
        one = {**env, "CUDA_VISIBLE_DEVICES": "0"} if not args.tiny else env
        for name, extra, stage_env in (
            ("eval-1gpu", ["--runs-dir", str(work / "runs1")], one),
            ("eval-cached", ["--runs-dir", str(work / "runs1"), "--rerun"], one),
            ("eval-1gpu-noprobs", ["--runs-dir", str(work / "runs3"), "--no-cache", "-o", "label_probs=false"], one),
            ("eval-2gpu", ["--runs-dir", str(work / "runs2"), "--no-cache", "--workers", "2"]
             + ([] if args.tiny else ["--devices", "0,1"]), env),
        ):
            seconds, code, stdout, err = harness(base + extra, stage_env, log)
            stage = {"seconds": round(seconds, 1), "rc": code}
            if code == 0:
                stage.update(eval_figures(stdout, args.task))
                stage["records"] = sum(1 for _ in open(Path(stage["dir"]) / "samples.jsonl"))
            else:
                stage["error"] = err
            stages[name] = stage
            print(name, stage, flush=True)
        sft = work / "sft.jsonl"
        rows = json.load(open(Path(args.data_dir) / "wizard101/evaluation/wildguard_full_benchmark.json"))
        with open(sft, "w") as fh:
            for row in rows[:512]:
                fh.write(json.dumps({"prompt": row["text"],
                                     "completion": " 1. The request is judged step by step.\nLabel: safe"}) + "\n")
        seconds, code, _, err = harness(["train", "--method", "sft", "--parent", f"hf:{model_dir}", "--data", str(sft),
                                         "--output", "scaling_sft", "--config", "configs/rsft.yaml", "--set",
                                         "quantization=null", "--set", "max_steps=6", "--set", "batch_size=8",
                                         "--set", "save_steps=1000", "--overwrite"], env, log)
        stages["train-2gpu"] = {"seconds": round(seconds, 1), "rc": code, "stderr_tail": err[-1500:]}
        print("train-2gpu", stages["train-2gpu"], flush=True)
    (out / "scaling.json").write_text(json.dumps(results, indent=2))


def device_name():
    import torch

    if not torch.cuda.is_available():
        return "CPU (dry run)"
    return f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"


def render(path: Path):
    r = json.loads(path.read_text())
    s = r["stages"]
    one, two = s["eval-1gpu"], s["eval-2gpu"]
    speedup = one["seconds"] / two["seconds"] if one.get("rc") == 0 and two.get("rc") == 0 else None
    lines = [SECTION, "",
             f"{r['date']}, {r['device']}, Llama-3.2-3B architecture with random bf16 weights, task {r['task']}"
             f"{' --limit ' + str(r['limit']) if r['limit'] else ''}, {r['new_tokens']} new tokens, temperature 0.7. "
             "Wall time of each `harness` command (model load included), from `python benchmarks/scaling.py "
             "--data-dir DATA --tokenizer tokenizer.json --out OUT` on the device machine.", "",
             "| command | wall time | records | exit |", "| --- | --- | --- | --- |"]
    for name, label in (("eval-1gpu", "`harness eval` on 1 GPU (fills the cache)"),
                        ("eval-cached", "same command, `--rerun`, every completion cached"),
                        ("eval-1gpu-noprobs", "1 GPU, `-o label_probs=false` (no scoring pass)"),
                        ("eval-2gpu", "`--workers 2 --devices 0,1 --no-cache`"),
                        ("train-2gpu", "`harness train --method sft` (6 steps), 2 GPUs visible")):
        st = s.get(name)
        if st is None:
            continue
        lines.append(f"| {label} | {st['seconds']:.1f} s | {st.get('records', '')} | {st['rc']} |")
    if speedup:
        lines += ["", f"Eval speed-up on 2 GPUs: **{speedup:.2f}x** (target 1.9x)."]
    write_section(SECTION, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""What the over-optimisation monitor costs in training time: `harness train` DPO with and without `monitor:`.

Two runs of the real command (`python -m harness train --config configs/exp_19.yaml --method dpo ...`, one
process each) on the same synthetic pairs (benchmarks/training_trl.py's: the real length distribution) and
the same base: the Llama-3.2-3B architecture with random weights on one GPU, or a tiny Llama on CPU with
`--tiny` (a dry run of this script).  The second run adds `--set monitor={...}`: the shipped `demo` task (50
prompts, no data folder), the exp_19 pairs' judge `heuristic` as the proxy and the seed-weighted lexical
heuristic as the other judge, 512 new tokens, greedy, at the default `every` unless `--every` is given.

Random weights never stop early, so every monitored completion runs the full 512 tokens: an upper bound
on a point's cost.  Reported: each run's `train_runtime` (the command's own, which includes the monitor's
points: they run inside the training loop), the measured overhead, the monitor's own seconds per point
and the steady-state overhead at `every`: seconds of one point / (every x seconds of a training step
without the monitor), the cost of one point per `every` steps of a long run (the step-0 point is paid once).

    python benchmarks/train_monitor.py --tokenizer .whl-trl/tokenizer.json --out $OUT --results benchmarks/RESULTS.md
    python benchmarks/train_monitor.py --tiny --out /tmp/tm        # CPU: the mechanics, in about a minute

The table goes to OUT/train_monitor.md (and, with --results, replaces the section of that file named below).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
SECTION = "## Over-optimisation monitor overhead (issue 22)"
PRESET = ROOT / "configs" / "exp_19.yaml"


def monitor_section(args) -> dict:
    section = {"task": "demo", "limit": args.limit, "max_new_tokens": args.max_new_tokens, "proxy": "heuristic",
               "judges": [{"spec": "heuristic:lexical", "options": {"weights": "seed"}}]}
    if args.every:
        section["every"] = args.every
    return section


def command(base, data, name, steps, sets):
    cmd = [sys.executable, "-m", "harness", "train", "--config", str(PRESET), "--method", "dpo", "--parent",
           f"hf:{base}", "--data", str(data), "--output", name, "--overwrite", "--no-resume",
           "--set", f"max_steps={steps}", "--set", "save_steps=100000", "--set", "logging_steps=10"]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    return cmd


def run(label, cmd, env, home, name) -> dict:
    started = time.time()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.time() - started
    print(f"== {label}: exit {proc.returncode} in {wall:.1f} s\n{proc.stdout[-1500:]}"
          + (proc.stderr[-4000:] if proc.returncode else ""), flush=True)
    if proc.returncode:
        raise SystemExit(f"{label} run failed ({proc.returncode}): {' '.join(cmd)}")
    metrics = json.loads((home / "checkpoints" / name / "train_metrics.json").read_text())
    return {"label": label, "wall_s": round(wall, 1), "train_runtime_s": float(metrics["train_runtime"]),
            "steps": metrics["global_step"], "monitor": metrics.get("monitor"),
            "monitor_rows": (home / "checkpoints" / name / "monitor.jsonl").read_text().splitlines()
            if metrics.get("monitor") else None}


def figures(plain: dict, watched: dict, every: int) -> dict:
    summary = watched["monitor"]
    rows = [json.loads(line) for line in watched["monitor_rows"]]
    point_s = [r["seconds"] for r in rows]
    later = point_s[1:] or point_s  # the first point also pays the engine's warm-up
    step_s = plain["train_runtime_s"] / plain["steps"]
    return {
        "overhead_measured": (watched["train_runtime_s"] - plain["train_runtime_s"]) / plain["train_runtime_s"],
        "monitor_seconds": summary["seconds"], "points": summary["points"], "point_seconds": point_s,
        "step_seconds": step_s, "every": every,
        "overhead_steady": (sum(later) / len(later)) / (every * step_s),
    }


def markdown(plain, watched, fig, machine, argv, section) -> str:
    head = (f"{machine}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Command (repository root): "
            f"`python benchmarks/train_monitor.py {' '.join(argv)}`. Monitor: `{json.dumps(section)}`.")
    lines = [head, "", "| run | steps | train_runtime | wall (whole command) | monitor points | monitor seconds |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in (plain, watched):
        m = r["monitor"] or {}
        lines.append(f"| {r['label']} | {r['steps']} | {r['train_runtime_s']:.1f} s | {r['wall_s']:.1f} s | "
                     f"{m.get('points', '-')} | {m.get('seconds', '-')} |")
    lines += ["", f"- measured overhead in train_runtime: {100 * fig['overhead_measured']:.1f} % "
              f"({fig['points']} points in {plain['steps']} steps, the step-0 point included)",
              f"- one point: {', '.join(f'{s:.1f}' for s in fig['point_seconds'])} s; a training step without the "
              f"monitor: {fig['step_seconds']:.3f} s",
              f"- steady-state overhead at every = {fig['every']}: {100 * fig['overhead_steady']:.1f} % "
              "(one later point per `every` steps; target <= 15 %)"]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, body: str):
    text = path.read_text() if path.exists() else ""
    block = f"{SECTION}\n\n{body}"
    if SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + block + (text[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)


def main():
    from harness.train.monitor_config import DEFAULT_EVERY

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", help="Llama-3 tokenizer.json (to build the random 3B base)")
    parser.add_argument("--base", help="an existing base model folder instead of building one")
    parser.add_argument("--tiny", action="store_true", help="CPU dry run: a tiny random Llama, 4 steps, every 2, "
                        "8 monitored prompts of 16 tokens")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps per run (default 100; tiny 4)")
    parser.add_argument("--every", type=int, default=None, help=f"monitor.every (default: the default, {DEFAULT_EVERY})")
    parser.add_argument("--limit", type=int, default=None, help="monitored prompts of the demo task (default 50)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help="monitored tokens (default 512)")
    parser.add_argument("--out", default=".")
    parser.add_argument("--work", default="/tmp/train_monitor_bench")
    parser.add_argument("--results", help="replace the section '" + SECTION + "' of this Markdown file")
    args = parser.parse_args()
    tiny = args.tiny
    args.steps = args.steps or (4 if tiny else 100)
    args.every = args.every or (2 if tiny else None)
    args.limit = args.limit or (8 if tiny else 50)
    args.max_new_tokens = args.max_new_tokens or (16 if tiny else 512)
    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    env = {**os.environ, "HARNESS_HOME": str(home),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    base = Path(args.base) if args.base else work / ("tiny" if tiny else "base3b")
    if not (base / "config.json").exists():
        if tiny:
            from tests.tiny_models import build_tiny_llama

            build_tiny_llama(base)
        else:
            from training_trl import build_base

            build_base(base, args.tokenizer)
    from training_trl import preset_batch, write_data

    batch = preset_batch("dpo")
    data = work / "pairs.jsonl"
    hist = json.loads((HERE / "training_lengths.json").read_text())
    write_data(data, "dpo", args.steps * batch, hist, random.Random(f"monitor:{args.steps}"))
    sets = {"quantization": "null"}
    if tiny:
        sets.update(max_length=128, precompute_ref_batch_size=8)
    section = monitor_section(args)
    plain = run("without monitor", command(base, data, "bench_plain", args.steps, sets), env, home, "bench_plain")
    watched = run("with monitor", command(base, data, "bench_monitor", args.steps,
                                          {**sets, "monitor": json.dumps(section)}), env, home, "bench_monitor")
    import torch

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    shape = json.loads((base / "config.json").read_text())
    machine = f"{device}, {'tiny random Llama' if tiny else 'Llama-3.2-3B architecture, random weights'} " \
              f"({shape.get('hidden_size')} wide, {shape.get('num_hidden_layers')} layers), torch {torch.__version__}"
    fig = figures(plain, watched, args.every or DEFAULT_EVERY)
    body = markdown(plain, watched, fig, machine, sys.argv[1:], section)
    (out / "train_monitor.json").write_text(json.dumps({"machine": machine, "plain": plain, "watched": watched,
                                                        "figures": fig}, indent=2))
    (out / "train_monitor.md").write_text(body)
    if args.results:
        replace_section(Path(args.results), body)
    print(body)


if __name__ == "__main__":
    main()

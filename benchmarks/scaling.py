"""Scale-out benchmark (issue 16): the real `harness eval` command on 1, 2 and 4 GPUs, in one device call.

Every figure is the wall time of a `harness` subprocess, exactly as a user runs
it, on a random-weight Llama-3.2-3B (speed does not depend on the values):

* ``eval-1gpu``: WildGuard's 1,554 prompts x 512 new tokens on one GPU (fills the generation cache).
* ``eval-cached``: the same command with ``--rerun``: every completion comes from the cache.
* ``eval-1gpu-noprobs``: one GPU with ``-o label_probs=false`` (no label probabilities).
* ``eval-2gpu``, ``eval-4gpu``: ``--workers N --devices 0,..,N-1 --no-cache`` (stages for more GPUs than the
  host has are skipped; none lost or duplicated is checked).

The model's files are read once before the first stage, so no stage pays for a cold disk.
On 4 x H100 the whole call takes about 5 minutes.  ``--tiny`` runs the same stages on
CPU with a tiny model (``--workers`` without ``--devices``), to test this script.

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
from generation import build_model
from results_md import write_section

SECTION = "## Scale-out through the real commands (issue 16)"


def harness(args, env, log):
    """Run ``harness ARGS``; return (epoch it was launched, seconds, exit code, stdout, stderr tail)."""
    launched, started = time.time(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    log.write(f"$ harness {' '.join(args)}\n# rc {proc.returncode}, {seconds:.1f} s\n{proc.stderr[-3000:]}\n")
    log.flush()
    return launched, seconds, proc.returncode, proc.stdout, proc.stderr[-2000:]


def breakdown(run_dir: Path, launched: float) -> list[dict]:
    """Each process's stages from the run's manifest, in seconds since the command was launched.

    One row per rank (one for a single-process run): when its process started, when it
    entered ``evaluate``, finished planning, got its first completion (the weights load on
    first use), finished generating; rank 0 also when every rank was done, the shards
    merged and the run scored; with the engine's own split of its generation time.
    """
    manifest = json.loads((run_dir / "manifest.json").read_text())
    lead = manifest.get("timeline", {})
    ranks = manifest.get("topology", {}).get("ranks") or [
        {"rank": 0, "timeline": lead, "load_seconds": manifest["model_info"].get("load_seconds"),
         "import_seconds": manifest["model_info"].get("import_seconds"),
         "generation_timings": manifest["model_info"].get("generation_timings")}]
    rows = []
    for info in ranks:
        timeline = lead if info["rank"] == 0 and lead else info["timeline"]
        offset = timeline["started_at"] - launched
        row = {"rank": info["rank"], "process_start": round(offset, 2),
               **{k: round(offset + v, 2) for k, v in timeline["stages"].items()},
               "load_seconds": info.get("load_seconds"), "import_seconds": info.get("import_seconds")}
        gen = info.get("generation_timings") or {}
        row.update({f"engine_{k}": v for k, v in gen.get("seconds", {}).items()})
        row["decode_steps"], row["batch_sizes"] = gen.get("decode_steps"), gen.get("batch_sizes")
        rows.append(row)
    return rows


def eval_figures(stdout: str, task: str) -> dict:
    run = json.loads(stdout)["runs"][task]
    return {"n": run.get("n"), "run_id": run["run_id"], "dir": run["dir"]}


def stages_for(gpus: int, tiny: bool, work: Path) -> list:
    """(name, extra args, CUDA_VISIBLE_DEVICES or None) of each stage this host can run."""
    runs = lambda name: ["--runs-dir", str(work / name)]  # noqa: E731
    one = None if tiny else "0"
    stages = [("eval-1gpu", runs("runs1"), one),
              ("eval-cached", runs("runs1") + ["--rerun"], one),
              ("eval-1gpu-noprobs", runs("runs-noprobs") + ["--no-cache", "-m", "label_probs=false"], one)]
    for n in (2, 4):
        if tiny or gpus >= n:
            devices = [] if tiny else ["--devices", ",".join(str(i) for i in range(n))]
            stages.append((f"eval-{n}gpu", runs(f"runs{n}") + ["--no-cache", "--workers", str(n)] + devices, None))
    return stages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--tokenizer")
    parser.add_argument("--out")
    parser.add_argument("--task", default="wildguard")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with a tiny model")
    parser.add_argument("--work", default="/tmp/harness-scaling", help="model, runs and cache folder")
    parser.add_argument("--render")
    args = parser.parse_args()
    if args.render:
        return render(Path(args.render))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(args.work)
    if work.exists():  # runs and cache of an earlier call would turn every stage into a cached one
        import shutil

        for name in ("home", "cache") + tuple(p.name for p in work.glob("runs*")):
            shutil.rmtree(work / name, ignore_errors=True)
    model_dir = work / "model"
    if not (model_dir / "config.json").exists():
        build_model(model_dir, args.tokenizer, tiny=args.tiny)
    for file in model_dir.iterdir():  # into the page cache: the first stage must not pay for a cold disk
        with open(file, "rb") as fh:
            while fh.read(1 << 24):
                pass
    env = {**os.environ, "HARNESS_DATA_DIR": args.data_dir, "HARNESS_HOME": str(work / "home"),
           "HARNESS_CACHE_DIR": str(work / "cache"), "PYTHONUNBUFFERED": "1"}
    base = ["eval", "--model", f"hf:{model_dir}", "--task", args.task, "--max-new-tokens", str(args.new_tokens),
            "--temperature", "0.7", "--quiet", "--json"] + (["--limit", str(args.limit)] if args.limit else [])
    base += ["-m", "device=cpu"] if args.tiny else []
    gpus = gpu_count()
    results = {"device": device_name(gpus), "date": time.strftime("%Y-%m-%d"), "task": args.task,
               "limit": args.limit, "new_tokens": args.new_tokens, "stages": {}}
    stages = results["stages"]
    with open(out / "scaling.log", "w") as log:
        for name, extra, visible in stages_for(gpus, args.tiny, work):
            stage_env = env if visible is None else {**env, "CUDA_VISIBLE_DEVICES": visible}
            launched, seconds, code, stdout, err = harness(base + extra, stage_env, log)
            stage = {"seconds": round(seconds, 1), "rc": code}
            if code == 0:
                stage.update(eval_figures(stdout, args.task))
                ids = [json.loads(line)["id"] for line in open(Path(stage["dir"]) / "samples.jsonl") if line.strip()]
                stage["records"], stage["unique"] = len(ids), len(set(ids))
                stage["breakdown"] = breakdown(Path(stage["dir"]), launched)
            else:
                stage["error"] = err
            stages[name] = stage
            print(name, stage, flush=True)
            (out / "scaling.json").write_text(json.dumps(results, indent=2))  # what ran so far, if the call ends


def gpu_count() -> int:
    from harness.evaluate.sharding import cuda_device_count

    return cuda_device_count()


def device_name(gpus: int) -> str:
    if not gpus:
        return "CPU (dry run)"
    import torch

    return f"{gpus} x {torch.cuda.get_device_name(0)}"


LABELS = (("eval-1gpu", "`harness eval` on 1 GPU (fills the cache)"),
          ("eval-cached", "same command, `--rerun`, every completion cached"),
          ("eval-1gpu-noprobs", "1 GPU, `-o label_probs=false`"),
          ("eval-2gpu", "`--workers 2 --devices 0,1 --no-cache`"),
          ("eval-4gpu", "`--workers 4 --devices 0,1,2,3 --no-cache`"))
TARGETS = {"eval-2gpu": 1.9, "eval-4gpu": 3.6}


def render(path: Path) -> str:
    r = json.loads(path.read_text())
    s = r["stages"]
    lines = [SECTION, "",
             f"{r['date']}, {r['device']}, Llama-3.2-3B architecture with random bf16 weights, task {r['task']}"
             f"{' --limit ' + str(r['limit']) if r['limit'] else ''}, {r['new_tokens']} new tokens, temperature 0.7. "
             "Wall time of each `harness` command (process start and model load included), from "
             "`python benchmarks/scaling.py --data-dir DATA --tokenizer tokenizer.json --out OUT` in one device call.",
             "", "| command | wall time | records (unique) | speed-up over 1 GPU | exit |", "| --- | --- | --- | --- | --- |"]
    one = s.get("eval-1gpu", {})
    notes = []
    for name, label in LABELS:
        st = s.get(name)
        if st is None:
            continue
        speedup = ""
        if name in TARGETS and st.get("rc") == 0 and one.get("rc") == 0:
            speedup = f"{one['seconds'] / st['seconds']:.2f}x (target {TARGETS[name]}x)"
        records = f"{st['records']} ({st['unique']})" if "records" in st else ""
        lines.append(f"| {label} | {st['seconds']:.1f} s | {records} | {speedup} | {st['rc']} |")
    if one.get("rc") == 0 and s.get("eval-1gpu-noprobs", {}).get("rc") == 0:
        cost = one["seconds"] - s["eval-1gpu-noprobs"]["seconds"]
        notes.append(f"Label probabilities cost {cost:.1f} s of {one['seconds']:.1f} s on 1 GPU.")
    if s.get("eval-cached", {}).get("rc") == 0:
        notes.append(f"Cache-complete re-run: {s['eval-cached']['seconds']:.1f} s (target 3 s).")
    text = "\n".join(lines + ([""] + notes if notes else []) + timeline_table(s))
    write_section(SECTION, text)
    print(text)
    return text


def timeline_table(stages: dict) -> list[str]:
    """Where each command's time went, per process, in seconds since the command was launched."""
    rows = [(name, label, st) for name, label in LABELS if (st := stages.get(name)) and st.get("breakdown")]
    if not rows:
        return []
    fmt = lambda v: "" if v is None else f"{v:.1f}"  # noqa: E731
    out = ["", "Where the time goes (seconds since the command was launched; from each rank's timeline in the "
           "run's manifest, `harness/evaluate/timeline.py`; engine columns are seconds spent in each stage of "
           "generation, decode = what prefill, CUDA-graph capture and label capture leave of it):", "",
           "| command | rank | process up | planned | first completion | generated | all ranks done | scored | "
           "command end | imports + weights load | capture | prefill | decode (steps, ms/step) | labels | batches |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for name, label, st in rows:
        for r in st["breakdown"]:
            steps = r.get("decode_steps")
            per_step = (f", {1000 * r['engine_decode'] / steps:.1f}" if steps and r.get("engine_decode") else "")
            decode = f"{fmt(r.get('engine_decode'))} ({steps}{per_step})" if steps else fmt(r.get("engine_decode"))
            load = ("" if r.get("load_seconds") is None
                    else f"{fmt(r.get('import_seconds'))} + {fmt(r['load_seconds'] - (r.get('import_seconds') or 0))}")
            out.append(f"| {label if r['rank'] == 0 else ''} | {r['rank']} | {fmt(r['process_start'])} | "
                       f"{fmt(r.get('planned'))} | {fmt(r.get('first_completion'))} | {fmt(r.get('generated'))} | "
                       f"{fmt(r.get('ranks_waited'))} | {fmt(r.get('scored'))} | "
                       f"{fmt(st['seconds']) if r['rank'] == 0 else ''} | {load} | "
                       f"{fmt(r.get('engine_capture'))} | {fmt(r.get('engine_prefill'))} | {decode} | "
                       f"{fmt(r.get('engine_labels'))} | {' '.join(map(str, r.get('batch_sizes') or []))} |")
    return out


if __name__ == "__main__":
    main()

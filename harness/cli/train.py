"""``harness pairs``, ``harness train`` and ``harness pipeline`` (issue 5).

``pairs`` samples k completions per prompt through ``harness eval`` (so they
are cached, resumable runs), judges them, and writes TRL-format pairs.
``train`` runs a registered trainer and registers the adapter as a named
checkpoint with its lineage, so ``harness eval --model NAME`` loads it.
``pipeline`` chains eval (parent) -> pairs -> train -> eval (child) -> compare,
skipping each step whose outputs exist, so a killed pipeline resumes.

Heavy libraries are imported inside the commands: this module loads at CLI start.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from harness.cli.options import BATCH_SIZE, COUNT, FINITE, Number, POSITIVE, SEED
from harness.errors import HarnessError
from harness.train.pair_guards import MAX_COPY_EXCESS, MAX_COPY_RATE, MAX_LENGTH_RATIO


@click.command()
@click.option("--model", required=False, help="Checkpoint name or spec to sample from (e.g. exp_18).")
@click.option("--task", required=False, help="Task whose prompts are sampled.")
@click.option("--samples", "k", type=Number(int, min=2), default=4, show_default=True, help="Completions per prompt (k).")
@click.option("--judge", default=None,
              help="Judge spec(s) scoring each completion, comma-separated (needed by reasoning-quality): the first "
                   "picks the pairs, every judge's scores are recorded in each pair.")
@click.option("--strategy", type=click.Choice(["hard-samples", "reasoning-quality"]), default="hard-samples",
              show_default=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Label-stratified subset of N prompts.")
@click.option("--temperature", type=Number(float, min=0), default=0.8, show_default=True)
@click.option("--max-new-tokens", type=POSITIVE, default=512, show_default=True)
@click.option("--seed", type=SEED, default=0, show_default=True, help="Generation seed.")
@click.option("--batch-size", type=BATCH_SIZE, default="auto", show_default=True)
@click.option("--gamma", type=FINITE, default=0.5, show_default=True, help="hard-samples: weight slope.")
@click.option("--pair-seed", type=SEED, default=42, show_default=True, help="hard-samples: which correct/incorrect pair.")
@click.option("--min-margin", type=FINITE, default=0.1, show_default=True, help="reasoning-quality: reward margin.")
@click.option("--any-verdict", is_flag=True, help="reasoning-quality: also pair completions with a wrong verdict.")
@click.option("--consensus", is_flag=True,
              help="Keep a pair only when every --judge prefers chosen over rejected by its margin.")
@click.option("--consensus-margin", default=None, metavar="M[,M...]",
              help="With --consensus: the margin each judge needs, one for all or one per judge in --judge order "
                   "(default: --min-margin).")
@click.option("--max-copy-rate", type=float, default=MAX_COPY_RATE, show_default=True,
              help="Drop pairs whose chosen copies more than this share of its words from the content "
                   "(harness.copy_rate). Real GuardReasoner-1B reasoning copies a median 0.04 (max 0.32 of 1,539 "
                   "traces); a copy of the content ~1.0. Negative values are refused; 1 turns it off.")
@click.option("--max-copy-excess", type=float, default=MAX_COPY_EXCESS, show_default=True,
              help="Drop pairs whose chosen copies more of the content than rejected by more than this: one quoted "
                   "4-word phrase in an 80-word analysis is 0.05, two real traces differ by up to ~0.1.")
@click.option("--max-length-ratio", type=float, default=MAX_LENGTH_RATIO, show_default=True,
              help="Drop pairs whose chosen has more than this many times rejected's words (longer is a known "
                   "reward hack); the seed's 63 pairs range 0.5-2.63, all kept at 3.")
@click.option("--max-chosen-words", type=int, default=None,
              help="Drop pairs whose chosen reasoning has more words (default: no limit; --max-new-tokens bounds it).")
@click.option("--no-safeguards", is_flag=True, help="Write the strategy's pairs unfiltered (no copy or length filters).")
@click.option("--from-hard-samples", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Build from the seed's hard_samples_*.json instead of sampling (hard-samples strategy).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Pairs JSONL (default pairs/MODEL-TASK-STRATEGY.jsonl); stats go beside it.")
@click.option("--eval-tasks", default=None,
              help="Tasks the trained model will be evaluated on: stop if their prompts overlap --task's (see harness overlap).")
@click.option("--max-overlap", type=COUNT, default=0, show_default=True,
              help="With --eval-tasks: eval items allowed to overlap (exactly or nearly) before stopping.")
@click.option("--overlap-threshold", type=Number(float, min=0, max=1, min_open=True), default=0.8, show_default=True,
              help="With --eval-tasks: Jaccard similarity from which a prompt is a near-duplicate.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def pairs(model, task, k, judge, strategy, limit, temperature, max_new_tokens, seed, batch_size, gamma,
          pair_seed, min_margin, any_verdict, consensus, consensus_margin, max_copy_rate, max_copy_excess,
          max_length_ratio, max_chosen_words, no_safeguards, from_hard_samples, output, eval_tasks, max_overlap,
          overlap_threshold, data_dir, runs_dir, quiet):
    """Sample k completions per prompt, judge them and write TRL preference pairs.

    \b
    Examples:
      harness pairs --model exp_18 --task guardreasoner_test_5k --limit 1000 --samples 4 --judge heuristic --strategy hard-samples --eval-tasks wildguard
      harness pairs --model exp_18 --task combined_test --samples 4 --judge heuristic --strategy reasoning-quality --min-margin 0.2
      harness pairs --model exp_18 --task combined_test --samples 4 --judge heuristic,llm-judge:exp_18 --consensus --consensus-margin 0.1,0.05 --strategy reasoning-quality
      harness pairs --from-hard-samples ../shared/data/wizard101/exp18/hard_samples_exp18.json -o pairs/exp18.jsonl
    """
    from harness.train.pairs import (
        build_pairs,
        check_pairs_output,
        groups_from_seed_hard_samples,
        write_pairs,
    )
    from harness.train.pair_guards import Safeguards, check_number, check_safeguards, parse_margins
    from harness.train.pipeline import build_pairs_from_run, eval_run, judge_list, pair_stats_text

    specs = judge_list(judge)
    if specs:  # known judges, arguments and options, before any sampling
        from harness.judge.runner import check_judge_specs

        check_judge_specs(specs)
    check_number("--min-margin", min_margin, 0.0)
    check_number("--gamma", gamma, 0.0)
    guards = None
    if not no_safeguards:
        guards = Safeguards(consensus, parse_margins(consensus_margin), max_copy_rate, max_copy_excess,
                            max_length_ratio, max_chosen_words)
        check_safeguards(guards, len(specs))
    elif consensus or consensus_margin:
        raise HarnessError("--no-safeguards turns --consensus off: give one or the other")
    options = ({"gamma": gamma, "seed": pair_seed} if strategy == "hard-samples"
               else {"min_margin": min_margin, "require_correct": not any_verdict})
    if from_hard_samples:
        if strategy != "hard-samples":
            raise HarnessError("--from-hard-samples holds no judge scores; use --strategy hard-samples")
        out = Path(output or "pairs/" + Path(from_hard_samples).stem + ".jsonl")
        check_pairs_output(out, [from_hard_samples])
        if consensus:
            raise HarnessError("--from-hard-samples holds no judge scores: --consensus needs a judged run")
        built, stats = build_pairs(groups_from_seed_hard_samples(Path(from_hard_samples)), strategy, options, guards)
        stats["source"] = str(from_hard_samples)
        write_pairs(built, stats, out, [from_hard_samples])
        click.echo(pair_stats_text(stats, out))
        return
    if not model or not task:
        raise HarnessError("harness pairs needs --model and --task (or --from-hard-samples FILE)")
    if k < 2:
        raise HarnessError("--samples must be at least 2 to form pairs")
    out = Path(output or f"pairs/{model.replace('/', '_').replace(':', '_')}-{task}-{strategy}.jsonl")
    check_pairs_output(out, [p for p in (task, model.partition(":")[2]) if p and Path(p).is_file()])
    if eval_tasks:
        from harness.analysis.overlap import OverlapSettings, gate_tasks

        gate_tasks(task, [t.strip() for t in eval_tasks.split(",") if t.strip()], max_overlap=max_overlap,
                   settings=OverlapSettings(threshold=overlap_threshold), report_path=out.with_suffix(".overlap.jsonl"),
                   train_limit=limit, train_seed=seed, data_dir=data_dir, progress=not quiet)
    run = eval_run(model, task, samples=k, limit=limit, temperature=temperature, max_new_tokens=max_new_tokens,
                   seed=seed, judge=judge, batch_size=batch_size, data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)
    stats = build_pairs_from_run(run, strategy, judge, options, out, guards)
    click.echo(pair_stats_text(stats, out))


# -- train ------------------------------------------------------------------------


@click.command()
@click.option("--method", default=None, metavar="METHOD",
              help="A registered trainer: sft, dpo, hs-dpo, grpo or one a plugin adds (default: the config's "
                   "train.method; `harness plugins` lists them).")
@click.option("--parent", required=True,
              help="Checkpoint name or model spec to start from (the TRL trainers need hf:BASE[+ADAPTER]).")
@click.option("--data", required=True, type=click.Path(dir_okay=False),
              help="JSONL: prompt+completion (sft), prompt/chosen/rejected[/weight] (dpo, hs-dpo), prompt (grpo).")
@click.option("--output", "name", required=True, help="Name to register the trained checkpoint under.")
@click.option("--overwrite", is_flag=True, help="Replace an existing checkpoint of that name (and its files).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="YAML training config (configs/rsft.yaml, configs/exp_19.yaml, ...); its 'train' section is used.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override one config key (JSON values).")
@click.option("--no-resume", is_flag=True, help="Start over instead of resuming from the last checkpoint.")
@click.option("--trust-remote-code", is_flag=True, help="RISK: runs Python code shipped with the parent checkpoint.")
@click.option("--allow-unsafe-weights", is_flag=True, help="RISK: loads pickle (.bin) parent weights, which can execute code.")
@click.option("--gpus", type=POSITIVE, default=None,
              help="GPUs to train on (one process each, DDP via accelerate); default: every visible GPU.")
@click.option("--distributed", type=click.Choice(["ddp", "fsdp"]), default=None,
              help="ddp: a model copy per GPU (default); fsdp: the base sharded over the GPUs (an 8B base, "
                   "LoRA or QLoRA; needs 2+ GPUs). Default: the config's train.distributed, else ddp.")
def train(method, parent, data, name, overwrite, config_file, overrides, no_resume, trust_remote_code,
          allow_unsafe_weights, gpus, distributed):
    """Train with a registered trainer (built in: LoRA on TRL) and register the result as a named checkpoint.

    Interrupted training resumes from its last checkpoint when the same command
    runs again.  On a host with several visible GPUs it re-executes itself under
    `accelerate launch --multi_gpu --num_processes N` (N = --gpus, default all);
    `--gpus 1` pins it to one GPU.  `--distributed fsdp` (or `distributed: fsdp` in
    the config) shards the base over the GPUs instead.  Several hosts: run
    `accelerate launch` yourself (README, "Scaling out").

    A `monitor: {task, limit, judges, every}` section (dpo, hs-dpo, grpo) watches for
    over-optimisation: before step 1 and every N optimizer steps it generates on a
    held-out task subset from the model being trained, judges it with the training
    reward (the proxy) and the other judges, and writes monitor.jsonl beside the
    checkpoint (proxy, judges, accuracy/F1, log-ratio to the parent, length, copy
    rate, distinct-n).  Rule: a point shows gaming when, against the first point on
    the same samples, the proxy's mean rises (95% paired-bootstrap interval above 0)
    while another judge's composite or accuracy falls (interval below 0); it warns,
    and with `stop: true` stops training (README, "Does the child game its judge?").

    \b
    Examples:
      harness train --method dpo --parent exp_18 --data pairs/exp18.jsonl --output exp_19 --config configs/exp_19.yaml
      harness train --method sft --parent hf:unsloth/Llama-3.2-3B-Instruct --data sft.jsonl --output my_rsft --config configs/rsft.yaml
      harness train --method hs-dpo --parent exp_18 --data pairs.jsonl --output exp_19b --set beta=0.2 --set epochs=2
      harness train --method sft --parent exp_18 --data sft.jsonl --output my_rsft --gpus 2
      harness train --method sft --parent exp_18 --data sft.jsonl --output probe --config configs/rsft.yaml --set max_steps=8 --set profile_steps=4-6
      harness train --method dpo --parent exp_18 --data pairs.jsonl --output exp_19 --config configs/exp_19.yaml --set 'monitor={"task": "wildguard", "judges": ["heuristic:lexical"], "every": 100}'
      harness train --method sft --parent hf:meta-llama/Llama-3.1-8B-Instruct --data sft.jsonl --output rsft_8b --config configs/llama8b_fsdp_qlora.yaml --gpus 2
      accelerate launch --num_processes 2 -m harness train --method dpo --parent exp_18 --data pairs.jsonl --output exp_19
    """
    from harness.cli.evaluate import strip_options
    from harness.config import parse_key_values
    from harness.train.checkpoint import train_checkpoint, train_config
    from harness.train.launch import distributed_mode, relaunch_if_needed

    method, config = train_config(config_file, method)
    overridden = parse_key_values(overrides, "--set")
    config.update(overridden)
    for key in overridden:  # errors about an overridden key must not point at the file's line
        getattr(config, "key_lines", {}).pop(key, None)
    mode = distributed_mode(config, distributed)
    relaunch_if_needed(gpus, strip_options(click.get_current_context().find_root().obj["argv"], {"--gpus": True}),
                       echo=lambda msg: click.echo(msg, err=True), distributed=mode)
    entry = train_checkpoint(method, parent, data, name, config, overwrite=overwrite, resume=not no_resume,
                             trust_remote_code=trust_remote_code, allow_unsafe_weights=allow_unsafe_weights)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    m = entry["lineage"]["metrics"]
    click.echo(f"Registered '{name}': {entry['spec']}")
    click.echo(f"  steps {m.get('global_step')}, train_loss {m.get('train_loss')}, "
               f"resumed from {m.get('resumed_from') or 'scratch'}; use: harness eval --model {name} --task ...")
    speed = m.get("throughput")
    if speed:  # real (non-padding) tokens; MFU per the trainer's model-FLOPs definition
        mfu = f"{100 * speed['mfu']:.1f}% of the {speed['device']} bf16 peak" if speed.get("mfu") is not None else "n/a"
        click.echo(f"  {speed['tokens']:,} real tokens in {speed['train_runtime_s']} s: {speed['tokens_per_s']:,.0f} "
                   f"tokens/s, MFU {mfu} (preparation {speed['prepare_s']} s)")
    watch = m.get("monitor")
    if watch and watch.get("first"):  # the over-optimisation monitor (harness/train/monitor.py)
        first, last = watch["first"], watch["last"]
        click.echo(f"  monitor: {watch['points']} points in {watch['file']} ({watch['seconds']} s); proxy "
                   f"{first['proxy']:.3f} -> {last['proxy']:.3f}, accuracy {first['accuracy']:.3f} -> "
                   f"{last['accuracy']:.3f}; gaming: {watch['gaming_steps'] or 'none'}"
                   + (f"; stopped at step {watch['stopped_at']}" if watch["stopped_at"] is not None else ""))
    profile = m.get("profile")
    if profile and "error" in profile:
        click.echo(f"  profile: {profile['error']}")
    elif profile:
        idle = "n/a (no GPU)" if profile["gpu_idle_share"] is None else f"{100 * profile['gpu_idle_share']:.0f}%"
        kinds = ", ".join(f"{k} {v:.2f} s" for k, v in profile["device_s_by_category"].items()) or "no GPU kernels"
        click.echo(f"  profile of steps {profile['steps_profiled']}: {profile['wall_s']:.2f} s, GPU idle {idle}; "
                   f"{kinds}; {profile['kernels_per_step']:,.0f} kernels a step; trace: "
                   f"{entry['lineage']['metrics'].get('profile_trace', profile['trace'])}")


# -- pipeline ---------------------------------------------------------------------


@click.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Retrain even if the checkpoint exists.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
@click.option("--runs-dir", type=click.Path(file_okay=False), default=None)
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option("--dry-run", is_flag=True, help="Print the plan (steps, commands, outputs, what is cached); run nothing.")
def pipeline(config_file, overwrite, data_dir, runs_dir, quiet, dry_run):
    """Eval the parent, build pairs, train, eval the child, compare: one command.

    Each step is skipped when its outputs exist, so running the same command
    after a kill resumes.  State and pairs go to $HARNESS_HOME/pipelines/NAME/
    (or the config's 'workdir'); runs to the run store.  --dry-run prints the
    steps, the command each stands for, its outputs and whether a re-run skips it.

    \b
    Config keys (YAML; see configs/exp_19.yaml, configs/exp_19_cpu.yaml):
      name         the child checkpoint to train and register (e.g. exp_19)
      parent       the checkpoint it starts from (registry name or hf:BASE[+ADAPTER])
      description  text for the child's registry entry
      pairs        task, limit, samples (k), temperature, max_new_tokens, seed,
                   judge, strategy (hard-samples|reasoning-quality), options,
                   batch_size, safeguards: sample the parent, build pairs
      train        method (sft|dpo|hs-dpo|grpo) and training keys (harness train --help)
      eval         tasks, limit, samples, temperature, max_new_tokens, seed, judge,
                   batch_size: the parent and child evaluations
      overlap      {max: N}: train/eval prompt-overlap gate (default: none shared)
      capability   tasks, limit, seed, batch_size: lm-eval deltas child vs parent
      workdir      where pipeline.json and the pairs go

    \b
    Example config:
      name: my_child
      parent: exp_18
      pairs: {task: guardreasoner_test_5k, limit: 100, samples: 4, judge: heuristic}
      train: {method: dpo, epochs: 1, beta: 0.1, learning_rate: 5.0e-6}
      eval: {tasks: [wildguard], limit: 200}
    With `train.monitor` configured, its 'monitor' step checks the training
    monitor against `train.monitor.bounds` (default: no gaming point) and the
    command exits with code 3 when they are exceeded, after the other steps ran.
    A `criteria: {file, allow_self_certified, signs}` section checks each
    parent/child comparison against a criteria file (refusing a criterion scored
    by the judge that built the pairs unless allow_self_certified) and bounds the
    signs of reward hacking (max_copy_rate_increase, max_length_ratio,
    max_distinct_drop, max_judge_disagreement): exit code 3 when one fails.

    \b
    Examples:
      harness pipeline configs/exp_19.yaml --dry-run
      harness pipeline configs/exp_19.yaml
      HARNESS_DATA_DIR=../shared/data harness pipeline configs/exp_20.yaml --runs-dir runs
    """
    from harness.train.pipeline import run_pipeline

    if dry_run:
        from harness.train.pipeline import load_pipeline_config
        from harness.train.pipeline_plan import pipeline_plan, render_plan

        cfg = load_pipeline_config(config_file)
        click.echo(render_plan(cfg, pipeline_plan(cfg, overwrite=overwrite, config_file=config_file)))
        return
    run_pipeline(config_file, overwrite=overwrite, data_dir=data_dir, runs_dir=runs_dir, quiet=quiet, echo=click.echo)

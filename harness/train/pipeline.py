"""The retraining pipeline: eval the parent, build pairs, train, eval the child, compare.

Each step is a plain library call (:func:`harness.evaluate.runner.evaluate`,
:func:`harness.train.checkpoint.train_checkpoint`,
:func:`harness.analysis.compare.compare_runs`); a step whose outputs exist is
skipped, so a killed pipeline resumes.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from harness.config import check_keys, where_of
from harness.errors import HarnessError
from harness.train.checkpoint import read_config, train_checkpoint
from harness.train.pair_guards import judge_list

PIPELINE_KEYS = {"name", "parent", "description", "pairs", "train", "eval", "workdir", "overlap", "capability",
                 "criteria"}
PAIRS_KEYS = {"task", "limit", "samples", "temperature", "max_new_tokens", "seed", "judge", "strategy", "options",
              "batch_size", "safeguards"}
SAFEGUARD_KEYS = {"consensus", "consensus_margin", "max_copy_rate", "max_copy_excess", "max_length_ratio",
                  "max_chosen_words"}
EVAL_KEYS = {"tasks", "limit", "samples", "temperature", "max_new_tokens", "seed", "judge", "batch_size"}
CAPABILITY_KEYS = {"tasks", "limit", "seed", "batch_size"}


def eval_run(model: str, task: str, *, samples=1, limit=None, temperature=0.7, max_new_tokens=512, seed=0,
             judge=None, batch_size="auto", data_dir=None, runs_dir=None, quiet=False):
    """Run (or resume, or find) the evaluation of ``model`` on ``task`` and return its Run."""
    from harness.evaluate.runner import EvalRequest, evaluate
    from harness.interfaces.model import GenerationSettings
    from harness.tasks import get_task

    settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature, samples=samples, seed=seed,
                                  batch_size=str(batch_size))
    judges = judge_list(judge)
    [result] = evaluate(EvalRequest(model, [get_task(task)], settings, limit=limit, judges=judges, progress=not quiet,
                                    data_dir=data_dir, runs_dir=runs_dir))
    return result.run


def run_judgments(run, judge_spec: str | None):
    """The judgments of ``judge_spec`` that count for ``run`` (see :mod:`harness.store.judgments`), or None."""
    from harness.store.judgments import read_judgments

    return read_judgments(run, judge_spec) if judge_spec else None


def safeguards_from_config(section, n_judges: int, where: str):
    """The pipeline's ``pairs.safeguards`` mapping as checked Safeguards (defaults for keys left out)."""
    from harness.train.pair_guards import Safeguards, check_safeguards, parse_margins

    section = section or {}
    if not isinstance(section, dict):
        raise HarnessError(f"{where}: pairs.safeguards must be a mapping ({', '.join(sorted(SAFEGUARD_KEYS))})")
    check_keys(f"{where}: pairs.safeguards", section, SAFEGUARD_KEYS)
    defaults = Safeguards()
    margin = section.get("consensus_margin")
    guards = Safeguards(
        consensus=bool(section.get("consensus", False)),
        margins=parse_margins(",".join(map(str, margin)) if isinstance(margin, list) else margin,
                              f"{where}: pairs.safeguards.consensus_margin"),
        **{k: section.get(k, getattr(defaults, k))
           for k in ("max_copy_rate", "max_copy_excess", "max_length_ratio", "max_chosen_words")})
    check_safeguards(guards, n_judges, f"{where}: pairs.safeguards")
    return guards


def build_pairs_from_run(run, strategy, judge_spec, options, output: Path, guards=None) -> dict:
    """Pairs from a judged run: the first judge of ``judge_spec`` picks, every judge's scores are kept.

    ``guards`` (:class:`harness.train.pair_guards.Safeguards`) filters the pairs
    (consensus, copying, length); the stats say what it dropped and why.
    """
    from harness.store.judgments import read_judgments
    from harness.train.pairs import (
        NEEDS_JUDGE,
        build_pairs,
        groups_from_run_records,
        write_pairs,
    )

    specs = judge_list(judge_spec)
    if strategy in NEEDS_JUDGE and not specs:
        raise HarnessError(f"strategy '{strategy}' needs judge scores: pass --judge (e.g. --judge heuristic)")
    judged = [read_judgments(run, spec) for spec in specs]
    keys = [j.identity.key for j in judged]
    if len(set(keys)) != len(keys):
        raise HarnessError(f"--judge {judge_spec}: a judge is named twice (identities {', '.join(keys)})")
    groups = groups_from_run_records(run.read_samples(),
                                     judges=[(j.identity.key, j.scores, j.summary.composite) for j in judged]
                                     or None)
    pairs, stats = build_pairs(groups, strategy, options, guards=guards, judges=keys)
    stats.update(run_id=run.id, judge=judge_spec, judge_identity=keys[0] if keys else None, judge_identities=keys)
    write_pairs(pairs, stats, output)
    return stats


class Pipeline:
    """The state file of one pipeline: which steps ran, were skipped, and why."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.path = workdir / "pipeline.json"
        from harness.store.files import read_json_file

        self.state = read_json_file(self.path, missing={"steps": {}})
        if not isinstance(self.state.get("steps"), dict):
            from harness.store.files import damaged

            raise damaged(self.path, "no 'steps' mapping")

    def record(self, step: str, status: str, **info):
        self.state["steps"][step] = {"status": status, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                     **info}
        from harness.store.files import write_json_atomic

        self.workdir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, self.state)
        print(f"[pipeline] {step}: {status}" + (f" ({info['reason']})" if "reason" in info else ""), file=sys.stderr)


def load_pipeline_config(path) -> dict:
    """A pipeline config, checked before any step runs; errors name the file and line."""
    from harness.train.checkpoint import check_method

    config = read_config(path)
    check_keys(str(path), config, PIPELINE_KEYS)
    for key in ("name", "parent", "pairs", "train"):
        if key not in config:
            raise HarnessError(f"{path}: missing '{key}' (a pipeline needs name, parent, pairs, train)")
    check_keys(f"{config.where('pairs')}: pairs", config["pairs"], PAIRS_KEYS)
    check_keys(f"{config.where('eval')}: eval", config.get("eval") or {}, EVAL_KEYS)
    if not isinstance(config["train"], dict):
        raise HarnessError(f"{config.where('train')}: 'train' must be a mapping of training settings")
    eval_tasks = (config.get("eval") or {}).get("tasks")
    if eval_tasks is not None and not (isinstance(eval_tasks, list) and all(isinstance(t, str) and t.strip()
                                                                           for t in eval_tasks)):
        raise HarnessError(f"{config['eval'].where('tasks') if hasattr(config['eval'], 'where') else path}: "
                           f"eval.tasks must be a list of task names, got {eval_tasks!r}")
    check_keys(f"{config.where('capability')}: capability", config.get("capability") or {}, CAPABILITY_KEYS)
    from harness.config import check_name

    try:
        check_name(config["name"], "name")
        if ":" in config["name"] or "+" in config["name"]:
            raise HarnessError(f"name '{config['name']}': a checkpoint name has no ':' or '+' (e.g. exp_19)")
    except HarnessError as exc:
        raise HarnessError(f"{config.where('name')}: {exc}") from None
    if not isinstance(config["pairs"], dict):
        raise HarnessError(f"{config.where('pairs')}: 'pairs' must be a mapping (task, samples, judge, ...)")
    safeguards_from_config(config["pairs"].get("safeguards"), len(judge_list(config["pairs"].get("judge"))),
                           where_of(config["pairs"], "safeguards", str(path)))
    if "task" not in config["pairs"]:
        raise HarnessError(f"{config.where('pairs')}: pairs.task is missing (the task whose prompts are sampled)")
    if not config["train"].get("method"):
        raise HarnessError(f"{config.where('train')}: train.method is missing (a registered trainer: sft, dpo, "
                           "hs-dpo, grpo or a plugin's)")
    try:
        check_method(config["train"]["method"])
    except HarnessError as exc:
        raise HarnessError(f"{config['train'].where('method')}: {exc}") from None
    from harness.train.monitor_config import parse_monitor

    judge = str(config["pairs"].get("judge") or "heuristic").split(",")[0].strip()
    parse_monitor(config["train"], config["train"]["method"], judge, where=f"{path}: train")  # before any step runs
    from harness.train.pipeline_criteria import parse_criteria, refuse_early

    refuse_early(config, parse_criteria(config, str(path)), str(path))
    return config


def pair_stats_text(stats: dict, output: Path) -> str:
    lines = [f"{stats['pairs']} pairs from {stats['prompts']} prompts ({stats['completions']} completions) -> {output}"]
    lines += [f"  skipped {n}: {reason}" for reason, n in stats["skipped"].items()]
    guarded = stats.get("safeguards")
    if guarded:
        lines.append(f"  safeguards kept {guarded['kept']} of {guarded['before']} pairs"
                     + (f" (judges {', '.join(guarded['judges'])})" if guarded["judges"] else ""))
        lines += [f"  dropped {n}: {reason}" for reason, n in guarded["dropped"].items()]
        if guarded.get("copy_filter_not_applied"):
            lines.append(f"  copy filters not applied: {guarded['copy_filter_not_applied']}")
    if stats["weight"]:
        w = stats["weight"]
        lines.append(f"  weight min {w['min']:.3f} mean {w['mean']:.3f} max {w['max']:.3f}")
    return "\n".join(lines)


def run_pipeline(config_file, *, overwrite=False, data_dir=None, runs_dir=None, quiet=False, echo=print):
    """Run every step of the pipeline in ``config_file`` that has not already produced its outputs."""
    from harness.checkpoints.registry import load_registry

    cfg = load_pipeline_config(config_file)
    name, parent = cfg["name"], cfg["parent"]
    pc, ec = cfg["pairs"], cfg.get("eval") or {}
    from harness.train.pipeline_plan import workdir_for

    workdir = workdir_for(cfg)  # $HARNESS_HOME/pipelines/NAME unless the config names a workdir
    state = Pipeline(workdir)
    eval_tasks = ec.get("tasks") or [pc["task"]]
    eval_kwargs = dict(samples=ec.get("samples", 1), limit=ec.get("limit"), temperature=ec.get("temperature", 0.7),
                       max_new_tokens=ec.get("max_new_tokens", 512), seed=ec.get("seed", 0), judge=ec.get("judge"),
                       batch_size=ec.get("batch_size", "auto"), data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)

    from harness.analysis.overlap import gate_settings, gate_tasks

    max_overlap, overlap_settings = gate_settings(cfg.get("overlap"), str(config_file))
    gate_tasks(pc["task"], eval_tasks, report_path=workdir / "overlap.jsonl", max_overlap=max_overlap,
               settings=overlap_settings, train_limit=pc.get("limit"), train_seed=pc.get("seed", 0),
               eval_limit=ec.get("limit"), eval_seed=ec.get("seed", 0), data_dir=data_dir, progress=not quiet)
    state.record("overlap", "done", file=str(workdir / "overlap.jsonl"), max=max_overlap)

    parent_runs = {t: eval_run(parent, t, **eval_kwargs).id for t in eval_tasks}
    state.record("eval_parent", "done", runs=parent_runs)

    pairs_path = workdir / "pairs.jsonl"
    stats_path = workdir / "pairs.stats.json"
    if pairs_path.exists() and stats_path.exists():
        state.record("pairs", "skipped", reason=f"{pairs_path} exists", file=str(pairs_path))
    else:
        strategy = pc.get("strategy", "hard-samples")
        run = eval_run(parent, pc["task"], samples=pc.get("samples", 4), limit=pc.get("limit"),
                       temperature=pc.get("temperature", 0.8), max_new_tokens=pc.get("max_new_tokens", 512),
                       seed=pc.get("seed", 0), judge=pc.get("judge"), batch_size=pc.get("batch_size", "auto"),
                       data_dir=data_dir, runs_dir=runs_dir, quiet=quiet)
        guards = safeguards_from_config(pc.get("safeguards"), len(judge_list(pc.get("judge"))), str(config_file))
        stats = build_pairs_from_run(run, strategy, pc.get("judge"), pc.get("options") or {}, pairs_path, guards)
        echo(pair_stats_text(stats, pairs_path))
        if stats["pairs"] == 0:
            raise HarnessError(f"no preference pairs were built ({stats['skipped']}); see {stats_path}")
        state.record("pairs", "done", file=str(pairs_path), run=run.id, pairs=stats["pairs"])

    existing = load_registry().get(name)
    if existing and "planned" not in existing and not overwrite:
        state.record("train", "skipped", reason=f"checkpoint '{name}' is registered", spec=existing["spec"])
    else:
        section = copy.copy(cfg["train"])
        method = section.pop("method")
        entry = train_checkpoint(method, parent, pairs_path, name, section, overwrite=overwrite,
                                 description=cfg.get("description"))
        state.record("train", "done", spec=entry["spec"], metrics=entry["lineage"]["metrics"])
        existing = entry
    failed = monitor_step(cfg, existing, state, echo)

    child_runs = {t: eval_run(name, t, **eval_kwargs).id for t in eval_tasks}
    state.record("eval_child", "done", runs=child_runs)

    from harness.analysis.compare import compare_runs, render_text
    from harness.store.runs import RunStore

    store = RunStore(runs_dir)
    for t in eval_tasks:
        echo(render_text(compare_runs(store, parent_runs[t], child_runs[t])))
    state.record("compare", "done", pairs={t: [parent_runs[t], child_runs[t]] for t in eval_tasks})
    if "capability" in cfg:
        capability_step(cfg["capability"] or {}, name, parent, state, runs_dir=runs_dir, quiet=quiet, echo=echo)
    from harness.train.pipeline_criteria import CriteriaFailed, criteria_step, parse_criteria

    section = parse_criteria(cfg, str(config_file))
    unmet = criteria_step(section, {t: (parent_runs[t], child_runs[t]) for t in eval_tasks}, state, runs_dir,
                          echo) if section else []
    if unmet:
        raise CriteriaFailed(f"pipeline '{name}': criteria failed: {'; '.join(unmet + failed)} (see {state.path}, "
                             "step 'criteria')")
    if failed:
        from harness.train.monitor import MonitorFailed

        raise MonitorFailed(f"pipeline '{name}': the training monitor shows signs of reward hacking beyond its "
                            f"bounds: {'; '.join(failed)} (see {state.path}, step 'monitor')")


def monitor_step(cfg, entry: dict, state: Pipeline, echo=print) -> list[str]:
    """The pipeline's monitor criteria: the trained checkpoint's monitor summary against ``train.monitor.bounds``.

    Returns the bounds exceeded (the pipeline then exits 3 after its other steps, as a failed criterion does).
    """
    from harness.train.monitor import bound_violations
    from harness.train.monitor_config import parse_monitor

    config = parse_monitor(cfg["train"], cfg["train"]["method"])
    if config is None:
        return []
    summary = (entry.get("lineage") or {}).get("monitor")
    failed = bound_violations(summary, config.bounds)
    for line in failed:
        echo(f"monitor: FAIL {line}")
    if not failed:
        last = summary["last"]
        echo(f"monitor: pass ({summary['points']} points; last step {last['step']}: proxy {last['proxy']:.3f}, "
             f"accuracy {last['accuracy']:.3f}, copy rate {last['copy_rate']:.3f})")
    state.record("monitor", "fail" if failed else "pass", file=summary and summary.get("file"), failed=failed,
                 bounds=asdict(config.bounds))
    return failed


def capability_step(section: dict, child: str, parent: str, state: Pipeline, *, runs_dir=None, quiet=False,
                    echo=print):
    """The pipeline's ``capability:`` step: lm-eval deltas of the child against the parent."""
    from harness.analysis import capability
    from harness.interfaces.model import GenerationSettings

    settings = GenerationSettings(seed=section.get("seed", 0), batch_size=str(section.get("batch_size", "auto")))
    report = capability.capability_check(child, parent, section.get("tasks") or capability.DEFAULT_SUITE,
                                         limit=section.get("limit", capability.DEFAULT_LIMIT), settings=settings,
                                         runs_dir=runs_dir, progress=not quiet)
    echo(capability.render_text(report))
    state.workdir.mkdir(parents=True, exist_ok=True)
    from harness.store.outputs import write_text

    write_text(state.workdir / "capability.json", json.dumps(report.to_dict(), indent=2), "capability")
    state.record("capability", "done", file=str(state.workdir / "capability.json"), runs=report.runs)

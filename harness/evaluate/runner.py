"""Running a model over tasks: generate, parse, record each sample, then score.

Running the same request again finds each run by its plan's key: an unfinished
run is resumed where it stopped, a finished one is reported as is, or, under a
policy it was not yet scored with, re-scored from its stored completions
without loading the model.  The model
is loaded once, and only when some task still needs generating; a new run is
created only after its model loaded, so a failed load leaves no run behind.
A model may defer its weights to first use once its input is checked (``hf``
does), so a run whose every completion is in the generation cache loads none.
"""

from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass, field

from harness.errors import HarnessError
from harness.evaluate.plan import RunPlan, manifest_for, plan_run, run_id_for
from harness.evaluate.sharding import (
    Topology,
    clear_markers,
    mark_done,
    sample_cost,
    shard_assignment,
    wait_for_ranks,
)
from harness.evaluate.timeline import Timeline
from harness.interfaces.model import GenerationRequest, GenerationSettings
from harness.records import Completion, SampleRecord
from harness.store.runs import Run, RunStore, now_iso
from harness.tasks import templates


@dataclass
class EvalRequest:
    """One ``harness eval``: a model over one or more tasks with one set of settings."""

    model_name: str
    tasks: list
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    policy: str | None = None
    limit: int | None = None
    options: dict = field(default_factory=dict)
    judges: list = field(default_factory=list)
    judge_options: dict = field(default_factory=dict)
    rerun: bool = False
    use_cache: bool = True
    progress: bool = True
    data_dir: str | None = None
    runs_dir: str | None = None
    exclude: object = None  # harness.analysis.overlap.ExcludeList from --exclude-ids


@dataclass
class EvalResult:
    task: str
    run: Run
    metrics: dict


def evaluate(request: EvalRequest, topology: Topology | None = None, log=None) -> list[EvalResult]:
    """Plan every task first (so bad input fails before any model loads), then generate what is missing.

    On a non-zero data-parallel rank the results are empty: rank 0 merges and scores.
    """
    topology = topology or Topology()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    timeline = Timeline()
    timeline.mark("evaluate")
    store = RunStore(request.runs_dir)
    plans = [plan_run(request.model_name, task, request.settings, policy=request.policy, limit=request.limit,
                      data_dir=request.data_dir, options=request.options, exclude=request.exclude)
             for task in request.tasks]
    if request.judges:
        from harness.judge.runner import check_judge_specs

        check_judge_specs(request.judges, request.judge_options)
    timeline.mark("planned")
    loaded = {"model": None}
    results = []
    try:
        for plan in plans:
            key_lock = store.key_lock(plan.key) if topology.rank == 0 else nullcontext()
            with key_lock:  # two identical evals started together: the second is refused, not a duplicate
                evaluate_plan(request, plan, store, topology, timeline, loaded, results, log)
    finally:
        if loaded["model"] is not None:
            loaded["model"].close()
    return results


def evaluate_plan(request, plan, store, topology, timeline, loaded: dict, results, log):
    """Find, resume or create the run of one plan, generate what it lacks and score it.

    ``loaded["model"]`` is the model, loaded once for every plan (closed by the caller).
    """
    if topology.rank > 0 and loaded["model"] is None:
        # Load while rank 0 loads: rank 0 creates the run only once its own model is up, so a
        # worker that waited for the run first would load after it, one load after the other.
        loaded["model"] = load_model_for(None, plan, store)
    run, done = find_run(store, plan, rerun=request.rerun, topology=topology)
    if run and len(done) == len(plan.samples):
        if topology.rank > 0:
            return  # rank 0 scores
        metrics = run.read_metrics(plan.policy)
        if metrics is None:
            log(f"Scoring {run.id} under policy {plan.policy} from its stored completions.")
            metrics = finalize(plan, run)
        else:
            log(f"{run.id} is already complete (use --rerun for a fresh run).")
    else:
        if loaded["model"] is None:
            loaded["model"] = load_model_for(run, plan, store)
        if run is None:
            run = create_run(store, plan, topology)
        elif done:
            log(f"Resuming {run.id}: {len(done)}/{len(plan.samples)} samples already recorded.")
        with run.owned() if topology.rank == 0 else nullcontext():  # `harness runs` tells live from killed
            metrics = execute(plan, run, done, loaded["model"], progress=request.progress, use_cache=request.use_cache,
                              topology=topology, timeline=timeline)
        if metrics is None:  # a non-zero rank
            return
    if request.judges:
        from harness.judge.runner import judge_run

        judged = judge_run(run, request.judges, progress=request.progress, options=request.judge_options)
        metrics = {**metrics, "judges": judged["judges"]}
    results.append(EvalResult(plan.task.name, run, metrics))


def load_model_for(run: Run | None, plan: RunPlan, store: RunStore):
    """Load the plan's model; an existing unfinished run it was for is marked failed with the reason."""
    from harness.checkpoints.loading import load_model

    try:
        return load_model(plan.model_name, plan.entry.get("options", {}))
    except BaseException as exc:
        if run is not None:
            store.update(run.id, status="failed")
            run.update_manifest(failure=f"model load failed: {type(exc).__name__}: {exc}")
        raise


def build_record(sample, task, rendered, generations, parser) -> SampleRecord:
    """One samples.jsonl record: the input, gold, every completion parsed, and correctness."""
    completions = []
    cue = parser.label_cue(task.target)
    for gen in sorted(generations, key=lambda g: g.sample_index):
        comp = Completion(sample_index=gen.sample_index, seed=gen.seed, text=gen.text, verdict=None, status="fail",
                          n_prompt_tokens=gen.n_prompt_tokens, n_new_tokens=gen.n_new_tokens,
                          seconds=round(gen.seconds, 4), error=gen.error, warnings=gen.warnings)
        if gen.label_probs is not None and cue is not None and gen.label_cue == cue.key:
            comp.label_probs = gen.label_probs
        if gen.text is None:
            comp.parse_error = gen.error or "no completion"
        else:
            parsed = parser.parse(gen.text)
            verdict = parsed.verdict_for(task.target)
            status, error = parsed.status, parsed.error
            if status == "ok" and verdict is None:
                status, error = "fail", f"no verdict for target '{task.target}'"
            comp.verdict = verdict if status == "ok" else None
            comp.status, comp.reasoning, comp.parse_error = status, parsed.reasoning, error
        comp.correct = comp.status == "ok" and comp.verdict == sample.gold
        completions.append(comp)
    return SampleRecord(id=sample.id, task=task.name, gold=sample.gold, completions=completions, prompt=sample.prompt,
                        response=sample.response, category=sample.category, rendered_prompt=rendered,
                        gold_raw=sample.gold_raw, seconds=round(sum(c.seconds for c in completions), 4))


def find_run(store: RunStore, plan: RunPlan, rerun=False, topology=None) -> tuple[Run | None, list[SampleRecord]]:
    """The unfinished or finished run with this plan's key and its records, or (None, []).

    In a data-parallel run only rank 0 creates the run; the other ranks wait for it.
    """
    import time

    topology = topology or Topology()
    if topology.rank > 0:
        deadline = time.time() + 600
        while (existing := store.find_by_key(plan.key)) is None:
            if time.time() > deadline:
                raise HarnessError(f"rank {topology.rank}: rank 0 did not create the run within 10 minutes")
            time.sleep(0.2)
    else:
        existing = None if rerun else store.find_by_key(plan.key)
    if not existing:
        return None, []
    run = store.open_run(existing["run_id"])
    if existing["status"] == "failed" and run.manifest.no_output and topology.rank == 0:
        return None, []  # its model produced nothing: retried as a fresh run
    return run, run.read_samples()


def create_run(store: RunStore, plan: RunPlan, topology=None) -> Run:
    return store.create_run(run_id_for(plan), plan.key, manifest_for(plan))


def execute(plan: RunPlan, run: Run, done: list[SampleRecord], model, *, progress=True, use_cache=True,
            topology=None, timeline: Timeline | None = None) -> dict | None:
    """Generate the samples not yet in ``run``, append each record as it completes, then score.

    With several ranks, each generates its share; rank 0 merges and returns the
    metrics, the other ranks return None.  Each process's :class:`Timeline` goes
    into the manifest (rank 0's as ``timeline``, every rank's under ``topology``).
    """
    topology = topology or Topology()
    timeline = Timeline(timeline.started_at, dict(timeline.stages)) if timeline else Timeline()  # one per task
    store = run.store
    parser = plan.task.output_parser(plan.parser)
    template = templates.resolve_template(plan.template)
    done_ids = {r.id for r in done}
    mine = plan.samples
    if topology.distributed:  # split by estimated work, from the whole plan, so every rank agrees
        costs = [sample_cost(templates.render(template, s.prompt, s.response), plan.settings.max_new_tokens,
                             plan.settings.samples) for s in plan.samples]
        ranks = shard_assignment(costs, topology.world_size)
        mine = [s for s, rank in zip(plan.samples, ranks) if rank == topology.rank]
    pending = [s for s in mine if s.id not in done_ids]
    rendered = {s.id: templates.render(template, s.prompt, s.response) for s in pending}
    by_id = {s.id: s for s in pending}
    k = plan.settings.samples
    cue = parser.label_cue(plan.task.target)
    requests = [
        GenerationRequest(s.id, rendered[s.id], i, plan.settings.seed_for(s.id, i),
                          content=templates.content_of(s.prompt, s.response), response=s.response, label_cue=cue)
        for s in pending for i in range(k)
    ]
    lead = topology.rank == 0
    if lead:
        resumed_at = run.manifest.resumed_at or []
        run.update_manifest(model_info=model.describe(), resumed_at=resumed_at + [now_iso()] if done else resumed_at)
        store.update(run.id, status="running")
        clear_markers(run.dir)

    from tqdm import tqdm

    n_mine_done = len(mine) - len(pending)
    bar = tqdm(total=len(mine), initial=n_mine_done, unit="sample", file=sys.stderr, dynamic_ncols=True,
               desc=f"{plan.model_name} on {plan.task.name}" + (f" [rank {topology.rank}]" if topology.distributed else ""),
               disable=not progress)
    buffers: dict[str, list] = {}
    n_done = len(done)
    timeline.mark("generating")
    try:
        with run.open_appender(topology.rank if topology.distributed else None) as out:
            for gen in generate_stream(model, requests, plan.settings, use_cache):
                if "first_completion" not in timeline.stages:
                    timeline.mark("first_completion")  # weights loaded (on first use), first prompts decoded
                buffers.setdefault(gen.sample_id, []).append(gen)
                if len(buffers[gen.sample_id]) < k:
                    continue
                sample = by_id[gen.sample_id]
                out.append(build_record(sample, plan.task, rendered[sample.id], buffers.pop(gen.sample_id), parser))
                n_done += 1
                bar.update(1)
                if lead and n_done % 50 == 0:
                    store.update(run.id, n_done=n_done)
    except KeyboardInterrupt:
        store.update(run.id, status="interrupted", n_done=n_done)
        raise HarnessError(
            f"Interrupted after {n_done}/{len(plan.samples)} samples; the records are kept in {run.dir}. "
            "Run the same command again (or with --resume) to finish."
        ) from None
    except HarnessError as exc:
        store.update(run.id, status="failed", n_done=n_done)
        run.update_manifest(failure=str(exc))  # e.g. weights that fail to load on first use (models load lazily)
        raise
    finally:
        bar.close()
    timeline.mark("generated")
    model_info = model.describe()
    if lead:  # what generating did (an endpoint's retries and timeouts) belongs in the manifest too
        run.update_manifest(model_info=model_info)
    if topology.distributed:
        mark_done(run.dir, topology, len(mine),
                  {"timeline": timeline.as_dict(), "load_seconds": model_info.get("load_seconds"),
                   "import_seconds": model_info.get("import_seconds"),
                   "generation_timings": model_info.get("generation_timings")})
        if not lead:
            return None
        ranks = wait_for_ranks(run.dir, topology.world_size)
        timeline.mark("ranks_waited")
        run.merge_shards([s.id for s in plan.samples])
        timeline.mark("merged")
        run.update_manifest(topology={"world_size": topology.world_size, "launcher": topology.launcher,
                                      "ranks": ranks})
        clear_markers(run.dir)
    metrics = finalize(plan, run)
    timeline.mark("scored")
    run.update_manifest(timeline=timeline.as_dict())
    return metrics


def generate_stream(model, requests, settings, use_cache):
    """Completions from the generation cache where present, the model otherwise."""
    if not (use_cache and model.cacheable):
        return model.generate(requests, settings)
    from harness.store.generation_cache import cached_generate
    from harness.tasks.sources import cache_dir

    return cached_generate(model, requests, settings, cache_dir() / "generations.db")


def finalize(plan: RunPlan, run: Run) -> dict:
    """Check that every sample has exactly one record, then score and mark the run complete."""
    records = run.read_samples()
    ids = [r.id for r in records]
    if len(ids) != len(set(ids)):
        raise HarnessError(f"{run.samples_path}: duplicate sample records; the run is corrupt")
    missing = {s.id for s in plan.samples} - set(ids)
    if missing:
        raise HarnessError(f"{run.id}: {len(missing)} samples have no record; run the command again to finish")
    check_some_output(run, records)
    metrics = plan.task.score(records, plan.policy)
    run.write_metrics(plan.policy, metrics)
    run.store.update(run.id, status="complete", n_done=len(records), finished=True)
    return metrics


NO_OUTPUT = "no usable completion"


def check_some_output(run: Run, records: list[SampleRecord]):
    """Fail a run whose model produced nothing (every request failed, every completion empty).

    Such a run would otherwise be scored F1 0 with every sample blamed on the
    parser, and ranked.  It is marked failed, and the same command retries it.
    """
    completions = [c for r in records for c in r.completions]
    if not completions or any(c.text is not None and c.text.strip() for c in completions):
        return
    errors = [c.error for c in completions if c.error]
    first = f"; first error: {errors[0]}" if errors else "; every completion was empty"
    reason = (f"{NO_OUTPUT}: the model returned nothing usable for any of the {len(completions)} requests "
              f"({len(errors)} failed{first})")
    run.store.update(run.id, status="failed", n_done=len(records))
    run.update_manifest(failure=reason, no_output=True)
    raise HarnessError(f"{run.id}: {reason}. The run is marked failed and is not scored; fix the model or endpoint "
                       "and run the same command again to retry it")

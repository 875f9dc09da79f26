"""Judging a recorded run: reasoning-quality scores beside its samples (issue 4).

``judge_run`` reads ``samples.jsonl``, scores every completion with each
judge, and appends one record per (sample, k, judge identity) to
``judgments.jsonl`` in the run folder, flushed one by one, so a killed judging
resumes where it stopped.  A judge's identity is its name, version and a hash
of its argument and options (:class:`harness.records.JudgeIdentity`): resume
and the SQLite judgment cache are keyed by it, so judging again with other
options judges again.  Finally it writes the ``judgments`` and
``judge_metrics`` tables and a ``judges`` section in ``metrics.json``: per
judge, its identity, argument and options, and per criterion the mean score
with a 95% bootstrap interval over samples (scipy.stats.bootstrap).  Storage
belongs to :mod:`harness.store.judgments`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from dataclasses import dataclass

from harness.config import parse_key_values
from harness.errors import HarnessError
from harness.interfaces.judge import Judge, JudgeInput, Judgment
from harness.records import JudgeIdentity, JudgmentRecord, SampleRecord
from harness.store import judgments as store
from harness.store.runs import FORMAT_VERSION

# -- judge specs -------------------------------------------------------------


def split_judge_spec(spec: str) -> tuple[str, str]:
    """``'llm-judge:hf:meta/x'`` -> ``('llm-judge', 'hf:meta/x')``; ``'heuristic'`` -> ``('heuristic', '')``."""
    name, _, arg = spec.strip().partition(":")
    return name, arg


def parse_judge_options(pairs) -> dict:
    """``NAME.KEY=VALUE`` strings -> ``{NAME: {KEY: value}}`` (values parsed by :func:`parse_key_values`)."""
    out: dict[str, dict] = {}
    form = "JUDGE.KEY=VALUE, e.g. heuristic.embeddings=false"
    for pair in pairs:
        [(key, value)] = parse_key_values([pair], "--judge-option", form).items()
        name, dot, option = key.partition(".")
        if not dot or not name.strip() or not option.strip():
            raise HarnessError(f"--judge-option '{pair}': expected {form}")
        out.setdefault(name.strip(), {})[option.strip()] = value
    return out


@dataclass
class JudgeSpec:
    """A checked judge spec: the registered class, its argument and its options with defaults filled in."""

    spec: str
    name: str
    arg: str
    cls: type
    options: dict

    @property
    def args_hash(self) -> str:
        return JudgeIdentity.hash_args(self.arg, self.options)

    def create(self) -> Judge:
        judge = self.cls.create(self.arg, dict(self.options))
        if not getattr(judge, "name", ""):
            judge.name = self.spec
        return judge


def judge_class(name: str) -> type:
    from harness.plugins import get_registry

    reg = get_registry().registration("judges", name)  # unknown, or registered by two plugins
    if not (isinstance(reg.value, type) and issubclass(reg.value, Judge)):
        raise HarnessError(f"Plugin '{reg.plugin}': judge '{name}' is registered as a {type(reg.value).__name__}, "
                           "not a subclass of harness.Judge (register the judge class; see docs/plugins.md)")
    return reg.value


def check_options(name: str, cls: type, given: dict) -> dict:
    """``given`` checked against the judge's declared options, with every default filled in."""
    declared = cls.options
    resolved = {key: opt.default for key, opt in declared.items()}
    for key, value in given.items():
        opt = declared.get(key)
        if opt is None:
            if cls.other_options is not None:
                resolved[key] = value
                continue
            known = ", ".join(sorted(declared)) or "none"
            raise HarnessError(f"--judge-option {name}.{key}: judge '{name}' has no option '{key}' "
                               f"(its options: {known})")
        if not opt.accepts(value):
            wanted = " or ".join(t.__name__ for t in opt.types)
            raise HarnessError(f"--judge-option {name}.{key}={json.dumps(value)}: judge '{name}' option '{key}' "
                               f"must be {wanted}, got {type(value).__name__}")
        resolved[key] = value
    return resolved


def check_judge_specs(specs: list[str], options: dict | None = None) -> list[JudgeSpec]:
    """Check judge names, arguments and options before any work; return the checked specs.

    ``options`` maps a judge name to its ``--judge-option`` values.
    """
    options = options or {}
    checked = []
    for spec in specs:
        name, arg = split_judge_spec(spec)
        if not name:
            raise HarnessError(f"empty judge name in '{spec}'; e.g. --judge heuristic")
        cls = judge_class(name)
        if arg and cls.arg is None:
            raise HarnessError(f"judge '{name}' takes no argument, but '{spec}' gives '{arg}': "
                               f"use --judge {name} (options go in --judge-option {name}.KEY=VALUE)")
        if not arg and cls.arg_required:
            raise HarnessError(f"judge '{name}' needs an argument: --judge {name}:ARG, where ARG is {cls.arg}")
        resolved = check_options(name, cls, options.get(name, {}))
        cls.check(arg, resolved)
        checked.append(JudgeSpec(spec.strip(), name, arg, cls, resolved))
    names = {c.name for c in checked}
    if set(options) - names:
        raise HarnessError(f"judge options given for {sorted(set(options) - names)}, which is not among the "
                           f"judges of this command ({', '.join(specs)})")
    return checked


def load_judge(spec: str, options: dict | None = None) -> Judge:
    """A judge instance from a spec such as ``heuristic`` or ``llm-judge:exp_18`` and its options."""
    name, _ = split_judge_spec(spec)
    [checked] = check_judge_specs([spec], {name: options} if options else None)
    return checked.create()


# -- inputs from samples.jsonl ----------------------------------------------------


def judge_inputs(record: SampleRecord, first_only: bool = False) -> list[JudgeInput]:
    """One JudgeInput per completion of a sample record (or only the first one)."""
    from harness.tasks.templates import content_of

    content = content_of(record.prompt, record.response)
    completions = record.completions[:1] if first_only else record.completions
    return [
        JudgeInput(sample_id=record.id, content=content, completion=c.text or "", reasoning=c.reasoning,
                   verdict=c.verdict, gold=record.gold, response=record.response, sample_index=c.sample_index)
        for c in completions
    ]


def input_hash(item: JudgeInput) -> str:
    fields = [item.content, item.response, item.completion, item.reasoning, item.verdict, item.gold]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


# -- statistics ----------------------------------------------------------------------


def mean_with_ci(values, seed: int = 0) -> dict:
    """Mean and 95% BCa bootstrap interval (percentile when BCa is undefined)."""
    import numpy as np
    from scipy.stats import bootstrap

    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < 2 or np.all(values == values[0]):
        return {"mean": mean, "ci_low": mean, "ci_high": mean, "n": int(len(values))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((values,), np.mean, n_resamples=2000, confidence_level=0.95, method="BCa",
                        random_state=np.random.default_rng(seed))
        low, high = res.confidence_interval
        if not (np.isfinite(low) and np.isfinite(high)):
            res = bootstrap((values,), np.mean, n_resamples=2000, method="percentile",
                            random_state=np.random.default_rng(seed))
            low, high = res.confidence_interval
    return {"mean": mean, "ci_low": float(low), "ci_high": float(high), "n": int(len(values))}


def summarise(records: list[JudgmentRecord]) -> dict:
    """Per-criterion mean and interval for one judge identity.

    The k completions of a sample are not independent, so scores are first
    averaged per sample and the bootstrap resamples samples.
    """
    per_sample: dict[str, dict[str, list]] = {}
    failed = 0
    for rec in records:
        if rec.error:
            failed += 1
            continue
        for criterion, value in rec.scores.items():
            per_sample.setdefault(criterion, {}).setdefault(rec.id, []).append(float(value))
    criteria = {}
    for criterion, by_sample in sorted(per_sample.items()):
        criteria[criterion] = mean_with_ci([sum(v) / len(v) for v in by_sample.values()])
    return {"n_completions": len(records), "n_failed": failed, "criteria": criteria}


# -- the driver ------------------------------------------------------------------------


def judge_run(run, judge_specs, *, cache: bool = True, progress: bool = True, options: dict | None = None,
              batch_size: int = 64) -> dict:
    """Score every completion of ``run`` with each judge; returns the run's updated metrics.

    ``judge_specs``: e.g. ``["heuristic", "llm-judge:exp_18"]``.  ``options``
    maps a judge name to its options (``{"heuristic": {"embeddings": False}}``).
    Resumable: rerunning skips what ``judgments.jsonl`` already holds for the same identity.
    """
    if isinstance(judge_specs, str):
        judge_specs = [s for s in judge_specs.split(",") if s.strip()]
    checked = check_judge_specs(judge_specs, options)
    manifest = run.manifest
    if manifest.get("format_version") != FORMAT_VERSION:
        raise HarnessError(f"{run.dir}/manifest.json: run format version {manifest.get('format_version')!r}; this harness "
                           f"judges version {FORMAT_VERSION} runs; re-run it with `harness eval`")
    records = run.read_samples()
    if not records:
        raise HarnessError(f"{run.dir}: the run has no recorded samples to judge")
    store.read_records(run)  # a judgments file this harness cannot read fails before any judging
    items = [item for rec in records for item in judge_inputs(rec)]
    run_id = getattr(run, "id", run.dir.name)
    conn = store.connect(run.store.db_path)
    summaries = []
    try:
        with store.judgment_appender(run) as out:
            for spec in checked:
                judge = spec.create()
                identity = JudgeIdentity(judge.name, judge.version, spec.args_hash)
                try:
                    _judge_items(judge, identity, items, run, out, conn, cache, progress, batch_size)
                finally:
                    close = getattr(judge, "close", None)
                    if close:
                        close()
                mine = store.latest(store.read_records(run), identity)  # a retried failure's later record wins
                summary = store.JudgeSummary(judge.name, identity, spec.arg, spec.options,
                                             frozenset(judge.lower_is_better), judge.composite, **summarise(mine))
                summaries.append(summary)
                store.index(conn, run_id, mine, summary)
    finally:
        conn.close()
    run.write_judges({s.name: s.to_dict() for s in summaries})
    check_some_judged(run, summaries)
    return run.read_metrics() or {"judges": {s.name: s.to_dict() for s in summaries}}


def check_some_judged(run, summaries):
    """A judge that failed on every completion is an error (exit 1), not a summary with no scores."""
    for s in summaries:
        d = s.to_dict()
        if d["n_completions"] and d["n_failed"] == d["n_completions"]:
            first = next((r.error for r in store.latest(store.read_records(run), s.identity) if r.error), "?")
            raise HarnessError(f"judge {s.name} failed on all {d['n_completions']} completions of {run.id} "
                               f"(first error: {first}); nothing was scored. The failures are recorded in "
                               f"{run.dir / 'judgments.jsonl'} and are retried when the command runs again")


def _judge_items(judge, identity, items, run, out, conn, cache, progress, batch_size):
    from tqdm import tqdm

    done = {(r.id, r.sample_index) for r in store.latest(store.read_records(run), identity) if not r.error}
    todo = [i for i in items if (i.sample_id, i.sample_index) not in done]
    if done and todo:
        print(f"{judge.name}: resuming, {len(done)} judgments already recorded", file=sys.stderr)
    bar = tqdm(total=len(todo), desc=f"judge {judge.name}", unit="completion", disable=not progress or not todo)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        hashes = [input_hash(i) for i in batch]
        results: dict[int, Judgment] = {}
        if cache:
            for n, h in enumerate(hashes):
                hit = store.cached(conn, identity, h)
                if hit is not None:
                    results[n] = Judgment(**hit)
        fresh = [n for n in range(len(batch)) if n not in results]
        if fresh:
            for n, judgment in zip(fresh, _safe_judge(judge, [batch[n] for n in fresh])):
                results[n] = judgment
                if cache and not judgment.error:
                    store.cache(conn, identity, hashes[n], judgment.to_dict())
            conn.commit()
        for n, item in enumerate(batch):
            j = results[n]
            out.append(JudgmentRecord(item.sample_id, item.sample_index, identity, j.scores, j.explanation, j.error,
                                      hashes[n]))
        out.sync()
        bar.update(len(batch))
    bar.close()


def _safe_judge(judge, items) -> list[Judgment]:
    """Batch scoring; if the batch raises, score one by one so one bad sample fails alone."""
    try:
        results = judge.judge_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"judge returned {len(results)} judgments for {len(items)} inputs")
        return results
    except HarnessError:
        raise
    except Exception:  # isolate the failing sample(s) and record why
        out = []
        for item in items:
            try:
                out.append(judge.judge_batch([item])[0])
            except HarnessError:
                raise
            except Exception as exc:
                out.append(Judgment({}, "", f"judge {judge.name} raised {type(exc).__name__}: {exc}"))
        return out

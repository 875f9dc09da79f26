"""Judging a recorded run: reasoning-quality scores beside its samples (issue 4).

``judge_run`` reads ``samples.jsonl``, scores every completion with each
judge, and appends one record per (sample, k, judge) to ``judgments.jsonl``
in the run folder, flushed one by one, so a killed judging resumes where it
stopped: records whose (sample, k, judge, version) is already written are
skipped (failed ones are retried, and the later record wins).  Judgments are also cached in the run store's SQLite database by
(judge, version, input hash), so the same completion is never judged twice by
the same judge version, in this run or another.  Finally it writes the
``judgments`` and ``judge_metrics`` tables and a ``judges`` section in
``metrics.json``: per judge and criterion, the mean score with a 95%
bootstrap interval over samples (scipy.stats.bootstrap).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import warnings
from pathlib import Path

from harness.errors import HarnessError, unknown_name
from harness.interfaces.judge import Judge, JudgeInput, Judgment
from harness.records import SampleRecord
from harness.store.runs import FORMAT_VERSION, read_jsonl_records, repair_tail

JUDGMENTS_FILE = "judgments.jsonl"
SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    run_id TEXT NOT NULL, sample_id TEXT NOT NULL, sample_index INTEGER NOT NULL,
    judge TEXT NOT NULL, version TEXT NOT NULL,
    scores_json TEXT NOT NULL, explanation TEXT, error TEXT,
    PRIMARY KEY (run_id, sample_id, sample_index, judge, version)
);
CREATE TABLE IF NOT EXISTS judge_metrics (
    run_id TEXT NOT NULL, judge TEXT NOT NULL, version TEXT NOT NULL, criterion TEXT NOT NULL,
    mean REAL, ci_low REAL, ci_high REAL, n INTEGER,
    PRIMARY KEY (run_id, judge, criterion)
);
CREATE TABLE IF NOT EXISTS judge_cache (
    judge TEXT NOT NULL, version TEXT NOT NULL, input_hash TEXT NOT NULL, judgment_json TEXT NOT NULL,
    PRIMARY KEY (judge, version, input_hash)
);
"""


# -- judge specs -------------------------------------------------------------


def split_judge_spec(spec: str) -> tuple[str, str]:
    """``'llm-judge:hf:meta/x'`` -> ``('llm-judge', 'hf:meta/x')``; ``'heuristic'`` -> ``('heuristic', '')``."""
    name, _, arg = spec.strip().partition(":")
    return name, arg


def parse_judge_options(pairs) -> dict:
    """``NAME.KEY=VALUE`` strings -> ``{NAME: {KEY: value}}`` with JSON-typed values where they parse."""
    from harness.config import parse_key_values

    form = "JUDGE.KEY=VALUE, e.g. heuristic.embeddings=false"
    out = {}
    for pair in pairs:
        [(key, value)] = parse_key_values([pair], "--judge-option", form).items()
        name, dot, option = key.partition(".")
        if not dot or not name or not option:
            raise HarnessError(f"--judge-option '{pair}': expected {form}")
        out.setdefault(name, {})[option] = value
    return out


def check_judge_specs(specs: list[str]):
    """Fail early, before any generation, on a judge name no plugin registered."""
    from harness.plugins import get_registry

    for spec in specs:
        name, _ = split_judge_spec(spec)
        if not name:
            raise HarnessError(f"empty judge name in '{spec}'; e.g. --judge heuristic")
        get_registry().registration("judges", name)  # unknown, or registered by two plugins


def load_judge(spec: str, options: dict | None = None) -> Judge:
    """A judge instance from a spec such as ``heuristic`` or ``llm-judge:exp_18``."""
    from harness.plugins import get_registry

    check_judge_specs([spec])
    name, arg = split_judge_spec(spec)
    judge = get_registry().create("judges", name, arg, dict(options or {}))
    if not getattr(judge, "name", ""):
        judge.name = spec
    return judge


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


# -- judgments.jsonl ------------------------------------------------------------------


def read_judgments(run, judge: str | None = None) -> dict:
    """``{(sample_id, sample_index): scores}`` for one judge (default: the first in the file).

    The latest version of the judge wins; failed judgments are left out.
    This is what preference-pair building (harness.train.pairs) consumes.
    """
    records = read_jsonl_records(Path(run.dir) / JUDGMENTS_FILE)
    if judge is None and records:
        judge = records[0]["judge"]
    out = {}
    for rec in records:
        if rec["judge"] == judge and not rec.get("error"):
            out[(str(rec["id"]), int(rec["sample_index"]))] = rec["scores"]
    return out


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


def summarise(records: list[dict]) -> dict:
    """Per-criterion mean and interval for one judge version.

    The k completions of a sample are not independent, so scores are first
    averaged per sample and the bootstrap resamples samples.
    """
    per_sample: dict[str, dict[str, list]] = {}
    failed = 0
    for rec in records:
        if rec.get("error"):
            failed += 1
            continue
        for criterion, value in rec["scores"].items():
            per_sample.setdefault(criterion, {}).setdefault(str(rec["id"]), []).append(float(value))
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
    Resumable: rerunning skips what ``judgments.jsonl`` already holds.
    """
    from tqdm import tqdm


    if isinstance(judge_specs, str):
        judge_specs = [s for s in judge_specs.split(",") if s.strip()]
    check_judge_specs(judge_specs)
    run_dir = Path(run.dir)
    manifest = run.manifest
    if manifest.get("format_version") != FORMAT_VERSION:
        raise HarnessError(f"{run_dir}: run format version {manifest.get('format_version')!r}; this harness "
                           f"judges version {FORMAT_VERSION} runs; re-run it with `harness eval`")
    records = run.read_samples()
    if not records:
        raise HarnessError(f"{run_dir}: the run has no recorded samples to judge")
    items = [item for rec in records for item in judge_inputs(rec)]
    path = run_dir / JUDGMENTS_FILE
    repair_tail(path)
    run_id = getattr(run, "id", run_dir.name)
    options = options or {}
    names = {split_judge_spec(s)[0] for s in judge_specs}
    if set(options) - names:
        raise HarnessError(f"judge options given for {sorted(set(options) - names)}, which is not among the "
                           f"judges of this command ({', '.join(judge_specs)})")
    conn = sqlite3.connect(run.store.db_path, timeout=30)
    conn.executescript(SCHEMA)
    summaries = {}
    try:
        with open(path, "a", encoding="utf-8") as out:
            for spec in judge_specs:
                name, _ = split_judge_spec(spec)
                judge = load_judge(spec, options.get(name))
                try:
                    _judge_items(judge, items, path, out, conn, cache, progress, batch_size, tqdm)
                finally:
                    close = getattr(judge, "close", None)
                    if close:
                        close()
                latest = {(str(r["id"]), int(r["sample_index"])): r for r in read_jsonl_records(path)
                          if r["judge"] == judge.name and r["version"] == judge.version}
                mine = list(latest.values())  # a retried failure's later record replaces it
                summaries[judge.name] = {"version": judge.version, **summarise(mine)}
                _index(conn, run_id, judge, mine, summaries[judge.name])
    finally:
        conn.close()
    run.write_judges(summaries)
    return run.read_metrics() or {"judges": summaries}


def _judge_items(judge, items, path, out, conn, cache, progress, batch_size, tqdm):
    done = {(str(r["id"]), int(r["sample_index"])) for r in read_jsonl_records(path)
            if r["judge"] == judge.name and r["version"] == judge.version and not r.get("error")}
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
                row = conn.execute("SELECT judgment_json FROM judge_cache WHERE judge=? AND version=? AND input_hash=?",
                                   (judge.name, judge.version, h)).fetchone()
                if row:
                    results[n] = Judgment(**json.loads(row[0]))
        fresh = [n for n in range(len(batch)) if n not in results]
        if fresh:
            for n, judgment in zip(fresh, _safe_judge(judge, [batch[n] for n in fresh])):
                results[n] = judgment
                if cache and not judgment.error:
                    conn.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?, ?)",
                                 (judge.name, judge.version, hashes[n], json.dumps(judgment.to_dict())))
            conn.commit()
        for n, item in enumerate(batch):
            j = results[n]
            out.write(json.dumps({"id": item.sample_id, "sample_index": item.sample_index, "judge": judge.name,
                                  "version": judge.version, "scores": j.scores, "explanation": j.explanation,
                                  "error": j.error, "input_hash": hashes[n]}, ensure_ascii=False) + "\n")
            out.flush()
        os.fsync(out.fileno())
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


def _index(conn, run_id, judge, records, summary):
    """Mirror one judge's records and summary into SQLite for queries across runs."""
    with conn:
        conn.execute("DELETE FROM judgments WHERE run_id=? AND judge=?", (run_id, judge.name))
        conn.executemany(
            "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, str(r["id"]), int(r["sample_index"]), r["judge"], r["version"], json.dumps(r["scores"]),
              r.get("explanation"), r.get("error")) for r in records])
        conn.execute("DELETE FROM judge_metrics WHERE run_id=? AND judge=?", (run_id, judge.name))
        conn.executemany(
            "INSERT INTO judge_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, judge.name, judge.version, c, s["mean"], s["ci_low"], s["ci_high"], s["n"])
             for c, s in summary["criteria"].items()])

"""The one owner of stored judgments: ``judgments.jsonl``, the judgment tables and the ``judges`` section.

Every reader of judgments (judging, compare, leaderboard, report, preference
pairs) goes through this module, so "which judgments count" has one answer:

* A judgment belongs to a :class:`~harness.records.JudgeIdentity` (judge name,
  version, hash of its argument and options).  Judgments of different
  identities are never merged, served from cache for one another, or compared.
* For one (identity, sample, k) the record written last wins (a retried
  failure replaces the failed record).
* For one judge name, the identity that counts for a run is the one its
  ``metrics.json`` ``judges`` section names: the last ``harness judge`` of that
  judge on the run.  Older identities stay in ``judgments.jsonl`` and can be
  asked for by key.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.records import JudgeIdentity, JudgmentRecord
from harness.store.runs import JsonlAppender, read_jsonl_records

JUDGMENTS_FILE = "judgments.jsonl"



# -- judgments.jsonl -----------------------------------------------------------------


def judgments_path(run) -> Path:
    return Path(run.dir) / JUDGMENTS_FILE


def read_records(run) -> list[JudgmentRecord]:
    """Every record of the run's ``judgments.jsonl``, in the order written (a torn last line is ignored)."""
    path = judgments_path(run)
    return [JudgmentRecord.from_dict(row, f"{path}:{n}") for n, row in enumerate(read_jsonl_records(path), 1)]


def latest(records: list[JudgmentRecord], identity: JudgeIdentity | None = None) -> list[JudgmentRecord]:
    """One record per (identity, sample, k): the last written; only ``identity``'s when given."""
    out: dict[tuple, JudgmentRecord] = {}
    for rec in records:
        if identity is None or rec.identity == identity:
            out[rec.key] = rec
    return list(out.values())


def judgment_appender(run) -> JsonlAppender:
    """Appends to the run's ``judgments.jsonl``, synced after each batch (resumable)."""
    return JsonlAppender(judgments_path(run), sync_each=False)


# -- metrics.json's "judges" section -----------------------------------------------------


@dataclass
class JudgeSummary:
    """One judge's entry in metrics.json: its identity, declarations and per-criterion statistics."""

    name: str
    identity: JudgeIdentity
    arg: str = ""
    options: dict = field(default_factory=dict)
    lower_is_better: frozenset = frozenset()
    composite: str | None = None
    n_completions: int = 0
    n_failed: int = 0
    criteria: dict = field(default_factory=dict)  # criterion -> {mean, ci_low, ci_high, n}

    def to_dict(self) -> dict:
        return {"identity": self.identity.key, "judge": self.identity.judge, "version": self.identity.version,
                "args_hash": self.identity.args_hash, "arg": self.arg, "options": self.options,
                "lower_is_better": sorted(self.lower_is_better), "composite": self.composite,
                "n_completions": self.n_completions, "n_failed": self.n_failed, "criteria": self.criteria}

    @classmethod
    def from_dict(cls, name: str, data: dict, where: str = "metrics.json") -> "JudgeSummary":
        try:
            identity = JudgeIdentity(str(data["judge"]), str(data["version"]), str(data["args_hash"]))
            return cls(name, identity, data.get("arg", ""), data.get("options") or {},
                       frozenset(data.get("lower_is_better") or ()), data.get("composite"),
                       int(data.get("n_completions", 0)), int(data.get("n_failed", 0)), dict(data["criteria"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HarnessError(f"{where}: judges section '{name}' has no judge identity ({type(exc).__name__}: "
                               f"{exc}); it was written by an older harness: judge the run again") from None


def summaries(metrics: dict | None, where: str = "metrics.json") -> dict[str, JudgeSummary]:
    """The judges section of a run's metrics: judge name -> the summary of the identity that counts."""
    section = (metrics or {}).get("judges") or {}
    return {name: JudgeSummary.from_dict(name, data, where) for name, data in section.items()}


# -- which judgments a reader gets ------------------------------------------------------


@dataclass
class RunJudgments:
    """The counted judgments of one judge on one run: scores by (sample id, k), failures left out."""

    summary: JudgeSummary
    scores: dict  # (sample_id, sample_index) -> {criterion: score}

    @property
    def identity(self) -> JudgeIdentity:
        return self.summary.identity


def counted(run, judge: str) -> JudgeSummary:
    """The summary that counts for ``judge`` (a judge name, or a spec such as ``heuristic:lexical``) on ``run``."""
    found = summaries(run.read_metrics(), f"{run.dir}/metrics.json")
    name = judge if judge in found else judge.partition(":")[0]
    if name not in found:
        raise HarnessError(f"run {run.id} has no judgments of '{judge}'"
                           + (f" (judged by: {', '.join(sorted(found))})" if found else "")
                           + f"; judge it first: harness judge {run.id} --judge {judge}")
    return found[name]


def read_judgments(run, judge: str | None = None) -> RunJudgments:
    """The counted judgments of ``judge`` on ``run`` (default: the run's only judge).

    This is what preference pairs (harness.train.pairs) consume.
    """
    if judge is None:
        found = summaries(run.read_metrics(), f"{run.dir}/metrics.json")
        if len(found) != 1:
            raise HarnessError(f"run {run.id} has judgments of {len(found)} judges "
                               f"({', '.join(sorted(found)) or 'none'}): name the judge to use")
        judge = next(iter(found))
    summary = counted(run, judge)
    records = latest(read_records(run), summary.identity)
    return RunJudgments(summary, {(r.id, r.sample_index): r.scores for r in records if not r.error})


def sample_scores(run, identity: JudgeIdentity, sample_ids) -> dict:
    """{sample_id: {criterion: mean over its completions}} for one identity, failures left out.

    Averaging a sample's completions first matches how the run's means are computed.
    """
    wanted = set(sample_ids)
    values: dict[tuple, list] = {}
    for rec in latest(read_records(run), identity):
        if rec.error or rec.id not in wanted:
            continue
        for criterion, value in rec.scores.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values.setdefault((rec.id, criterion), []).append(float(value))
    out: dict[str, dict] = {}
    for (sid, criterion), vals in values.items():
        out.setdefault(sid, {})[criterion] = sum(vals) / len(vals)
    return out


def identities(run, judge: str) -> list[JudgeIdentity]:
    """Every identity of judge name ``judge`` in the run's ``judgments.jsonl``, first written first."""
    seen: dict[str, JudgeIdentity] = {}
    for rec in read_records(run):
        if rec.identity.judge == judge:
            seen.setdefault(rec.identity.key, rec.identity)
    return list(seen.values())


def mixed_identities(what: str, name: str, first: tuple, second: tuple) -> HarnessError:
    """The refusal to set judgments of two identities of one judge side by side."""
    (label_a, id_a), (label_b, id_b) = first, second
    return HarnessError(
        f"{what}: judge '{name}' scored {label_a} as {id_a} and {label_b} as {id_b}; judgments of different "
        "identities (judge version, argument or options) are not comparable. Judge both runs with the same "
        f"judge spec and --judge-option values (harness judge RUN --judge {name} ...).")


def shared_summaries(run_a, run_b) -> dict[str, tuple[JudgeSummary, JudgeSummary, JudgeIdentity]]:
    """For each judge that scored both runs, the identity to compare them by.

    Rule: the identity both runs count (their metrics.json) when it is the same;
    else the one identity of that judge both ``judgments.jsonl`` files hold;
    else (none or several shared) a HarnessError naming both counted identities.
    """
    sa = summaries(run_a.read_metrics(), f"{run_a.dir}/metrics.json")
    sb = summaries(run_b.read_metrics(), f"{run_b.dir}/metrics.json")
    out = {}
    for name in sorted(set(sa) & set(sb)):
        a, b = sa[name], sb[name]
        if a.identity == b.identity:
            out[name] = (a, b, a.identity)
            continue
        judge = a.identity.judge
        common = [i for i in identities(run_a, judge) if i in set(identities(run_b, judge))]
        if len(common) != 1:
            raise mixed_identities("compare", name, (f"run A ({run_a.id})", a.identity),
                                   (f"run B ({run_b.id})", b.identity))
        out[name] = (a, b, common[0])
    return out


# -- SQLite: the judgments and judge_metrics tables and the judgment cache --------------------


def connect(db_path) -> sqlite3.Connection:
    """The run index, whose judgment tables are migration ``m003_judgments`` in :mod:`harness.store.db`."""
    from harness.store.db import connect_run_index

    return connect_run_index(db_path)


def cached(conn, identity: JudgeIdentity, input_hash: str) -> dict | None:
    row = conn.execute("SELECT judgment_json FROM judge_cache WHERE identity=? AND input_hash=?",
                       (identity.key, input_hash)).fetchone()
    return json.loads(row[0]) if row else None


def cache(conn, identity: JudgeIdentity, input_hash: str, judgment: dict):
    conn.execute("INSERT OR REPLACE INTO judge_cache VALUES (?, ?, ?)",
                 (identity.key, input_hash, json.dumps(judgment)))


def index(conn, run_id: str, records: list[JudgmentRecord], summary: JudgeSummary):
    """Mirror one identity's records and summary into SQLite for queries across runs."""
    ident = summary.identity
    with conn:
        conn.execute("DELETE FROM judgments WHERE run_id=? AND identity=?", (run_id, ident.key))
        conn.executemany(
            "INSERT OR REPLACE INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, r.id, r.sample_index, ident.key, ident.judge, ident.version, ident.args_hash,
              json.dumps(r.scores), r.explanation, r.error) for r in records])
        conn.execute("DELETE FROM judge_metrics WHERE run_id=? AND identity=?", (run_id, ident.key))
        conn.executemany(
            "INSERT INTO judge_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, ident.key, ident.judge, ident.version, ident.args_hash, c, s["mean"], s["ci_low"],
              s["ci_high"], s["n"]) for c, s in summary.criteria.items()])

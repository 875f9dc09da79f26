"""The run store: one folder per run plus a SQLite index of all runs.

``runs/<run_id>/`` holds ``manifest.json`` (what was run, with hashes and
versions), ``samples.jsonl`` (one record per sample, appended and flushed one
by one so a killed run loses nothing it finished) and ``metrics.json``.
``runs/harness.db`` indexes every run for ``harness runs`` and leaderboards;
its schema is the numbered migrations in :mod:`harness.store.db`.

Scoring is separate from generation: a run's stored completions can be scored
under every parse-failure policy, so ``metrics.json`` is keyed by policy::

    {"policies": {"strict": {...}, "guardreasoner-paper": {...}}, "judges": {...}}

``judges`` (see :mod:`harness.judge.runner`) belongs to the run, not to a
policy.  The index holds one ``metrics`` row per (run, policy); the ``runs``
row's metric columns repeat those of the policy the run was evaluated with
(``runs.policy``), which is what ``harness runs`` lists.  :class:`Run` is the
only writer of both.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.records import SampleRecord
from harness.store.db import connect_run_index

FORMAT_VERSION = 1


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Run:
    """One run folder: append-only samples, manifest and metrics."""

    def __init__(self, store: "RunStore", run_id: str):
        self.store = store
        self.id = run_id
        self.dir = store.root / run_id
        self.samples_path = self.dir / "samples.jsonl"
        self.manifest_path = self.dir / "manifest.json"
        self.metrics_path = self.dir / "metrics.json"

    @property
    def manifest(self) -> dict:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise HarnessError(f"{self.dir}: not a harness run (no manifest.json)") from None

    def write_manifest(self, manifest: dict):
        write_json_atomic(self.manifest_path, manifest)

    def read_samples(self) -> list[SampleRecord]:
        """All complete records, one per sample id, from samples.jsonl and any rank shards.

        A torn last line from a killed writer is dropped (that sample is redone).
        """
        seen, records = set(), []
        for path in [self.samples_path, *sorted(self.dir.glob("samples.rank*.jsonl"))]:
            for lineno, data in enumerate(read_jsonl_records(path), 1):
                record = SampleRecord.from_dict(data, where=f"{path}:{lineno}")
                if record.id not in seen:
                    seen.add(record.id)
                    records.append(record)
        return records

    def open_appender(self, rank: int | None = None):
        """Append to samples.jsonl, or to this rank's shard in a data-parallel run."""
        path = self.samples_path if rank is None else self.dir / f"samples.rank{rank}.jsonl"
        repair_tail(path)
        return SampleAppender(path)

    def merge_shards(self, order: list[str]):
        """Rewrite samples.jsonl from all shards in task order, then remove the shards."""
        by_id = {r.id: r for r in self.read_samples()}
        tmp = self.samples_path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for sample_id in order:
                if sample_id in by_id:
                    fh.write(json.dumps(by_id[sample_id].to_dict(), ensure_ascii=False) + "\n")
        tmp.replace(self.samples_path)
        for shard in self.dir.glob("samples.rank*.jsonl"):
            shard.unlink()

    @property
    def policy(self) -> str:
        """The policy the run was evaluated with (its headline metrics)."""
        return self.manifest["policy"]

    def _read_metrics_file(self) -> dict:
        if not self.metrics_path.exists():
            return {"policies": {}}
        data = json.loads(self.metrics_path.read_text(encoding="utf-8"))
        if "policies" not in data:  # a run scored before metrics were kept per policy
            judges = data.pop("judges", None)
            if data.get("policy") == "guardreasoner-paper" and data.get("f1") is not None:
                data["f1"] /= 100.0  # that policy used to store F1 x 100
            data = {"policies": {data.get("policy", self.policy): data}, **({"judges": judges} if judges else {})}
        return data

    def scored_policies(self) -> list[str]:
        return sorted(self._read_metrics_file()["policies"])

    def read_metrics(self, policy: str | None = None) -> dict | None:
        """The metrics under ``policy`` (default: the run's own) with the run's judges, or None if not scored."""
        data = self._read_metrics_file()
        metrics = data["policies"].get(policy or self.policy)
        if metrics is None:
            return None
        return {**metrics, **({"judges": data["judges"]} if data.get("judges") else {})}

    def write_metrics(self, policy: str, metrics: dict):
        """Store ``metrics`` as this run's scores under ``policy`` (any 'judges' key is the run's, not the policy's)."""
        data = self._read_metrics_file()
        metrics = dict(metrics)
        if "judges" in metrics:
            data["judges"] = metrics.pop("judges")
        data["policies"][policy] = {**metrics, "policy": policy}
        self._write_metrics_file(data)

    def write_judges(self, summaries: dict):
        """Add or replace judges' summaries in the run's ``judges`` section."""
        data = self._read_metrics_file()
        data["judges"] = {**data.get("judges", {}), **summaries}
        self._write_metrics_file(data)

    def _write_metrics_file(self, data: dict):
        write_json_atomic(self.metrics_path, data)
        self.store.index_metrics(self.id, {p: self.read_metrics(p) for p in data["policies"]}, self.policy)


def read_jsonl_records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.endswith("\n"):
                break  # torn write at the end of the file
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise HarnessError(f"{path}:{lineno}: corrupt record (not JSON)") from None
    return records


def repair_tail(path: Path):
    """Cut a partial last line left by a kill, so appends start on a clean line."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


class SampleAppender:
    """Appends one JSON record per line, flushed and synced, so none is lost on kill."""

    def __init__(self, path: Path):
        self.fh = open(path, "a", encoding="utf-8")

    def append(self, record: SampleRecord):
        self.fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())

    def close(self):
        self.fh.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_json_atomic(path: Path, data):
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


class RunStore:
    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root or os.environ.get("HARNESS_RUNS_DIR") or "runs")
        self.db_path = self.root / "harness.db"

    def connect(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        return connect_run_index(self.db_path)

    def create_run(self, run_id: str, key: str, manifest: dict) -> Run:
        from harness.config import check_name, path_inside

        path_inside(self.root, check_name(run_id, "run id"))  # a run folder is always inside the store
        run = Run(self, run_id)
        run.dir.mkdir(parents=True, exist_ok=False)
        run.write_manifest({**manifest, "format_version": FORMAT_VERSION, "run_id": run_id, "key": key})
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO runs (run_id, key, model, model_spec, task, status, created_at, n_total, path, policy)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?, ?, ?)",
                (run_id, key, manifest["model"], manifest.get("model_spec"), manifest["task"]["name"],
                 manifest["created_at"], manifest.get("n_total"), str(run.dir), manifest["policy"]),
            )
        return run

    def open_run(self, run_id_or_path: str) -> Run:
        """A run by id, or by the path of its folder."""
        path = Path(run_id_or_path)
        if (path / "manifest.json").exists():
            store = RunStore(path.parent)
            return Run(store, path.name)
        run = Run(self, run_id_or_path)
        if not run.manifest_path.exists():
            known = [r["run_id"] for r in self.list_runs()] if self.db_path.exists() else []
            from harness.errors import unknown_name

            raise unknown_name("run", run_id_or_path, known[-20:])
        manifest = run.manifest
        if manifest.get("format_version") != FORMAT_VERSION:
            raise HarnessError(
                f"{run.dir}: run format version {manifest.get('format_version')!r}, this harness reads "
                f"version {FORMAT_VERSION}; re-run it with `harness eval`"
            )
        return run

    def find_by_key(self, key: str) -> dict | None:
        if not self.db_path.exists():
            return None
        with self.connect() as conn:
            row = conn.execute("SELECT * FROM runs WHERE key = ? ORDER BY created_at DESC LIMIT 1", (key,)).fetchone()
        return dict(row) if row else None

    def update(self, run_id: str, *, status=None, n_done=None, finished=False):
        sets, args = [], []
        if status is not None:
            sets.append("status = ?"); args.append(status)
        if n_done is not None:
            sets.append("n_done = ?"); args.append(n_done)
        if finished:
            sets.append("finished_at = ?"); args.append(now_iso())
        if not sets:
            return
        with self.connect() as conn:
            conn.execute(f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ?", (*args, run_id))

    def index_metrics(self, run_id: str, by_policy: dict, own_policy: str):
        """Index a run's metrics per policy; the runs row repeats those of ``own_policy``, its evaluation's."""
        with self.connect() as conn:
            for policy, metrics in by_policy.items():
                conn.execute(
                    "INSERT OR REPLACE INTO metrics (run_id, policy, n, accuracy, precision, recall, f1,"
                    " parse_failure_rate, metrics_json, scored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, policy, metrics.get("n"), metrics.get("accuracy"), metrics.get("precision"),
                     metrics.get("recall"), metrics.get("f1"), metrics.get("parse_failure_rate"),
                     json.dumps(metrics), now_iso()))
                if policy == own_policy:
                    conn.execute("UPDATE runs SET policy = ?, accuracy = ?, f1 = ?, parse_failure_rate = ?,"
                                 " metrics_json = ? WHERE run_id = ?",
                                 (policy, metrics.get("accuracy"), metrics.get("f1"),
                                  metrics.get("parse_failure_rate"), json.dumps(metrics), run_id))

    def list_runs(self, task=None, model=None, status=None) -> list[dict]:
        if not self.db_path.exists():
            return []
        where, args = [], []
        for col, val in (("task", task), ("model", model), ("status", status)):
            if val:
                where.append(f"{col} = ?"); args.append(val)
        sql = "SELECT * FROM runs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY created_at, run_id"
        with self.connect() as conn:
            return [dict(r) for r in conn.execute(sql, args)]

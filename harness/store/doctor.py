"""``harness runs doctor``: rebuild the run index from the run folders; move damaged runs to quarantine.

The run folders are the truth (manifest.json, samples.jsonl, metrics.json);
``harness.db`` is an index of them.  When the index is lost, emptied or
damaged, the doctor moves it aside (never deletes it), checks every run folder,
moves a folder it cannot read to ``<runs>/_quarantine/`` (never deletes it),
and indexes the others again with their metrics.  Judgment tables are rebuilt
by ``harness judge`` from each run's judgments.jsonl.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.records import RunManifest

QUARANTINE = "_quarantine"


@dataclass
class DoctorReport:
    """What the doctor did: the runs indexed, the folders quarantined (with why) and the old index kept aside."""

    indexed: list = field(default_factory=list)
    quarantined: dict = field(default_factory=dict)  # folder name -> reason
    old_index: str | None = None

    def to_dict(self) -> dict:
        return {"indexed": self.indexed, "quarantined": self.quarantined, "old_index": self.old_index}


def check_run_folder(run) -> RunManifest:
    """The run's manifest, after reading every file of the folder; HarnessError says what is damaged."""
    manifest = run.manifest  # a missing or mistyped field names the file and the field
    if manifest.run_id != run.id:
        raise HarnessError(f"{run.manifest_path}: run_id {manifest.run_id!r} is not the folder's name {run.id!r}")
    run.read_samples()
    run.scored_policies()
    return manifest


def quarantine(root: Path, folder: Path) -> Path:
    """Move ``folder`` into ``root/_quarantine/`` under a name that is free (never overwrite, never delete)."""
    target_dir = root / QUARANTINE
    target_dir.mkdir(exist_ok=True)
    target, n = target_dir / folder.name, 1
    while target.exists():
        n += 1
        target = target_dir / f"{folder.name}.{n}"
    shutil.move(str(folder), str(target))
    return target


def rebuild_index(store) -> DoctorReport:
    """Check every run folder of ``store``, quarantine the damaged ones and index the rest in a new harness.db."""
    from harness.store.runs import Run

    report = DoctorReport()
    good = []
    for folder in store.run_folders():
        run = Run(store, folder.name)
        try:
            good.append((run, check_run_folder(run)))
        except HarnessError as exc:
            report.quarantined[folder.name] = str(exc)
            quarantine(store.root, folder)
    if store.db_path.exists():
        aside = store.db_path.with_name(f"harness.db.before-doctor-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{store.db_path}{suffix}")
            if part.exists():
                part.rename(f"{aside}{suffix}")
        report.old_index = str(aside)
    with store.connect(check=False) as conn:
        for run, manifest in sorted(good, key=lambda rm: (rm[1].created_at, rm[0].id)):
            records = run.read_samples()
            scored = run.scored_policies()
            if manifest.policy in scored:
                status = "complete"
            elif manifest.failure:
                status = "failed"
            else:
                status = "running"  # shown as interrupted (no live owner) until the same eval resumes it
            conn.execute(
                "INSERT INTO runs (run_id, key, model, model_spec, task, status, created_at, n_done, n_total, path,"
                " policy, task_limit) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run.id, manifest.key, manifest.model, manifest.model_spec, manifest.task.name,
                 status, manifest.created_at, len(records), manifest.n_total, str(run.dir), manifest.policy,
                 manifest.task.limit))
            report.indexed.append(run.id)
    for run, manifest in good:
        data = run.metrics_file()
        if data.policies:
            store.index_metrics(run.id, data.by_policy(), manifest.policy)
    return report


def render_report(report: DoctorReport, root: Path) -> str:
    lines = [f"Indexed {len(report.indexed)} run(s) in {root / 'harness.db'}."]
    if report.old_index:
        lines.append(f"The previous index was kept as {report.old_index}.")
    for name, why in report.quarantined.items():
        lines.append(f"Quarantined {name} -> {root / QUARANTINE / name}: {why}")
    if not report.quarantined:
        lines.append("No damaged run folders.")
    return "\n".join(lines)

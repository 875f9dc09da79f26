"""Creating a blind A/B study and owning its SQLite database.

All studies live in ``<runs dir>/human_eval.db`` (this module is the one owner
of that file).  A study copies, for each drawn sample, the content and the two
runs' reasonings into the database, so what raters saw is frozen even if a run
folder is later moved.  Which run is shown as A (left) is drawn per item, so a
rater cannot learn a side.  The schema evolves through numbered migrations
tracked in ``PRAGMA user_version``.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.records import SampleRecord

DB_NAME = "human_eval.db"
QUESTIONS = ("coherence", "specificity", "helpfulness", "ship")
QUESTION_TEXT = {
    "coherence": "Which reasoning is more coherent (consistent, follows from the content to the verdict)?",
    "specificity": "Which reasoning is more specific to this content (not generic boilerplate)?",
    "helpfulness": "Which reasoning would help a human reviewer more?",
    "ship": "Which would you ship?",
}
CHOICES = ("A", "B", "tie")
STRATA = ("correct", "category")

# Numbered migrations: MIGRATIONS[i] brings a database from user_version i to i + 1.
MIGRATIONS = (
    """
    CREATE TABLE studies (
        study_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, seed INTEGER NOT NULL,
        stratify_by TEXT, runs_json TEXT NOT NULL, access_token TEXT NOT NULL
    );
    CREATE TABLE items (
        study_id TEXT NOT NULL REFERENCES studies(study_id), item_no INTEGER NOT NULL,
        sample_id TEXT NOT NULL, stratum TEXT, run_left TEXT NOT NULL, run_right TEXT NOT NULL,
        prompt TEXT NOT NULL, response TEXT, category TEXT,
        reasoning_left TEXT NOT NULL, verdict_left TEXT, reasoning_right TEXT NOT NULL, verdict_right TEXT,
        PRIMARY KEY (study_id, item_no)
    );
    CREATE TABLE raters (
        study_id TEXT NOT NULL, rater TEXT NOT NULL, csrf_token TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (study_id, rater)
    );
    CREATE TABLE answers (
        study_id TEXT NOT NULL, item_no INTEGER NOT NULL, rater TEXT NOT NULL, question TEXT NOT NULL,
        choice TEXT NOT NULL CHECK (choice IN ('A', 'B', 'tie')), answered_at TEXT NOT NULL,
        PRIMARY KEY (study_id, item_no, rater, question)
    );
    CREATE TABLE comments (
        study_id TEXT NOT NULL, item_no INTEGER NOT NULL, rater TEXT NOT NULL, comment TEXT NOT NULL,
        PRIMARY KEY (study_id, item_no, rater)
    );
    """,
    # 2: gold and attention-check items (issue 26), raters as sessions with their own secret,
    # answer versions (a stale tab cannot overwrite) and the history of every submit.
    """
    ALTER TABLE items ADD COLUMN kind TEXT NOT NULL DEFAULT 'study';
    ALTER TABLE items ADD COLUMN expected_json TEXT;
    ALTER TABLE raters ADD COLUMN display_name TEXT;
    ALTER TABLE raters ADD COLUMN session_hash TEXT;
    CREATE UNIQUE INDEX raters_session ON raters(session_hash);
    ALTER TABLE answers ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
    CREATE TABLE answer_history (
        study_id TEXT NOT NULL, item_no INTEGER NOT NULL, rater TEXT NOT NULL, version INTEGER NOT NULL,
        choices_json TEXT NOT NULL, comment TEXT NOT NULL, answered_at TEXT NOT NULL,
        PRIMARY KEY (study_id, item_no, rater, version)
    );
    """,
)
ITEM_KINDS = ("study", "gold", "attention")


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def db_path(runs_dir=None) -> Path:
    return Path(runs_dir or os.environ.get("HARNESS_RUNS_DIR") or "runs") / DB_NAME


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the schema migrated to the newest version.

    WAL lets raters read while another writes; ``timeout`` makes concurrent
    writers wait for each other instead of failing.
    """
    from harness.store.files import sqlite_errors

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.stat().st_size == 0:  # emptied, not new: its studies are gone; say so, keep it
        from harness.store.files import damaged

        raise damaged(path, "is empty (0 bytes), so its studies are gone")
    with sqlite_errors(path):  # a damaged study database names itself, not a traceback
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise HarnessError(f"{path}: study database version {version} is newer than this harness "
                           f"(knows {len(MIGRATIONS)}); upgrade harness")
    for number in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] == number:  # another process may have migrated
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return conn


@dataclass
class Item:
    """One A/B comparison as raters see it (A = left, B = right)."""

    item_no: int
    sample_id: str
    stratum: str | None
    run_left: str
    run_right: str
    prompt: str
    response: str | None
    category: str | None
    reasoning_left: str
    verdict_left: str | None
    reasoning_right: str
    verdict_right: str | None
    kind: str = "study"  # "gold" and "attention" items check raters and never count as evidence
    expected: dict[str, str] | None = None  # a check item's expected choice per question

    @classmethod
    def from_row(cls, row) -> Item:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k not in ("expected",)}
        return cls(**fields, expected=json.loads(row["expected_json"]) if row["expected_json"] else None)


@dataclass
class Study:
    study_id: str
    created_at: str
    seed: int
    stratify_by: str | None
    runs: list[str]
    access_token: str
    shown: list[Item]  # every item raters see, in page order (study items and checks)
    path: Path

    @property
    def items(self) -> list[Item]:
        """The items that compare runs (what every statistic counts); checks are in :attr:`checks`."""
        return [item for item in self.shown if item.kind == "study"]

    @property
    def checks(self) -> list[Item]:
        """Gold and attention-check items: they measure raters, never the runs."""
        return [item for item in self.shown if item.kind != "study"]

    def item(self, item_no: int) -> Item:
        for item in self.shown:
            if item.item_no == item_no:
                return item
        raise HarnessError(f"study {self.study_id} has no item {item_no} (items 1-{len(self.shown)})")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The run pairs compared, each as (baseline, candidate) in the order the runs were given."""
        return list(itertools.combinations(self.runs, 2))


def open_study(study_id: str, runs_dir=None) -> Study:
    path = db_path(runs_dir)
    known = []
    if path.exists():
        conn = connect(path)
        try:
            row = conn.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
            if row is not None:
                items = [Item.from_row(r) for r in conn.execute(
                    "SELECT * FROM items WHERE study_id = ? ORDER BY item_no", (study_id,))]
                return Study(row["study_id"], row["created_at"], row["seed"], row["stratify_by"],
                             json.loads(row["runs_json"]), row["access_token"], items, path)
            known = [r[0] for r in conn.execute("SELECT study_id FROM studies")]
        finally:
            conn.close()
    raise HarnessError(f"unknown study '{study_id}' in {path}; known studies: {', '.join(known) or '(none)'} "
                       "(create one with `harness human-eval create`)")


ITEM_COLUMNS = ("study_id", "item_no", "sample_id", "stratum", "run_left", "run_right", "prompt", "response",
                "category", "reasoning_left", "verdict_left", "reasoning_right", "verdict_right", "kind",
                "expected_json")


def with_checks(rows: list[tuple], runs: list[str], samples: list[dict], shared: list[str], gold: int,
                attention: int, seed: int) -> list[tuple]:
    """The study's rows with check items put at random places, every item renumbered in page order."""
    from harness.human_eval.checks import make_checks

    rng = random.Random(f"checks-{seed}")  # its own stream: the study's draw is unchanged by checks
    checks = make_checks(runs, samples, shared, {r[2] for r in rows}, gold, attention, rng)
    study_id = rows[0][0]
    check_rows = [(study_id, 0, c.sample_id, None, c.run_left, c.run_right, c.prompt, c.response, c.category,
                   c.reasoning_left, c.verdict_left, c.reasoning_right, c.verdict_right, c.kind,
                   json.dumps(c.expected)) for c in checks]
    order = rows + check_rows
    places = sorted(rng.sample(range(len(order)), len(check_rows)))
    merged, study_iter, check_iter = [], iter(rows), iter(check_rows)
    for position in range(len(order)):
        merged.append(next(check_iter) if position in places else next(study_iter))
    return [(r[0], no, *r[2:]) for no, r in enumerate(merged, 1)]


def stratum_of(records: list[SampleRecord], stratify_by: str | None) -> str:
    if stratify_by == "correct":
        return "/".join("right" if r.correct else "wrong" for r in records)
    if stratify_by == "category":
        return str(records[0].category or "(none)")
    return "all"


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` draws over strata (largest remainder), never above a stratum's size."""
    total = sum(sizes.values())
    exact = {k: n * v / total for k, v in sizes.items()}
    out = {k: int(x) for k, x in exact.items()}
    for k in sorted(sizes, key=lambda k: (out[k] - exact[k], k)):
        if sum(out.values()) >= n:
            break
        if out[k] < sizes[k]:
            out[k] += 1
    return out


def create_study(run_refs: list[str], n: int, *, seed: int = 0, stratify_by: str | None = None,
                 runs_dir=None, study_id: str | None = None, gold: int = 0, attention: int = 0) -> Study:
    """Draw ``n`` samples every run shares and store them as a study; returns the study.

    Two runs give ``n`` A-vs-B items.  More runs give ``n`` items spread evenly
    over every pair of runs (balanced for a Bradley-Terry ranking), each item
    a different sample where there are enough.  ``gold`` and ``attention``
    check items (:mod:`harness.human_eval.checks`) are mixed in at random
    places; with none, the draw is the same as before they existed.
    """
    from harness.store.runs import RunStore

    if len(run_refs) < 2 or len(set(run_refs)) != len(run_refs):
        raise HarnessError(f"a study needs two or more different runs, got {run_refs}")
    if n < 1:
        raise HarnessError(f"--n must be at least 1, got {n}")
    if stratify_by not in (None, *STRATA):
        raise HarnessError(f"--stratify-by must be one of {', '.join(STRATA)}, got '{stratify_by}'")
    if study_id is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", study_id):
        raise HarnessError(f"study id '{study_id}': use 1-64 letters, digits, '_', '.' or '-'")
    store = RunStore(runs_dir)
    runs = [store.open_run(ref) for ref in run_refs]
    samples = [{r.id: r for r in run.read_samples()} for run in runs]
    shared = [sid for sid in samples[0] if all(sid in s for s in samples[1:])]
    if not shared:
        raise HarnessError(f"runs {', '.join(r.id for r in runs)} share no samples (different tasks or "
                           "disjoint --limit/--shard?); a study compares the same samples")
    if n > len(shared):
        raise HarnessError(f"--n {n} is larger than the {len(shared)} samples the runs share; use --n {len(shared)} "
                           "or less")
    rng = random.Random(seed)
    pairs = list(itertools.combinations(range(len(runs)), 2))
    assignment = [pairs[i % len(pairs)] for i in range(n)]  # balanced: each pair gets n/len(pairs) items
    rng.shuffle(assignment)
    # Stratify on the first pair's runs: for two runs that is the study; for more, strata stay comparable.
    by_stratum: dict[str, list[str]] = {}
    for sid in shared:
        key = stratum_of([samples[0][sid], samples[1][sid]] if stratify_by == "correct" else [samples[0][sid]],
                         stratify_by)
        by_stratum.setdefault(key, []).append(sid)
    counts = allocate({k: len(v) for k, v in by_stratum.items()}, n)
    drawn = []
    for key in sorted(by_stratum):
        drawn += [(sid, key) for sid in rng.sample(by_stratum[key], counts[key])]
    rng.shuffle(drawn)
    study_id = study_id or time.strftime("study-%Y%m%d-%H%M%S-", time.gmtime()) + secrets.token_hex(2)
    rows = []
    for item_no, ((sid, key), (i, j)) in enumerate(zip(drawn, assignment), 1):
        if rng.random() < 0.5:
            i, j = j, i
        left, right = samples[i][sid], samples[j][sid]
        rows.append((study_id, item_no, sid, key if stratify_by else None, runs[i].id, runs[j].id,
                     left.prompt or "", left.response, left.category, left.reasoning, left.verdict,
                     right.reasoning, right.verdict, "study", None))
    if gold or attention:
        rows = with_checks(rows, [r.id for r in runs], samples, shared, gold, attention, seed)
    path = db_path(store.root)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        if conn.execute("SELECT 1 FROM studies WHERE study_id = ?", (study_id,)).fetchone():
            conn.execute("ROLLBACK")
            raise HarnessError(f"study '{study_id}' already exists in {path}")
        conn.execute("INSERT INTO studies VALUES (?, ?, ?, ?, ?, ?)",
                     (study_id, now_iso(), seed, stratify_by, json.dumps([r.id for r in runs]),
                      secrets.token_urlsafe(16)))
        conn.executemany(f"INSERT INTO items ({', '.join(ITEM_COLUMNS)}) VALUES ({', '.join('?' * len(ITEM_COLUMNS))})",
                         rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return open_study(study_id, store.root)

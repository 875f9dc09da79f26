"""SQLite schemas as ordered, numbered migrations, applied on connect (as in simonw/llm).

Each database has a ``_migrations`` table naming the migrations that ran.  On
connect every migration not yet recorded runs, in order, inside one write
transaction, so two processes opening the same file at once cannot both apply
one.  To change a schema, append a function to the list; never edit one that
has shipped.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

Migration = Callable[[sqlite3.Connection], None]


def migrate(conn: sqlite3.Connection, migrations: list[Migration]):
    """Apply the migrations of ``migrations`` not yet recorded in ``conn``'s ``_migrations`` table."""
    conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    conn.commit()
    if not pending(conn, migrations):
        return
    level = conn.isolation_level
    conn.isolation_level = None  # explicit transaction: DDL included, all or nothing
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn in pending(conn, migrations):  # re-read under the lock
                fn(conn)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                             (fn.__name__, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.isolation_level = level


def pending(conn, migrations) -> list[Migration]:
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    return [fn for fn in migrations if fn.__name__ not in done]


def run_statements(conn, sql: str):
    """Run ``;``-separated statements one by one (executescript would commit mid-transaction)."""
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


# -- the run index (runs/harness.db) -----------------------------------------

RUN_INDEX: list[Migration] = []


def run_index_migration(fn: Migration) -> Migration:
    RUN_INDEX.append(fn)
    return fn


@run_index_migration
def m001_runs(conn):
    """The runs table as it was before migrations, so existing harness.db files upgrade."""
    run_statements(conn, """
    CREATE TABLE IF NOT EXISTS runs (
        run_id TEXT PRIMARY KEY,
        key TEXT NOT NULL,
        model TEXT NOT NULL,
        model_spec TEXT,
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        finished_at TEXT,
        n_done INTEGER DEFAULT 0,
        n_total INTEGER,
        accuracy REAL,
        f1 REAL,
        parse_failure_rate REAL,
        metrics_json TEXT,
        path TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS runs_key ON runs(key)
    """)


@run_index_migration
def m002_policy_metrics(conn):
    """Metrics per (run, policy); ``runs.policy`` is the policy a run was evaluated with.

    Existing metrics move over; the guardreasoner-paper policy used to store F1
    x 100 and is rescaled to the 0-1 scale of every other rate.
    """
    run_statements(conn, """
    ALTER TABLE runs ADD COLUMN policy TEXT;
    UPDATE runs SET policy = json_extract(metrics_json, '$.policy') WHERE metrics_json IS NOT NULL;
    UPDATE runs SET f1 = json_extract(metrics_json, '$.f1') / 100.0,
                    metrics_json = json_set(metrics_json, '$.f1', json_extract(metrics_json, '$.f1') / 100.0)
        WHERE policy = 'guardreasoner-paper' AND json_extract(metrics_json, '$.f1') IS NOT NULL;
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        policy TEXT NOT NULL,
        n INTEGER,
        accuracy REAL,
        precision REAL,
        recall REAL,
        f1 REAL,
        parse_failure_rate REAL,
        metrics_json TEXT NOT NULL,
        scored_at TEXT NOT NULL,
        PRIMARY KEY (run_id, policy)
    );
    INSERT INTO metrics (run_id, policy, n, accuracy, precision, recall, f1, parse_failure_rate, metrics_json,
                         scored_at)
        SELECT run_id, policy, json_extract(metrics_json, '$.n'), json_extract(metrics_json, '$.accuracy'),
               json_extract(metrics_json, '$.precision'), json_extract(metrics_json, '$.recall'),
               json_extract(metrics_json, '$.f1'), json_extract(metrics_json, '$.parse_failure_rate'), metrics_json,
               COALESCE(finished_at, created_at)
        FROM runs WHERE metrics_json IS NOT NULL AND policy IS NOT NULL
    """)


@run_index_migration
def m003_judgments(conn):
    """Judgments keyed by the judge's full identity (name, version, hash of its argument and options).

    Tables of earlier harnesses were keyed by (judge, version) only, so their rows
    could stand for other options' scores; they are dropped, and ``harness judge``
    rebuilds them from each run's judgments.jsonl.
    """
    run_statements(conn, """
    DROP TABLE IF EXISTS judgments;
    DROP TABLE IF EXISTS judge_metrics;
    DROP TABLE IF EXISTS judge_cache;
    CREATE TABLE judgments (
        run_id TEXT NOT NULL, sample_id TEXT NOT NULL, sample_index INTEGER NOT NULL,
        identity TEXT NOT NULL, judge TEXT NOT NULL, version TEXT NOT NULL, args_hash TEXT NOT NULL,
        scores_json TEXT NOT NULL, explanation TEXT, error TEXT,
        PRIMARY KEY (run_id, sample_id, sample_index, identity)
    );
    CREATE TABLE judge_metrics (
        run_id TEXT NOT NULL, identity TEXT NOT NULL, judge TEXT NOT NULL, version TEXT NOT NULL,
        args_hash TEXT NOT NULL, criterion TEXT NOT NULL, mean REAL, ci_low REAL, ci_high REAL, n INTEGER,
        PRIMARY KEY (run_id, identity, criterion)
    );
    CREATE TABLE judge_cache (
        identity TEXT NOT NULL, input_hash TEXT NOT NULL, judgment_json TEXT NOT NULL,
        PRIMARY KEY (identity, input_hash)
    )
    """)


@run_index_migration
def m004_task_limit(conn):
    """``runs.task_limit``: the ``--limit`` a run was made with (NULL: the whole task).

    Leaderboards keep subset runs out of full-task columns with it.  Existing rows
    are filled from each run's manifest.json (``task.limit``) where it can be read.
    """
    from harness.errors import HarnessError
    from harness.records import RunManifest

    conn.execute("ALTER TABLE runs ADD COLUMN task_limit INTEGER")
    for run_id, path in conn.execute("SELECT run_id, path FROM runs").fetchall():
        try:
            limit = RunManifest.read(Path(path) / "manifest.json", required=("task",)).task.limit
        except HarnessError:
            continue  # a run folder that is gone or unreadable keeps NULL
        if limit is not None:
            conn.execute("UPDATE runs SET task_limit = ? WHERE run_id = ?", (limit, run_id))


def connect_run_index(path) -> sqlite3.Connection:
    from harness.store.files import connect_sqlite  # a damaged index names itself and how to rebuild it

    return connect_sqlite(path, lambda conn: migrate(conn, RUN_INDEX))

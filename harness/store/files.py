"""The one reader of the harness's store files: JSON state files and SQLite databases.

A damaged file (truncated JSON, a disk-full write, a file that is not a
database) is reported as a :class:`~harness.errors.HarnessError` that names the
file and says how to recover, never as a traceback.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from pathlib import Path

from harness.errors import HarnessError

DOCTOR = "run `harness doctor` (or `harness runs doctor`) to rebuild the run index from the run folders and move damaged runs to quarantine"

#: how to recover each store file, by name
RECOVERY = {
    "manifest.json": DOCTOR,
    "metrics.json": "delete it and run `harness eval` again with the same options: the run is rescored from its "
                    "samples without generating",
    "harness.db": DOCTOR,
    "generations.db": "delete it (it is only a cache of generations; they are regenerated when needed)",
    "human_eval.db": "restore it from a backup; the studies' answers live only there",
    "pipeline.json": "delete it: the pipeline re-checks each step's outputs and skips those that exist",
}


def recovery(path) -> str:
    return RECOVERY.get(Path(path).name, "restore it from a backup or delete it")


class DamagedStore(HarnessError):
    """A store file that cannot be read."""


def damaged(path, problem: str) -> DamagedStore:
    return DamagedStore(f"{path}: damaged store file ({problem}); to recover: {recovery(path)}")


def read_json_file(path, expect=dict, missing=None):
    """A store's JSON file; ``missing`` when it does not exist (None: that is an error too)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if missing is not None:
            return missing
        raise HarnessError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON at line {exc.lineno}: {exc.msg}") from None
    if expect is not None and not isinstance(data, expect):
        raise damaged(path, f"expected a JSON {expect.__name__}, found {type(data).__name__}")
    return data


def connect_sqlite(path, setup=None, timeout: float = 30) -> sqlite3.Connection:
    """A store's SQLite database after ``setup(conn)`` (its migrations); a damaged file names itself and its recovery.

    The schema's owner passes its migrations in (:func:`harness.store.db.connect_run_index`), so this
    reader depends on no schema.
    """
    path = Path(path)
    if path.is_dir():
        raise damaged(path, "is a folder, not a database file")
    with sqlite_errors(path):
        conn = sqlite3.connect(path, timeout=timeout)
        conn.row_factory = sqlite3.Row
        if setup is not None:
            setup(conn)
        else:
            conn.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    return conn


@contextmanager
def sqlite_errors(path):
    """Turn SQLite's errors about a damaged file into one that names ``path`` and its recovery."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "no such" in str(exc)):
            raise
        raise damaged(path, f"not a readable SQLite database: {exc}") from None


def write_json_atomic(path, data):
    """Write ``data`` as JSON to a temporary beside ``path`` and rename it over ``path`` (whole or not at all)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)

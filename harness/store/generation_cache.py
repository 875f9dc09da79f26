"""SQLite cache of generations, so re-scoring or re-judging a run never regenerates.

A completion is keyed by the model fingerprint, the exact rendered prompt, the
settings that change what is generated (max_new_tokens, temperature, top_p,
ignore_eos), the sample index and the request's seed.  Batch size and the number
of samples are left out: they do not change a completion.  Failed generations
are not stored, so a later run retries them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path
from typing import Iterable, Iterator

from harness.interfaces.model import (
    Generation,
    GenerationRequest,
    GenerationSettings,
    Model,
)
from harness.store.db import migrate

OUTPUT_SETTINGS = ("max_new_tokens", "temperature", "top_p", "ignore_eos")


def m001_generations(conn):
    """The generations table as it was before migrations, so existing cache files upgrade."""
    conn.execute("""
    CREATE TABLE IF NOT EXISTS generations (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        sample_id TEXT,
        sample_index INTEGER,
        seed INTEGER,
        settings TEXT,
        generation TEXT NOT NULL,
        created_at REAL
    )""")


MIGRATIONS = [m001_generations]  # numbered, applied on connect (harness.store.db)


def cache_key(fingerprint: str, request: GenerationRequest, settings: GenerationSettings) -> str:
    parts = {
        "fingerprint": fingerprint,
        "prompt": request.prompt,
        "settings": {name: getattr(settings, name) for name in OUTPUT_SETTINGS},
        "sample_index": request.sample_index,
        "seed": request.seed,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class GenerationCache:
    """One SQLite file; safe to share between runs (WAL mode, short transactions)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        from harness.store.files import sqlite_errors

        with sqlite_errors(self.path):  # a damaged cache names itself and says to delete it
            self.db = sqlite3.connect(self.path, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # a cache: no fsync per completion (WAL stays consistent)
            migrate(self.db, MIGRATIONS)

    def get(self, key: str) -> Generation | None:
        row = self.db.execute("SELECT generation FROM generations WHERE key = ?", (key,)).fetchone()
        return Generation(**json.loads(row[0])) if row else None

    def put(self, key: str, fingerprint: str, generation: Generation, settings: GenerationSettings):
        self.db.execute(
            "INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, fingerprint, generation.sample_id, generation.sample_index, generation.seed,
             json.dumps(settings.to_dict(), sort_keys=True), json.dumps(asdict(generation)), time.time()),
        )
        self.db.commit()

    def __len__(self):
        return self.db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    def close(self):
        self.db.close()


def cached_generate(model: Model, requests: Iterable[GenerationRequest], settings: GenerationSettings,
                    cache_path, enabled: bool = True) -> Iterator[Generation]:
    """Yield cached generations first, then the model's for the rest, storing each as it arrives.

    With ``enabled=False`` the cache is neither read nor written (``--no-cache``).
    A cached generation comes back with the requesting ``sample_id`` and with the
    note ``"from generation cache"`` in its warnings.
    """
    requests = list(requests)
    if not enabled:
        yield from model.generate(requests, settings)
        return
    cache = GenerationCache(cache_path)
    try:
        fingerprint = model.fingerprint()
        missing, keys = [], {}
        for request in requests:
            key = cache_key(fingerprint, request, settings)
            hit = cache.get(key)
            if hit is None:
                missing.append(request)
                keys[(request.sample_id, request.sample_index)] = key
                continue
            hit.sample_id, hit.sample_index = request.sample_id, request.sample_index
            hit.warnings = list(hit.warnings) + ["from generation cache"]
            yield hit
        if not missing:
            return
        for generation in model.generate(missing, settings):
            key = keys.get((generation.sample_id, generation.sample_index))
            if key is not None and generation.error is None and generation.text is not None:
                cache.put(key, fingerprint, generation, settings)
            yield generation
    finally:
        cache.close()

"""Where one process's wall time goes: seconds from the process's own start to each stage of an eval.

The scaling figures of ``--workers`` runs are explained stage by stage (start-up and
imports, planning, weight load, generation, waiting for the other ranks, merging and
scoring) rather than guessed: each rank's timeline is stored in the run's manifest.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

_IMPORTED = time.time()


def process_started_at() -> float:
    """Epoch seconds at which this process started: Linux's /proc (10 ms ticks), else this module's import."""
    try:
        with open("/proc/self/stat") as fh:
            after_name = fh.read().rsplit(")", 1)[1].split()
        start_ticks = int(after_name[19])  # field 22, "starttime", counted from the field after the name
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - uptime + start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED


@dataclass
class Timeline:
    """Stage name -> seconds since the process started, in the order the stages were reached."""

    started_at: float = field(default_factory=process_started_at)
    stages: dict = field(default_factory=dict)

    def mark(self, stage: str):
        self.stages[stage] = round(time.time() - self.started_at, 3)

    def as_dict(self) -> dict:
        return {"started_at": round(self.started_at, 3), "stages": dict(self.stages)}

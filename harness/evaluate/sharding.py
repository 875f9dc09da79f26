"""Data-parallel evaluation: several processes (one per GPU, or one per served endpoint) share one run.

Each rank takes every ``world``-th sample and appends its records to its own
``samples.rank<R>.jsonl``; the run's readers see the union, deduplicated by
sample id.  When every rank has written its ``rank<R>.done`` marker, rank 0
merges the shards into ``samples.jsonl`` in task order and scores the run.
Ranks come from ``--workers N`` (the harness starts the processes) or from the
``RANK``/``WORLD_SIZE`` variables that ``accelerate launch`` and ``torchrun`` set.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass


@dataclass
class Topology:
    rank: int = 0
    world_size: int = 1
    launcher: str = "single"

    @classmethod
    def from_env(cls) -> "Topology":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        launcher = os.environ.get("HARNESS_LAUNCHER", "torchrun/accelerate")
        return cls(rank=int(os.environ.get("RANK", "0")), world_size=world, launcher=launcher)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def owns(self, index: int) -> bool:
        return index % self.world_size == self.rank

    def rank_info(self) -> dict:
        return {**asdict(self), "host": platform.node(), "pid": os.getpid(),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def shard_file(run_dir, rank: int):
    return run_dir / f"samples.rank{rank}.jsonl"


def done_marker(run_dir, rank: int):
    return run_dir / f"rank{rank}.done"


def mark_done(run_dir, topology: Topology, n_records: int):
    info = {**topology.rank_info(), "records": n_records}
    tmp = done_marker(run_dir, topology.rank).with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(done_marker(run_dir, topology.rank))


def wait_for_ranks(run_dir, world_size: int, timeout: float = 24 * 3600, poll: float = 0.2) -> list[dict]:
    """Block until every rank has finished; returns their rank info."""
    deadline = time.time() + timeout
    while True:
        markers = [done_marker(run_dir, r) for r in range(world_size)]
        if all(m.exists() for m in markers):
            return [json.loads(m.read_text()) for m in markers]
        if time.time() > deadline:
            from harness.errors import HarnessError

            missing = [r for r, m in enumerate(markers) if not m.exists()]
            raise HarnessError(f"{run_dir}: ranks {missing} did not finish; re-run the same command to resume")
        time.sleep(poll)


def clear_markers(run_dir):
    for path in run_dir.glob("rank*.done"):
        path.unlink()


def launch_workers(argv: list[str], workers: int, devices: list[str] | None) -> int:
    """Run ``harness <argv>`` in ``workers`` processes (one per device) and wait for all of them."""
    procs = []
    for rank in range(workers):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(workers), "LOCAL_RANK": str(rank),
               "HARNESS_LAUNCHER": "harness --workers"}
        if devices:
            env["CUDA_VISIBLE_DEVICES"] = devices[rank]
        stdout = None if rank == 0 else subprocess.DEVNULL
        procs.append(subprocess.Popen([sys.executable, "-m", "harness", *argv], env=env, stdout=stdout))
    codes = [p.wait() for p in procs]
    return next((c for c in codes if c), 0)

"""Data-parallel evaluation: several processes (one per GPU, or one per served endpoint) share one run.

Each rank takes its share of the samples (:func:`shard_assignment`: about the
same estimated work per rank, the same split in every rank) and appends its records to its own
``samples.rank<R>.jsonl``; the run's readers see the union, deduplicated by
sample id.  When every rank has written its ``rank<R>.done`` marker, rank 0
merges the shards into ``samples.jsonl`` in task order and scores the run.
Ranks come from ``--workers N`` (the harness starts the processes) or from the
``RANK``/``WORLD_SIZE`` variables that ``accelerate launch`` and ``torchrun`` set.
Markers name the launch that wrote them, so a marker left by a killed launch is
never taken for a rank of this one; workers die with the process that started
them, and that process stops the others when one fails, so no rank waits forever.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass

from harness.errors import HarnessError


@dataclass
class Topology:
    rank: int = 0
    world_size: int = 1
    launcher: str = "single"
    launch_id: str | None = None

    @classmethod
    def from_env(cls) -> "Topology":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        launcher = os.environ.get("HARNESS_LAUNCHER", "torchrun/accelerate")
        return cls(rank=int(os.environ.get("RANK", "0")), world_size=world, launcher=launcher,
                   launch_id=launch_id(world))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def rank_info(self) -> dict:
        return {**asdict(self), "host": platform.node(), "pid": os.getpid(),
                "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


def sample_cost(rendered_prompt: str, max_new_tokens: int, samples: int) -> int:
    """The work one sample asks for, estimated without a tokenizer: about 4 characters a prompt token, plus
    every token each of its ``samples`` completions may generate (decoding, not the prompt, dominates)."""
    return samples * (len(rendered_prompt) // 4 + max_new_tokens)


def shard_assignment(costs: list[int], world_size: int) -> list[int]:
    """The rank of each sample: greedy longest-first, each sample to the rank with the least work so far.

    Deterministic (ties go to the earlier sample and the lower rank), so every rank
    computes the same split from the plan alone; no sample is lost or given twice.
    """
    loads = [0] * world_size
    ranks = [0] * len(costs)
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(world_size), key=lambda r: (loads[r], r))
        ranks[index] = rank
        loads[rank] += costs[index]
    return ranks


def launch_id(world_size: int) -> str | None:
    """What every rank of one launch shares and no other launch does (None when nothing is known).

    ``--workers`` sets HARNESS_LAUNCH_ID; under torchrun or accelerate on one
    host, every rank's parent is the launcher, so its pid; across hosts,
    torchrun's run id unless it is its default "none".
    """
    if os.environ.get("HARNESS_LAUNCH_ID"):
        return os.environ["HARNESS_LAUNCH_ID"]
    if os.environ.get("LOCAL_WORLD_SIZE") == str(world_size):
        return f"{platform.node()}:{os.getppid()}"
    if os.environ.get("TORCHELASTIC_RUN_ID", "none") != "none":
        return os.environ["TORCHELASTIC_RUN_ID"]
    return None


def done_marker(run_dir, rank: int):
    return run_dir / f"rank{rank}.done"


def mark_done(run_dir, topology: Topology, n_records: int, extra: dict | None = None):
    """Say this rank has written all its records; ``extra`` (its timeline) reaches rank 0 with the marker."""
    info = {**topology.rank_info(), "records": n_records, **(extra or {})}
    tmp = done_marker(run_dir, topology.rank).with_suffix(".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(done_marker(run_dir, topology.rank))


def read_marker(path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def current_launch() -> str | None:
    return Topology.from_env().launch_id


def wait_for_ranks(run_dir, world_size: int, timeout: float = 24 * 3600, poll: float = 0.2) -> list[dict]:
    """Block until every rank of this launch has finished; returns their rank info and removes the markers."""
    deadline = time.time() + timeout
    launch = current_launch()
    while True:
        markers = [done_marker(run_dir, r) for r in range(world_size)]
        infos = [read_marker(m) for m in markers]
        fresh = [i is not None and (launch is None or i.get("launch_id") == launch) for i in infos]
        if all(fresh):
            for marker in markers:
                marker.unlink(missing_ok=True)
            return infos
        if time.time() > deadline:
            missing = [r for r, ok in enumerate(fresh) if not ok]
            raise HarnessError(f"{run_dir}: ranks {missing} did not finish; re-run the same command to resume")
        time.sleep(poll)


def clear_markers(run_dir):
    """Remove markers of earlier launches (a killed run's); this launch's ranks may already have written theirs."""
    launch = current_launch()
    for path in run_dir.glob("rank*.done"):
        info = read_marker(path)
        if launch is None or info is None or info.get("launch_id") != launch:
            path.unlink(missing_ok=True)


def cuda_device_count() -> int:
    """How many CUDA devices this process sees, from the driver (libcuda) in milliseconds, not a torch import.

    Where the driver library cannot be opened by that name (not Linux, or another
    GPU stack), torch answers; with neither, 0.
    """
    import ctypes

    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        try:
            import torch
        except ImportError:
            return 0
        return torch.cuda.device_count()
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0  # no usable device (CUDA_VISIBLE_DEVICES empty, or a driver error)
    return count.value


def visible_gpus() -> list[str]:
    """The CUDA devices this process may use, as CUDA_VISIBLE_DEVICES would name them for a child."""
    count = cuda_device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        return listed[:count]
    return [str(i) for i in range(count)]


def assign_devices(devices: list[str] | None, workers: int, visible: list[str]) -> list[str] | None:
    """The CUDA_VISIBLE_DEVICES of each worker, checked before anything loads.

    ``devices`` are indices into this process's visible GPUs (``visible``); a
    device that does not exist is an error rather than a worker that quietly
    falls back to the CPU.
    """
    if devices is None:
        return None
    if len(devices) != workers:
        raise HarnessError(f"--devices lists {len(devices)} device(s) for {workers} worker(s); give one per worker")
    out = []
    for device in devices:
        if not device.isdigit() or int(device) >= len(visible):
            have = (f"{len(visible)} visible CUDA device(s), indices 0..{len(visible) - 1}" if visible
                    else "no visible CUDA device")
            raise HarnessError(f"--devices {','.join(devices)}: device '{device}' does not exist; this host has "
                               f"{have}. Leave --devices out for a model that needs no GPU.")
        out.append(visible[int(device)])
    return out


def die_with_parent(parent_pid: int):
    """End this worker when the process that launched it dies (a kill -9 of it included)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # it died before the line above
            os._exit(1)
        return
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="parent-watchdog").start()


def launch_workers(argv: list[str], workers: int, devices: list[str] | None, poll: float = 0.2,
                   log=None) -> int:
    """Run ``harness <argv>`` in ``workers`` processes (one per device) and wait for all of them.

    When a worker fails or is killed the others are stopped at once (rank 0
    would otherwise wait for its marker forever); re-running the command resumes.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    launch = uuid.uuid4().hex[:12]
    procs = []
    try:
        for rank in range(workers):
            env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(workers), "LOCAL_RANK": str(rank),
                   "HARNESS_LAUNCHER": "harness --workers", "HARNESS_LAUNCH_ID": launch,
                   "HARNESS_PARENT_PID": str(os.getpid())}
            if devices:
                env["CUDA_VISIBLE_DEVICES"] = devices[rank]
            stdout = None if rank == 0 else subprocess.DEVNULL
            procs.append(subprocess.Popen([sys.executable, "-m", "harness", *argv], env=env, stdout=stdout))
        while True:
            codes = [p.poll() for p in procs]
            failed = next(((r, c) for r, c in enumerate(codes) if c not in (None, 0)), None)
            if failed:
                rank, code = failed
                reason = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                log(f"Error: worker rank {rank} {reason}; stopped the other workers. "
                    "Records written so far are kept: run the same command again to resume.")
                return 1
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll)
    finally:
        stop_all(procs)


def stop_all(procs, grace: float = 5.0):
    """SIGTERM every worker still running, SIGKILL those that have not gone after ``grace`` seconds."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

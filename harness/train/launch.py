"""``harness train`` on a host with several GPUs: re-execute under ``accelerate launch``.

TRL refuses ``nn.DataParallel``, which is what one process sees on a host with
two or more visible GPUs; the supported way is one process per GPU (DDP).  So a
``harness train`` that is not already distributed replaces itself with
``accelerate launch --multi_gpu --num_processes N -m harness train ...`` (N =
``--gpus``, default every visible GPU), or, for ``--gpus 1`` on a bigger host,
with itself pinned to one GPU through CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from harness.errors import HarnessError


@dataclass
class Launch:
    """How to run: here as is, or re-executed with ``processes`` processes on ``devices``."""

    relaunch: bool
    processes: int = 1
    devices: list[str] | None = None  # CUDA_VISIBLE_DEVICES for the relaunch; None keeps the current one


def decide(visible: list[str], gpus: int | None, world_size: int = 1) -> Launch:
    """The launch for ``visible`` GPUs (as CUDA_VISIBLE_DEVICES names them), ``--gpus`` and the current world size."""
    if gpus is not None and gpus < 1:
        raise HarnessError(f"--gpus {gpus}: expected at least 1 (leave it out to use every visible GPU)")
    if world_size > 1:  # under accelerate launch / torchrun already: the launcher chose
        if gpus is not None and gpus != world_size:
            raise HarnessError(f"--gpus {gpus}, but this was launched with {world_size} processes; "
                               "drop --gpus or match --num_processes")
        return Launch(False, world_size)
    if gpus is not None and gpus > len(visible):
        have = f"{len(visible)} visible CUDA device(s)" if visible else "no visible CUDA device"
        raise HarnessError(f"--gpus {gpus}: this host has {have}")
    n = gpus or len(visible)
    if n <= 1 and len(visible) <= 1:
        return Launch(False, 1)
    return Launch(True, n, visible[:n] if n < len(visible) else None)


def command(launch: Launch, argv: list[str]) -> list[str]:
    """The command line that runs ``harness <argv>`` as ``launch`` says."""
    if launch.processes == 1:
        return [sys.executable, "-m", "harness", *argv]
    # the command measured to work (issue 16); accelerate's defaults do the rest
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(launch.processes),
            "-m", "harness", *argv]


def relaunch_if_needed(gpus: int | None, argv: list[str], echo=None):
    """Replace this process with the launch the host needs; return only when training should run here."""
    from harness.evaluate.sharding import visible_gpus

    launch = decide(visible_gpus(), gpus, int(os.environ.get("WORLD_SIZE", "1")))
    if not launch.relaunch:
        return
    env = dict(os.environ)
    if launch.devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(launch.devices)
    cmd = command(launch, argv)
    if echo:
        echo(f"Training on {launch.processes} GPU(s): {' '.join(cmd[1:])}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, cmd, env)

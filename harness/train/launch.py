"""``harness train`` on a host with several GPUs: re-execute under ``accelerate launch``.

TRL refuses ``nn.DataParallel``, which is what one process sees on a host with
two or more visible GPUs; the supported way is one process per GPU (DDP).  So a
``harness train`` that is not already distributed replaces itself with
``accelerate launch --multi_gpu --num_processes N -m harness train ...`` (N =
``--gpus``, default every visible GPU), or, for ``--gpus 1`` on a bigger host,
with itself pinned to one GPU through CUDA_VISIBLE_DEVICES.

``distributed: fsdp`` (a training-config key, or ``--distributed fsdp``) shards
the base model over the GPUs instead of copying it to each (an 8B base, LoRA or
QLoRA): the relaunch adds the FSDP settings below, which are also shipped as
configs/accelerate_fsdp.yaml for ``accelerate launch --config_file`` (several hosts).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from harness.config import where_of
from harness.errors import HarnessError

#: how the processes share the work: a copy of the model each (DDP), or the model sharded over them (FSDP)
DISTRIBUTED = ("ddp", "fsdp")

#: FSDP settings as accelerate's flags name them: the PEFT / bitsandbytes FSDP(+QLoRA) recipe (FSDP1, full
#: sharding, one unit per decoder layer, rank 0 reads the weights and broadcasts them). Keep in step with
#: configs/accelerate_fsdp.yaml (a test compares them).
FSDP = {
    "fsdp_version": 1,
    "fsdp_sharding_strategy": "FULL_SHARD",
    "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "fsdp_backward_prefetch": "BACKWARD_PRE",
    "fsdp_forward_prefetch": False,
    "fsdp_offload_params": False,
    "fsdp_state_dict_type": "SHARDED_STATE_DICT",
    "fsdp_cpu_ram_efficient_loading": True,
    "fsdp_sync_module_states": True,
    "fsdp_use_orig_params": False,
}


@dataclass
class Launch:
    """How to run: here as is, or re-executed with ``processes`` processes on ``devices``."""

    relaunch: bool
    processes: int = 1
    devices: list[str] | None = None  # CUDA_VISIBLE_DEVICES for the relaunch; None keeps the current one
    fsdp: bool = False


def distributed_mode(config: dict, option: str | None) -> str | None:
    """``--distributed`` or the config's ``distributed`` key (taken out: it is not a trainer setting), checked."""
    where = where_of(config, "distributed", "training config") if "distributed" in config else ""
    from_config = config.pop("distributed", None)
    mode = option or from_config
    if mode is not None and mode not in DISTRIBUTED:
        source = "--distributed" if option else f"{where}: field 'distributed'"
        raise HarnessError(f"{source} must be one of {', '.join(DISTRIBUTED)}, got {mode!r}")
    return mode


def under_fsdp() -> bool:
    """True in a process that accelerate launched with FSDP (it exports ACCELERATE_USE_FSDP)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true", "yes")


def decide(visible: list[str], gpus: int | None, world_size: int = 1, distributed: str | None = None,
           fsdp_launched: bool = False) -> Launch:
    """The launch for ``visible`` GPUs (as CUDA_VISIBLE_DEVICES names them), ``--gpus``, the current world
    size and the ``distributed`` mode (None: DDP, or whatever an outside launcher chose)."""
    fsdp = distributed == "fsdp"
    if gpus is not None and gpus < 1:
        raise HarnessError(f"--gpus {gpus}: expected at least 1 (leave it out to use every visible GPU)")
    if world_size > 1:  # under accelerate launch / torchrun already: the launcher chose
        if gpus is not None and gpus != world_size:
            raise HarnessError(f"--gpus {gpus}, but this was launched with {world_size} processes; "
                               "drop --gpus or match --num_processes")
        if fsdp and not fsdp_launched:
            raise HarnessError("distributed: fsdp, but this was launched without FSDP; run `harness train` "
                               "without a launcher, or `accelerate launch --config_file configs/accelerate_fsdp.yaml`")
        return Launch(False, world_size, fsdp=fsdp_launched)
    if gpus is not None and gpus > len(visible):
        have = f"{len(visible)} visible CUDA device(s)" if visible else "no visible CUDA device"
        raise HarnessError(f"--gpus {gpus}: this host has {have}")
    n = gpus or len(visible)
    if fsdp and n < 2:
        have = (f"--gpus {gpus}" if gpus else f"this host has {len(visible)} visible CUDA device(s)" if visible
                else "this host has no visible CUDA device")
        raise HarnessError(f"distributed: fsdp shards the model over 2 or more GPUs, but {have}; train on one GPU "
                           "without it (QLoRA fits an 8B base on one 80 GB GPU), or use a host with more GPUs")
    if n <= 1 and len(visible) <= 1:
        return Launch(False, 1)
    return Launch(True, n, visible[:n] if n < len(visible) else None, fsdp=fsdp)


def flag(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def command(launch: Launch, argv: list[str]) -> list[str]:
    """The command line that runs ``harness <argv>`` as ``launch`` says."""
    if launch.processes == 1:
        return [sys.executable, "-m", "harness", *argv]
    if launch.fsdp:
        settings = [item for key, value in FSDP.items() for item in (f"--{key}", flag(value))]
        return [sys.executable, "-m", "accelerate.commands.launch", "--use_fsdp", "--num_processes",
                str(launch.processes), *settings, "--mixed_precision", "bf16", "-m", "harness", *argv]
    # the command measured to work (issue 16); accelerate's defaults do the rest
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(launch.processes),
            "-m", "harness", *argv]


def relaunch_if_needed(gpus: int | None, argv: list[str], echo=None, distributed: str | None = None):
    """Replace this process with the launch the host needs (one pinned process), or run accelerate's launcher and
    exit with its code (several); return only when training should run here."""
    from harness.evaluate.sharding import visible_gpus

    launch = decide(visible_gpus(), gpus, int(os.environ.get("WORLD_SIZE", "1")), distributed, under_fsdp())
    if not launch.relaunch:
        return
    env = dict(os.environ)
    if launch.devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(launch.devices)
    cmd = command(launch, argv)
    if echo:
        echo(f"Training on {launch.processes} GPU(s){' with FSDP' if launch.fsdp else ''}: {' '.join(cmd[1:])}")
    sys.stdout.flush()
    sys.stderr.flush()
    if launch.processes == 1:
        os.execve(sys.executable, cmd, env)
    from harness.train.launcher_output import run_launcher

    sys.exit(run_launcher(cmd, env))

"""Where a training step's GPU time goes: torch.profiler over a few optimizer steps of `harness train`.

Issue 17 asks for the profile that explains a throughput figure, not a guess.  With
``profile_steps: "4-6"`` in the training config, steps 4 to 6 run under
``torch.profiler``; the trace is kept (``trainer/profile_trace.json.gz``, open it in
Perfetto or chrome://tracing) and summarised into the lineage: device time by kind of
kernel (matrix products, attention, Triton/Liger fused kernels, collectives,
optimizer, copies, the rest), how many kernels a step launches, and the share of the
wall time the GPU sat idle (the launch-bound part).  Profiled steps run slower, so
speed is measured in a run without it.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import time
from pathlib import Path

from harness import HarnessError, where_of

#: kernel-name patterns, tried in order (names of cuBLAS/CUTLASS, including CUDA 13's "nvjet" GEMMs that were "other"
#: in the first H200 profile, flash/mem-efficient attention, NCCL, torch's fused optimizers; Triton kernels, Liger's
#: among them, carry their Python function name)
CATEGORIES = (
    ("communication", re.compile(r"nccl", re.I)),
    ("attention", re.compile(r"flash|fmha|attention|sdpa|efficient_attn", re.I)),
    ("matmul", re.compile(r"gemm|gemv|nvjet|cutlass|xmma|cublas|wgmma|sm\d\d_.*(mma|gemm)|splitk", re.I)),
    ("optimizer", re.compile(r"multi_tensor_apply|adam|foreach", re.I)),
    ("triton", re.compile(r"^triton_|^_.*_kernel$|liger", re.I)),
)
COPY_CATEGORIES = {"gpu_memcpy": "copies", "gpu_memset": "copies"}


def parse_profile_steps(config: dict, where: str) -> tuple[int, int] | None:
    """``profile_steps: "FIRST-LAST"`` (optimizer steps, counted from 1) -> (first, last), or None when unset."""
    value = config.get("profile_steps")
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(value))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise HarnessError(f"{where_of(config, 'profile_steps', where)}: training config 'profile_steps' must be "
                           f"FIRST-LAST optimizer steps with 1 <= FIRST <= LAST (e.g. \"4-6\"), got {value!r}")
    first, last = int(match.group(1)), int(match.group(2))
    steps = config.get("max_steps")
    if isinstance(steps, int) and steps > 0 and last > steps:
        raise HarnessError(f"{where_of(config, 'profile_steps', where)}: profile_steps {value} ends after max_steps "
                           f"{steps}: nothing would be profiled past step {steps}")
    return first, last


def category(name: str, cat: str) -> str:
    if cat in COPY_CATEGORIES:
        return COPY_CATEGORIES[cat]
    return next((label for label, pattern in CATEGORIES if pattern.search(name)), "other")


def busy_seconds(intervals: list[tuple[float, float]]) -> float:
    """Length of the union of [start, end) intervals (microseconds in, seconds out): kernels on several
    streams that overlap count once."""
    total, reach = 0.0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total / 1e6


def summarize_trace(trace: dict, wall_seconds: float, steps: int) -> dict:
    """Device time of a Chrome trace's GPU events by category, kernels per step, and the GPU's idle share."""
    events = [e for e in trace.get("traceEvents", [])
              if e.get("ph") == "X" and e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    by_category, by_name = {}, {}
    for e in events:
        label = category(e.get("name", ""), e["cat"])
        by_category[label] = by_category.get(label, 0.0) + e["dur"] / 1e6
        total, count = by_name.get(e["name"], (0.0, 0))
        by_name[e["name"]] = (total + e["dur"] / 1e6, count + 1)
    busy = busy_seconds([(e["ts"], e["ts"] + e["dur"]) for e in events])
    kernels = sum(1 for e in events if e["cat"] == "kernel")
    top = sorted(by_name.items(), key=lambda item: -item[1][0])[:12]
    return {
        "steps": steps, "wall_s": round(wall_seconds, 6), "gpu_busy_s": round(busy, 6),
        "gpu_idle_share": round(max(0.0, 1 - busy / wall_seconds), 4) if wall_seconds > 0 and events else None,
        "kernels_per_step": round(kernels / steps, 1), "mean_kernel_us": round(1e6 * busy / kernels, 1) if kernels else None,
        "device_s_by_category": {k: round(v, 6) for k, v in sorted(by_category.items(), key=lambda kv: -kv[1])},
        "top_kernels": [[name[:120], round(sec, 6), count] for name, (sec, count) in top],
    }


def step_profiler(first: int, last: int, folder: Path):
    """A TrainerCallback that profiles optimizer steps ``first``..``last`` and leaves the trace and its summary."""
    import torch
    from transformers import TrainerCallback

    class StepProfiler(TrainerCallback):
        def __init__(self):
            self.profile, self.began, self.summary = None, None, None

        def on_step_begin(self, args, state, control, **kwargs):
            if self.profile is None and self.summary is None and state.global_step + 1 == first:
                activities = [torch.profiler.ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    activities.append(torch.profiler.ProfilerActivity.CUDA)
                    torch.cuda.synchronize()
                self.profile = torch.profiler.profile(activities=activities)
                self.profile.__enter__()
                self.began = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if self.profile is None or state.global_step != last:
                return
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            wall = time.perf_counter() - self.began
            self.profile.__exit__(None, None, None)
            folder.mkdir(parents=True, exist_ok=True)
            raw = folder / "profile_trace.json"
            self.profile.export_chrome_trace(str(raw))
            self.profile = None
            self.summary = summarize_trace(json.loads(raw.read_text()), wall, last - first + 1)
            self.summary["steps_profiled"] = f"{first}-{last}"
            with open(raw, "rb") as src, gzip.open(f"{raw}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            raw.unlink()
            self.summary["trace"] = f"{raw.name}.gz"

    return StepProfiler()

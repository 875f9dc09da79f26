"""harness: evaluate and retrain reasoning safety guards.

This module is the public plugin API: a plugin imports what it needs from
``harness`` (``from harness import hookimpl, Model, Generation``) and nothing
else is promised to stay put.  See docs/plugins.md.

Importing this package must stay cheap: no torch, no transformers. Heavy
dependencies are imported inside the plugins that need them, when they run.
"""

from harness.version import __version__  # noqa: F401  (re-exported)

from harness.config import check_keys, expect_type, read_yaml_mapping
from harness.errors import HarnessError
from harness.hookspecs import hookimpl
from harness.interfaces.judge import Judge, JudgeInput, JudgeOption, Judgment
from harness.judge.copying import Copying, content_coverage, copy_rate, copying
from harness.judge.copying import words as copy_tokens
from harness.judge.traces import TASK_VERDICT, parse_trace, target_section
from harness.interfaces.model import (
    Generation,
    GenerationRequest,
    GenerationSettings,
    Model,
    check_model_options,
)
from harness.interfaces.model import ModelOptions, option_from_entry, option_origin
from harness.interfaces.parser import Parser, ParseResult
from harness.interfaces.trainer import Trainer, TrainRequest, TrainResult
from harness.train.monitor import TrainMonitor
from harness.train.monitor_config import default_proxy as default_monitor_proxy, parse_monitor

# What the built-in plugins need beyond the interfaces (tests/test_plugin_boundary.py keeps plugins/ to these).
from harness.config import Mapping, where_of
from harness.errors import unknown_name
from harness.interfaces.judge import Preference
from harness.interfaces.parser import LabelCue
from harness.checkpoints.spec import split_base_adapter

# Loaded on first use (PEP 562), so that ``import harness`` (every plugin does it) stays cheap:
# these pull in the checkpoint registry, the stores and the trainers' helpers.
_LAZY = {
    "file_sha256": ("harness.tasks.sources", "file_sha256"),
    "read_rows": ("harness.tasks.sources", "read_rows"),
    "cuda_device_count": ("harness.evaluate.sharding", "cuda_device_count"),
    "under_fsdp": ("harness.train.launch", "under_fsdp"),
    "composite_reward": ("harness.train.pairs", "composite_reward"),
    "drop_identical": ("harness.train.pairs", "drop_identical"),
    "read_pairs": ("harness.train.pairs", "read_pairs"),
    "get_registry": ("harness.plugins", "get_registry"),
    "load_model": ("harness.checkpoints.loading", "load_model"),
    "resolve_checkpoint": ("harness.checkpoints.loading", "resolve"),
    "load_judge": ("harness.judge.runner", "load_judge"),
    "local_hub_copy": ("harness.checkpoints.hub", "local_hub_copy"),
    "hub_offline": ("harness.checkpoints.hub", "hub_offline"),
}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    return getattr(importlib.import_module(module), attr)  # not cached: a patch of the home module shows


__all__ = [
    "hookimpl",
    "Model",
    "check_model_options",
    "ModelOptions",
    "option_origin",
    "option_from_entry",
    "Generation",
    "GenerationRequest",
    "GenerationSettings",
    "Parser",
    "ParseResult",
    "Judge",
    "Judgment",
    "JudgeInput",
    "JudgeOption",
    "copy_rate",
    "copying",
    "Copying",
    "content_coverage",
    "copy_tokens",
    "parse_trace",
    "target_section",
    "TASK_VERDICT",
    "Trainer",
    "TrainRequest",
    "TrainResult",
    "TrainMonitor",
    "parse_monitor",
    "default_monitor_proxy",
    "HarnessError",
    # for the built-in plugins
    "Mapping",
    "check_keys",
    "expect_type",
    "read_yaml_mapping",
    "where_of",
    "unknown_name",
    "Preference",
    "LabelCue",
    "split_base_adapter",
    "file_sha256",
    "read_rows",
    "cuda_device_count",
    "under_fsdp",
    "composite_reward",
    "drop_identical",
    "read_pairs",
    "get_registry",
    "load_model",
    "resolve_checkpoint",
    "load_judge",
    "local_hub_copy",
    "hub_offline",
]

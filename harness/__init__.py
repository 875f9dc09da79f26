"""harness: evaluate and retrain reasoning safety guards.

This module is the public plugin API: a plugin imports what it needs from
``harness`` (``from harness import hookimpl, Model, Generation``) and nothing
else is promised to stay put.  See docs/plugins.md.

Importing this package must stay cheap: no torch, no transformers. Heavy
dependencies are imported inside the plugins that need them, when they run.
"""

__version__ = "0.1.0"

from harness.config import check_keys, expect_type, read_yaml_mapping  # noqa: E402
from harness.errors import HarnessError  # noqa: E402
from harness.hookspecs import hookimpl  # noqa: E402
from harness.interfaces.judge import Judge, JudgeInput, JudgeOption, Judgment  # noqa: E402
from harness.judge.copying import Copying, content_coverage, copy_rate, copying  # noqa: E402
from harness.judge.copying import words as copy_tokens  # noqa: E402
from harness.judge.traces import TASK_VERDICT, parse_trace, target_section  # noqa: E402
from harness.interfaces.model import (  # noqa: E402
    Generation,
    GenerationRequest,
    GenerationSettings,
    Model,
    check_model_options,
)
from harness.interfaces.parser import Parser, ParseResult  # noqa: E402
from harness.interfaces.trainer import Trainer, TrainRequest, TrainResult  # noqa: E402

__all__ = [
    "hookimpl",
    "Model",
    "check_model_options",
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
    "HarnessError",
    "check_keys",
    "expect_type",
    "read_yaml_mapping",
]

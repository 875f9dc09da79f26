"""What a trainer plugin provides: a method (sft, dpo, ...) that turns data into an adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class TrainRequest:
    method: str
    #: model spec or checkpoint name the training starts from
    parent: str
    data_path: Path
    output_dir: Path
    config: dict = field(default_factory=dict)
    resume: bool = True
    #: RISK flags, as in ``harness eval``: load checkpoint code / pickle weights of the parent
    trust_remote_code: bool = False
    allow_unsafe_weights: bool = False


@dataclass
class TrainResult:
    adapter_dir: Path
    base: str
    metrics: dict = field(default_factory=dict)


class Trainer:
    """Base class for trainers."""

    method: str = ""

    def train(self, request: TrainRequest) -> TrainResult:
        raise NotImplementedError

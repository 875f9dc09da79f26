"""What a trainer plugin provides: a method (sft, dpo, ...) that turns data into a trained model.

``harness train`` resolves the parent (a checkpoint name or a model spec) to its
registry entry and hands it to the trainer, which refuses parents it cannot
train (the TRL trainers need an ``hf:`` spec).  The trainer returns the model
spec that loads its result; harness registers it as a named checkpoint.
"""

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
    #: the parent's checkpoint-registry entry (``spec``, ``options``, ``template``, ``parser``, ...);
    #: for a bare spec, ``{"name": spec, "spec": spec}``
    parent_entry: dict = field(default_factory=dict)

    def parent_spec(self) -> str:
        return self.parent_entry.get("spec", self.parent)
    #: RISK flags, as in ``harness eval``: load checkpoint code / pickle weights of the parent
    trust_remote_code: bool = False
    allow_unsafe_weights: bool = False


@dataclass
class TrainResult:
    #: the model spec that loads the trained model (registered as the new checkpoint's ``spec``)
    spec: str
    metrics: dict = field(default_factory=dict)
    #: where the trained weights were written, when the trainer writes any
    adapter_dir: Path | None = None


class Trainer:
    """Base class for trainers."""

    method: str = ""

    def check(self, request: TrainRequest) -> None:
        """Refuse a request this trainer cannot run (config, parent, loading policy) with a HarnessError.

        Called before ``--overwrite`` removes anything and before any weights load,
        so a refused request deletes and computes nothing.  The default accepts all.
        """

    def train(self, request: TrainRequest) -> TrainResult:
        raise NotImplementedError

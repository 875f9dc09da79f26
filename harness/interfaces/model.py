"""What a model plugin provides: a :class:`Model` that turns rendered prompts into completions.

Model specs are strings: ``keyword-baseline``, ``replay:PATH``, ``hf:BASE+ADAPTER``,
or a checkpoint name from the registry (``exp_18``).  The scheme before the first
colon selects the loader a plugin registered with ``register_models``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Iterable, Iterator


@dataclass
class GenerationSettings:
    """Sampling settings; all of them are recorded in the run manifest."""

    max_new_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 1.0
    samples: int = 1
    seed: int = 0
    batch_size: str = "auto"
    ignore_eos: bool = False

    def to_dict(self):
        return asdict(self)

    def seed_for(self, sample_id: str, sample_index: int) -> int:
        """A deterministic seed per (sample, k) so resumed runs reproduce completions."""
        digest = hashlib.sha256(f"{self.seed}:{sample_id}:{sample_index}".encode()).digest()
        return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@dataclass
class GenerationRequest:
    """One completion to produce: a rendered prompt and which of the k samples it is."""

    sample_id: str
    prompt: str
    sample_index: int = 0
    seed: int = 0
    content: str = ""
    response: str | None = None
    #: where the parser reads the verdict (harness.interfaces.parser.LabelCue): a model that can
    #: score the labels there sets Generation.label_probs
    label_cue: object = None


@dataclass
class Generation:
    """One produced completion, or the reason it could not be produced."""

    sample_id: str
    sample_index: int
    text: str | None
    seed: int = 0
    n_prompt_tokens: int | None = None
    n_new_tokens: int | None = None
    seconds: float = 0.0
    error: str | None = None
    warnings: list = field(default_factory=list)
    #: probability of each canonical label at the label position ({label: p}, summing to 1), None when
    #: the model cannot tell; ``label_cue`` is the key of the cue they were computed for
    label_probs: dict | None = None
    label_cue: str | None = None


class Model:
    """Base class for model plugins.

    ``generate`` yields :class:`Generation` objects as they finish, in any
    order, so the caller can write each record the moment it is complete.
    """

    #: The spec this model was loaded from (for manifests and the run index).
    spec: str = ""
    #: The prompt template and parser this model needs, over the task's (a checkpoint registry entry's win
    #: over these).  Read from the class, before loading, when the class itself (or a classmethod of it) is
    #: the registered loader; after loading they hold the values the run used.
    template: str | None = None
    parser: str | None = None
    #: whether completions go through the generation cache (not worth it for cheap models)
    cacheable: bool = True

    def fingerprint(self) -> str:
        """Identifies the weights and code that produce completions (cache key)."""
        return self.spec

    def describe(self) -> dict:
        """Facts about the loaded model for the run manifest."""
        return {"spec": self.spec}

    def generate(
        self, requests: Iterable[GenerationRequest], settings: GenerationSettings
    ) -> Iterator[Generation]:
        raise NotImplementedError

    def close(self):
        """Release memory (GPU weights, connections)."""


def split_spec(spec: str) -> tuple[str, str]:
    """``'hf:meta/x+adapter'`` -> ``('hf', 'meta/x+adapter')``; ``'keyword-baseline'`` -> (name, '')."""
    scheme, _, arg = spec.partition(":")
    return scheme, arg


class ModelOptions(dict):
    """Loader options that remember where each value was set, so an error can say what set it and how to undo it.

    ``origins`` maps a key to a phrase such as ``checkpoint entry exp_18 (builtin.yaml:12) sets
    quantization: 4bit`` or ``the command line sets quantization: 4bit``; :func:`option_origin` reads it.
    """

    def __init__(self, values=(), origins: dict | None = None):
        super().__init__(values)
        self.origins = dict(origins or {})


def option_origin(options, key) -> str:
    """Where option ``key`` was set, as a phrase for an error message (generic for a plain dict)."""
    origin = getattr(options, "origins", {}).get(key)
    return origin or f"the model options set {key}: {options.get(key)!r}"


def option_from_entry(options, key) -> bool:
    """Whether ``key`` came from a checkpoint registry entry (so the fix may be to edit that entry)."""
    return getattr(options, "origins", {}).get(key, "").startswith("checkpoint entry")


def check_model_options(loader: str, options: dict, known) -> dict:
    """Refuse a model option (``-o KEY=VALUE``) its loader does not declare, suggesting the closest.

    A :class:`ModelOptions` comes back as one (with its origins), a plain dict as a plain dict.
    """
    from harness.errors import HarnessError, unknown_name

    for key in options or {}:
        where = f" ({option_origin(options, key)})" if getattr(options, "origins", {}).get(key) else ""
        if key not in known and not known:
            raise HarnessError(f"{loader}: unknown option '{key}'{where}; {loader} takes no options")
        if key not in known:
            message = str(unknown_name("option", key, known))
            raise HarnessError(f"{loader}: {message[0].lower()}{message[1:]}{where}")
    if isinstance(options, ModelOptions):
        return ModelOptions(options, options.origins)
    return dict(options or {})

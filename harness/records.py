"""The typed records a run is made of: the one schema of ``samples.jsonl``.

Every module that reads a run's samples gets these objects from
:meth:`harness.store.runs.Run.read_samples`, so "the first completion's
reasoning" or "was this sample answered" is computed in one place.  On disk a
record is the JSON object of :meth:`SampleRecord.to_dict`; the field names are
the run format (``FORMAT_VERSION`` in :mod:`harness.store.runs`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Completion:
    """One generated completion of a sample, parsed."""

    sample_index: int
    text: str | None
    verdict: str | None
    status: str  # "ok", "fail" (no parsable verdict) or "abstain" (the model said unknown)
    reasoning: str = ""
    parse_error: str | None = None
    correct: bool = False
    seed: int | None = None
    n_prompt_tokens: int | None = None
    n_new_tokens: int | None = None
    seconds: float = 0.0
    error: str | None = None
    warnings: list = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return self.status == "ok"

    @property
    def reasoning_or_text(self) -> str:
        """What a judge or a reader sees as this completion's reasoning."""
        return self.reasoning or self.text or ""

    @classmethod
    def from_dict(cls, data: dict) -> "Completion":
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SampleRecord:
    """One sample of a run: its input, gold label and every completion."""

    id: str
    task: str
    gold: str
    completions: list[Completion]
    prompt: str = ""
    response: str | None = None
    category: str | None = None
    rendered_prompt: str = ""
    gold_raw: object = None
    seconds: float = 0.0

    @property
    def first(self) -> Completion:
        """The completion that verdict metrics score (k > 1 adds samples, not votes)."""
        return self.completions[0]

    @property
    def verdict(self) -> str | None:
        return self.first.verdict

    @property
    def status(self) -> str:
        return self.first.status

    @property
    def correct(self) -> bool:
        return self.first.correct

    @property
    def reasoning(self) -> str:
        return self.first.reasoning_or_text

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "task": self.task,
            "input": {"prompt": self.prompt, "response": self.response, "category": self.category},
            "rendered_prompt": self.rendered_prompt,
            "gold": self.gold,
            "gold_raw": self.gold_raw,
            "completions": [asdict(c) for c in self.completions],
            # denormalised from the first completion so the JSONL reads well on its own
            "verdict": self.verdict,
            "status": self.status,
            "correct": self.correct,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "SampleRecord":
        from harness.errors import HarnessError

        try:
            inp = data.get("input") or {}
            completions = [Completion.from_dict(c) for c in data["completions"]]
            if not completions:
                raise ValueError("no completions")
            return cls(id=str(data["id"]), task=data.get("task", ""), gold=data["gold"], completions=completions,
                       prompt=inp.get("prompt", ""), response=inp.get("response"), category=inp.get("category"),
                       rendered_prompt=data.get("rendered_prompt", ""), gold_raw=data.get("gold_raw"),
                       seconds=data.get("seconds", 0.0))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise HarnessError(f"{where}: not a harness sample record ({type(exc).__name__}: {exc})") from None

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
    #: probability of each canonical label at the label position ({label: p}, summing to 1); None when
    #: the model gave none (replay, a server without logprobs, records written before this field)
    label_probs: dict | None = None

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


@dataclass(frozen=True)
class JudgeIdentity:
    """What makes two judgments comparable: the judge, its version and a hash of its argument and options.

    Judgments of different identities are never served for one another (resume,
    cache) nor set side by side (compare, leaderboard, report).
    """

    judge: str
    version: str
    args_hash: str

    @property
    def key(self) -> str:
        return f"{self.judge}@{self.version}#{self.args_hash}"

    def __str__(self) -> str:
        return self.key

    @staticmethod
    def hash_args(arg: str, options: dict) -> str:
        """A short stable hash of a judge's argument and (defaults-filled) options."""
        import hashlib
        import json

        text = json.dumps({"arg": arg, "options": options}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class JudgmentRecord:
    """One line of ``judgments.jsonl``: one judge's scores for one completion (sample id, k)."""

    id: str
    sample_index: int
    identity: JudgeIdentity
    scores: dict
    explanation: str = ""
    error: str | None = None
    input_hash: str = ""

    @property
    def key(self) -> tuple:
        """(identity key, sample id, k): a later record with the same key replaces an earlier one."""
        return (self.identity.key, self.id, self.sample_index)

    def to_dict(self) -> dict:
        return {"id": self.id, "sample_index": self.sample_index, "judge": self.identity.judge,
                "version": self.identity.version, "args_hash": self.identity.args_hash,
                "identity": self.identity.key, "scores": self.scores, "explanation": self.explanation,
                "error": self.error, "input_hash": self.input_hash}

    @classmethod
    def from_dict(cls, data: dict, where: str = "record") -> "JudgmentRecord":
        from harness.errors import HarnessError

        try:
            identity = JudgeIdentity(str(data["judge"]), str(data["version"]), str(data["args_hash"]))
            scores = data["scores"] or {}
            if not isinstance(scores, dict):
                raise TypeError(f"scores is a {type(scores).__name__}, not a mapping")
            return cls(id=str(data["id"]), sample_index=int(data["sample_index"]), identity=identity,
                       scores=scores, explanation=data.get("explanation") or "", error=data.get("error"),
                       input_hash=data.get("input_hash", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise HarnessError(f"{where}: not a harness judgment record ({type(exc).__name__}: {exc}); "
                               "records without 'args_hash' were written by an older harness: "
                               "delete judgments.jsonl and judge the run again") from None

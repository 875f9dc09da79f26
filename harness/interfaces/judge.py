"""What a reasoning-quality judge provides.

A judge scores one completion (content, optional response, completion, parsed
verdict, gold label when known) with named scores in [0, 1] and a short
explanation.  ``version`` is part of the cache key: change it whenever scores
would change, so cached judgments are invalidated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class JudgeInput:
    sample_id: str
    content: str
    completion: str
    reasoning: str = ""
    verdict: str | None = None
    gold: str | None = None
    response: str | None = None
    sample_index: int = 0


@dataclass
class Judgment:
    scores: dict = field(default_factory=dict)
    explanation: str = ""
    error: str | None = None

    def to_dict(self):
        return asdict(self)


class Judge:
    """Base class for judges. Override ``judge_batch`` (fast path) or ``judge``."""

    name: str = ""
    version: str = "0"
    #: the score names this judge returns
    criteria: tuple = ()

    def judge(self, item: JudgeInput) -> Judgment:
        return self.judge_batch([item])[0]

    def judge_batch(self, items: list[JudgeInput]) -> list[Judgment]:
        return [self.judge(item) for item in items]
